package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trestlehq/trestle/auth"
	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/metrics"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// benchQuery is the unified graph issue's query: 100 orders with their
// customers, lines, products, stock levels and invoices; 4 levels deep.
const benchQuery = `{ orders(first: 100) { edges { node {
	id number status total { amount currency }
	customer { name email }
	lines { sku quantity product { name stock { warehouse onHand reserved available } } }
	invoices { number status total { amount } outstanding { amount } dueDate }
} } } }`

// ordersQuery is query (a) of the benchmark table: 100 orders with their
// customers' names and e-mails.
const ordersQuery = `{ orders(first: 100) { edges { node { id total { amount currency } customer { name email } } } } }`

// BenchmarkCold runs query (a) and the 100-order deep query against a cold
// cache each time: every entity comes from the simulators, as on a first
// request (the cache disabled, the gateway reads every entity upstream).
// Budgets for the deep query: under 15 ms at 0 ms upstream latency; under
// levels × 20 ms + 10 ms at 20 ms. It reports the upstream calls each query
// makes.
//
//	go test -run '^$' -bench Cold -benchtime 50x ./gateway/
func BenchmarkCold(b *testing.B) {
	g := start(b, world.Options{Seed: 1}, func(c *config.Config) { c.Cache.Disabled = true })
	env, h := g.env, g.app.Handler()
	for _, q := range []struct{ name, query string }{{"orders", ordersQuery}, {"deep", benchQuery}} {
		body, _ := json.Marshal(map[string]string{"query": q.query})
		for _, latency := range []float64{0, 20} {
			b.Run(q.name+"/latency="+time.Duration(latency*float64(time.Millisecond)).String(), func(b *testing.B) {
				for _, u := range env.Sim.Upstreams() {
					u.SetFaults(sim.Faults{LatencyMS: latency})
				}
				var calls int64
				b.ReportAllocs()
				cpu := processCPU(b)
				for b.Loop() {
					b.StopTimer()
					env.Sim.ResetCounters()
					b.StartTimer()

					rec := httptest.NewRecorder()
					req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					h.ServeHTTP(rec, req)

					b.StopTimer()
					if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
						b.Fatalf("HTTP %d: %.300s", rec.Code, rec.Body.String())
					}
					s := env.Sim.Stats()
					calls += s.Shop + s.CRM + s.ERP
					b.StartTimer()
				}
				cpu()
				b.ReportMetric(float64(calls)/float64(b.N), "upstream-calls/op")
			})
		}
	}
}

// processCPU starts counting the process's CPU time, user and system, on
// every core; the function it returns reports it per operation as
// cpu-ns/op. The executor resolves a list's elements on goroutines of
// their own, so a request's CPU is more than its time.
func processCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// longTTL is a TTL for every kind that outlasts any run, so warm stays
// warm.
func longTTL() map[cache.Kind]time.Duration {
	long := map[cache.Kind]time.Duration{}
	for kind := range cache.DefaultTTL() {
		long[kind] = time.Hour
	}
	return long
}

// serveWarm posts a query body to h, with an API key unless it is empty,
// and fails the benchmark on an error.
func serveWarm(b *testing.B, h http.Handler, body []byte, key string) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
		b.Fatalf("HTTP %d: %.200s", rec.Code, rec.Body.String())
	}
}

// BenchmarkWarm runs queries with every entity and page in the cache: the
// gateway's own cost, with no upstream call. answers=kept answers each
// from the response cache; answers=executed runs each (the response cache
// off), the executor's cost.
//
//	go test -run '^$' -bench Warm ./gateway/
func BenchmarkWarm(b *testing.B) {
	for _, executed := range []bool{false, true} {
		name := map[bool]string{false: "answers=kept", true: "answers=executed"}[executed]
		b.Run(name, func(b *testing.B) { benchmarkWarm(b, executed) })
	}
}

func benchmarkWarm(b *testing.B, executed bool) {
	g := start(b, world.Options{Seed: 1}, func(c *config.Config) {
		for kind, ttl := range longTTL() {
			c.Cache.TTL[string(kind)] = ttl
		}
		c.Cache.Responses.Disabled = executed
	})
	env, h := g.env, g.app.Handler()
	for _, q := range []struct{ name, query string }{
		{"orders", ordersQuery},
		{"deep", benchQuery},
		{"lookup", `{ product(sku: "TD-10001") { name price { amount currency } available } }`},
	} {
		b.Run(q.name, func(b *testing.B) {
			body, _ := json.Marshal(map[string]string{"query": q.query})
			do := func() { serveWarm(b, h, body, "") }
			do()
			time.Sleep(50 * time.Millisecond) // let the cache settle its writes
			for _, u := range env.Sim.Upstreams() {
				u.ResetCounters()
			}
			b.ReportAllocs()
			cpu := processCPU(b)
			for b.Loop() {
				do()
			}
			cpu()
			if s := env.Sim.Stats(); s.Shop+s.CRM+s.ERP > 0 {
				b.Errorf("warm runs went upstream: %+v", s.Routes)
			}
		})
	}
}

// BenchmarkGuards measures what the query limits, client authentication
// (an API key, hashed per request) and field authorization cost: the warm
// queries with them (guards=on) and without (guards=off). Budget: under 5 %.
// gateway.New: no config builds the gateway unguarded.
//
//	go test -run '^$' -bench Guards -count 6 ./gateway/
func BenchmarkGuards(b *testing.B) {
	env := simtest.Start(b, world.Options{Seed: 1})
	opts := options(b, env, newCache(b, longTTL()))
	opts.Auth = keys(b)
	handlers := map[string]http.Handler{"on": gateway.New(opts), "off": gateway.NewUnguarded(opts)}
	for _, q := range []struct{ name, query string }{
		{"orders", ordersQuery},
		{"deep", benchQuery},
	} {
		body, _ := json.Marshal(map[string]string{"query": q.query})
		for _, guards := range []string{"on", "off"} {
			b.Run(q.name+"/guards="+guards, func(b *testing.B) {
				h := handlers[guards]
				do := func() { serveWarm(b, h, body, "trk_finance") }
				do()
				time.Sleep(50 * time.Millisecond) // let the cache settle its writes
				b.ReportAllocs()
				for b.Loop() {
					do()
				}
			})
		}
	}
}

// keys authenticates the clients withKeys admits.
func keys(b *testing.B) *auth.Authenticator {
	var c config.Config
	withKeys(&c)
	var keys []auth.APIKey
	for _, k := range c.Auth.APIKeys {
		keys = append(keys, auth.APIKey{Name: k.Name, SHA256: k.SHA256, Roles: k.Roles})
	}
	a, err := auth.New(context.Background(), auth.Config{APIKeys: keys})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkOneUpstreamDown: with the ERP down and its breaker open, a
// query that does not need the ERP keeps its latency (against erp=up), and
// one that does is answered at once, the breaker failing the ERP's part.
// Cold cache (disabled): every entity is read upstream.
//
//	go test -run '^$' -bench OneUpstreamDown ./gateway/
func BenchmarkOneUpstreamDown(b *testing.B) {
	g := start(b, world.Options{Seed: 1}, func(c *config.Config) {
		c.Sources.ERP.Breaker.OpenFor = time.Hour
		c.Cache.Disabled = true
	})
	h := g.app.Handler()
	run := func(b *testing.B, query string, wantErrors bool) {
		body, _ := json.Marshal(map[string]string{"query": query})
		for b.Loop() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(rec, req)
			b.StopTimer()
			if hasErrors := bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)); rec.Code != http.StatusOK || hasErrors != wantErrors {
				b.Fatalf("HTTP %d: %.300s", rec.Code, rec.Body.String())
			}
			b.StartTimer()
		}
	}
	const orders = `{ orders(first: 100) { edges { node { id total { amount currency } customer { name email } } } } }`
	const invoices = `{ invoices(first: 20) { totalCount edges { node { number outstanding { amount } } } } }`
	b.Run("erp=up/orders", func(b *testing.B) { run(b, orders, false) })
	g.env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	// Five failures in a row open the breaker: each query's ERP call
	// fails up to three times.
	for try := 0; g.metric(b, `trestle_upstream_breaker_open{system="erp"}`) != 1; try++ {
		if try == 5 {
			b.Fatal("the ERP's breaker did not open")
		}
		req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(`{"query":"{ stock(skus: [\"TD-10001\"]) { onHand } }"}`))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	b.Run("erp=down/orders", func(b *testing.B) { run(b, orders, false) })
	b.Run("erp=down/invoices", func(b *testing.B) { run(b, invoices, true) })
}

// BenchmarkMetrics measures what counting operations for Prometheus costs:
// the warm queries with metrics (metrics=on) and without (off). Budget,
// with tracing: under 3 %. gateway.New: a gateway that app.New builds
// always counts.
//
//	go test -run '^$' -bench Metrics -count 8 ./gateway/
func BenchmarkMetrics(b *testing.B) {
	env := simtest.Start(b, world.Options{Seed: 1})
	opts := options(b, env, newCache(b, longTTL()))
	off := gateway.New(opts)
	opts.Metrics = metrics.New()
	handlers := map[string]http.Handler{"on": gateway.New(opts), "off": off}
	for _, q := range []struct{ name, query string }{
		{"orders", `{ orders(first: 100) { edges { node { id total { amount currency } customer { name email } } } } }`},
		{"lookup", `{ product(sku: "TD-10001") { name price { amount currency } available } }`},
	} {
		body, _ := json.Marshal(map[string]string{"query": q.query})
		for _, m := range []string{"on", "off"} {
			b.Run(q.name+"/metrics="+m, func(b *testing.B) {
				serveWarm(b, handlers[m], body, "")
				time.Sleep(50 * time.Millisecond) // let the cache settle its writes
				b.ReportAllocs()
				for b.Loop() {
					serveWarm(b, handlers[m], body, "")
				}
			})
		}
	}
}
