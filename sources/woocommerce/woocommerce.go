// Package woocommerce reads a shop over the WooCommerce REST API (wc/v3):
// orders with their lines, products with their shop stock, and customer
// accounts, mapped into graph/model with exact amounts and UTC times.
//
// Reads by key go out in chunks of 100 (the API's per_page maximum) through
// the include= and sku= filters, sent concurrently. Dates are read from the
// *_gmt members and date filters are sent with dates_are_gmt=true, so the
// shop's own timezone never leaks into the results.
package woocommerce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
)

// maxPerPage is the largest page the API serves.
const maxPerPage = 100

// The _fields each collection is asked for: the members the mapping reads.
// WordPress then leaves out the rest (links, addresses, tax and shipping
// lines, meta data), which halves an order page and the time to decode it.
// Nested fields work into objects (billing.email) but not into lists, so
// line items come whole.
const (
	orderFields = orderHeadFields + ",line_items"
	// orderHeadFields leave out the line items, most of an order's bytes.
	orderHeadFields = "id,number,status,currency,date_created_gmt,date_modified_gmt,date_paid_gmt,date_completed_gmt,discount_total,shipping_total,total,total_tax,customer_id,billing.first_name,billing.last_name,billing.email"
	productFields   = "id,name,sku,status,price,regular_price,sale_price,manage_stock,stock_quantity,stock_status,date_modified_gmt"
	customerFields  = "id,email,first_name,last_name,billing.company,billing.phone,is_paying_customer,date_created_gmt,date_modified_gmt"
)

// fieldsFor names the _fields of a collection path.
func fieldsFor(path string) string {
	switch path {
	case "/orders":
		return orderFields
	case "/products":
		return productFields
	case "/customers":
		return customerFields
	}
	return ""
}

// Config configures a Client.
type Config struct {
	// BaseURL is the wc/v3 namespace, e.g. "https://shop.example/wp-json/wc/v3".
	// A real shop accepts the key as HTTP Basic credentials over HTTPS only;
	// over plain HTTP it wants OAuth 1.0a signatures, which this client does
	// not send.
	BaseURL        string
	ConsumerKey    string
	ConsumerSecret string
	// Currency is the shop currency given to products, which carry none.
	// When empty it is read once from /data/currencies/current.
	Currency string
	// Timeout bounds each call. Default 10 s.
	Timeout time.Duration
	// MaxConns bounds the connections to the shop. Default 64.
	MaxConns int
	// Policy copes with failures and limits (see rest.Policy).
	Policy rest.Policy
	// Observe is told of every call (see rest.Config).
	Observe func(system model.System, route, outcome string, took time.Duration)
	// Parallel bounds the calls one read sends at once. Default 8.
	Parallel int
}

// Client reads one shop. It is safe for concurrent use.
type Client struct {
	rest      *rest.Client
	parallel  int
	plainHTTP bool // the base URL is http, not https

	mu       sync.Mutex
	currency string // known shop currency, "" until read
}

// New checks the config and builds a client.
func New(cfg Config) (*Client, error) {
	var errs []error
	if cfg.ConsumerKey == "" || cfg.ConsumerSecret == "" {
		errs = append(errs, errors.New("consumer key and consumer secret are required"))
	}
	if cfg.Parallel < 0 {
		errs = append(errs, fmt.Errorf("parallel %d must not be negative", cfg.Parallel))
	}
	plainHTTP := strings.HasPrefix(strings.ToLower(cfg.BaseURL), "http:")
	rc, err := rest.New(rest.Config{
		System:   model.SystemShop,
		BaseURL:  cfg.BaseURL,
		Auth:     rest.Basic(cfg.ConsumerKey, cfg.ConsumerSecret),
		Timeout:  cfg.Timeout,
		MaxConns: cfg.MaxConns,
		Policy:   cfg.Policy,
		Observe:  cfg.Observe,
		Probe:    func() rest.ProbeCall { return probeCall(plainHTTP) },
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("woocommerce config: %w", err)
	}
	parallel := cfg.Parallel
	if parallel == 0 {
		parallel = 8
	}
	return &Client{rest: rc, parallel: parallel, currency: cfg.Currency, plainHTTP: plainHTTP}, nil
}

// Close ends the background probes of an open breaker and releases idle
// connections.
func (c *Client) Close() { c.rest.Close() }

// BreakerOpen reports whether calls fail fast for now, the upstream having
// failed repeatedly.
func (c *Client) BreakerOpen() bool { return c.rest.BreakerOpen() }

// Orders reads orders by id. Ids the shop does not have are absent from the
// result, which comes in no particular order.
func (c *Client) Orders(ctx context.Context, ids []int64) ([]model.Order, error) {
	raw, err := fetchByKeys(ctx, c, uniqueIDs(ids), "orders.by_id", "/orders", func(chunk []int64) url.Values {
		return url.Values{"include": {joinIDs(chunk)}}
	}, func(o wcOrder) int64 { return o.ID })
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	return mapOrders(raw), nil
}

// Products reads products by id. Ids the shop does not have are absent from
// the result, which comes in no particular order.
func (c *Client) Products(ctx context.Context, ids []int64) ([]model.Product, error) {
	return productsBy(ctx, c, "products.by_id", uniqueIDs(ids), func(chunk []int64) url.Values {
		return url.Values{"include": {joinIDs(chunk)}}
	})
}

// ProductsBySKU reads products by SKU, which the shop matches without regard
// to case. SKUs the shop does not have are absent from the result, which
// comes in no particular order. A SKU containing a comma cannot be expressed
// in the API's sku= list and is skipped.
func (c *Client) ProductsBySKU(ctx context.Context, skus []string) ([]model.Product, error) {
	keys := make([]string, 0, len(skus))
	seen := make(map[string]bool, len(skus))
	for _, s := range skus {
		if s = strings.TrimSpace(s); s != "" && !strings.Contains(s, ",") && !seen[s] {
			seen[s] = true
			keys = append(keys, s)
		}
	}
	return productsBy(ctx, c, "products.by_sku", keys, func(chunk []string) url.Values {
		return url.Values{"sku": {strings.Join(chunk, ",")}}
	})
}

func productsBy[K comparable](ctx context.Context, c *Client, route string, keys []K, query func([]K) url.Values) ([]model.Product, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	currency, err := c.shopCurrency(ctx)
	if err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	raw, err := fetchByKeys(ctx, c, keys, route, "/products", query, productID)
	if err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	return mapProducts(raw, currency), nil
}

func productID(p wcProduct) int64 { return p.ID }

// Customers reads customer accounts by id, whatever their role. Ids the shop
// does not have are absent from the result, which comes in no particular
// order.
func (c *Client) Customers(ctx context.Context, ids []int64) ([]model.ShopCustomer, error) {
	raw, err := fetchByKeys(ctx, c, uniqueIDs(ids), "customers.by_id", "/customers", func(chunk []int64) url.Values {
		return url.Values{"include": {joinIDs(chunk)}, "role": {"all"}}
	}, func(r wcCustomer) int64 { return r.ID })
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	return mapCustomers(raw), nil
}

// CustomersByEmail finds the accounts with the given e-mail addresses. The
// shop matches an address exactly but without regard to case, and takes one
// address per call, so the calls fan out under the client's bound. Addresses
// are trimmed first; ones that are not addresses at all are skipped, since
// the shop would refuse the whole call for them. Addresses the shop does not
// know are absent from the result, which comes in no particular order.
func (c *Client) CustomersByEmail(ctx context.Context, emails []string) ([]model.ShopCustomer, error) {
	keys := make([]string, 0, len(emails))
	seen := make(map[string]bool, len(emails))
	for _, e := range emails {
		e = strings.TrimSpace(e)
		norm := strings.ToLower(e)
		if !strings.Contains(e, "@") || seen[norm] {
			continue
		}
		seen[norm] = true
		keys = append(keys, e)
	}
	raw, err := rest.FanOut(ctx, keys, 1, c.parallel, func(ctx context.Context, chunk []string) ([]wcCustomer, error) {
		var page []wcCustomer
		_, err := c.rest.Do(ctx, rest.Call{Route: "customers.by_email", Path: "/customers", Query: url.Values{
			"email": {chunk[0]}, "role": {"all"}, "per_page": {strconv.Itoa(maxPerPage)}, "_fields": {customerFields},
		}}, &page)
		return page, err
	})
	if err != nil {
		return nil, fmt.Errorf("read customers by e-mail: %w", err)
	}
	return mapCustomers(uniqueBy(raw, func(r wcCustomer) int64 { return r.ID })), nil
}

// OrderQuery selects a page of orders. Zero fields do not filter.
type OrderQuery struct {
	CustomerID    int64    // the account's id; guest orders have none and are never selected by it
	GuestsOnly    bool     // only guest orders (customer 0); CustomerID must be 0
	Search        string   // the shop's order search: id, billing name, e-mail and company, item names
	Statuses      []string // WooCommerce statuses: pending, processing, on-hold, completed, ...
	CreatedAfter  time.Time
	CreatedBefore time.Time
	Page          int  // 1-based; default 1
	PerPage       int  // at most 100; default 100
	OldestFirst   bool // default newest first
	// WithoutLines leaves the line items out of the response, and the
	// orders' Lines empty: for a listing that shows none.
	WithoutLines bool
}

// OrderPage is one page of a listing with the listing's size.
type OrderPage struct {
	Orders     []model.Order
	Total      int // orders matching the query, from X-WP-Total
	TotalPages int // from X-WP-TotalPages
}

// ListOrders reads one page of orders sorted by creation date (then id, so
// pages are stable).
func (c *Client) ListOrders(ctx context.Context, q OrderQuery) (OrderPage, error) {
	if q.PerPage < 0 || q.PerPage > maxPerPage {
		return OrderPage{}, fmt.Errorf("list orders: per page %d is not within 1 to %d", q.PerPage, maxPerPage)
	}
	v := url.Values{
		"page":     {strconv.Itoa(max(q.Page, 1))},
		"per_page": {strconv.Itoa(cmp.Or(q.PerPage, maxPerPage))},
		"orderby":  {"date"},
		"order":    {"desc"},
		"_fields":  {orderFields},
	}
	if q.OldestFirst {
		v.Set("order", "asc")
	}
	if q.WithoutLines {
		v.Set("_fields", orderHeadFields)
	}
	if q.CustomerID != 0 || q.GuestsOnly {
		v.Set("customer", strconv.FormatInt(q.CustomerID, 10))
	}
	if q.Search != "" {
		v.Set("search", q.Search)
	}
	if len(q.Statuses) > 0 {
		v.Set("status", strings.Join(q.Statuses, ","))
	}
	if !q.CreatedAfter.IsZero() || !q.CreatedBefore.IsZero() {
		v.Set("dates_are_gmt", "true")
	}
	if !q.CreatedAfter.IsZero() {
		v.Set("after", formatGMT(q.CreatedAfter))
	}
	if !q.CreatedBefore.IsZero() {
		v.Set("before", formatGMT(q.CreatedBefore))
	}
	var raw []wcOrder
	resp, err := c.rest.Do(ctx, rest.Call{Route: "orders.list", Path: "/orders", Query: v}, &raw)
	if err != nil {
		return OrderPage{}, fmt.Errorf("list orders: %w", err)
	}
	total, pages := pageCounts(resp)
	return OrderPage{Orders: mapOrders(raw), Total: total, TotalPages: pages}, nil
}

// defaultMax bounds a changed-since read when the caller gives no bound.
const defaultMax = 1000

// OrdersModifiedSince reads orders modified at or after since (to the
// second), oldest change first, walking pages until limit orders are read or
// none are left; limit <= 0 means 1000. A poller continues from the
// ModifiedAt of the last order and drops what it has already seen.
func (c *Client) OrdersModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Order, error) {
	raw, err := walkModified(ctx, c, "orders.modified", "/orders", since, limit, func(o wcOrder) (int64, time.Time) {
		return o.ID, o.DateModifiedGMT.Time
	})
	if err != nil {
		return nil, fmt.Errorf("read orders modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	return mapOrders(raw), nil
}

// ProductsModifiedSince reads products modified at or after since, as
// OrdersModifiedSince does for orders.
func (c *Client) ProductsModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Product, error) {
	currency, err := c.shopCurrency(ctx)
	if err != nil {
		return nil, fmt.Errorf("read products modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	raw, err := walkModified(ctx, c, "products.modified", "/products", since, limit, func(p wcProduct) (int64, time.Time) {
		return p.ID, p.DateModifiedGMT.Time
	})
	if err != nil {
		return nil, fmt.Errorf("read products modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	return mapProducts(raw, currency), nil
}

// CountOrdersModifiedAfter is how many orders were modified after the
// given time (to the second): the X-WP-Total of a one-order page with
// OrdersModifiedSince's filter, one call that reads no orders.
func (c *Client) CountOrdersModifiedAfter(ctx context.Context, after time.Time) (int, error) {
	n, err := c.count(ctx, "orders.count_modified", "/orders", modifiedAfter(after))
	if err != nil {
		return 0, fmt.Errorf("count orders modified after %s: %w", after.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// CountProductsModifiedAfter is how many products were modified after the
// given time, as CountOrdersModifiedAfter counts orders.
func (c *Client) CountProductsModifiedAfter(ctx context.Context, after time.Time) (int, error) {
	n, err := c.count(ctx, "products.count_modified", "/products", modifiedAfter(after))
	if err != nil {
		return 0, fmt.Errorf("count products modified after %s: %w", after.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// modifiedAfter is the filter of the records modified after t, which the
// API takes exclusive and to the second.
func modifiedAfter(t time.Time) url.Values {
	return url.Values{"dates_are_gmt": {"true"}, "modified_after": {formatGMT(t)}}
}

// count reads how many records a listing's filter selects from the
// X-WP-Total of a page of one record. A shop (or a proxy before it) that
// sends no such header gives an error, not a count of 0.
func (c *Client) count(ctx context.Context, route, path string, v url.Values) (int, error) {
	v.Set("per_page", "1")
	v.Set("_fields", "id")
	var page []struct {
		ID int64 `json:"id"`
	}
	resp, err := c.rest.Do(ctx, rest.Call{Route: route, Path: path, Query: v}, &page)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(resp.Header.Get("X-WP-Total"))
	if err != nil || n < 0 {
		return 0, &rest.Error{System: model.SystemShop, Route: route, Class: rest.ErrBadResponse, Status: resp.Status, Detail: "no X-WP-Total count"}
	}
	return n, nil
}

// walkModified reads a collection by modification date, oldest first. The
// API's modified_after is exclusive and counts whole seconds, so each call
// asks from a second before the last modification seen and duplicates are
// dropped (the later copy wins). Moving the bound rather than the page
// number keeps a record that changes mid-walk from shifting the pages under
// the walk and hiding another; only when one second holds more than a page
// does it fall back to the page number.
func walkModified[R any](ctx context.Context, c *Client, route, path string, since time.Time, limit int, key func(R) (int64, time.Time)) ([]R, error) {
	if limit <= 0 {
		limit = defaultMax
	}
	perPage := min(limit, maxPerPage)
	v := url.Values{
		"dates_are_gmt": {"true"},
		"orderby":       {"modified"},
		"order":         {"asc"},
		"per_page":      {strconv.Itoa(perPage)},
		"_fields":       {fieldsFor(path)},
	}
	var out []R
	at := map[int64]int{}
	bound, page := since.Add(-time.Second), 1
	// Each call moves the bound or the page forward; the cap only guards
	// against a shop that keeps changing faster than it is read.
	for calls := 0; len(out) < limit && calls < 2*(limit/perPage)+4; calls++ {
		v.Set("modified_after", formatGMT(bound))
		v.Set("page", strconv.Itoa(page))
		var batch []R
		if _, err := c.rest.Do(ctx, rest.Call{Route: route, Path: path, Query: v}, &batch); err != nil {
			return nil, err
		}
		for _, r := range batch {
			id, _ := key(r)
			if i, ok := at[id]; ok {
				out[i] = r
				continue
			}
			at[id] = len(out)
			out = append(out, r)
		}
		if len(batch) < perPage {
			break
		}
		_, last := key(batch[len(batch)-1])
		if next := last.Add(-time.Second); next.After(bound) {
			bound, page = next, 1
		} else {
			page++
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// fetchByKeys reads records by key in chunks of the page maximum, one call
// per chunk, the calls concurrent under the client's bound.
func fetchByKeys[K comparable, R any](ctx context.Context, c *Client, keys []K, route, path string, query func([]K) url.Values, id func(R) int64) ([]R, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	raw, err := rest.FanOut(ctx, keys, maxPerPage, c.parallel, func(ctx context.Context, chunk []K) ([]R, error) {
		v := query(chunk)
		v.Set("per_page", strconv.Itoa(maxPerPage))
		v.Set("_fields", fieldsFor(path))
		var page []R
		_, err := c.rest.Do(ctx, rest.Call{Route: route, Path: path, Query: v}, &page)
		return page, err
	})
	if err != nil {
		return nil, err
	}
	return uniqueBy(raw, id), nil
}

// Currency is the shop's currency: the configured one, or the shop's own,
// read once.
func (c *Client) Currency(ctx context.Context) (string, error) { return c.shopCurrency(ctx) }

// shopCurrency returns the configured currency or reads the shop's once.
func (c *Client) shopCurrency(ctx context.Context) (string, error) {
	c.mu.Lock()
	cur := c.currency
	c.mu.Unlock()
	if cur != "" {
		return cur, nil
	}
	var body wcCurrency
	if _, err := c.rest.Do(ctx, rest.Call{Route: "currency.current", Path: "/data/currencies/current"}, &body); err != nil {
		return "", fmt.Errorf("read shop currency: %w", err)
	}
	if body.Code == "" {
		return "", fmt.Errorf("read shop currency: %w", &rest.Error{System: model.SystemShop, Route: "currency.current", Class: rest.ErrBadResponse, Status: 200, Detail: "no currency code"})
	}
	c.mu.Lock()
	c.currency = body.Code
	c.mu.Unlock()
	return body.Code, nil
}

// pageCounts reads X-WP-Total and X-WP-TotalPages; a missing header reads as 0.
func pageCounts(resp rest.Response) (total, pages int) {
	total, _ = strconv.Atoi(resp.Header.Get("X-WP-Total"))
	pages, _ = strconv.Atoi(resp.Header.Get("X-WP-TotalPages"))
	return total, pages
}

func uniqueIDs(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	seen := make(map[int64]bool, len(ids))
	for _, id := range ids {
		if id > 0 && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// uniqueBy keeps one record per id, the last one read, in first-seen order.
func uniqueBy[R any](records []R, id func(R) int64) []R {
	at := make(map[int64]int, len(records))
	out := records[:0]
	for _, r := range records {
		if i, ok := at[id(r)]; ok {
			out[i] = r
			continue
		}
		at[id(r)] = len(out)
		out = append(out, r)
	}
	return out
}

// Probe reads one order id with the configured key, once, to show that the
// base URL is a shop's wc/v3 namespace and that the key may read it. It
// returns nil or a *rest.ProbeError saying what is wrong.
func (c *Client) Probe(ctx context.Context) error { return c.rest.Probe(ctx, probeCall(c.plainHTTP)) }

// probeCall is the probe, with a fresh answer to decode into. plainHTTP
// says the base URL is http, not https.
func probeCall(plainHTTP bool) rest.ProbeCall {
	var page []struct {
		ID int64 `json:"id"`
	}
	unauthorized := "the consumer key or secret is refused"
	if plainHTTP {
		// WooCommerce reads Basic credentials over HTTPS only and wants
		// OAuth 1.0a signatures otherwise.
		unauthorized += ", or ignored: a shop takes them over https only"
	}
	return rest.ProbeCall{
		Call:         rest.Call{Route: "probe", Path: "/orders", Query: url.Values{"per_page": {"1"}, "_fields": {"id"}}},
		Out:          &page,
		NotFound:     "not a WooCommerce REST API here",
		Unauthorized: unauthorized,
		Forbidden:    "refused before WooCommerce: a firewall or security plugin blocks the call",
		NotAPI:       "not a WooCommerce REST API here",
	}
}
