package tracing_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/trestlehq/trestle/tracing"
)

// collector is an OTLP/HTTP trace receiver: it decodes what it is sent.
type collector struct {
	mu       sync.Mutex
	paths    []string
	headers  []http.Header
	requests []*coltracepb.ExportTraceServiceRequest
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.paths = append(c.paths, r.URL.Path)
	c.headers = append(c.headers, r.Header.Clone())
	c.requests = append(c.requests, req)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestSetupExportsOverOTLP(t *testing.T) {
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	ctx := context.Background()
	shutdown, err := tracing.Setup(ctx, tracing.Config{Endpoint: srv.URL, Headers: map[string]string{"X-Api-Key": "k1"},
		ServiceName: "trestle-test"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}

	// A caller's trace context is read from its headers and passed on.
	in := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	opCtx, span := tracing.Start(tracing.Extract(ctx, in), "query Orders")
	out := http.Header{}
	tracing.Inject(opCtx, out)
	span.End()
	if got, want := out.Get("Traceparent")[:35], "00-4bf92f3577b34da6a3ce929d0e0e4736"; got != want {
		t.Errorf("traceparent passed on %q, want the caller's trace %s", out.Get("Traceparent"), want)
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.requests) != 1 {
		t.Fatalf("%d exports, want 1 on shutdown", len(c.requests))
	}
	if c.paths[0] != "/v1/traces" || c.headers[0].Get("X-Api-Key") != "k1" {
		t.Errorf("export to %s with key %q, want /v1/traces with the configured header", c.paths[0], c.headers[0].Get("X-Api-Key"))
	}
	rs := c.requests[0].ResourceSpans[0]
	service := ""
	for _, a := range rs.Resource.Attributes {
		if a.Key == "service.name" {
			service = a.Value.GetStringValue()
		}
	}
	s := rs.ScopeSpans[0].Spans[0]
	if service != "trestle-test" || s.Name != "query Orders" {
		t.Errorf("exported span %q of service %q, want query Orders of trestle-test", s.Name, service)
	}
	if trace, parent := fmt.Sprintf("%x", s.TraceId), fmt.Sprintf("%x", s.ParentSpanId); trace != "4bf92f3577b34da6a3ce929d0e0e4736" || parent != "00f067aa0ba902b7" {
		t.Errorf("span in trace %s under %s, want the caller's trace and span", trace, parent)
	}
}

func TestSetupRefusesABadEndpoint(t *testing.T) {
	if _, err := tracing.Setup(context.Background(), tracing.Config{Endpoint: "collector:4318"}, slog.Default()); err == nil {
		t.Fatal("no error for an endpoint without a scheme")
	}
}

// BenchmarkSpanWithoutExporter is what one span costs while tracing is off
// (no exporter configured): an operation starts one, plus one per loader
// batch and upstream call.
//
//	go test -run '^$' -bench SpanWithoutExporter ./tracing/
func BenchmarkSpanWithoutExporter(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span := tracing.Start(ctx, "query Orders")
		span.End()
	}
}
