package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

// Faults are the knobs of one simulated upstream. Rates are probabilities in
// [0, 1] drawn per request.
type Faults struct {
	LatencyMS     float64 `json:"latency_ms"`      // fixed delay before answering
	JitterMS      float64 `json:"jitter_ms"`       // plus a uniform random delay up to this
	ErrorRate     float64 `json:"error_rate"`      // 500 in the dialect's error body
	RateLimitRate float64 `json:"rate_limit_rate"` // 429 in the dialect's error body, with Retry-After
	RetryAfterS   int     `json:"retry_after_s"`   // the Retry-After of a 429; 0 means 1
	MalformedRate float64 `json:"malformed_rate"`  // a 200 whose body is not JSON
	TruncateRate  float64 `json:"truncate_rate"`   // a 200 whose body stops half-way
	ResetRate     float64 `json:"reset_rate"`      // the connection is reset before any answer
	Down          bool    `json:"down"`            // every request gets 503 from the host
}

// Dialect is one simulated API (see sim/woocommerce, sim/hubspot,
// sim/erpnext): its routes, and how it words an error the knobs inject.
type Dialect interface {
	http.Handler
	// Route names the route pattern a request matches, "" when none does.
	Route(r *http.Request) string
	// Fault writes an injected error status (429 or 500) with the dialect's
	// own error body and headers. Retry-After is already set on a 429.
	Fault(w http.ResponseWriter, status int)
}

// Upstream is one simulated system: an http.Handler serving its dialect at the
// root, with fault knobs and request counters.
type Upstream struct {
	system  model.System
	dialect Dialect

	faults   atomic.Pointer[Faults]
	requests atomic.Int64
	routesMu sync.Mutex
	routes   map[string]int64
}

// NewUpstream serves a dialect as the given system with the given knobs.
func NewUpstream(system model.System, d Dialect, f Faults) *Upstream {
	u := &Upstream{system: system, dialect: d, routes: map[string]int64{}}
	u.SetFaults(f)
	return u
}

var _ http.Handler = (*Upstream)(nil)

// System is the role of this upstream.
func (u *Upstream) System() model.System { return u.system }

// Faults returns the knobs in force.
func (u *Upstream) Faults() Faults { return *u.faults.Load() }

// SetFaults replaces the knobs; requests in flight keep the old ones.
func (u *Upstream) SetFaults(f Faults) { u.faults.Store(&f) }

// Requests is how many requests reached this upstream since the last reset.
func (u *Upstream) Requests() int64 { return u.requests.Load() }

// Routes counts requests by route pattern ("GET /wp-json/wc/v3/orders").
func (u *Upstream) Routes() map[string]int64 {
	u.routesMu.Lock()
	defer u.routesMu.Unlock()
	out := make(map[string]int64, len(u.routes))
	for k, v := range u.routes {
		out[k] = v
	}
	return out
}

// ResetCounters zeroes the request counters.
func (u *Upstream) ResetCounters() {
	u.routesMu.Lock()
	u.routes = map[string]int64{}
	u.routesMu.Unlock()
	u.requests.Store(0)
}

func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	route := u.dialect.Route(r)
	if route == "" {
		route = "unmatched"
	}
	u.routesMu.Lock()
	u.routes[route]++
	u.routesMu.Unlock()

	f := u.faults.Load()
	if f.Down {
		http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	// The body is read first: a server notices a caller that hangs up only
	// once it has read the body, and a slow upstream must not go on
	// sleeping for a caller long gone.
	if r.Body != nil && r.Body != http.NoBody {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if !sleep(r.Context(), f.LatencyMS, f.JitterMS) {
		return
	}
	switch {
	case hit(f.ResetRate):
		reset(w)
		return
	case hit(f.RateLimitRate):
		w.Header().Set("Retry-After", strconv.Itoa(max(f.RetryAfterS, 1)))
		u.dialect.Fault(w, http.StatusTooManyRequests)
		return
	case hit(f.ErrorRate):
		u.dialect.Fault(w, http.StatusInternalServerError)
		return
	case hit(f.MalformedRate):
		w = &corruptWriter{ResponseWriter: w, malformed: true}
	case hit(f.TruncateRate):
		w = &corruptWriter{ResponseWriter: w}
	}
	u.dialect.ServeHTTP(w, r)
	if cw, ok := w.(*corruptWriter); ok {
		cw.finish()
	}
}

func hit(rate float64) bool { return rate > 0 && rand.Float64() < rate }

// sleep waits for the configured latency; false when the client gave up first.
func sleep(ctx context.Context, latencyMS, jitterMS float64) bool {
	d := time.Duration(latencyMS * float64(time.Millisecond))
	if jitterMS > 0 {
		d += time.Duration(rand.Float64() * jitterMS * float64(time.Millisecond))
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// reset closes the client's connection without an answer, with SO_LINGER 0
// so the client sees a reset rather than a clean close.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// corruptWriter buffers a response and then sends it broken: either as a body
// that is not JSON, or with its full Content-Length but only half the bytes.
type corruptWriter struct {
	http.ResponseWriter
	malformed bool
	status    int
	body      []byte
}

func (c *corruptWriter) WriteHeader(status int) { c.status = status }

func (c *corruptWriter) Write(p []byte) (int, error) {
	c.body = append(c.body, p...)
	return len(p), nil
}

func (c *corruptWriter) finish() {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	w := c.ResponseWriter
	if c.malformed {
		body := []byte(`<html><body><h1>Error establishing a database connection</h1></body></html>`)
		if len(c.body) > 2 {
			body = append([]byte(nil), c.body[:len(c.body)/2]...)
			body = append(body, `,"oops":}`...)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(c.status)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
	w.WriteHeader(c.status)
	_, _ = w.Write(c.body[:len(c.body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// Abort so the server closes the connection short of Content-Length.
	panic(http.ErrAbortHandler)
}

// validate reports knobs out of range.
func (f Faults) validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		rate float64
	}{
		{"error_rate", f.ErrorRate}, {"rate_limit_rate", f.RateLimitRate}, {"malformed_rate", f.MalformedRate},
		{"truncate_rate", f.TruncateRate}, {"reset_rate", f.ResetRate},
	} {
		if r.rate < 0 || r.rate > 1 {
			errs = append(errs, fmt.Errorf("%s %v is not in [0, 1]", r.name, r.rate))
		}
	}
	if f.LatencyMS < 0 || f.JitterMS < 0 || f.RetryAfterS < 0 {
		errs = append(errs, errors.New("latency_ms, jitter_ms and retry_after_s must not be negative"))
	}
	return errors.Join(errs...)
}
