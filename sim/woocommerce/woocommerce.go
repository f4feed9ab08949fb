// Package woocommerce simulates the WooCommerce REST API (namespace wc/v3)
// over a world: orders, products and customers, with the real API's
// parameters, JSON shapes, pagination headers, authentication and error
// bodies.
//
// The simulated site runs in the Europe/Berlin timezone, so the site-local
// date fields (date_created, date_modified, ...) differ from their *_gmt
// twins by one or two hours, and date filters without dates_are_gmt=true are
// read in site time, exactly as WordPress does. A client that reads the
// wrong field or forgets dates_are_gmt is caught by the offset.
package woocommerce

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	// The site timezone must resolve on hosts without a zoneinfo database.
	_ "time/tzdata"

	"github.com/trestlehq/trestle/sim/world"
)

// Demo credentials: the one REST API key the simulated shop accepts, with
// read access.
const (
	ConsumerKey    = "ck_demo"
	ConsumerSecret = "cs_demo"
)

// SiteTimezone is the WordPress timezone setting of the simulated shop.
const SiteTimezone = "Europe/Berlin"

// Prefix is the path of the wc/v3 namespace; the simulator serves it at its root.
const Prefix = "/wp-json/wc/v3"

// API is the simulated WooCommerce REST API.
type API struct {
	w    *world.World
	mux  *http.ServeMux
	loc  *time.Location
	bufs sync.Pool // *[]byte response buffers

	orders   *world.Index[*world.Order, modKey] // by modification time
	products *world.Index[*world.Product, modKey]
}

var _ http.Handler = (*API)(nil)

// New serves the world in the WooCommerce dialect.
func New(w *world.World) *API {
	loc, err := time.LoadLocation(SiteTimezone)
	if err != nil {
		// Unreachable with time/tzdata linked in; keep the offset anyway.
		loc = time.FixedZone("CET", 3600)
	}
	a := &API{w: w, mux: http.NewServeMux(), loc: loc,
		orders: modifiedIndex(func(w *world.World) []*world.Order { return w.Orders },
			func(o *world.Order) time.Time { return o.Modified }, func(o *world.Order) int64 { return o.ID }),
		products: modifiedIndex(func(w *world.World) []*world.Product { return w.Products },
			func(p *world.Product) time.Time { return p.Modified }, func(p *world.Product) int64 { return p.ID }),
	}
	a.bufs.New = func() any { b := make([]byte, 0, 64<<10); return &b }

	a.mux.Handle("GET "+Prefix+"/orders", a.guard(listDenied, a.listOrders))
	a.mux.Handle("GET "+Prefix+"/orders/{id}", a.guard(viewDenied, a.getOrder))
	a.mux.Handle("GET "+Prefix+"/products", a.guard(listDenied, a.listProducts))
	a.mux.Handle("GET "+Prefix+"/products/{id}", a.guard(viewDenied, a.getProduct))
	a.mux.Handle("GET "+Prefix+"/customers", a.guard(listDenied, a.listCustomers))
	a.mux.Handle("GET "+Prefix+"/customers/{id}", a.guard(viewDenied, a.getCustomer))
	a.mux.Handle("GET "+Prefix+"/data/currencies/current", a.guard(viewDenied, a.currentCurrency))
	a.mux.HandleFunc("/", a.noRoute)
	return a
}

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Route names the route pattern a request matches, "" when none does.
func (a *API) Route(r *http.Request) string {
	_, p := a.mux.Handler(r)
	if p == "/" {
		return ""
	}
	return p
}

// Fault writes an injected 429 or 500 the way a WordPress host words it.
func (a *API) Fault(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		// WordPress has no rate limit of its own; hosts and security plugins
		// answer in the REST error shape.
		writeError(w, status, "rate_limit_exceeded", "Too many requests. Please wait and try again.")
	case http.StatusInternalServerError:
		// What wp_die() sends for a fatal error during a REST request.
		writeErrorBody(w, status, `{"code":"internal_server_error","message":"<p>There has been a critical error on this website.<\/p><p><a href=\"https:\/\/wordpress.org\/documentation\/article\/faq-troubleshooting\/\">Learn more about troubleshooting WordPress.<\/a><\/p>","data":{"status":500},"additional_errors":[]}`)
	default:
		writeError(w, status, "rest_error", http.StatusText(status))
	}
}

// authState is the outcome of WooCommerce's API key check.
type authState int

const (
	anonymous authState = iota // no key, or a key the shop does not know
	authenticated
	badSecret // a known key with the wrong secret
)

// authenticate follows WC_REST_Authentication over HTTPS: consumer_key and
// consumer_secret query parameters win over HTTP Basic; an unknown key is
// treated as no key at all (the route's permission check then refuses), and
// only a known key with a wrong secret is an authentication error.
func (a *API) authenticate(r *http.Request) authState {
	key, secret := r.URL.Query().Get("consumer_key"), r.URL.Query().Get("consumer_secret")
	if key == "" || secret == "" {
		key, secret = basicAuth(r)
	}
	if key == "" || secret == "" || key != ConsumerKey {
		return anonymous
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(ConsumerSecret)) != 1 {
		return badSecret
	}
	return authenticated
}

// basicAuth reads HTTP Basic credentials without allocating on the common path.
func basicAuth(r *http.Request) (user, pass string) {
	h := r.Header.Get("Authorization")
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", ""
	}
	raw, err := base64.StdEncoding.DecodeString(h[len(prefix):])
	if err != nil {
		return "", ""
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", ""
	}
	return user, pass
}

// Permission messages of the controllers' permission checks.
const (
	listDenied = "Sorry, you cannot list resources."
	viewDenied = "Sorry, you cannot view this resource."
)

// guard runs the authentication and the route's permission check first.
func (a *API) guard(denied string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch a.authenticate(r) {
		case badSecret:
			writeBadSecret(w)
		case anonymous:
			writeError(w, http.StatusUnauthorized, "woocommerce_rest_cannot_view", denied)
		default:
			h(w, r)
		}
	})
}

// noRoute answers paths and methods the API does not have. WordPress checks
// authentication errors before routing, so a wrong secret still wins.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) {
	if a.authenticate(r) == badSecret {
		writeBadSecret(w)
		return
	}
	writeError(w, http.StatusNotFound, "rest_no_route", "No route was found matching the URL and request method.")
}

func writeBadSecret(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="WooCommerce API. Use a consumer key in the username field and a consumer secret in the password field."`)
	writeError(w, http.StatusUnauthorized, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
}

// writeError writes a WP_Error as the REST server serialises it.
func writeError(w http.ResponseWriter, status int, code, message string) {
	var e enc
	e.begin()
	e.str("code", code)
	e.str("message", message)
	e.key("data")
	e.begin()
	e.int("status", int64(status))
	e.end()
	e.end()
	writeErrorBody(w, status, string(e.b))
}

func writeErrorBody(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// currentCurrency serves GET /data/currencies/current, where a client learns
// the shop currency that products do not carry.
func (a *API) currentCurrency(w http.ResponseWriter, r *http.Request) {
	a.w.RLock()
	code := a.w.Currency
	a.w.RUnlock()
	name, symbol := code, code
	switch code {
	case "EUR":
		name, symbol = "Euro", "&euro;"
	case "USD":
		name, symbol = "United States (US) dollar", "&#36;"
	case "GBP":
		name, symbol = "Pound sterling", "&pound;"
	}
	base := siteBase(r)
	var e enc
	e.begin()
	e.str("code", code)
	e.str("name", name)
	e.str("symbol", symbol)
	e.key("_links")
	e.begin()
	e.link("self", base, "/data/currencies/current", 0)
	e.link("collection", base, "/data/currencies", 0)
	e.end()
	e.end()
	writeJSON(w, e.b)
}

func writeJSON(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// siteBase is the site URL as a client reached it, e.g. "http://127.0.0.1:4242"
// or "http://localhost:8080/shop" when served under a prefix.
func siteBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := r.RequestURI
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	prefix, ok := strings.CutSuffix(path, r.URL.Path)
	if !ok {
		prefix = ""
	}
	return scheme + "://" + r.Host + prefix
}
