package rest_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sources/rest"
)

// counted answers with the statuses in turn (the last one from then on)
// and counts the calls.
type counted struct {
	calls    atomic.Int64
	statuses []int
	header   http.Header
}

func (c *counted) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := int(c.calls.Add(1))
	status := c.statuses[min(n, len(c.statuses))-1]
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{}`))
}

func TestRetriesOnlyIdempotentReadsThatMayRecover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		call     rest.Call
		calls    int64
		ok       bool
	}{
		{"a GET recovers from two 503s", []int{503, 502, 200}, rest.Call{Route: "x", Path: "/x"}, 3, true},
		{"a GET gives up after three attempts", []int{500}, rest.Call{Route: "x", Path: "/x"}, 3, false},
		{"a POST read is retried", []int{503, 200}, rest.Call{Route: "x", Method: http.MethodPost, Path: "/x", Read: true, Body: map[string]int{}}, 2, true},
		{"a POST that is not a read is not", []int{503, 200}, rest.Call{Route: "x", Method: http.MethodPost, Path: "/x", Body: map[string]int{}}, 1, false},
		{"not found is an answer", []int{404, 200}, rest.Call{Route: "x", Path: "/x"}, 1, false},
		{"a refused request is not retried", []int{400, 200}, rest.Call{Route: "x", Path: "/x"}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &counted{statuses: tc.statuses}
			c := newClient(t, up, func(cfg *rest.Config) { cfg.Policy.Backoff = time.Millisecond })
			_, err := c.Do(context.Background(), tc.call, &struct{}{})
			if (err == nil) != tc.ok || up.calls.Load() != tc.calls {
				t.Fatalf("err %v after %d calls, want ok=%v after %d", err, up.calls.Load(), tc.ok, tc.calls)
			}
		})
	}
}

func TestATimedOutCallIsNotRetried(t *testing.T) {
	var calls atomic.Int64
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-r.Context().Done()
	}), func(cfg *rest.Config) { cfg.Timeout = 50 * time.Millisecond })
	// The upstream never answers: only the timeout ends the call.
	_, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, nil)
	var e *rest.Error
	if !errors.As(err, &e) || !e.Timeout || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls, want one timed-out call", err, calls.Load())
	}
}

func TestRetryAfterIsWaitedOutOrReported(t *testing.T) {
	up := &counted{statuses: []int{429, 200}, header: http.Header{"Retry-After": {"1"}}}
	c := newClient(t, up, nil)
	start := time.Now()
	if _, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second || up.calls.Load() != 2 {
		t.Fatalf("retried after %s with %d calls, want after Retry-After's 1s", waited, up.calls.Load())
	}

	// One longer than MaxRetryAfter fails the call at once, saying when.
	up = &counted{statuses: []int{429, 200}, header: http.Header{"Retry-After": {"30"}}}
	c = newClient(t, up, nil)
	_, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, &struct{}{})
	var e *rest.Error
	if !errors.As(err, &e) || !errors.Is(err, rest.ErrRateLimited) || e.RetryAfter != 30*time.Second || up.calls.Load() != 1 {
		t.Fatalf("err %v after %d calls, want rate limited with Retry-After 30s after 1", err, up.calls.Load())
	}
}

func TestTheRetryBudgetKeepsRetriesFromMultiplyingAnOutage(t *testing.T) {
	up := &counted{statuses: []int{503}}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // a call takes a while, so calls and retries overlap
		up.ServeHTTP(w, r)
	})
	c := newClient(t, slow, func(cfg *rest.Config) {
		cfg.Policy.Backoff = 20 * time.Millisecond
		cfg.Policy.BreakerFailures = 1 << 20 // the budget alone
	})
	const callers = 60
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() { _, _ = c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, nil) })
	}
	wg.Wait()
	// Without a budget every caller would try three times (180 calls);
	// with retries held to a fifth of the calls in flight, far fewer
	// (about 80; the bound leaves room for a busy machine's timing).
	if n := up.calls.Load(); n > callers*2 {
		t.Fatalf("%d upstream calls for %d callers, want at most %d", n, callers, callers*2)
	}
}

func TestTheBreakerOpensFailsFastAndCloses(t *testing.T) {
	var healthy atomic.Bool
	var calls atomic.Int64
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		if !healthy.Load() {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}), func(cfg *rest.Config) {
		cfg.Policy = rest.Policy{Attempts: 1, BreakerFailures: 5, BreakerOpen: 200 * time.Millisecond}
	})
	call := func() error { _, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, nil); return err }
	for range 5 {
		_ = call()
	}
	if !c.BreakerOpen() {
		t.Fatal("the breaker is closed after 5 failures in a row")
	}
	// Open, it fails a call at once: without calling the upstream.
	err := call()
	var e *rest.Error
	if !errors.As(err, &e) || !e.Local || !errors.Is(err, rest.ErrUnavailable) || calls.Load() != 5 {
		t.Fatalf("err %v after %d calls, want unavailable without calling", err, calls.Load())
	}
	healthy.Store(true)
	time.Sleep(250 * time.Millisecond)
	if err := call(); err != nil || c.BreakerOpen() {
		t.Fatalf("err %v (open %v) once the upstream is back, want the call through and the breaker closed", err, c.BreakerOpen())
	}
}

func TestTheRateLimitSpacesCallsOut(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	}), func(cfg *rest.Config) { cfg.Policy.RateLimit, cfg.Policy.RatePer = 20, 250*time.Millisecond })
	var wg sync.WaitGroup
	for range 60 {
		wg.Go(func() {
			if _, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Every call went through, waiting its turn; no window of 250 ms saw
	// more than 20.
	for i := range at {
		in := 0
		for _, u := range at {
			if !u.Before(at[i]) && u.Sub(at[i]) < 250*time.Millisecond {
				in++
			}
		}
		if in > 20 {
			t.Fatalf("%d calls within 250ms of one another, want at most 20", in)
		}
	}
}

func TestCallsInFlightAreBounded(t *testing.T) {
	var inFlight, most atomic.Int64
	release := make(chan struct{})
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte(`{}`))
	}), func(cfg *rest.Config) { cfg.MaxConns, cfg.Timeout = 2, 400*time.Millisecond })
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	do := func() {
		wg.Go(func() {
			_, err := c.Do(context.Background(), rest.Call{Route: "x", Path: "/x"}, nil)
			errs <- err
		})
	}
	do()
	do()
	for inFlight.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// The third waits half its Timeout for a turn, then gives up.
	do()
	err := <-errs
	close(release)
	wg.Wait()
	close(errs)
	refused := 0
	for _, err := range append([]error{err}, <-errs, <-errs) {
		var e *rest.Error
		if errors.As(err, &e) && e.Local && errors.Is(err, rest.ErrUnavailable) {
			refused++
		}
	}
	if refused != 1 || most.Load() != 2 {
		t.Fatalf("%d calls refused, at most %d in flight; want 1 refused with 2 in flight", refused, most.Load())
	}
}
