package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/world"
)

// started is a run of the command in the background.
type started struct {
	base    string // the URL the banner printed
	admin   string // the admin listener's URL, when it printed one
	printed string // the banner
	done    chan error
}

// startRun runs the command until its banner has printed a line containing
// last, and returns the first URL the banner names. A gateway's admin
// listener goes on a free port unless args place it.
func startRun(t testing.TB, ctx context.Context, args []string, last string) *started {
	t.Helper()
	if (len(args) == 0 || args[0] != "sim") && !slices.Contains(args, "-admin-listen") {
		args = append(args, "-admin-listen", "127.0.0.1:0")
	}
	return startCommand(t, ctx, args, last)
}

// startCommand is startRun with the arguments as they are.
func startCommand(t testing.TB, ctx context.Context, args []string, last string) *started {
	t.Helper()
	out, w := io.Pipe()
	s := &started{done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, args, w, io.Discard)
		w.Close()
	}()
	lines := bufio.NewScanner(out)
	var printed strings.Builder
	for lines.Scan() {
		printed.WriteString(lines.Text() + "\n")
		if m := regexp.MustCompile(`on (http://\S+)`).FindStringSubmatch(lines.Text()); m != nil && s.base == "" {
			s.base = m[1]
		}
		if m := regexp.MustCompile(`admin\s+(http://[^/\s]+)`).FindStringSubmatch(lines.Text()); m != nil {
			s.admin = m[1]
		}
		if strings.Contains(lines.Text(), last) {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	s.printed = printed.String()
	if s.base == "" {
		t.Fatalf("no URL in the banner:\n%s", s.printed)
	}
	return s
}

// stop ends the run and checks it shut down cleanly.
func (s *started) stop(t testing.TB, cancel context.CancelFunc) {
	t.Helper()
	cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestSimCommandServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, []string{"sim", "-listen", "127.0.0.1:0", "-seed", "3", "-faults", `{"erp":{"latency_ms":1}}`}, "introspection: true")
	for _, want := range []string{"API under /wp-json/wc/v3", "ck_demo:cs_demo", "Bearer pat-demo", "token demo:demo"} {
		if !strings.Contains(s.printed, want) {
			t.Errorf("banner does not show %q:\n%s", want, s.printed)
		}
	}
	resp, err := http.Get(s.base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The config it prints works as it is.
	printed := s.printed[strings.Index(s.printed, "sources:"):]
	path := filepath.Join(t.TempDir(), "trestle.yaml")
	if err := os.WriteFile(path, []byte(printed), 0o600); err != nil {
		t.Fatal(err)
	}
	gwCtx, stopGateway := context.WithCancel(context.Background())
	defer stopGateway()
	g := startRun(t, gwCtx, []string{"-config", path, "-listen", "127.0.0.1:0"}, "GraphQL")
	if n := queryTotal(t, g.base, ""); n == 0 {
		t.Errorf("no orders through the printed config")
	}
	// As open as the demo: the FINANCE fields and the schema answer.
	resp = postQuery(t, g.base, "", `{ invoices(first: 1) { totalCount } }`)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(answer), `"totalCount"`) || strings.Contains(string(answer), "FORBIDDEN") {
		t.Errorf("invoices through the printed config: %s", answer)
	}
	if resp, err := http.Get(g.base + "/schema.graphql"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/schema.graphql through the printed config: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	g.stop(t, stopGateway)
	s.stop(t, cancel)
}

func TestMisconfiguredSourcesAreFoundAtStart(t *testing.T) {
	simulators := sim.New(sim.Options{World: world.Options{Seed: 9, Size: world.Size{People: 40, Orders: 77, Products: 10}}})
	srv := httptest.NewServer(simulators.Handler())
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "trestle.yaml")
	// The shop's url names the API, not the site root; the CRM's token is
	// wrong.
	yaml := fmt.Sprintf(`sources:
  shop: { kind: woocommerce, url: %[1]s/shop/wp-json/wc/v3, consumerKey: ck_demo, consumerSecret: cs_demo }
  crm:  { kind: hubspot,     url: %[1]s/crm,  token: pat-wrong }
  erp:  { kind: erpnext,     url: %[1]s/erp,  apiKey: demo, apiSecret: demo }
auth: { anonymous: true }
`, srv.URL)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logged syncBuffer
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", path, "-listen", "127.0.0.1:0", "-admin-listen", "off"}, w, &logged)
		w.Close()
	}()
	banner := bufio.NewScanner(out)
	if !banner.Scan() {
		t.Fatal("no banner")
	}
	base := regexp.MustCompile(`http://\S+`).FindString(banner.Text())
	go func() { _, _ = io.Copy(io.Discard, out) }()

	var body struct {
		Status string
		Checks map[string]string
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body.Checks["shop"] != "checking" || time.Now().After(deadline) {
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("/readyz: HTTP %d, want 503", resp.StatusCode)
			}
			break
		}
	}
	wantShop := "GET " + srv.URL + "/shop/wp-json/wc/v3/wp-json/wc/v3/orders?_fields=id&per_page=1: HTTP 404: not a WooCommerce REST API here; sources.shop.url must be the site root (without /wp-json/wc/v3)"
	if body.Status != "unready" || body.Checks["shop"] != wantShop || !strings.Contains(body.Checks["crm"], "HTTP 401") ||
		!strings.Contains(body.Checks["crm"], "sources.crm.token") || body.Checks["erp"] != "ok" {
		t.Errorf("/readyz says %+v, want the shop's and the CRM's failures named", body)
	}
	if strings.Contains(body.Checks["shop"]+body.Checks["crm"], "cs_demo") || strings.Contains(body.Checks["crm"], "pat-wrong") {
		t.Errorf("/readyz shows a credential: %+v", body.Checks)
	}
	if !strings.Contains(logged.String(), "level=ERROR") || !strings.Contains(logged.String(), "404") {
		t.Errorf("the failed checks were not logged:\n%s", logged.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// queryTotal asks a gateway for the number of orders, with an API key
// unless it is empty.
func queryTotal(t *testing.T, base, key string) int {
	t.Helper()
	resp := postQuery(t, base, key, `{ orders(first: 1) { totalCount edges { node { customer { name } } } } }`)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	var r struct {
		Data struct {
			Orders struct{ TotalCount int }
		}
		Errors []any
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Errors) > 0 {
		t.Fatalf("query failed: %v %v", err, r.Errors)
	}
	return r.Data.Orders.TotalCount
}

func TestGatewayWithoutConfigRunsTheSimulators(t *testing.T) {
	t.Setenv("TRESTLE_CONFIG", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, []string{"-listen", "127.0.0.1:0"}, "GraphQL")
	if !strings.Contains(s.printed, "playground") {
		t.Errorf("banner does not say where the playground is:\n%s", s.printed)
	}
	if n := queryTotal(t, s.base, ""); n != 20000 {
		t.Errorf("%d orders, want the demo data set's 20000", n)
	}
	s.stop(t, cancel)
}

// preflight asks the gateway whether a page from origin may POST to it,
// and returns the origin it allows ("" for none).
func preflight(t *testing.T, base, origin string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, base+"/query", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Access-Control-Allow-Origin")
}

// dialFrom opens a graphql-transport-ws connection as a page from origin
// would, and reports whether the gateway acknowledged it.
func dialFrom(t *testing.T, base, origin string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{"Origin": {origin}}})
	if err != nil {
		return false
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init"}`)); err != nil {
		t.Fatal(err)
	}
	_, m, err := conn.Read(ctx)
	return err == nil && strings.Contains(string(m), "connection_ack")
}

func TestDemoWelcomesALocalDevServer(t *testing.T) {
	t.Setenv("TRESTLE_CONFIG", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, []string{"-listen", "127.0.0.1:0"}, "GraphQL")
	defer s.stop(t, cancel)
	for origin, allowed := range map[string]bool{
		"http://localhost:5173":              true,
		"http://127.0.0.1:3000":              true,
		"http://localhost":                   false, // a page served on port 80 is no dev server
		"https://app.example.com":            false,
		"http://localhost.evil.example:5173": false,
	} {
		if got := preflight(t, s.base, origin); (got == origin) != allowed || !allowed && got != "" {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want allowed %v", origin, got, allowed)
		}
		if got := dialFrom(t, s.base, origin); got != allowed {
			t.Errorf("WebSocket from %s: acknowledged %v, want %v", origin, got, allowed)
		}
	}
}

func TestAConfigOfOriginsOnlyChangesTheDemo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trestle.yaml")
	if err := os.WriteFile(path, []byte("origins: [app.example.com]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, []string{"-config", path, "-listen", "127.0.0.1:0"}, "GraphQL")
	defer s.stop(t, cancel)
	if n := queryTotal(t, s.base, ""); n != 20000 {
		t.Errorf("%d orders, want the demo data set's 20000", n)
	}
	if got := preflight(t, s.base, "https://app.example.com"); got != "https://app.example.com" {
		t.Errorf("the configured origin is not allowed: %q", got)
	}
	if got := preflight(t, s.base, "http://localhost:5173"); got != "" {
		t.Errorf("origins replace the demo's, but localhost is still allowed: %q", got)
	}
}

func TestGatewayWithConfigFile(t *testing.T) {
	simulators := sim.New(sim.Options{World: world.Options{Seed: 9, Size: world.Size{People: 40, Orders: 77, Products: 10}}})
	srv := httptest.NewServer(simulators.Handler())
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "trestle.yaml")
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
sources:
  shop: { kind: woocommerce, url: %[1]s/shop, consumerKey: ck_demo, consumerSecret: ${SHOP_SECRET} }
  crm:  { kind: hubspot,     url: %[1]s/crm,  token: pat-demo }
  erp:  { kind: erpnext,     url: %[1]s/erp,  apiKey: demo, apiSecret: demo, timeZone: Europe/Berlin }
cache: { maxMB: 32, ttl: { stock: 1s } }
join: { key: phone }
auth: { apiKeys: [ { name: test, sha256: 1004cff9c69cb7b5c2bb8cf307d89dc50433e13e690011decb4ec967b13041fe } ] }
`, srv.URL)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHOP_SECRET", "cs_demo")
	t.Setenv("TRESTLE_CONFIG", path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, nil, "GraphQL")
	// Only a client with a key gets in.
	for key, status := range map[string]int{"": http.StatusUnauthorized, "trk_wrong": http.StatusUnauthorized} {
		resp := postQuery(t, s.base, key, "{ __typename }")
		resp.Body.Close()
		if resp.StatusCode != status || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("key %q: HTTP %d, want %d with WWW-Authenticate", key, resp.StatusCode, status)
		}
	}
	if n := queryTotal(t, s.base, "trk_test-key"); n != 77 {
		t.Errorf("%d orders, want the 77 of the configured shop", n)
	}
	s.stop(t, cancel)
}

// postQuery posts a GraphQL query, with an API key unless it is empty.
func postQuery(t *testing.T, base, key, query string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, base+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestGatewayRejectsInvalidConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("listen: nowhere\nsources: { shop: { kind: magento } }\nextra: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-config", path}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("err = %v, want the unknown key named", err)
	}
	if err := os.WriteFile(path, []byte("listen: nowhere\nsources: { shop: { kind: magento } }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"-config", path}, io.Discard, io.Discard)
	for _, want := range []string{"listen", "sources.shop.kind", "sources.crm", "sources.erp"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
}

func TestSimCommandRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sim", "-faults", `{"crm":{"error_rate":3}}`}, "error_rate"},
		{[]string{"sim", "-faults", `{"billing":{}}`}, "unknown system"},
		{[]string{"sim", "extra"}, "unexpected argument"},
		{[]string{"sim", "-listen", "nonsense"}, "nonsense"},
		{[]string{"sim", "-scale", "0"}, "-scale must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if err := run(context.Background(), []string{"sim", "-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

// The sim's -scale multiplies world's default size, which demoSize writes
// out again: scale 1 must be that default.
func TestSimScaleOneIsTheDefaultWorld(t *testing.T) {
	def := world.New(world.Options{Seed: 1})
	one := world.New(world.Options{Seed: 1, Size: demoSize(1)})
	got := []int{len(one.People), len(one.Orders), len(one.Products), len(one.Invoices)}
	want := []int{len(def.People), len(def.Orders), len(def.Products), len(def.Invoices)}
	if !slices.Equal(got, want) {
		t.Fatalf("-scale 1 made people, orders, products, invoices %v; the default world has %v", got, want)
	}
}

func TestGatewayStartupFailureStopsWhatItStarted(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	t.Setenv("TRESTLE_CONFIG", "")
	before := runtime.NumGoroutine()
	err = run(context.Background(), []string{"-listen", busy.Addr().String()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v, want the busy address reported", err)
	}
	// The simulators' server and the directory loop started before the
	// listen failed; they must be gone.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines left running after a failed start (%d before)", n, before)
	}
}

func TestShutdownEndsWebSocketConnections(t *testing.T) {
	t.Setenv("TRESTLE_CONFIG", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, []string{"-listen", "127.0.0.1:0"}, "GraphQL")
	dialCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	conn, _, err := websocket.Dial(dialCtx, "ws"+strings.TrimPrefix(s.base, "http")+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for _, m := range []string{`{"type":"connection_init"}`, `{"id":"1","type":"subscribe","payload":{"query":"subscription { stockChanged { cursor } }"}}`,
		`{"type":"ping"}`} {
		if err := conn.Write(dialCtx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	// The pong says the gateway has read everything before it.
	for {
		_, m, err := conn.Read(dialCtx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(m), `"pong"`) {
			break
		}
	}
	s.stop(t, cancel) // returns only once the gateway has stopped
	for {
		if _, _, err := conn.Read(dialCtx); err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
				t.Fatalf("connection ended with %v, want going away", err)
			}
			return
		}
	}
}

func TestAdminListener(t *testing.T) {
	t.Setenv("TRESTLE_CONFIG", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startRun(t, ctx, []string{"-listen", "127.0.0.1:0"}, "admin")
	defer s.stop(t, cancel)
	if s.admin == "" {
		t.Fatalf("no admin URL in the banner:\n%s", s.printed)
	}
	queryTotal(t, s.base, "")
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	status, body := get(s.admin + "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", status)
	}
	for _, want := range []string{
		`trestle_operations_total{name="anonymous",outcome="ok",type="query"} 1`,
		`trestle_upstream_calls_total{outcome="ok",route="orders.list",system="shop"}`,
		`trestle_upstream_call_duration_seconds_bucket{route="orders.list",system="shop"`,
		`trestle_cache_misses_total{kind="customers"}`,
		`trestle_cache_bytes{kind="customers"}`,
		`trestle_operations_collapsed_total 0`,
		`trestle_upstream_breaker_open{system="erp"} 0`,
		`trestle_subscriptions_active 0`,
		`trestle_loader_batch_keys_bucket{loader="crm/customers"`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if status, body := get(s.admin + "/readyz"); status != http.StatusOK || !strings.Contains(body, `"status":"ready"`) {
		t.Errorf("/readyz: HTTP %d %s", status, body)
	}
	if status, _ := get(s.admin + "/debug/pprof/"); status != http.StatusOK {
		t.Errorf("/debug/pprof/: HTTP %d", status)
	}
	// The clients' listener serves neither metrics nor pprof.
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if status, _ := get(s.base + path); status != http.StatusNotFound {
			t.Errorf("%s on the GraphQL listener: HTTP %d, want 404", path, status)
		}
	}
}

func TestAdminListenerPlacement(t *testing.T) {
	t.Setenv("TRESTLE_CONFIG", "")
	// Another program holds the default port (or this test does).
	if busy, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil {
		defer busy.Close()
	}
	t.Run("default port taken", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := startCommand(t, ctx, []string{"-listen", "127.0.0.1:0"}, "admin")
		defer s.stop(t, cancel)
		if s.admin == "" || s.admin == "http://"+"127.0.0.1:9090" || !strings.HasPrefix(s.admin, "http://127.0.0.1:") {
			t.Fatalf("admin at %q, want a free loopback port:\n%s", s.admin, s.printed)
		}
		resp, err := http.Get(s.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/metrics at the fallback port: HTTP %d", resp.StatusCode)
		}
	})
	t.Run("off", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := startCommand(t, ctx, []string{"-listen", "127.0.0.1:0", "-admin-listen", "off"}, "admin")
		defer s.stop(t, cancel)
		if s.admin != "" || !strings.Contains(s.printed, "admin       off") {
			t.Errorf("admin listener with -admin-listen off:\n%s", s.printed)
		}
	})
	for arg, want := range map[string]string{
		"127.0.0.1:9090": "admin listener " + "127.0.0.1:9090" + ": listen tcp " + "127.0.0.1:9090" + ": bind: address already in use",
		"":               `-admin-listen: "" is not host:port (127.0.0.1:9090) or off`,
		"9090":           `-admin-listen: "9090" is not host:port`,
	} {
		t.Run("explicit "+arg, func(t *testing.T) {
			err := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-admin-listen", arg}, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want %q", err, want)
			}
		})
	}
}

func TestTuneGCLeavesSetValuesAlone(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(256)
	if percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); percent != 400 || limit != 1024<<20 {
		t.Errorf("unset: GC percent %d and memory limit %d, want 400 and 1 GiB", percent, limit)
	}
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "9GiB")
	tuneGC(256)
	if percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); percent != 100 || limit != math.MaxInt64 {
		t.Errorf("set: GC percent %d and memory limit %d, want them untouched", percent, limit)
	}
}

func TestAPIKeyCommand(t *testing.T) {
	tests := []struct {
		args    []string
		entry   string // the config entry printed, up to the hash
		roles   string
		wantErr string
	}{
		{args: []string{"reporting"}, entry: "- { name: reporting, sha256: ", roles: "roles: [] }"},
		{args: []string{"-roles", "finance", "bi"}, entry: "- { name: bi, sha256: ", roles: "roles: [FINANCE] }"},
		{args: []string{"bi", "-roles", "FINANCE"}, entry: "- { name: bi, sha256: ", roles: "roles: [FINANCE] }"},
		{args: []string{"-roles", "FINANCE"}, wantErr: "want one client name, not 0"},
		{args: []string{"a", "b"}, wantErr: "want one client name, not 2"},
		{args: []string{"--", "-roles"}, wantErr: `"-roles" is not a client name`},
		{args: []string{"-roles", "SALES", "bi"}, wantErr: `-roles: "SALES" is not a role (want FINANCE)`},
		{args: []string{"-role", "FINANCE", "bi"}, wantErr: "flag provided but not defined: -role"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"apikey"}, tt.args...), &out, &errOut)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if out.Len() > 0 {
					t.Errorf("a refused call printed a key:\n%s", out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`key \(.*\): (trk_\S+)\n[\s\S]*` + regexp.QuoteMeta(tt.entry) + `([0-9a-f]{64}), ` + regexp.QuoteMeta(tt.roles)).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("printed:\n%s\nwant a key and the entry %s…, %s", out.String(), tt.entry, tt.roles)
			}
			if sum := sha256.Sum256([]byte(m[1])); hex.EncodeToString(sum[:]) != m[2] {
				t.Errorf("the entry's hash is not the key's SHA-256")
			}
		})
	}
	var usage bytes.Buffer
	if err := run(context.Background(), []string{"apikey", "-h"}, io.Discard, &usage); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(usage.String(), "usage: trestle apikey [-roles ROLE,...] NAME") || !strings.Contains(usage.String(), "-roles") {
		t.Errorf("-h: %v\n%s", err, usage.String())
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
