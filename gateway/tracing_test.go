package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/tracing"
)

// spanSink keeps the ended spans of the traces a test names.
type spanSink struct {
	mu     sync.Mutex
	traces map[trace.TraceID]bool
	spans  []sdktrace.ReadOnlySpan
}

func (s *spanSink) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (s *spanSink) Shutdown(context.Context) error                  { return nil }
func (s *spanSink) ForceFlush(context.Context) error                { return nil }
func (s *spanSink) OnEnd(span sdktrace.ReadOnlySpan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.traces[span.SpanContext().TraceID()] {
		s.spans = append(s.spans, span)
	}
}

// of returns the spans of one trace, which the sink keeps from now on.
func (s *spanSink) of(id trace.TraceID) func() []sdktrace.ReadOnlySpan {
	s.mu.Lock()
	s.traces[id] = true
	s.mu.Unlock()
	return func() []sdktrace.ReadOnlySpan {
		s.mu.Lock()
		defer s.mu.Unlock()
		return slices.DeleteFunc(slices.Clone(s.spans), func(sp sdktrace.ReadOnlySpan) bool { return sp.SpanContext().TraceID() != id })
	}
}

// sink installs, once for the test binary, a provider that records only the traces a client
// started and sampled, as a collector behind Trestle would see them.
var sink = sync.OnceValue(func() *spanSink {
	s := &spanSink{traces: map[trace.TraceID]bool{}}
	tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
		sdktrace.WithSpanProcessor(s)))
	return s
})

// recordingEnv is simulators that record every request they get: its URL
// and headers. Its Sources are nil: the gateway opens its own.
func recordingEnv(t *testing.T) (*simtest.Env, func() []*http.Request) {
	s := sim.New(sim.Options{World: world.Options{Seed: 12, Size: world.Size{People: 30, Orders: 60, Products: 10}}})
	var mu sync.Mutex
	var got []*http.Request
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, &http.Request{Method: r.Method, URL: r.URL, Header: r.Header.Clone()})
		mu.Unlock()
		s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	return &simtest.Env{Sim: s, URL: up.URL}, func() []*http.Request {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
}

// recordingGateway is a settled gateway over recording simulators, the
// requests of its first checks and reads dropped.
func recordingGateway(t *testing.T, collapse bool) (*gw, func() []*http.Request) {
	env, requests := recordingEnv(t)
	g := startApp(t, env, quiet, func(c *config.Config) { c.CollapseQueries = collapse })
	g.settle(t)
	requests()
	return g, requests
}

// postTraced sends a query with a client's traceparent.
func postTraced(t *testing.T, url, query, traceparent string) {
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, url+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"errors"`)) {
		t.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
}

// newTraceID is a trace id no other test (or run of this one) uses.
func newTraceID() string { return fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64()) }

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

func TestTracesOperationsBatchesAndUpstreamCalls(t *testing.T) {
	spans := sink()
	g, requests := recordingGateway(t, true)

	traceHex, clientSpan := newTraceID(), "00f067aa0ba902b7"
	id, _ := trace.TraceIDFromHex(traceHex)
	ofTrace := spans.of(id)
	postTraced(t, g.url, `query Deep { orders(first: 10) { edges { node { number customer { name }
		lines { product { name stock { onHand } } } invoices { number } } } } }`, "00-"+traceHex+"-"+clientSpan+"-01")

	var op sdktrace.ReadOnlySpan
	var batches, calls []sdktrace.ReadOnlySpan
	for _, s := range ofTrace() {
		switch {
		case s.Name() == "query Deep":
			op = s
		case strings.HasPrefix(s.Name(), "loader "):
			batches = append(batches, s)
		default:
			calls = append(calls, s)
		}
	}
	if op == nil {
		t.Fatalf("no span named query Deep among %d", len(ofTrace()))
	}
	if op.Parent().SpanID().String() != clientSpan || op.SpanKind() != trace.SpanKindServer {
		t.Errorf("operation span under %s (%s), want a server span under the client's %s", op.Parent().SpanID(), op.SpanKind(), clientSpan)
	}
	if systems := attr(op, "trestle.systems").AsStringSlice(); !slices.Contains(systems, "shop") || !slices.Contains(systems, "erp") {
		t.Errorf("trestle.systems %v, want the shop and the ERP", systems)
	}
	if n := attr(op, "trestle.upstream_calls").AsInt64(); n != int64(len(calls)) || n == 0 {
		t.Errorf("trestle.upstream_calls %d, want the %d call spans", n, len(calls))
	}
	if got := attr(op, "trestle.cache.outcome").AsString(); got != "miss" {
		t.Errorf("cache outcome %q on a cold cache, want miss", got)
	}

	// Every loader batch is a child of the operation; customers, products,
	// stock and invoices each batch once.
	loaders := map[string]int{}
	for _, b := range batches {
		loaders[attr(b, "trestle.loader").AsString()]++
		if b.Parent().SpanID() != op.SpanContext().SpanID() || attr(b, "trestle.batch.keys").AsInt64() == 0 {
			t.Errorf("batch %s under %s with %d keys, want under the operation with keys", b.Name(), b.Parent().SpanID(), attr(b, "trestle.batch.keys").AsInt64())
		}
	}
	for _, l := range []string{"crm/customers", "shop/products", "erp/stock", "erp/invoices/order"} {
		if loaders[l] != 1 {
			t.Errorf("loader %s ran %d batches, want 1 (all: %v)", l, loaders[l], loaders)
		}
	}

	// Every upstream call is a client span, and the upstream got its
	// trace context: the same trace, with the call's span as parent.
	callIDs := map[string]bool{}
	for _, c := range calls {
		callIDs[c.SpanContext().SpanID().String()] = true
		if c.SpanKind() != trace.SpanKindClient || attr(c, "http.response.status_code").AsInt64() != 200 || attr(c, "trestle.system").AsString() == "" {
			t.Errorf("call span %s: kind %s, status %d, system %q", c.Name(), c.SpanKind(), attr(c, "http.response.status_code").AsInt64(), attr(c, "trestle.system").AsString())
		}
	}
	got := requests()
	if len(got) != len(calls) {
		t.Errorf("the upstreams got %d requests, want one per call span (%d)", len(got), len(calls))
	}
	for _, r := range got {
		p := r.Header.Get("Traceparent")
		f := strings.Split(p, "-")
		if len(f) != 4 || f[1] != traceHex || !callIDs[f[2]] || f[3] != "01" {
			t.Errorf("upstream got traceparent %q, want trace %s under one of the call spans", p, traceHex)
		}
	}
}

func TestTracesACollapsedQueryLinkedToTheExecution(t *testing.T) {
	spans := sink()
	g, _ := recordingGateway(t, true)
	g.env.Sim.Shop.SetFaults(sim.Faults{LatencyMS: 200}) // both are in flight together

	traceHex := []string{newTraceID(), newTraceID()}
	var of []func() []sdktrace.ReadOnlySpan
	for _, h := range traceHex {
		id, _ := trace.TraceIDFromHex(h)
		of = append(of, spans.of(id))
	}
	var wg sync.WaitGroup
	for _, h := range traceHex {
		wg.Go(func() {
			postTraced(t, g.url, `query Recent { orders(first: 3) { edges { node { number } } } }`, "00-"+h+"-00f067aa0ba902b7-01")
		})
	}
	wg.Wait()

	var ran, collapsed []sdktrace.ReadOnlySpan // operation spans
	callsIn := map[trace.TraceID]int{}
	for _, spansOf := range of {
		for _, s := range spansOf() {
			switch {
			case s.Name() != "query Recent":
				callsIn[s.SpanContext().TraceID()]++
			case attr(s, "trestle.collapsed").AsBool():
				collapsed = append(collapsed, s)
			default:
				ran = append(ran, s)
			}
		}
	}
	if len(ran) != 1 || len(collapsed) != 1 {
		t.Fatalf("%d executed and %d collapsed operation spans, want one each", len(ran), len(collapsed))
	}
	if callsIn[collapsed[0].SpanContext().TraceID()] != 0 || callsIn[ran[0].SpanContext().TraceID()] == 0 {
		t.Errorf("call spans by trace %v: want them all in the executing operation's trace", callsIn)
	}
	if l := collapsed[0].Links(); len(l) != 1 || l[0].SpanContext.SpanID() != ran[0].SpanContext().SpanID() {
		t.Errorf("collapsed operation's links %+v, want one to the execution's span %s", l, ran[0].SpanContext().SpanID())
	}
}
