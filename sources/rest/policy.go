package rest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"golang.org/x/time/rate"

	"github.com/trestlehq/trestle/config"
)

// Policy is how a client copes with an upstream that fails, is slow or
// limits its callers. Zero fields take the defaults.
type Policy struct {
	// Attempts is how often an idempotent read is tried, the first time
	// included: default 3, 1 for no retries. Only unavailability (a 5xx,
	// a refused or reset connection, a body cut short) and a rate limit
	// are retried; a timed-out call is not, so that a slow upstream costs
	// a request one timeout, not several. The upstream sees no more
	// calls than this: Go's transport resends none of its own.
	Attempts int
	// Backoff is the delay before the first retry, doubling before each
	// next one up to MaxBackoff, each drawn at random from its upper half.
	// Defaults 100 ms and 2 s.
	Backoff, MaxBackoff time.Duration
	// RetryBudget is the share of a client's calls in flight that may be
	// retrying (default 0.2, and never fewer than 3 calls at once), so
	// that retries never multiply an outage. A call counts as retrying
	// from its first failure to its end, waits included.
	RetryBudget float64
	// MaxRetryAfter is the longest Retry-After of a 429 that is waited for
	// (default 2 s); a longer one fails the call at once, naming it. A
	// Retry-After holds back every call to the upstream until it runs out
	// (for a minute at most): a call that would wait longer than
	// MaxRetryAfter, or past its deadline, fails at once.
	MaxRetryAfter time.Duration
	// BreakerFailures is how many calls failing in a row (unavailable or
	// with a bad response) open the circuit breaker, default 5; while it
	// is open calls fail at once, and after BreakerOpen (default 10 s) one
	// call is let through to see whether the upstream is back: the
	// client's probe (see Config.Probe), or else the next caller's. Its
	// failure opens the breaker for another BreakerOpen.
	BreakerFailures int
	BreakerOpen     time.Duration
	// RateLimit calls per RatePer at most leave the client; 0 for no
	// client-side limit. A call waits for its turn within its deadline.
	RateLimit int
	RatePer   time.Duration
}

// withDefaults takes what p leaves out from the config's defaults.
func (p Policy) withDefaults() Policy {
	d := config.DefaultSource("")
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if p.Attempts <= 0 {
		p.Attempts = d.Retry.Attempts
	}
	def(&p.Backoff, d.Retry.Backoff)
	def(&p.MaxBackoff, d.Retry.MaxBackoff)
	if p.RetryBudget <= 0 {
		p.RetryBudget = d.Retry.Budget
	}
	def(&p.MaxRetryAfter, d.Retry.MaxRetryAfter)
	if p.BreakerFailures <= 0 {
		p.BreakerFailures = d.Breaker.Failures
	}
	def(&p.BreakerOpen, d.Breaker.OpenFor)
	return p
}

// guard holds a client's resilience policies, shared by all its calls.
type guard struct {
	policy  Policy
	breaker circuitbreaker.CircuitBreaker[Response]
	exec    failsafe.Executor[Response] // breaker and bulkhead, around each attempt
	limiter *rate.Limiter               // nil without a rate limit
	budget  retryBudget
	// pausedUntil is when the upstream's last Retry-After runs out, in
	// Unix nanoseconds: no call is sent before.
	pausedUntil atomic.Int64
}

func newGuard(p Policy, maxConcurrent int, maxWait time.Duration, opened func()) *guard {
	p = p.withDefaults()
	g := &guard{policy: p, budget: retryBudget{share: p.RetryBudget}}
	// One trial call in half-open, whose failure opens the breaker again:
	// otherwise it would take BreakerFailures more failures to reopen.
	g.breaker = circuitbreaker.NewBuilder[Response]().
		HandleIf(func(_ Response, err error) bool { return breaks(err) }).
		WithFailureThreshold(uint(p.BreakerFailures)).
		WithSuccessThreshold(1).
		WithDelay(p.BreakerOpen).
		OnOpen(func(circuitbreaker.StateChangedEvent) { opened() }).
		Build()
	limit := bulkhead.NewBuilder[Response](uint(maxConcurrent)).WithMaxWaitTime(maxWait).Build()
	g.exec = failsafe.With[Response](g.breaker, limit)
	if p.RateLimit > 0 && p.RatePer > 0 {
		// A bucket that refills at four fifths of the limit and holds the
		// other fifth as a burst: never more than RateLimit calls in any
		// window of RatePer, bursts allowed.
		refill := rate.Limit(0.8 * float64(p.RateLimit) / p.RatePer.Seconds())
		g.limiter = rate.NewLimiter(refill, max(p.RateLimit/5, 1))
	}
	return g
}

// retryable reports whether a failed attempt is worth another.
func (p Policy) retryable(err error) bool {
	var e *Error
	switch {
	case !errors.As(err, &e) || e.Timeout || e.Local:
		return false
	case errors.Is(e, ErrUnavailable):
		return true
	case errors.Is(e, ErrRateLimited):
		return e.RetryAfter <= p.MaxRetryAfter
	}
	return false
}

// breaks reports whether a failure counts against the upstream's health.
func breaks(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.Local && (errors.Is(e, ErrUnavailable) || errors.Is(e, ErrBadResponse))
}

// retryDelay waits out a 429's Retry-After exactly; otherwise an
// exponential backoff with jitter. retries is how many came before.
func (p Policy) retryDelay(retries int, err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter
	}
	d := min(p.Backoff<<min(retries, 16), p.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// minRetrying is how many calls may retry at once however few are in
// flight, so that a lone call still gets its retries.
const minRetrying = 3

// retryBudget lets a share of the calls in flight retry. A call holds its
// place from its first failure to its end, backoff and Retry-After
// included: counted only while a retry is on the wire, retries that fail
// fast (a 429) would hardly ever count.
type retryBudget struct {
	share float64

	mu       sync.Mutex
	calls    int // calls in flight that may retry
	retrying int // those of them that have
}

func (b *retryBudget) enter() {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
}

// leave ends a call, and its place among the retrying if it took one.
func (b *retryBudget) leave(retried bool) {
	b.mu.Lock()
	b.calls--
	if retried {
		b.retrying--
	}
	b.mu.Unlock()
}

// retry takes a place among the retrying calls, if one is free.
func (b *retryBudget) retry() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.retrying >= max(minRetrying, int(b.share*float64(b.calls))) {
		return false
	}
	b.retrying++
	return true
}

// maxPause bounds how long one Retry-After holds every call back, so that
// a wrong one (a day, from a misconfigured proxy) costs a minute at most.
const maxPause = time.Minute

// pause holds every call back for d: a 429's Retry-After speaks of the
// upstream's limit for this client, not only of the call that got it.
func (g *guard) pause(d time.Duration) {
	until := time.Now().Add(min(d, maxPause)).UnixNano()
	for {
		cur := g.pausedUntil.Load()
		if cur >= until || g.pausedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// paused is how long calls are still held back.
func (g *guard) paused() time.Duration {
	return time.Until(time.Unix(0, g.pausedUntil.Load()))
}

// pausedError is a call not sent because the upstream's Retry-After has
// longer to run than the call may wait.
type pausedError struct{ left time.Duration }

func (e *pausedError) Error() string { return fmt.Sprintf("held back for %s by a Retry-After", e.left) }

// wait takes the call's turn: after the upstream's Retry-After, if the
// call may wait that long (MaxRetryAfter, and its deadline), then under
// the client-side rate limit, waiting at most maxWait.
func (g *guard) wait(ctx context.Context, maxWait time.Duration) error {
	if left := g.paused(); left > 0 {
		if deadline, ok := ctx.Deadline(); left > g.policy.MaxRetryAfter || ok && time.Until(deadline) < left {
			return &pausedError{left: left}
		}
		if !sleep(ctx, left) {
			return ctx.Err()
		}
	}
	if g.limiter == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	return g.limiter.Wait(ctx)
}

// sleep waits for d; false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// BreakerOpen reports whether the client's circuit breaker is failing calls
// fast: open, or half-open while its one trial call is out.
func (c *Client) BreakerOpen() bool { return !c.guard.breaker.IsClosed() }
