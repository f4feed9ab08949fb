// Package rest is the HTTP client every upstream adapter shares: pooled
// connections, a timeout on every call, per-dialect authentication, strict JSON
// decoding and one classification of failures.
package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/metrics"
	"github.com/trestlehq/trestle/tracing"
)

// Auth adds a dialect's credentials to a request.
type Auth func(*http.Request)

// Basic is HTTP Basic authentication (WooCommerce consumer key and secret).
func Basic(user, password string) Auth {
	v := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	return func(r *http.Request) { r.Header.Set("Authorization", v) }
}

// Bearer is a bearer token (a HubSpot private app token).
func Bearer(token string) Auth {
	v := "Bearer " + token
	return func(r *http.Request) { r.Header.Set("Authorization", v) }
}

// Token is Frappe's token authentication with an API key and secret.
func Token(key, secret string) Auth {
	v := "token " + key + ":" + secret
	return func(r *http.Request) { r.Header.Set("Authorization", v) }
}

// Config configures a Client.
type Config struct {
	System  model.System
	BaseURL string // every call's path is appended to it
	Auth    Auth
	// Timeout bounds each call, connection to last byte. Default 10 s.
	Timeout time.Duration
	// MaxConns bounds the connections to the upstream, and keeps that many
	// idle for reuse. Default 64.
	MaxConns int
	// RetryHint reads a dialect's rate-limit headers when a 429 carries no
	// Retry-After. Optional.
	RetryHint func(http.Header) time.Duration
	// MaxBody bounds a response body. Default 64 MiB.
	MaxBody int64
	// Observe, when set, is told of every call: its route, outcome (see
	// Outcome) and how long it took, retries included.
	Observe func(system model.System, route, outcome string, took time.Duration)
	// Policy copes with failures and limits: retries, the circuit
	// breaker, a client-side rate limit. MaxConns bounds the calls in
	// flight; one more waits up to half the Timeout for a turn.
	Policy Policy
	// Probe, when set, builds the dialect's cheap read (see ProbeCall).
	// While the circuit breaker is open the client sends it by itself,
	// once every Policy.BreakerOpen, so that the breaker closes once the
	// upstream is back even when no call comes. Optional.
	Probe func() ProbeCall
}

// Client calls one upstream.
type Client struct {
	system    model.System
	base      string
	host      string // the base URL's host, for traces
	auth      Auth
	timeout   time.Duration
	retryHint func(http.Header) time.Duration
	maxBody   int64
	http      *http.Client
	guard     *guard
	observe   func(system model.System, route, outcome string, took time.Duration)
	probe     func() ProbeCall // nil for no probes in the background

	// life ends with Close, and with it the background probes.
	life context.Context
	end  context.CancelFunc
	// mu guards closed and probing: a breaker opening starts one loop of
	// background probes, unless one runs or the client is closed.
	mu      sync.Mutex
	closed  bool
	probing bool
	loops   sync.WaitGroup
}

// New validates the config and builds a client with its own connection pool.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: base URL %q must be an absolute http or https URL", cfg.System, cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.DefaultSource("").Timeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = config.DefaultSource("").MaxConns
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 20
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          cfg.MaxConns,
		MaxIdleConnsPerHost:   cfg.MaxConns,
		MaxConnsPerHost:       cfg.MaxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	c := &Client{
		system:    cfg.System,
		base:      strings.TrimSuffix(cfg.BaseURL, "/"),
		host:      u.Hostname(),
		auth:      cfg.Auth,
		timeout:   cfg.Timeout,
		retryHint: cfg.RetryHint,
		maxBody:   cfg.MaxBody,
		http:      &http.Client{Transport: transport, CheckRedirect: noRedirects},
		observe:   cfg.Observe,
		probe:     cfg.Probe,
	}
	c.life, c.end = context.WithCancel(context.Background())
	c.guard = newGuard(cfg.Policy, cfg.MaxConns, cfg.Timeout/2, c.opened)
	return c, nil
}

// noRedirects keeps credentials from following a redirect to another host;
// a redirect is reported as a bad response instead.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// System is the upstream this client calls.
func (c *Client) System() model.System { return c.system }

// Close ends the background probes and releases idle connections. Calls
// may still be made.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.end()
	c.loops.Wait()
	c.http.CloseIdleConnections()
}

// Call is one request to the upstream.
type Call struct {
	Route  string // a bounded name for errors and metrics: "orders.by_id"
	Method string // GET when empty
	Read   bool   // a POST that only reads (a search), safe to retry like a GET
	Path   string // appended to the base URL: "/orders"
	Query  url.Values
	Body   any   // sent as JSON when not nil
	Accept []int // statuses besides 200 that carry a body to decode (207)
}

// method is the call's HTTP method: GET unless it names another.
func (c Call) method() string {
	if c.Method == "" {
		return http.MethodGet
	}
	return c.Method
}

// Response is what a successful call returns besides the decoded body.
type Response struct {
	Status int
	Header http.Header
}

// Do sends the call under the client's policy and decodes a successful
// JSON body into out (unless out is nil). Every failure is an *Error, but
// for the caller's own cancellation.
func (c *Client) Do(ctx context.Context, call Call, out any) (Response, error) {
	ctx, span := tracing.Start(ctx, string(c.system)+" "+call.Route, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	start := time.Now()
	r, err := c.do(ctx, call, out)
	if c.observe != nil {
		c.observe(c.system, call.Route, Outcome(err), time.Since(start))
	}
	if span.IsRecording() {
		c.describe(span, call, r, err)
	}
	return r, err
}

// describe adds what a call did to its span.
func (c *Client) describe(span trace.Span, call Call, r Response, err error) {
	span.SetAttributes(attribute.String("trestle.system", string(c.system)), attribute.String("trestle.route", call.Route),
		attribute.String("http.request.method", call.method()), attribute.String("server.address", c.host),
		attribute.String("trestle.outcome", Outcome(err)))
	if r.Status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", r.Status))
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
}

// Outcome names how a call ended, for metrics: ok, not_found,
// unauthorized, rate_limited, timeout, unavailable, breaker_open, busy,
// bad_response or canceled.
func Outcome(err error) string {
	var e *Error
	switch {
	case err == nil:
		return "ok"
	case !errors.As(err, &e):
		return "canceled"
	case e.Timeout:
		return "timeout"
	case e.Local && errors.Is(e, ErrUnavailable) && strings.Contains(e.Detail, "breaker"):
		return "breaker_open"
	case e.Local && errors.Is(e, ErrUnavailable):
		return "busy"
	case errors.Is(e, ErrNotFound):
		return "not_found"
	case errors.Is(e, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(e, ErrRateLimited):
		return "rate_limited"
	case errors.Is(e, ErrBadResponse):
		return "bad_response"
	}
	return "unavailable"
}

func (c *Client) do(ctx context.Context, call Call, out any) (Response, error) {
	if !call.Read && call.method() != http.MethodGet {
		return c.guarded(ctx, call, out)
	}
	p, budget := c.guard.policy, &c.guard.budget
	budget.enter()
	retrying := false
	defer func() { budget.leave(retrying) }()
	for n := 1; ; n++ {
		if n > 1 {
			trace.SpanFromContext(ctx).SetAttributes(attribute.Int("http.request.resend_count", n-1))
		}
		r, err := c.guarded(ctx, call, out)
		if err == nil || n >= p.Attempts || !p.retryable(err) {
			return r, err
		}
		// Out of budget, or out of time before the retry is due: the
		// last failure says what went wrong.
		if !retrying && !budget.retry() {
			return r, err
		}
		retrying = true
		delay := p.retryDelay(n-1, err)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return r, err
		}
		if !sleep(ctx, delay) {
			if errors.Is(ctx.Err(), context.Canceled) {
				return r, c.transportError(ctx, call, ctx.Err())
			}
			return r, err
		}
	}
}

// guarded is one attempt of a call: its turn, then through the circuit
// breaker and the bound on calls in flight.
func (c *Client) guarded(ctx context.Context, call Call, out any) (Response, error) {
	// The turn is taken outside the breaker: a call held back has not
	// asked the upstream and says nothing of its health.
	if err := c.turn(ctx, call); err != nil {
		return Response{}, err
	}
	var last error // the attempt's failure, when it ran
	r, err := c.guard.exec.WithContext(ctx).GetWithExecution(func(e failsafe.Execution[Response]) (Response, error) {
		r, err := c.send(e.Context(), call, out)
		last = err
		return r, err
	})
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, circuitbreaker.ErrOpen):
		e := c.fail(call, ErrUnavailable, 0, "circuit breaker open after repeated failures")
		e.Local = true
		return r, e
	case errors.Is(err, bulkhead.ErrFull):
		e := c.fail(call, ErrUnavailable, 0, "too many calls in flight")
		e.Local = true
		return r, e
	case last != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled):
		// Out of the request's time: the attempt's failure says what
		// went wrong.
		return r, last
	case ctx.Err() != nil:
		return r, c.transportError(ctx, call, err)
	}
	return r, err
}

// turn waits for the call's turn to be sent (see guard.wait).
func (c *Client) turn(ctx context.Context, call Call) error {
	err := c.guard.wait(ctx, c.timeout)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return c.transportError(ctx, call, ctx.Err())
	}
	e := c.fail(call, ErrRateLimited, 0, "client-side rate limit: no turn in time")
	var pe *pausedError
	if errors.As(err, &pe) {
		// In whole seconds, as Retry-After is given.
		e.Detail, e.RetryAfter = "held back by the upstream's Retry-After", (pe.left + time.Second - 1).Truncate(time.Second)
	}
	e.Local = true
	return e
}

// send makes the request once and reads its answer.
func (c *Client) send(ctx context.Context, call Call, out any) (Response, error) {
	metrics.CountCall(ctx, string(c.system))
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	req, err := c.request(ctx, call)
	if err != nil {
		return Response{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{}, c.transportError(ctx, call, err)
	}
	defer resp.Body.Close()

	r := Response{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode != http.StatusOK && !slices.Contains(call.Accept, resp.StatusCode) {
		// Drain a little so the connection can be reused; the body itself is
		// never passed on, it may echo what was sent.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		e := c.statusError(call, resp)
		if e.RetryAfter > 0 {
			c.guard.pause(e.RetryAfter)
		}
		return r, e
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return r, c.transportError(ctx, call, err)
		}
		return r, c.fail(call, ErrUnavailable, resp.StatusCode, "body cut short")
	}
	if int64(len(body)) > c.maxBody {
		return r, c.fail(call, ErrBadResponse, resp.StatusCode, fmt.Sprintf("body over %d bytes", c.maxBody))
	}
	if out == nil {
		return r, nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return r, c.fail(call, ErrBadResponse, resp.StatusCode, describeJSONError(err))
	}
	return r, nil
}

func (c *Client) request(ctx context.Context, call Call) (*http.Request, error) {
	target := c.base + call.Path
	if len(call.Query) > 0 {
		target += "?" + call.Query.Encode()
	}
	var body io.Reader
	if call.Body != nil {
		b, err := json.Marshal(call.Body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", c.system, call.Route, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, call.method(), target, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: build request: %w", c.system, call.Route, err)
	}
	if body == nil && req.Method == http.MethodGet {
		// Go's transport sends a GET again by itself when a reused
		// connection fails before any answer, behind the policy's back.
		// It never resends a body it cannot rewind (no GetBody); an
		// "identity" one of no stated length goes out as no body at
		// all, neither Content-Length nor chunked.
		req.Body, req.TransferEncoding = noResend{}, []string{"identity"}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Trestle")
	tracing.Inject(ctx, req.Header)
	if call.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != nil {
		c.auth(req)
	}
	return req, nil
}

// noResend is the empty body of a request without one: see request.
type noResend struct{}

func (noResend) Read([]byte) (int, error) { return 0, io.EOF }
func (noResend) Close() error             { return nil }

func (c *Client) fail(call Call, class error, status int, detail string) *Error {
	return &Error{System: c.system, Route: call.Route, Class: class, Status: status, Detail: detail}
}

// transportError classifies a failure with no usable response. Timeouts and
// refused or reset connections mean the upstream is unavailable; a caller
// that went away keeps its own context error.
func (c *Client) transportError(ctx context.Context, call Call, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%s %s: %w", c.system, call.Route, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e := c.fail(call, ErrUnavailable, 0, "timed out")
		e.Timeout = true
		return e
	default:
		e := c.fail(call, ErrUnavailable, 0, "connection failed")
		// The URL error's own text repeats the URL; what failed is inside.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		e.cause = err
		return e
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Client) statusError(call Call, resp *http.Response) *Error {
	status := resp.StatusCode
	switch {
	case status == http.StatusNotFound:
		return c.fail(call, ErrNotFound, status, "")
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return c.fail(call, ErrUnauthorized, status, "")
	case status == http.StatusTooManyRequests:
		e := c.fail(call, ErrRateLimited, status, "")
		e.RetryAfter = retryAfter(resp.Header, time.Now())
		if e.RetryAfter == 0 && c.retryHint != nil {
			e.RetryAfter = c.retryHint(resp.Header)
		}
		return e
	case status >= 500:
		return c.fail(call, ErrUnavailable, status, "")
	case status >= 300 && status < 400:
		return c.fail(call, ErrBadResponse, status, "unexpected redirect")
	default:
		return c.fail(call, ErrBadResponse, status, "request refused")
	}
}

// retryAfter reads Retry-After as seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// describeJSONError says what was wrong with a body without quoting it.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("JSON %s where %s expected at %q", typ.Value, typ.Type, typ.Field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "JSON body cut short"
	default:
		return "undecodable JSON"
	}
}
