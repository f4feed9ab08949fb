package sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/world"
)

var small = world.Options{Seed: 1, Size: world.Size{People: 50, Orders: 200, Products: 20}}

func TestAdminEndpoints(t *testing.T) {
	s := sim.New(sim.Options{World: small})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	for _, path := range []string{"/shop/wp-json/wc/v3/orders", "/shop/wp-json/wc/v3/orders", "/crm/crm/v3/objects/contacts", "/erp/api/resource/Bin"} {
		call("GET", path, "")
	}
	status, stats := call("GET", "/_sim/stats", "")
	if status != 200 || stats["shop"] != 2.0 || stats["crm"] != 1.0 || stats["erp"] != 1.0 {
		t.Fatalf("stats %d %v", status, stats)
	}
	routes, _ := stats["routes"].(map[string]any)
	if _, ok := routes["shop"].(map[string]any); !ok {
		t.Fatalf("routes %v, want them by system", stats["routes"])
	}

	if status, stats = call("POST", "/_sim/reset", ""); status != 200 || stats["shop"] != 0.0 {
		t.Fatalf("reset %d %v", status, stats)
	}

	status, _ = call("POST", "/_sim/faults", `{"crm": {"latency_ms": 5, "error_rate": 0.5}}`)
	if status != 200 {
		t.Fatalf("set faults: %d", status)
	}
	status, _ = call("POST", "/_sim/faults", `{"crm": {"down": true}}`)
	if got := s.CRM.Faults(); status != 200 || got.LatencyMS != 5 || got.ErrorRate != 0.5 || !got.Down {
		t.Fatalf("faults not merged: %d %+v", status, got)
	}
	if s.Shop.Faults() != (sim.Faults{}) {
		t.Fatalf("shop faults changed: %+v", s.Shop.Faults())
	}
	if status, _ = call("GET", "/crm/crm/v3/objects/contacts", ""); status != 503 {
		t.Fatalf("down CRM answered %d", status)
	}
}

func TestAdminRejectsBadFaults(t *testing.T) {
	s := sim.New(sim.Options{World: small})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tests := []struct {
		name, body string
		want       []string
	}{
		{"not JSON", `{`, []string{"JSON object"}},
		{"unknown system", `{"billing": {"down": true}}`, []string{"unknown system", "billing"}},
		{"unknown knob", `{"shop": {"latency": 5}}`, []string{"shop", "latency"}},
		{"every problem at once", `{"shop": {"error_rate": 2}, "erp": {"latency_ms": -1}}`, []string{"error_rate 2", "erp: latency_ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := srv.Client().Post(srv.URL+"/_sim/faults", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			body := string(raw)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %s does not mention %q", body, w)
				}
			}
			for _, u := range s.Upstreams() {
				if u.Faults() != (sim.Faults{}) {
					t.Errorf("%s faults changed by a rejected request", u.System())
				}
			}
		})
	}
}

func TestStatsUnderConcurrentLoad(t *testing.T) {
	s := sim.New(sim.Options{World: small})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				resp, err := srv.Client().Get(srv.URL + "/erp/api/resource/Bin")
				if err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	if got := s.Stats(); got.ERP != 200 || got.Shop != 0 {
		t.Fatalf("stats %+v, want 200 ERP requests", got)
	}
}
