// Command load drives a running Trestle with concurrent GraphQL requests for
// a fixed time and prints throughput and latency percentiles. It only
// targets loopback addresses: it measures this machine, nothing else.
//
//	go run . &                                      # the gateway, with simulators
//	go run ./load -query orders -c 50 -d 10s        # warm-cache load
//
// With `table` it runs the whole benchmark by itself instead: it builds
// Trestle, starts the simulators and a fresh gateway per configuration, and
// prints one Markdown table (see table.go). With -against it also builds
// Trestle as it is at a git revision and measures each configuration
// before (the revision) and after (the working tree), alternating, in the
// one run.
//
//	go run ./load table [-c 50] [-d 10s] [-warmup 2s] [-queries orders,deep,lookup] [-against REV]
//
// With `store` it measures the reporting store's budgets the same way:
// backfill time and peak memory, change-applied latency and the orders
// export (see store.go).
//
//	go run ./load store [-scale 10] [-changes 200] [-change-every 50ms] [-heap DIR]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// queries are the operations the load can send, by name.
var queries = map[string]string{
	// (a) 100 orders with the customer's name and e-mail.
	"orders": `{ orders(first: 100) { edges { node { id total { amount currency } customer { name email } } } } }`,
	// (b) the deep query: orders, lines, products, stock, customers, invoices.
	"deep": `{ orders(first: 100) { edges { node { id number status total { amount currency } customer { name email }
		lines { sku quantity product { name stock { warehouse onHand reserved available } } }
		invoices { number status total { amount } outstanding { amount } dueDate } } } } }`,
	// (c) a single small lookup.
	"lookup": `{ product(sku: "TD-10001") { name price { amount currency } available } }`,
}

// queryOrder is the order the queries are listed and measured in.
var queryOrder = []string{"orders", "deep", "lookup"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "table":
			return runTable(ctx, args[1:], stdout, stderr)
		case "store":
			return runStore(ctx, args[1:], stdout, stderr)
		case "static":
			return runStatic(ctx, args[1:], stdout)
		}
	}
	return runOnce(ctx, args, stdout)
}

// runOnce drives a gateway that is already running.
func runOnce(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	target := fs.String("url", "http://127.0.0.1:8080/query", "GraphQL endpoint (loopback only)")
	name := fs.String("query", "orders", "operation to send: orders, deep or lookup")
	p := loadFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: load [flags]         drive a running gateway\n       load table [flags]   build and start everything, measure each configuration (with -against REV: before and after), print a Markdown table\n       load store [flags]   build and start everything, measure the reporting store's backfill, changes and export, print Markdown tables")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	q, ok := queries[*name]
	if !ok {
		return fmt.Errorf("unknown query %q (want orders, deep or lookup)", *name)
	}
	if err := loopbackOnly(*target); err != nil {
		return err
	}
	if err := p.check(); err != nil {
		return err
	}
	p.target, p.body = *target, requestBody(q)

	res := drive(ctx, *p, nil)
	if res.ok == 0 {
		return fmt.Errorf("no request succeeded (%d failed): %v", res.failed, res.firstErr)
	}
	round := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Fprintf(out, "query %s, %d connections, %s\n", *name, p.conns, p.duration)
	fmt.Fprintf(out, "  requests  %d ok, %d failed\n", res.ok, res.failed)
	fmt.Fprintf(out, "  req/s     %.0f\n", res.rate(p.duration))
	fmt.Fprintf(out, "  latency   p50 %s  p90 %s  p99 %s  max %s\n", round(res.percentile(0.50)),
		round(res.percentile(0.90)), round(res.percentile(0.99)), round(res.percentile(1)))
	if res.firstErr != nil {
		fmt.Fprintf(out, "  first failure: %v\n", res.firstErr)
	}
	return nil
}

// plan is a load to send: which request, where, from how many connections
// and for how long.
type plan struct {
	target           string
	body             []byte
	conns            int
	warmup, duration time.Duration
}

// loadFlags defines the flags both modes share: -c, -d and -warmup.
func loadFlags(fs *flag.FlagSet) *plan {
	p := &plan{}
	fs.IntVar(&p.conns, "c", 50, "concurrent connections")
	fs.DurationVar(&p.duration, "d", 10*time.Second, "how long to measure")
	fs.DurationVar(&p.warmup, "warmup", 2*time.Second, "how long to send before measuring")
	return p
}

func (p plan) check() error {
	if p.conns < 1 || p.duration <= 0 || p.duration > 10*time.Minute || p.warmup < 0 {
		return errors.New("-c must be at least 1, -d between 0 and 10m and -warmup not negative")
	}
	return nil
}

// requestBody is a GraphQL POST body for the query.
func requestBody(query string) []byte {
	body, _ := json.Marshal(map[string]string{"query": query})
	return body
}

// result is what the measured part of a load saw.
type result struct {
	ok, failed int64
	latencies  []time.Duration // of the requests that succeeded, sorted
	firstErr   error
}

// rate is the successful requests per second over a period.
func (r result) rate(over time.Duration) float64 { return float64(r.ok) / over.Seconds() }

// percentile is the latency under which the share p of the successful
// requests finished; 1 is the slowest.
func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(p*float64(len(r.latencies)-1))]
}

// drive sends from p.conns workers for p.warmup plus p.duration and keeps
// what the measured part saw. measuring, when set, is called once as the
// measured part starts, while the load goes on, so that the caller can read
// counters over that part alone; drive returns only after it has.
func drive(ctx context.Context, p plan, measuring func()) result {
	ctx, cancel := context.WithTimeout(ctx, p.warmup+p.duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: p.conns, MaxConnsPerHost: p.conns}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	measureFrom := time.Now().Add(p.warmup)
	var (
		mu       sync.Mutex
		res      result
		failed   atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	if measuring != nil {
		wg.Go(func() {
			t := time.NewTimer(time.Until(measureFrom))
			defer t.Stop()
			select {
			case <-t.C:
				measuring()
			case <-ctx.Done():
			}
		})
	}
	for range p.conns {
		wg.Go(func() {
			var local []time.Duration
			for ctx.Err() == nil {
				start := time.Now()
				_, err := send(ctx, client, p.target, p.body)
				if ctx.Err() != nil {
					break
				}
				if start.Before(measureFrom) {
					continue
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				local = append(local, time.Since(start))
			}
			mu.Lock()
			res.latencies = append(res.latencies, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(res.latencies)
	res.ok = int64(len(res.latencies))
	res.failed = failed.Load()
	if err, ok := firstErr.Load().(error); ok {
		res.firstErr = err
	}
	return res
}

// send posts one GraphQL request and returns the response body; a response
// that is not 200 or carries errors is an error.
func send(ctx context.Context, client *http.Client, target string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"errors"`)) {
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	return b, nil
}

// loopbackOnly refuses targets that are not on this machine.
func loopbackOnly(target string) error {
	u, err := url.Parse(target)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("-url %q is not a URL", target)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url %q: load is only sent to loopback addresses", target)
}
