package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// demo is the demo's config on free ports.
func demo() config.Config {
	cfg := config.Demo()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

func TestRunServesUntilShutdownAndShutdownIsIdempotent(t *testing.T) {
	a, err := app.New(demo(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()

	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"query": `{ orders(first: 2) { totalCount } }`})
	resp, err := client.Post(a.URL()+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(answer), `"totalCount":20000`) {
		t.Fatalf("answer %s, want the demo's 20000 orders", answer)
	}
	resp, err = client.Get(a.AdminURL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		if err := a.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after Shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
	client.CloseIdleConnections()
	if _, err := client.Get(a.URL() + "/healthz"); err == nil {
		t.Error("the listener still answers after Shutdown")
	}
}

func TestShutdownWithoutRunClosesEverything(t *testing.T) {
	a, err := app.New(demo(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// goleak (TestMain) checks that nothing New started is left.
}

func TestNewReportsAndUndoesAFailedStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, mod := range map[string]func(*config.Config){
		"listen taken":       func(c *config.Config) { c.Listen = busy.Addr().String() },
		"admin listen taken": func(c *config.Config) { c.AdminListen = busy.Addr().String() },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := demo()
			mod(&cfg)
			if _, err := app.New(cfg, quiet); err == nil || !strings.Contains(err.Error(), "address already in use") {
				t.Fatalf("err = %v, want the taken address reported", err)
			}
		})
	}
}

// readyz is the gateway's /readyz: its status and checks.
func readyz(t *testing.T, a *app.App) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(a.AdminURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Checks map[string]string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body.Checks
}

func TestReadinessFollowsAnUpstreamDownFromStartAndBackWithoutTraffic(t *testing.T) {
	a, err := app.New(demo(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	crm := a.Sim().Upstream(model.SystemCRM)
	crm.SetFaults(sim.Faults{Down: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	waitFor := func(what string, cond func(status int, checks map[string]string) bool) map[string]string {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			status, checks := readyz(t, a)
			if cond(status, checks) {
				return checks
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /readyz still says %d %v", what, status, checks)
			}
		}
	}
	checks := waitFor("the CRM down", func(status int, checks map[string]string) bool {
		return status == http.StatusServiceUnavailable && strings.Contains(checks["directory"], "crm customer list has not been read")
	})
	if checks["crm"] == "ok" || checks["shop"] != "ok" || checks["erp"] != "ok" {
		t.Errorf("checks %v, want only the CRM failing", checks)
	}
	// Back, with no client traffic: the gateway's own checks find it.
	crm.SetFaults(sim.Faults{})
	waitFor("the CRM back", func(status int, _ map[string]string) bool { return status == http.StatusOK })
}

// simulated is the config of a gateway over the simulators of env, on free
// ports, open to anonymous requests.
func simulated(env *simtest.Env) config.Config {
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Sources = env.Sim.Sources(env.URL)
	cfg.Auth = config.Auth{Anonymous: true}
	return cfg
}

// running is a gateway built from cfg and run until the test ends.
func running(t *testing.T, cfg config.Config) *app.App {
	t.Helper()
	a, err := app.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := a.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return a
}

// awaitReadyz polls /readyz until cond holds, for up to 30 seconds.
func awaitReadyz(t *testing.T, a *app.App, what string, cond func(status int, checks map[string]string) bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		status, checks := readyz(t, a)
		if cond(status, checks) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz still says %d %v", what, status, checks)
		}
	}
}

func TestNotReadyUntilTheCustomerListsHaveBeenRead(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 3, Size: world.Size{People: 20, Orders: 20, Products: 5}})
	env.Sim.CRM.SetFaults(sim.Faults{LatencyMS: 1000})
	a := running(t, simulated(env))
	// The sources' checks pass, and the shop's and the ERP's lists are
	// read, long before the CRM's: the directory alone holds readiness
	// back, naming the list it waits for.
	awaitReadyz(t, a, "the CRM's list being read", func(status int, checks map[string]string) bool {
		return status == http.StatusServiceUnavailable && checks["directory"] == "reading the customer lists: crm"
	})
	awaitReadyz(t, a, "every list read", func(status int, checks map[string]string) bool {
		return status == http.StatusOK && checks["directory"] == "ok"
	})
}

func TestTheAdminListenerReadsTheCustomerListsAgainOnRequest(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 3, Size: world.Size{People: 20, Orders: 20, Products: 5}})
	a := running(t, simulated(env))
	awaitReadyz(t, a, "ready", func(status int, _ map[string]string) bool { return status == http.StatusOK })
	sync := func() (int, map[string]string) {
		t.Helper()
		resp, err := http.Post(a.AdminURL()+"/directory/sync", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}

	env.Sim.CRM.SetFaults(sim.Faults{ErrorRate: 1})
	env.Sim.CRM.ResetCounters()
	if status, body := sync(); status != http.StatusServiceUnavailable || body["status"] != "incomplete" ||
		!strings.Contains(body["error"], "sync crm customers") || env.Sim.CRM.Requests() == 0 {
		t.Errorf("HTTP %d %v after %d CRM calls, want 503 naming the CRM's list, read again", status, body, env.Sim.CRM.Requests())
	}
	// The list read before is still held: the gateway stays ready.
	if status, checks := readyz(t, a); status != http.StatusOK {
		t.Errorf("/readyz: %d %v, want ready on the list read before", status, checks)
	}
	env.Sim.CRM.SetFaults(sim.Faults{})
	if status, body := sync(); status != http.StatusOK || body["status"] != "read" {
		t.Errorf("HTTP %d %v, want 200 read", status, body)
	}
	resp, err := http.Get(a.AdminURL() + "/directory/sync")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /directory/sync: HTTP %d, want 405", resp.StatusCode)
	}
}

func TestTheStoreOpensAtStart(t *testing.T) {
	// The demo keeps a store of its own, gone when the gateway stops.
	a, err := app.New(demo(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	path := a.Config().Store.Path
	if _, err := os.Stat(path); path == "" || err != nil {
		t.Fatalf("the demo's store %q: %v", path, err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the demo's store is left behind after Shutdown: %v", err)
	}

	// A file that is no store fails the start, naming it, unless the
	// store is optional.
	corrupt := filepath.Join(t.TempDir(), "reports.db")
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte("not sqlite "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := demo()
	cfg.Store.Path = corrupt
	if _, err := app.New(cfg, quiet); err == nil || !strings.Contains(err.Error(), corrupt) || !strings.Contains(err.Error(), "store.optional") {
		t.Fatalf("err = %v, want the file named and store.optional suggested", err)
	}
	// Optional, the live graph starts without it; the gateway is ready,
	// degraded, and what reads the store says why it cannot.
	cfg.Store.Optional = true
	a = running(t, cfg)
	awaitReadyz(t, a, "ready without the store", func(status int, checks map[string]string) bool {
		return status == http.StatusOK && strings.HasPrefix(checks["store"], "degraded: not open: ") && strings.Contains(checks["store"], corrupt)
	})
	body, _ := json.Marshal(map[string]string{"query": `{ storeStatus { state } }`})
	resp, err := http.Post(a.URL()+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(answer), `"STORE_UNAVAILABLE"`) || !strings.Contains(string(answer), `"storeStatus":null`) {
		t.Errorf("storeStatus without a store: %s, want null with STORE_UNAVAILABLE", answer)
	}
}
