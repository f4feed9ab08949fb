package rest

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/budget"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"golang.org/x/time/rate"
)

// Policy is how a client copes with an upstream that fails, is slow or
// limits its callers. Zero fields take the defaults.
type Policy struct {
	// Attempts is how often an idempotent read is tried, the first time
	// included: default 3, 1 for no retries. Only unavailability (a 5xx,
	// a refused or reset connection, a body cut short) and a rate limit
	// are retried; a timed-out call is not, so that a slow upstream costs
	// a request one timeout, not several.
	Attempts int
	// Backoff is the delay before the first retry, doubling before each
	// next one up to MaxBackoff, each drawn at random from its upper half.
	// Defaults 100 ms and 2 s.
	Backoff, MaxBackoff time.Duration
	// RetryBudget is the share of a client's calls in flight that may be
	// retries (default 0.2), so that retries never multiply an outage.
	RetryBudget float64
	// MaxRetryAfter is the longest Retry-After of a 429 that is waited for
	// (default 2 s); a longer one fails the call at once, naming it.
	MaxRetryAfter time.Duration
	// BreakerFailures is how many calls failing in a row (unavailable or
	// with a bad response) open the circuit breaker, default 5; while it
	// is open calls fail at once, and after BreakerOpen (default 10 s) one
	// call is let through to see whether the upstream is back.
	BreakerFailures int
	BreakerOpen     time.Duration
	// RateLimit calls per RatePer at most leave the client; 0 for no
	// client-side limit. A call waits for its turn within its deadline.
	RateLimit int
	RatePer   time.Duration
}

func (p Policy) withDefaults() Policy {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if p.Attempts <= 0 {
		p.Attempts = 3
	}
	def(&p.Backoff, 100*time.Millisecond)
	def(&p.MaxBackoff, 2*time.Second)
	if p.RetryBudget <= 0 {
		p.RetryBudget = 0.2
	}
	def(&p.MaxRetryAfter, 2*time.Second)
	if p.BreakerFailures <= 0 {
		p.BreakerFailures = 5
	}
	def(&p.BreakerOpen, 10*time.Second)
	return p
}

// guard holds a client's resilience policies, shared by all its calls.
type guard struct {
	policy  Policy
	breaker circuitbreaker.CircuitBreaker[Response]
	reads   failsafe.Executor[Response] // retry, breaker, bulkhead
	others  failsafe.Executor[Response] // breaker, bulkhead
	limiter *rate.Limiter               // nil without a rate limit
}

func newGuard(p Policy, maxConcurrent int, maxWait time.Duration) *guard {
	p = p.withDefaults()
	g := &guard{policy: p}
	g.breaker = circuitbreaker.NewBuilder[Response]().
		HandleIf(func(_ Response, err error) bool { return breaks(err) }).
		WithFailureThreshold(uint(p.BreakerFailures)).
		WithDelay(p.BreakerOpen).
		Build()
	limit := bulkhead.NewBuilder[Response](uint(maxConcurrent)).WithMaxWaitTime(maxWait).Build()
	retry := retrypolicy.NewBuilder[Response]().
		HandleIf(func(_ Response, err error) bool { return p.retryable(err) }).
		ReturnLastFailure().
		WithMaxAttempts(p.Attempts).
		WithDelayFunc(p.retryDelay).
		WithBudget(budget.NewBuilder().WithMaxRate(p.RetryBudget).Build()).
		Build()
	g.reads = failsafe.With[Response](retry, g.breaker, limit)
	g.others = failsafe.With[Response](g.breaker, limit)
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
// exponential backoff with jitter.
func (p Policy) retryDelay(exec failsafe.ExecutionAttempt[Response]) time.Duration {
	var e *Error
	if errors.As(exec.LastError(), &e) && e.RetryAfter > 0 {
		return e.RetryAfter
	}
	d := min(p.Backoff<<min(exec.Retries(), 16), p.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// wait takes the call's turn under the client-side rate limit, waiting at
// most maxWait.
func (g *guard) wait(ctx context.Context, maxWait time.Duration) error {
	if g.limiter == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	return g.limiter.Wait(ctx)
}

// BreakerOpen reports whether the client's circuit breaker is failing calls
// fast.
func (c *Client) BreakerOpen() bool { return c.guard.breaker.IsOpen() }
