// Package erpnext reads customers, invoices and stock from an ERPNext site
// through the Frappe REST API (v1): GET /api/resource/{DocType} with
// fields, filters, order_by, limit_start and limit_page_length, and
// frappe.client.get_count for list sizes.
//
// Reads by key send the keys as an "in" filter, at most 100 per call so the
// URL stays short, with the calls of one read in flight together. A filter
// that can match more rows than it has keys (an item's bins, a customer's
// invoices) is paged until exhausted. Amounts and quantities are parsed from
// the JSON number literals straight into exact decimals, and the site's naive
// timestamps are read in its system time zone and returned in UTC.
package erpnext

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
)

const (
	// maxKeys is how many keys one "in" filter carries: a hundred document
	// names keep the URL near 3 KB, well under the 8 KB proxies allow.
	maxKeys = 100
	// pageSize is limit_page_length when walking a list.
	pageSize = 500
	// maxPages bounds a walk, so a filter that matches far more than
	// expected fails instead of reading the whole site.
	maxPages = 200
	// maxModified is the bound of a changed-since read when the caller
	// gives none.
	maxModified = 10_000
)

// Config configures a Client.
type Config struct {
	BaseURL   string // the site root: https://erp.example.com
	APIKey    string // of the API user (User > API Access)
	APISecret string
	// TimeZone is the site's system time zone (System Settings > Time
	// Zone), an IANA name. Frappe stores and serves creation and modified
	// as naive wall-clock times in it. Empty means UTC.
	TimeZone string
	// Company picks the credit limit rows of that company; empty takes
	// each customer's first row.
	Company string
	// Currency is the company's currency, the one credit limits are kept
	// in. Empty falls back to the customer's default_currency.
	Currency string
	// Timeout bounds each call. Default 10 s.
	Timeout time.Duration
	// MaxConns bounds the connections to the site. Default 64.
	MaxConns int
	// Policy copes with failures and limits (see rest.Policy).
	Policy rest.Policy
	// Observe is told of every call (see rest.Config).
	Observe func(system model.System, route, outcome string, took time.Duration)
	// Parallel bounds the calls one read sends at once. Default 4.
	Parallel int
}

// Client reads from one ERPNext site.
type Client struct {
	rest     *rest.Client
	loc      *time.Location
	company  string
	currency string
	parallel int
}

// New checks the config and builds a client.
func New(cfg Config) (*Client, error) {
	var errs []error
	if cfg.APIKey == "" || cfg.APISecret == "" {
		errs = append(errs, errors.New("api key and secret are required"))
	}
	if cfg.Parallel < 0 {
		errs = append(errs, fmt.Errorf("parallel %d must not be negative", cfg.Parallel))
	}
	loc := time.UTC
	if cfg.TimeZone != "" {
		l, err := time.LoadLocation(cfg.TimeZone)
		if err != nil {
			errs = append(errs, fmt.Errorf("time zone %q: %w", cfg.TimeZone, err))
		} else {
			loc = l
		}
	}
	rc, err := rest.New(rest.Config{
		System:    model.SystemERP,
		BaseURL:   cfg.BaseURL,
		Auth:      rest.Token(cfg.APIKey, cfg.APISecret),
		Timeout:   cfg.Timeout,
		MaxConns:  cfg.MaxConns,
		Policy:    cfg.Policy,
		Observe:   cfg.Observe,
		RetryHint: retryHint,
		Probe:     probeCall,
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("erpnext config: %w", err)
	}
	parallel := cfg.Parallel
	if parallel == 0 {
		parallel = 4
	}
	return &Client{rest: rc, loc: loc, company: cfg.Company, currency: cfg.Currency, parallel: parallel}, nil
}

// Close ends the background probes of an open breaker and releases idle
// connections.
func (c *Client) Close() { c.rest.Close() }

// BreakerOpen reports whether calls fail fast for now, the upstream having
// failed repeatedly.
func (c *Client) BreakerOpen() bool { return c.rest.BreakerOpen() }

// Zone is the site's time zone, which its naive timestamps are in.
func (c *Client) Zone() *time.Location { return c.loc }

// retryHint reads X-RateLimit-Reset, the seconds until Frappe's rate-limit
// window ends, for a 429 that lost its Retry-After on the way.
func retryHint(h http.Header) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Reset")))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// filter is one [field, operator, value] condition.
type filter [3]any

// listCall is one page of GET /api/resource/{DocType}.
type listCall struct {
	route   string
	doctype string
	parent  string // the parent DocType, for a child table
	fields  string // a JSON list
	filters []filter
	order   string
	start   int
	limit   int
}

// page is the body of a list response.
type page[T any] struct {
	Data []T `json:"data"`
}

func (c *Client) list(ctx context.Context, lc listCall, out any) error {
	q := url.Values{}
	q.Set("fields", lc.fields)
	if len(lc.filters) > 0 {
		f, err := json.Marshal(lc.filters)
		if err != nil {
			return fmt.Errorf("erpnext %s: encode filters: %w", lc.route, err)
		}
		q.Set("filters", string(f))
	}
	if lc.parent != "" {
		q.Set("parent", lc.parent)
	}
	q.Set("order_by", lc.order)
	q.Set("limit_start", strconv.Itoa(lc.start))
	q.Set("limit_page_length", strconv.Itoa(lc.limit))
	_, err := c.rest.Do(ctx, rest.Call{Route: lc.route, Path: "/api/resource/" + url.PathEscape(lc.doctype), Query: q}, out)
	return err
}

// listAll walks a list with limit_start until a short page. Its order must
// be on a unique, unchanging column (name) so pages neither overlap nor skip.
func listAll[T any](ctx context.Context, c *Client, lc listCall) ([]T, error) {
	var out []T
	lc.limit = pageSize
	for range maxPages {
		var p page[T]
		if err := c.list(ctx, lc, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Data...)
		if len(p.Data) < lc.limit {
			return out, nil
		}
		lc.start += len(p.Data)
	}
	return nil, fmt.Errorf("erpnext %s: more than %d rows", lc.route, maxPages*pageSize)
}

// walkModified reads the rows changed after since, oldest change first, up
// to limit. It pages by keyset, not by a growing limit_start: each page asks
// for modified >= the last timestamp seen and skips the rows already read at
// that timestamp, so a row that changes during the walk (and moves to the
// end) cannot push an unread row behind the offset. When limit cuts the walk
// short, the rows sharing the last timestamp are dropped (unless that is all
// of them) so a caller resuming from the last returned time with ">" misses
// none.
func walkModified[T any](ctx context.Context, c *Client, lc listCall, since time.Time, limit int, modified func(T) string) ([]T, error) {
	if limit <= 0 {
		limit = maxModified
	}
	lc.order = "modified asc, name asc"
	lc.filters = []filter{c.modifiedAfter(since)}
	var out []T
	for range maxPages {
		lc.limit = min(pageSize, limit-len(out))
		var p page[T]
		if err := c.list(ctx, lc, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Data...)
		if len(p.Data) < lc.limit {
			return out, nil
		}
		if len(out) >= limit {
			return trimTies(out, modified), nil
		}
		last := modified(p.Data[len(p.Data)-1])
		same := 0
		for i := len(p.Data) - 1; i >= 0 && modified(p.Data[i]) == last; i-- {
			same++
		}
		if lc.filters[0][1] == ">=" && lc.filters[0][2] == last {
			lc.start += same // a page of one timestamp: move on within it
		} else {
			lc.filters[0] = filter{"modified", ">=", last}
			lc.start = same
		}
	}
	return nil, fmt.Errorf("erpnext %s: more than %d pages", lc.route, maxPages)
}

// modifiedAfter is the filter of the rows changed after t, in the site's
// zone, to the microsecond Frappe keeps.
func (c *Client) modifiedAfter(t time.Time) filter {
	return filter{"modified", ">", t.In(c.loc).Format(datetimeLayout)}
}

// countModified is how many rows of a DocType changed after a time, as
// walkModified would read them: frappe.client.get_count with the same
// filter, one call.
func (c *Client) countModified(ctx context.Context, route, doctype string, after time.Time) (int, error) {
	return c.count(ctx, route, doctype, []filter{c.modifiedAfter(after)})
}

// trimTies drops the trailing rows that share the last row's timestamp,
// unless every row does.
func trimTies[T any](rows []T, modified func(T) string) []T {
	last := modified(rows[len(rows)-1])
	i := len(rows)
	for i > 0 && modified(rows[i-1]) == last {
		i--
	}
	if i == 0 {
		return rows
	}
	return rows[:i]
}

// fanOut reads keys in chunks of maxKeys, concurrently, after dropping
// duplicates and empty keys.
func fanOut[V any](ctx context.Context, c *Client, keys []string, fetch func(ctx context.Context, chunk []string) ([]V, error)) ([]V, error) {
	return rest.FanOut(ctx, distinct(keys), maxKeys, c.parallel, fetch)
}

func distinct(keys []string) []string {
	seen := make(map[string]struct{}, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, dup := seen[k]; dup || k == "" {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, k)
	}
	return out
}

// fieldList renders a fields parameter.
func fieldList(names ...string) string {
	b, _ := json.Marshal(names)
	return string(b)
}

// Frappe's wire formats.
const (
	dateLayout     = "2006-01-02"
	datetimeLayout = "2006-01-02 15:04:05.000000"
)

// datetime reads a naive creation or modified time in the site's zone. The
// parse accepts the fraction whether or not the site sends one.
func (c *Client) datetime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, c.loc)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// date reads a Date column as midnight UTC of that day.
func date(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(dateLayout, s)
}

// badField reports a value the site sent that cannot be read, classed as a
// bad response; the value itself stays out of the message.
func badField(doctype, name, field string) error {
	return &rest.Error{System: model.SystemERP, Route: doctype, Class: rest.ErrBadResponse,
		Detail: fmt.Sprintf("%s: unreadable %s", name, field)}
}

// count is the body of frappe.client.get_count.
type count struct {
	Message int `json:"message"`
}

func (c *Client) count(ctx context.Context, route, doctype string, filters []filter) (int, error) {
	q := url.Values{}
	q.Set("doctype", doctype)
	if len(filters) > 0 {
		f, err := json.Marshal(filters)
		if err != nil {
			return 0, fmt.Errorf("erpnext %s: encode filters: %w", route, err)
		}
		q.Set("filters", string(f))
	}
	var out count
	if _, err := c.rest.Do(ctx, rest.Call{Route: route, Path: "/api/method/frappe.client.get_count", Query: q}, &out); err != nil {
		return 0, err
	}
	return out.Message, nil
}

// Probe lists one customer name with the configured key, once, to show that
// the base URL is a Frappe site and that its API user may read customers.
// It returns nil or a *rest.ProbeError saying what is wrong.
func (c *Client) Probe(ctx context.Context) error { return c.rest.Probe(ctx, probeCall()) }

// probeCall is the probe, with a fresh answer to decode into.
func probeCall() rest.ProbeCall {
	var page struct {
		Data []struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	return rest.ProbeCall{
		Call: rest.Call{Route: "probe", Path: "/api/resource/Customer", Query: url.Values{
			"fields": {`["name"]`}, "limit_page_length": {"1"},
		}},
		Out:          &page,
		Valid:        func() bool { return page.Data != nil },
		NotFound:     "not a Frappe REST API here",
		Unauthorized: "the API key or secret is refused",
		// Frappe runs a request whose Authorization it cannot read as Guest.
		Forbidden: "the API user may not read Customer, or the request ran as Guest",
		NotAPI:    "not a Frappe REST API here",
	}
}
