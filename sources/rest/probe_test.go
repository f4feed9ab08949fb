package rest_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
)

func probeCall() rest.ProbeCall {
	return rest.ProbeCall{
		Call: rest.Call{Route: "probe", Path: "/orders", Query: url.Values{"per_page": {"1"}}},
		Out:  &[]struct{}{},
		// The hints of a made-up dialect.
		NotFound: "no API here", Unauthorized: "key refused", Forbidden: "key may not read", NotAPI: "not the API",
	}
}

func TestProbeExplainsFailures(t *testing.T) {
	const secretBody = `{"message":"user anna@example.com not allowed","key":"ck_secret_key"}`
	tests := []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration
		class   error
		want    string // after "GET <base>/orders?per_page=1: "
	}{
		{name: "not found", handler: status(404, secretBody), class: rest.ErrNotFound, want: "HTTP 404: no API here"},
		{name: "unauthorized", handler: status(401, secretBody), class: rest.ErrUnauthorized, want: "HTTP 401: key refused"},
		{name: "forbidden", handler: status(403, secretBody), class: rest.ErrUnauthorized, want: "HTTP 403: key may not read"},
		{name: "server error", handler: status(500, secretBody), class: rest.ErrUnavailable, want: "HTTP 500: the upstream fails with a server error"},
		{name: "rate limited", handler: status(429, secretBody), class: rest.ErrRateLimited, want: "HTTP 429: rate limited: the upstream turns away this client for now"},
		{name: "bad request", handler: status(400, secretBody), class: rest.ErrBadResponse, want: "HTTP 400: the request is refused"},
		{name: "redirect shown without its secrets", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://user:pw@shop.example/api/orders?token=abc", http.StatusMovedPermanently)
		}, class: rest.ErrBadResponse, want: "HTTP 301: redirected to https://shop.example/api/orders"},
		{name: "a page, not JSON", handler: status(200, `<html>ck_secret_key</html>`), class: rest.ErrBadResponse, want: "HTTP 200: malformed JSON at byte 1: not the API"},
		{name: "JSON of another shape", handler: status(200, `{"data":[]}`), class: rest.ErrBadResponse, want: "HTTP 200: JSON of another shape: not the API"},
		{name: "no answer in time", handler: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, timeout: 50 * time.Millisecond, class: rest.ErrUnavailable, want: "no answer within 50ms: the host is unreachable or too slow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var base string
			c := newClient(t, tc.handler, func(cfg *rest.Config) {
				if tc.timeout > 0 {
					cfg.Timeout = tc.timeout
				}
				base = cfg.BaseURL
			})
			err := c.Probe(context.Background(), probeCall())
			var pe *rest.ProbeError
			if !errors.As(err, &pe) || !errors.Is(err, tc.class) {
				t.Fatalf("%v (%T), want a *rest.ProbeError of class %v", err, err, tc.class)
			}
			if want := "GET " + base + "/orders?per_page=1: " + tc.want; err.Error() != want {
				t.Errorf("\n got %s\nwant %s", err, want)
			}
			for _, secret := range []string{"ck_secret_key", "cs_secret", "anna@", "pw@", "token=abc"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%q shows %q", err, secret)
				}
			}
		})
	}
}

func TestProbeValidatesTheAnswer(t *testing.T) {
	c := newClient(t, status(200, `{"results":null}`), nil)
	var page struct {
		Results []struct{} `json:"results"`
	}
	p := probeCall()
	p.Out, p.Valid = &page, func() bool { return page.Results != nil }
	if err := c.Probe(context.Background(), p); !errors.Is(err, rest.ErrBadResponse) || !strings.HasSuffix(err.Error(), ": HTTP 200: JSON of another shape: not the API") {
		t.Fatalf("%v, want a bad response that is not the API", err)
	}
}

func TestProbeURLHasNoUserInfo(t *testing.T) {
	srv := httptest.NewServer(status(404, `{}`))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("admin", "hunter2")
	c, err := rest.New(rest.Config{System: model.SystemShop, BaseURL: u.String() + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Probe(context.Background(), probeCall())
	if want := "GET " + srv.URL + "/api/orders?per_page=1: HTTP 404: no API here"; err == nil || err.Error() != want {
		t.Fatalf("\n got %v\nwant %s", err, want)
	}
}

// A probe of a failing upstream is one call, and leaves the breaker closed
// for the calls that follow.
func TestProbeIsOneCallOutsideRetriesAndBreaker(t *testing.T) {
	up := &counted{statuses: []int{503}}
	var outcomes []string
	c := newClient(t, up, func(cfg *rest.Config) {
		cfg.Policy = rest.Policy{Attempts: 3, Backoff: time.Millisecond, BreakerFailures: 2, BreakerOpen: time.Hour}
		cfg.Observe = func(_ model.System, route, outcome string, _ time.Duration) {
			outcomes = append(outcomes, route+" "+outcome)
		}
	})
	for range 5 {
		if err := c.Probe(context.Background(), probeCall()); !errors.Is(err, rest.ErrUnavailable) {
			t.Fatalf("probe: %v, want unavailable", err)
		}
	}
	if n := up.calls.Load(); n != 5 || c.BreakerOpen() {
		t.Fatalf("5 probes made %d calls, breaker open %v; want 5 calls and a closed breaker", n, c.BreakerOpen())
	}
	if len(outcomes) != 5 || outcomes[0] != "probe unavailable" {
		t.Fatalf("observed %v, want 5 unavailable probes", outcomes)
	}
}

func TestProbeCallerCancel(t *testing.T) {
	c := newClient(t, status(200, `[]`), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Probe(ctx, probeCall())
	var pe *rest.ProbeError
	if !errors.Is(err, context.Canceled) || errors.As(err, &pe) {
		t.Fatalf("%v, want the caller's cancellation", err)
	}
}

func TestProbeErrorLogsAttributes(t *testing.T) {
	pe := &rest.ProbeError{System: model.SystemCRM, Method: "GET", URL: "https://api.hubapi.com/crm/v3/objects/contacts?limit=1",
		Status: 401, Class: rest.ErrUnauthorized, Hint: "the private app token is refused", Fix: "check sources.crm.token"}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})).Warn("source not ready", "probe", pe)
	want := `level=WARN msg="source not ready" probe.system=crm probe.method=GET probe.url="https://api.hubapi.com/crm/v3/objects/contacts?limit=1" ` +
		`probe.status=401 probe.hint="the private app token is refused" probe.fix="check sources.crm.token"` + "\n"
	if b.String() != want {
		t.Fatalf("\n got %s\nwant %s", b.String(), want)
	}
}

// An open breaker is probed once per open period, one call each time,
// until the upstream answers; then the probes stop.
func TestAnOpenBreakerIsProbedUntilTheUpstreamIsBack(t *testing.T) {
	const openFor = 200 * time.Millisecond
	var healthy atomic.Bool
	var mu sync.Mutex
	var probes []time.Time
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/orders" {
			mu.Lock()
			probes = append(probes, time.Now())
			mu.Unlock()
		}
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`[]`))
	}), func(cfg *rest.Config) {
		cfg.Policy = rest.Policy{Attempts: 3, Backoff: time.Millisecond, BreakerFailures: 2, BreakerOpen: openFor}
		cfg.Probe = probeCall
	})
	probed := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(probes)
	}
	_, _ = c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, nil)
	if !c.BreakerOpen() {
		t.Fatal("the breaker is closed after 2 failures in a row")
	}
	for deadline := time.Now().Add(10 * time.Second); len(probed()) < 3; time.Sleep(10 * time.Millisecond) {
		if !c.BreakerOpen() || time.Now().After(deadline) {
			t.Fatalf("%d probes, breaker open %v: want 3 failed probes with the breaker open", len(probed()), c.BreakerOpen())
		}
	}
	// One call per open period: a probe is never retried.
	for i, at := range probed()[1:3] {
		if gap := at.Sub(probed()[i]); gap < openFor {
			t.Fatalf("probes %s apart, want one per %s", gap, openFor)
		}
	}
	healthy.Store(true)
	for deadline := time.Now().Add(10 * time.Second); c.BreakerOpen(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the breaker is still open 10 s after the upstream came back")
		}
	}
	n := len(probed())
	time.Sleep(3 * openFor)
	if len(probed()) != n {
		t.Fatalf("%d probes after the breaker closed, want none", len(probed())-n)
	}
}

// Close ends the probes of an open breaker, even one that waits an hour.
func TestCloseEndsTheProbes(t *testing.T) {
	before := goleak.IgnoreCurrent()
	srv := httptest.NewServer(status(http.StatusServiceUnavailable, ""))
	defer srv.Close()
	c, err := rest.New(rest.Config{System: model.SystemShop, BaseURL: srv.URL + "/api", Probe: probeCall,
		Policy: rest.Policy{Attempts: 1, BreakerFailures: 1, BreakerOpen: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, nil)
	if !c.BreakerOpen() {
		t.Fatal("the breaker is closed after a failure")
	}
	c.Close() // returns: no probe is left waiting
	c.Close()
	srv.Close()
	goleak.VerifyNone(t, before)
}
