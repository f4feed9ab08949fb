package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

func TestSimplePOSTsAreRefused(t *testing.T) {
	g := startLive(t)
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		status, r := postRaw(t, g.url, ct, jsonQuery(`{ __typename }`))
		if status != http.StatusUnsupportedMediaType || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "CSRF_REFUSED" {
			t.Errorf("Content-Type %q: HTTP %d %+v, want 415 CSRF_REFUSED", ct, status, r.Errors)
		}
	}
	if status, r := postRaw(t, g.url, "application/json; charset=utf-8", jsonQuery(`{ __typename }`)); status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("JSON: HTTP %d %+v", status, r.Errors)
	}
	// GET runs queries only.
	req, _ := http.NewRequest(http.MethodGet, g.url+"/query?query="+url.QueryEscape(`mutation { x }`), nil)
	req.Header.Set("Accept", "application/graphql-response+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("a mutation over GET: HTTP %d, want it refused", resp.StatusCode)
	}
}

func TestCORSAllowsOnlyTheConfiguredOrigins(t *testing.T) {
	g := startLive(t, func(c *config.Config) { c.Origins = []string{"app.example.com", "*.reports.example.com"} })
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, g.url+"/query", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, x-api-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for origin, allowed := range map[string]bool{
		"https://app.example.com":         true,
		"https://q3.reports.example.com":  true,
		"https://evil.example.net":        false,
		"https://app.example.com.evil.io": false,
	} {
		resp := preflight(origin)
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if allowed && (got != origin || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-api-key")) {
			t.Errorf("preflight from %s: Allow-Origin %q, Allow-Headers %q; want it allowed", origin, got, resp.Header.Get("Access-Control-Allow-Headers"))
		}
		if !allowed && got != "" {
			t.Errorf("preflight from %s: Allow-Origin %q, want none", origin, got)
		}
	}
}

func TestASubscriptionOverPlainHTTPIsRefused(t *testing.T) {
	g := startLive(t)
	status, r := postRaw(t, g.url, "application/json", jsonQuery(`subscription { stockChanged { cursor } }`))
	if status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "SUBSCRIPTION_NEEDS_STREAM" {
		t.Fatalf("HTTP %d %+v, want 400 SUBSCRIPTION_NEEDS_STREAM", status, r.Errors)
	}
}

func TestSubscriptionOverServerSentEvents(t *testing.T) {
	g := startLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := g.env.Sim.World.Products[2]
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url+"/query",
		bytes.NewReader(jsonQuery(`subscription { stockChanged(skus: ["`+p.SKU+`"]) { sku stock { warehouse onHand } } }`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	eventually(t, "the subscription is in place", func() bool { return g.executions(t) == 1 })
	g.moveStock(t, p, 77)
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok && strings.Contains(data, p.SKU) {
			if !strings.Contains(data, `"onHand":"77"`) {
				t.Fatalf("event %s, want 77 on hand", data)
			}
			return
		}
	}
	t.Fatalf("the stream ended without the event: %v", lines.Err())
}

func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		checks map[string]string
		status int
		body   string
	}{
		{map[string]string{"bus": "ok", "erp": "ok"}, http.StatusOK, `"status":"ready"`},
		{map[string]string{"bus": "ok", "erp": "circuit breaker open"}, http.StatusServiceUnavailable, `"erp":"circuit breaker open"`},
	} {
		rec := httptest.NewRecorder()
		gateway.Readyz(func() map[string]string { return tc.checks }).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("checks %v: HTTP %d %s, want %d with %s", tc.checks, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

func TestOneLogLinePerOperationWithoutPersonalData(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 7, Size: world.Size{People: 30, Orders: 60, Products: 10}})
	var buf syncBuffer
	g := startApp(t, env, slog.New(slog.NewJSONHandler(&buf, nil)))
	g.settle(t)
	var p *world.Person
	for _, q := range env.Sim.World.People {
		if q.Email != "" && q.ERP != nil {
			p = q
			break
		}
	}
	g.query(t, `query Who($email: String!) { customerByEmail(email: $email) { name invoices(first: 1) { totalCount } } }`,
		map[string]any{"email": p.Email}, nil)
	// The handler's own lines: the rest of the gateway has its say at
	// start.
	var graph []string
	for l := range strings.Lines(buf.String()) {
		var c struct{ Component string }
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if c.Component == "graph" {
			graph = append(graph, l)
		}
	}
	if len(graph) != 1 {
		t.Fatalf("the handler logged %d lines for one operation, want 1: %q", len(graph), graph)
	}
	var line struct {
		Msg, Name, Type        string
		Calls                  map[string]int
		CacheHits, CacheMisses int
	}
	if err := json.Unmarshal([]byte(graph[0]), &line); err != nil {
		t.Fatalf("log %q: %v", graph[0], err)
	}
	if line.Msg != "operation" || line.Name != "Who" || line.Type != "query" || line.Calls["erp"] == 0 || line.CacheMisses == 0 {
		t.Errorf("log line %+v, want the operation with its ERP calls and cache misses", line)
	}
	if strings.Contains(buf.String(), p.Email) || strings.Contains(buf.String(), p.LastName) {
		t.Errorf("the log line holds personal data: %s", buf.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDebugHeaderExplainsTheAnswer(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 7, Size: world.Size{People: 30, Orders: 60, Products: 10}})
	build := func(debug bool) string {
		g := startApp(t, env, quiet, func(c *config.Config) { c.DebugHeader = debug })
		g.settle(t)
		return g.url
	}
	ask := func(url string, header bool) map[string]json.RawMessage {
		req, _ := http.NewRequest(http.MethodPost, url+"/query", bytes.NewReader(jsonQuery(deepQuery)))
		req.Header.Set("Content-Type", "application/json")
		if header {
			req.Header.Set("X-Trestle-Debug", "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct{ Extensions map[string]json.RawMessage }
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r.Extensions
	}
	url := build(true)
	var explained struct {
		UpstreamCalls          map[string]int
		CacheHits, CacheMisses int
		Batches                []struct {
			Loader string
			Keys   int
		}
		TookMs float64
	}
	if err := json.Unmarshal(ask(url, true)["trestle"], &explained); err != nil {
		t.Fatal(err)
	}
	// A cold deep query: every system called, every loader batching its
	// level's keys in one batch.
	seen := map[string]int{}
	for _, b := range explained.Batches {
		seen[b.Loader]++
	}
	if explained.UpstreamCalls["shop"] == 0 || explained.UpstreamCalls["erp"] == 0 || explained.CacheMisses == 0 || explained.TookMs <= 0 ||
		seen["erp/stock"] != 1 || seen["shop/products"] != 1 {
		t.Errorf("explained %+v, want every system called and one batch per loader", explained)
	}
	if ext := ask(url, false); ext["trestle"] != nil {
		t.Errorf("explained without the header: %s", ext["trestle"])
	}
	if ext := ask(build(false), true); ext["trestle"] != nil {
		t.Errorf("explained while the config does not allow it: %s", ext["trestle"])
	}
}
