package rest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"go.opentelemetry.io/otel/trace"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/tracing"
)

// ProbeCall is one cheap authenticated read that shows whether a client is
// set up right, and how the dialect's answers read when it is not.
type ProbeCall struct {
	Call Call
	// Out receives the decoded answer; JSON that does not decode into it
	// is not the API's.
	Out any
	// Valid, when set, tells whether the decoded answer has the API's shape.
	Valid func() bool
	// What each refusal means in the dialect: a 404, a 401, a 403, and a
	// 200 that is not the API's answer.
	NotFound, Unauthorized, Forbidden, NotAPI string
}

// ProbeError is a failed probe: the request, the answer and what it means.
// Its message names the full URL (never with credentials) and the HTTP
// status, never the upstream's body.
type ProbeError struct {
	System model.System
	Method string
	URL    string // as requested, without user info
	Status int    // the HTTP status; 0 when no answer came
	Class  error  // one of the Err* classes
	// Timeout is set when no answer came within the client's timeout.
	Timeout bool
	// Cause is what failed below HTTP ("dial tcp 10.0.0.9:443: connect:
	// connection refused"), or what was wrong with a 200's body.
	Cause string
	Hint  string // what the answer means: "the consumer key or secret is refused"
	Fix   string // the setting to change, when the caller knows its config
}

func (e *ProbeError) Error() string {
	msg := e.Method + " " + e.URL
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	for _, s := range []string{e.Cause, e.Hint} {
		if s != "" {
			msg += ": " + s
		}
	}
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrUnauthorized) and friends work.
func (e *ProbeError) Unwrap() error { return e.Class }

// LogValue logs the parts as attributes.
func (e *ProbeError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("system", string(e.System)), slog.String("method", e.Method), slog.String("url", e.URL)}
	if e.Status != 0 {
		attrs = append(attrs, slog.Int("status", e.Status))
	}
	if e.Cause != "" {
		attrs = append(attrs, slog.String("cause", e.Cause))
	}
	if e.Hint != "" {
		attrs = append(attrs, slog.String("hint", e.Hint))
	}
	if e.Fix != "" {
		attrs = append(attrs, slog.String("fix", e.Fix))
	}
	return slog.GroupValue(attrs...)
}

// Probe sends the call once, with the client's credentials, timeout and
// rate limit but outside its retries and circuit breaker: a probe is asked
// at start and by health checks, and a misconfigured source must neither
// cost several timeouts nor open the breaker for the calls that follow.
// It returns nil, a *ProbeError, or the caller's own cancellation.
func (c *Client) Probe(ctx context.Context, p ProbeCall) error {
	ctx, span := tracing.Start(ctx, string(c.system)+" "+p.Call.Route, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	start := time.Now()
	var r Response
	err := c.turn(ctx, p.Call)
	if err == nil {
		r, err = c.probeOnce(ctx, p)
	}
	if c.observe != nil {
		c.observe(c.system, p.Call.Route, Outcome(err), time.Since(start))
	}
	if span.IsRecording() {
		c.describe(span, p.Call, r, err)
	}
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	return c.explain(p, r, e)
}

// probeOnce sends a probe and checks that the answer is the API's.
func (c *Client) probeOnce(ctx context.Context, p ProbeCall) (Response, error) {
	// Decoded in two steps, so that JSON of another shape reads as that
	// rather than as Go types.
	var raw json.RawMessage
	r, err := c.send(ctx, p.Call, &raw)
	if err == nil && (p.Out != nil && json.Unmarshal(raw, p.Out) != nil || p.Valid != nil && !p.Valid()) {
		err = c.fail(p.Call, ErrBadResponse, r.Status, "JSON of another shape")
	}
	return r, err
}

// opened starts probing the upstream in the background once the circuit
// breaker opens, unless it is probed already or the client is closed.
func (c *Client) opened() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.probe == nil || c.closed || c.probing {
		return
	}
	c.probing = true
	c.loops.Add(1)
	go c.recover()
}

// recover sends the probe through the breaker each time its open period
// runs out, until the breaker closes or the client is closed: /readyz
// reads the breaker, and must not wait for a caller to find the upstream
// back.
func (c *Client) recover() {
	defer c.loops.Done()
	for again := false; ; again = true {
		wait := c.guard.breaker.RemainingDelay()
		if wait == 0 && again {
			// The last probe did not reach the upstream: a caller's call
			// was the breaker's trial, or the probe was held back. It
			// tries again in a period, rather than at once.
			wait = c.guard.policy.BreakerOpen
		}
		if !sleep(c.life, wait) {
			return
		}
		c.probeBreaker(c.life)
		c.mu.Lock()
		// Under mu, so that a breaker opening again after this check
		// starts a loop of its own.
		if c.guard.breaker.IsClosed() {
			c.probing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// probeBreaker sends the probe once as the breaker's trial call: outside
// the retries and their budget, so one probe is one call.
func (c *Client) probeBreaker(ctx context.Context) {
	p := c.probe()
	// The turn is taken before the breaker lets the probe through: held
	// back (by a Retry-After, the rate limit), it has not asked the
	// upstream, and must neither close the breaker nor open it again.
	if c.turn(ctx, p.Call) != nil {
		return
	}
	start := time.Now()
	_, err := c.guard.exec.WithContext(ctx).Get(func() (Response, error) { return c.probeOnce(ctx, p) })
	if ctx.Err() != nil || errors.Is(err, circuitbreaker.ErrOpen) {
		return
	}
	if c.observe != nil {
		c.observe(c.system, p.Call.Route, Outcome(err), time.Since(start))
	}
}

// explain turns a failed probe into what it means.
func (c *Client) explain(p ProbeCall, r Response, e *Error) *ProbeError {
	pe := &ProbeError{System: c.system, Method: p.Call.method(), URL: c.target(p.Call), Status: e.Status, Class: e.Class, Timeout: e.Timeout}
	switch {
	case e.Status == 0 && e.Local:
		pe.Cause, pe.Hint = e.Detail, "refused by this client"
	case e.Status == 0 && e.Timeout:
		pe.Cause, pe.Hint = fmt.Sprintf("no answer within %s", c.timeout), "the host is unreachable or too slow"
	case e.Status == 0:
		pe.Cause, pe.Hint = e.Detail, unreachable(e.cause)
		if e.cause != nil {
			pe.Cause = e.cause.Error()
		}
	case e.Status == http.StatusNotFound:
		pe.Hint = p.NotFound
	case e.Status == http.StatusUnauthorized:
		pe.Hint = p.Unauthorized
	case e.Status == http.StatusForbidden:
		pe.Hint = p.Forbidden
	case e.Status == http.StatusTooManyRequests:
		pe.Hint = "rate limited: the upstream turns away this client for now"
	case e.Status >= 500:
		pe.Hint = "the upstream fails with a server error"
	case e.Status >= 300 && e.Status < 400:
		pe.Hint = "redirected"
		if to := redacted(r.Header.Get("Location")); to != "" {
			pe.Hint += " to " + to
		}
	case errors.Is(e, ErrBadResponse) && e.Status == http.StatusOK:
		pe.Cause, pe.Hint = e.Detail, p.NotAPI
	case e.Status == http.StatusOK:
		pe.Cause, pe.Hint = e.Detail, "the answer broke off"
	default:
		pe.Hint = "the request is refused"
	}
	return pe
}

// target is the URL a call goes to, without any user info the base URL
// carries.
func (c *Client) target(call Call) string {
	target := redacted(c.base) + call.Path
	if len(call.Query) > 0 {
		target += "?" + call.Query.Encode()
	}
	return target
}

// redacted is a URL without user info or query, which may hold secrets.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}

// unreachable says what a failed connection means.
func unreachable(err error) string {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the host does not answer"
	case errors.As(err, &dns):
		return "the host name does not resolve"
	case errors.As(err, &cert):
		return "the host's TLS certificate is not trusted"
	}
	return "the connection failed"
}
