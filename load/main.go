// Command load drives a running Trestle with concurrent GraphQL requests for
// a fixed time and prints throughput and latency percentiles. It only
// targets loopback addresses: it measures this machine, nothing else.
//
//	go run . &                                      # the gateway, with simulators
//	go run ./load -query orders -c 50 -d 10s        # warm-cache load
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	target := fs.String("url", "http://127.0.0.1:8080/query", "GraphQL endpoint (loopback only)")
	name := fs.String("query", "orders", "operation to send: orders, deep or lookup")
	conns := fs.Int("c", 50, "concurrent connections")
	duration := fs.Duration("d", 10*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", 2*time.Second, "how long to send before measuring")
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
	if *conns < 1 || *duration <= 0 || *duration > 10*time.Minute {
		return errors.New("-c must be at least 1 and -d between 0 and 10m")
	}
	body, _ := json.Marshal(map[string]string{"query": q})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}, Timeout: 10 * time.Second}

	res := drive(ctx, client, *target, body, *conns, *warmup, *duration)
	if res.ok == 0 {
		return fmt.Errorf("no request succeeded (%d failed): %v", res.failed, res.firstErr)
	}
	slices.Sort(res.latencies)
	pct := func(p float64) time.Duration { return res.latencies[int(p*float64(len(res.latencies)-1))] }
	fmt.Fprintf(out, "query %s, %d connections, %s\n", *name, *conns, *duration)
	fmt.Fprintf(out, "  requests  %d ok, %d failed\n", res.ok, res.failed)
	fmt.Fprintf(out, "  req/s     %.0f\n", float64(res.ok)/duration.Seconds())
	fmt.Fprintf(out, "  latency   p50 %s  p90 %s  p99 %s  max %s\n",
		pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond),
		pct(0.99).Round(10*time.Microsecond), res.latencies[len(res.latencies)-1].Round(10*time.Microsecond))
	if res.firstErr != nil {
		fmt.Fprintf(out, "  first failure: %v\n", res.firstErr)
	}
	return nil
}

type result struct {
	ok, failed int64
	latencies  []time.Duration
	firstErr   error
}

// drive sends from conns workers for warmup plus duration and keeps what
// the measured part saw.
func drive(ctx context.Context, client *http.Client, target string, body []byte, conns int, warmup, duration time.Duration) result {
	ctx, cancel := context.WithTimeout(ctx, warmup+duration)
	defer cancel()
	measureFrom := time.Now().Add(warmup)
	var (
		mu       sync.Mutex
		res      result
		failed   atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	for range conns {
		wg.Go(func() {
			var local []time.Duration
			for ctx.Err() == nil {
				start := time.Now()
				err := send(ctx, client, target, body)
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
	res.ok = int64(len(res.latencies))
	res.failed = failed.Load()
	if err, ok := firstErr.Load().(error); ok {
		res.firstErr = err
	}
	return res
}

func send(ctx context.Context, client *http.Client, target string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"errors"`)) {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	return nil
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
