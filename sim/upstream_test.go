package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
)

// echo is a minimal dialect for testing the knobs on their own.
type echo struct{ mux *http.ServeMux }

func newEcho() echo {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"things":[1,2,3,4,5,6,7,8,9,10]}`)
	})
	return echo{mux: mux}
}

func (e echo) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }
func (e echo) Route(r *http.Request) string                     { _, p := e.mux.Handler(r); return p }
func (e echo) Fault(w http.ResponseWriter, status int) {
	w.Header().Set("X-Dialect", "echo")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"fault":true}`)
}

func TestUpstreamFaults(t *testing.T) {
	tests := []struct {
		name    string
		faults  sim.Faults
		status  int
		check   func(t *testing.T, resp *http.Response, body []byte, err error)
		timeout time.Duration
	}{
		{name: "healthy", status: 200, check: func(t *testing.T, _ *http.Response, body []byte, _ error) {
			if !json.Valid(body) {
				t.Errorf("body %q is not JSON", body)
			}
		}},
		{name: "down", faults: sim.Faults{Down: true}, status: 503},
		{name: "errors in the dialect's body", faults: sim.Faults{ErrorRate: 1}, status: 500, check: func(t *testing.T, resp *http.Response, body []byte, _ error) {
			if resp.Header.Get("X-Dialect") != "echo" || string(body) != `{"fault":true}` {
				t.Errorf("fault not written by the dialect: %q", body)
			}
		}},
		{name: "rate limited with Retry-After", faults: sim.Faults{RateLimitRate: 1, RetryAfterS: 3}, status: 429, check: func(t *testing.T, resp *http.Response, _ []byte, _ error) {
			if resp.Header.Get("Retry-After") != "3" {
				t.Errorf("Retry-After = %q, want 3", resp.Header.Get("Retry-After"))
			}
		}},
		{name: "malformed body", faults: sim.Faults{MalformedRate: 1}, status: 200, check: func(t *testing.T, _ *http.Response, body []byte, _ error) {
			if json.Valid(body) {
				t.Errorf("body %q is valid JSON", body)
			}
		}},
		{name: "truncated body", faults: sim.Faults{TruncateRate: 1}, status: 200, check: func(t *testing.T, _ *http.Response, body []byte, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read %q with err %v, want unexpected EOF", body, err)
			}
		}},
		{name: "connection reset", faults: sim.Faults{ResetRate: 1}, status: 0},
		{name: "latency", faults: sim.Faults{LatencyMS: 200}, timeout: 50 * time.Millisecond, status: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := sim.NewUpstream(model.SystemShop, newEcho(), tt.faults)
			srv := httptest.NewServer(u)
			defer srv.Close()
			client := srv.Client()
			client.Timeout = tt.timeout
			resp, err := client.Get(srv.URL + "/things")
			if tt.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got HTTP %d, want no answer", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, readErr := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.check != nil {
				tt.check(t, resp, body, readErr)
			}
			if u.Requests() != 1 || u.Routes()["GET /things"] != 1 {
				t.Errorf("counted %d requests, routes %v", u.Requests(), u.Routes())
			}
		})
	}
}

func TestUpstreamLatencyIsFixedPlusJitter(t *testing.T) {
	u := sim.NewUpstream(model.SystemCRM, newEcho(), sim.Faults{LatencyMS: 30, JitterMS: 20})
	srv := httptest.NewServer(u)
	defer srv.Close()
	for range 5 {
		start := time.Now()
		resp, err := srv.Client().Get(srv.URL + "/things")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// At least the fixed part; the upper bound only catches a unit
		// mistake, as a busy machine may schedule late.
		if d := time.Since(start); d < 30*time.Millisecond || d > 5*time.Second {
			t.Errorf("answered after %v, want 30 to 50 ms (plus scheduling)", d)
		}
	}
}

func TestUpstreamCountersReset(t *testing.T) {
	u := sim.NewUpstream(model.SystemERP, newEcho(), sim.Faults{})
	srv := httptest.NewServer(u)
	defer srv.Close()
	for _, path := range []string{"/things", "/things", "/nowhere"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := u.Routes(); got["GET /things"] != 2 || got["unmatched"] != 1 || u.Requests() != 3 {
		t.Fatalf("routes %v, requests %d", got, u.Requests())
	}
	u.ResetCounters()
	if u.Requests() != 0 || len(u.Routes()) != 0 {
		t.Fatalf("after reset: routes %v, requests %d", u.Routes(), u.Requests())
	}
}

func TestUpstreamFaultsChangeAtRunTime(t *testing.T) {
	u := sim.NewUpstream(model.SystemShop, newEcho(), sim.Faults{})
	srv := httptest.NewServer(u)
	defer srv.Close()
	get := func() int {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/things", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("status %d", s)
	}
	u.SetFaults(sim.Faults{Down: true})
	if s := get(); s != 503 {
		t.Fatalf("status %d after taking it down", s)
	}
	u.SetFaults(sim.Faults{})
	if s := get(); s != 200 {
		t.Fatalf("status %d after bringing it back", s)
	}
}
