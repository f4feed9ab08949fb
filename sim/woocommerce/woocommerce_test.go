package woocommerce_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim/woocommerce"
	"github.com/trestlehq/trestle/sim/world"
)

// testWorld is built once per package: generating it takes ~100 ms.
var testWorld = sync.OnceValue(func() *world.World { return world.New(world.Options{Seed: 1}) })

type auth int

const (
	noAuth auth = iota
	basicAuth
	queryAuth
	unknownKey
	wrongSecret
)

func serve(t testing.TB, api *woocommerce.API, method, target string, a auth) *httptest.ResponseRecorder {
	t.Helper()
	if a == queryAuth {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + "consumer_key=" + woocommerce.ConsumerKey + "&consumer_secret=" + woocommerce.ConsumerSecret
	}
	req := httptest.NewRequest(method, target, nil)
	switch a {
	case basicAuth:
		req.SetBasicAuth(woocommerce.ConsumerKey, woocommerce.ConsumerSecret)
	case unknownKey:
		req.SetBasicAuth("ck_unknown", woocommerce.ConsumerSecret)
	case wrongSecret:
		req.SetBasicAuth(woocommerce.ConsumerKey, "cs_wrong")
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	return rec
}

type wpError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Data    struct {
		Status int               `json:"status"`
		Params map[string]string `json:"params"`
	} `json:"data"`
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) wpError {
	t.Helper()
	var e wpError
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	if e.Data.Status != rec.Code {
		t.Errorf("data.status = %d, HTTP status %d", e.Data.Status, rec.Code)
	}
	return e
}

func TestErrors(t *testing.T) {
	api := woocommerce.New(testWorld())
	tests := []struct {
		name    string
		method  string
		target  string
		auth    auth
		status  int
		code    string
		message string
		params  []string
	}{
		{name: "list without credentials", target: "/wp-json/wc/v3/orders", auth: noAuth, status: 401, code: "woocommerce_rest_cannot_view", message: "Sorry, you cannot list resources."},
		{name: "item without credentials", target: "/wp-json/wc/v3/orders/1002", auth: noAuth, status: 401, code: "woocommerce_rest_cannot_view", message: "Sorry, you cannot view this resource."},
		{name: "unknown key is anonymous", target: "/wp-json/wc/v3/products", auth: unknownKey, status: 401, code: "woocommerce_rest_cannot_view", message: "Sorry, you cannot list resources."},
		{name: "wrong secret", target: "/wp-json/wc/v3/customers", auth: wrongSecret, status: 401, code: "woocommerce_rest_authentication_error", message: "Consumer secret is invalid."},
		{name: "wrong secret beats unknown route", target: "/wp-json/wc/v3/coupons", auth: wrongSecret, status: 401, code: "woocommerce_rest_authentication_error"},
		{name: "unknown route", target: "/wp-json/wc/v3/coupons", auth: basicAuth, status: 404, code: "rest_no_route"},
		{name: "unknown route without credentials", target: "/wp-json/wc/v2/orders", auth: noAuth, status: 404, code: "rest_no_route"},
		{name: "write method", method: http.MethodPost, target: "/wp-json/wc/v3/orders", auth: basicAuth, status: 404, code: "rest_no_route"},
		{name: "id not digits", target: "/wp-json/wc/v3/orders/abc", auth: basicAuth, status: 404, code: "rest_no_route"},
		{name: "missing order", target: "/wp-json/wc/v3/orders/1", auth: basicAuth, status: 404, code: "woocommerce_rest_shop_order_invalid_id", message: "Invalid ID."},
		{name: "missing product", target: "/wp-json/wc/v3/products/99999", auth: basicAuth, status: 404, code: "woocommerce_rest_product_invalid_id", message: "Invalid ID."},
		{name: "missing customer", target: "/wp-json/wc/v3/customers/1", auth: queryAuth, status: 404, code: "wc_user_invalid_id", message: "Invalid user ID."},
		{name: "per_page over 100", target: "/wp-json/wc/v3/orders?per_page=101", auth: basicAuth, status: 400, code: "rest_invalid_param", message: "Invalid parameter(s): per_page", params: []string{"per_page"}},
		{name: "per_page zero", target: "/wp-json/wc/v3/products?per_page=0", auth: basicAuth, status: 400, code: "rest_invalid_param", params: []string{"per_page"}},
		{name: "page not a number", target: "/wp-json/wc/v3/customers?page=two", auth: basicAuth, status: 400, code: "rest_invalid_param", params: []string{"page"}},
		{name: "several bad parameters", target: "/wp-json/wc/v3/orders?orderby=total&order=up&status=shipped", auth: basicAuth, status: 400, code: "rest_invalid_param", message: "Invalid parameter(s): order, orderby, status", params: []string{"order", "orderby", "status"}},
		{name: "bad date", target: "/wp-json/wc/v3/orders?modified_after=yesterday", auth: basicAuth, status: 400, code: "rest_invalid_param", params: []string{"modified_after"}},
		{name: "bad email", target: "/wp-json/wc/v3/customers?email=nobody", auth: basicAuth, status: 400, code: "rest_invalid_param", params: []string{"email"}},
		{name: "bad include", target: "/wp-json/wc/v3/orders?include=1,x", auth: basicAuth, status: 400, code: "rest_invalid_param", params: []string{"include"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			rec := serve(t, api, method, tt.target, tt.auth)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=UTF-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			e := decodeError(t, rec)
			if e.Code != tt.code {
				t.Errorf("code = %q, want %q", e.Code, tt.code)
			}
			if tt.message != "" && e.Message != tt.message {
				t.Errorf("message = %q, want %q", e.Message, tt.message)
			}
			for _, p := range tt.params {
				if e.Data.Params[p] == "" {
					t.Errorf("data.params has no entry for %s: %v", p, e.Data.Params)
				}
			}
			if tt.code == "woocommerce_rest_authentication_error" && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestFault(t *testing.T) {
	api := woocommerce.New(testWorld())
	for _, status := range []int{http.StatusTooManyRequests, http.StatusInternalServerError} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			rec := httptest.NewRecorder()
			api.Fault(rec, status)
			if rec.Code != status {
				t.Fatalf("status = %d, want %d", rec.Code, status)
			}
			e := decodeError(t, rec)
			if e.Code == "" || e.Message == "" {
				t.Errorf("error body lacks code or message: %s", rec.Body)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	api := woocommerce.New(testWorld())
	tests := []struct{ method, target, want string }{
		{"GET", "/wp-json/wc/v3/orders?include=1,2", "GET /wp-json/wc/v3/orders"},
		{"GET", "/wp-json/wc/v3/orders/12", "GET /wp-json/wc/v3/orders/{id}"},
		{"GET", "/wp-json/wc/v3/customers", "GET /wp-json/wc/v3/customers"},
		{"GET", "/wp-json/wc/v3/nothing", ""},
		{"DELETE", "/wp-json/wc/v3/orders/12", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			if got := api.Route(httptest.NewRequest(tt.method, tt.target, nil)); got != tt.want {
				t.Errorf("Route = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	w := testWorld()
	api := woocommerce.New(w)
	customers := 0
	for _, p := range w.People {
		if p.Shop != nil {
			customers++
		}
	}
	pages := (customers + 9) / 10
	tests := []struct {
		name      string
		page      int
		wantLinks []string
	}{
		{name: "first", page: 1, wantLinks: []string{`?page=2&per_page=10>; rel="next"`}},
		{name: "middle", page: 2, wantLinks: []string{`?page=1&per_page=10>; rel="prev"`, `?page=3&per_page=10>; rel="next"`}},
		{name: "last", page: pages, wantLinks: []string{fmt.Sprintf(`?page=%d&per_page=10>; rel="prev"`, pages-1)}},
		{name: "beyond", page: pages + 5, wantLinks: []string{fmt.Sprintf(`?page=%d&per_page=10>; rel="prev"`, pages)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, api, "GET", fmt.Sprintf("/wp-json/wc/v3/customers?per_page=10&page=%d", tt.page), basicAuth)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("X-WP-Total"); got != strconv.Itoa(customers) {
				t.Errorf("X-WP-Total = %s, want %d", got, customers)
			}
			if got := rec.Header().Get("X-WP-TotalPages"); got != strconv.Itoa(pages) {
				t.Errorf("X-WP-TotalPages = %s, want %d", got, pages)
			}
			links := rec.Header().Values("Link")
			if len(links) != len(tt.wantLinks) {
				t.Fatalf("Link = %q, want %d links", links, len(tt.wantLinks))
			}
			for i, want := range tt.wantLinks {
				if !strings.HasPrefix(links[i], "<http://example.com/wp-json/wc/v3/customers?") || !strings.HasSuffix(links[i], want) {
					t.Errorf("Link[%d] = %q, want it to end in %q", i, links[i], want)
				}
			}
			var items []map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &items); err != nil {
				t.Fatal(err)
			}
			wantItems := max(0, min(10, customers-(tt.page-1)*10))
			if len(items) != wantItems {
				t.Errorf("got %d items, want %d", len(items), wantItems)
			}
		})
	}
}

func TestOrderShape(t *testing.T) {
	w := testWorld()
	api := woocommerce.New(w)
	berlin, err := time.LoadLocation(woocommerce.SiteTimezone)
	if err != nil {
		t.Fatal(err)
	}
	var guest, registered *world.Order
	for _, o := range w.Orders {
		if o.Guest && guest == nil && o.Paid != nil {
			guest = o
		}
		if !o.Guest && registered == nil && o.Discount.IsPos() && o.Completed != nil {
			registered = o
		}
	}
	for name, o := range map[string]*world.Order{"guest": guest, "registered": registered} {
		t.Run(name, func(t *testing.T) {
			if o == nil {
				t.Fatalf("world has no %s order to check", name)
			}
			rec := serve(t, api, "GET", "/wp-json/wc/v3/orders/"+strconv.FormatInt(o.ID, 10), basicAuth)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			wantCustomer := 0.0
			if !o.Guest {
				wantCustomer = float64(o.Person.Shop.ID)
			}
			checks := map[string]any{
				"id":                float64(o.ID),
				"number":            strconv.FormatInt(o.ID, 10),
				"status":            o.Status,
				"total":             o.Total.Rescale(2).String(),
				"total_tax":         o.Tax.Rescale(2).String(),
				"shipping_total":    o.Shipping.Rescale(2).String(),
				"discount_total":    o.Discount.Rescale(2).String(),
				"customer_id":       wantCustomer,
				"date_created_gmt":  o.Created.UTC().Format("2006-01-02T15:04:05"),
				"date_created":      o.Created.In(berlin).Format("2006-01-02T15:04:05"),
				"date_modified_gmt": o.Modified.UTC().Format("2006-01-02T15:04:05"),
				"date_paid_gmt":     o.Paid.UTC().Format("2006-01-02T15:04:05"),
			}
			for k, want := range checks {
				if got[k] != want {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			if got["date_created"] == got["date_created_gmt"] {
				t.Errorf("site-local and GMT dates agree (%v); the site timezone is not applied", got["date_created"])
			}
			if billing := got["billing"].(map[string]any); billing["email"] != o.BillingEmail {
				t.Errorf("billing.email = %v, want %q as typed", billing["email"], o.BillingEmail)
			}
			lines := got["line_items"].([]any)
			if len(lines) != len(o.Lines) {
				t.Fatalf("%d line items, want %d", len(lines), len(o.Lines))
			}
			for i, raw := range lines {
				line, l := raw.(map[string]any), o.Lines[i]
				if line["sku"] != l.Product.SKU || line["subtotal"] != l.Subtotal.Rescale(2).String() || line["quantity"] != float64(l.Quantity) {
					t.Errorf("line %d = %v, want sku %s subtotal %s qty %d", i, line, l.Product.SKU, l.Subtotal, l.Quantity)
				}
				if _, ok := line["price"].(float64); !ok {
					t.Errorf("line %d price is %T, want a JSON number", i, line["price"])
				}
			}
			if !strings.Contains(rec.Body.String(), `"href":"http:\/\/example.com\/wp-json\/wc\/v3\/orders\/`) {
				t.Errorf("links are not written with escaped slashes as PHP does")
			}
		})
	}
}

func TestFilters(t *testing.T) {
	w := testWorld()
	api := woocommerce.New(w)
	since := w.Anchor.Add(-72 * time.Hour)
	modifiedSince := 0
	for _, o := range w.Orders {
		if o.Modified.After(since) {
			modifiedSince++
		}
	}
	var capitalised *world.Person
	for _, p := range w.People {
		if p.Shop != nil && p.Shop.Email != strings.ToLower(p.Shop.Email) {
			capitalised = p
			break
		}
	}
	unmanaged := w.Products[0]
	for _, p := range w.Products {
		if !p.ManageStock {
			unmanaged = p
			break
		}
	}
	tests := []struct {
		name   string
		target string
		total  int
	}{
		{name: "modified_after in UTC", target: "/wp-json/wc/v3/orders?dates_are_gmt=true&modified_after=" + since.UTC().Format("2006-01-02T15:04:05"), total: modifiedSince},
		{name: "modified_after with zone", target: "/wp-json/wc/v3/orders?modified_after=" + url.QueryEscape(since.UTC().Format(time.RFC3339)), total: modifiedSince},
		{name: "include", target: "/wp-json/wc/v3/orders?per_page=100&include=" + fmt.Sprintf("%d,%d,1", w.Orders[0].ID, w.Orders[1].ID), total: 2},
		{name: "guest orders", target: "/wp-json/wc/v3/orders?customer=0&status=completed&per_page=1", total: countOrders(w, func(o *world.Order) bool { return o.Guest && o.Status == "completed" })},
		{name: "two statuses", target: "/wp-json/wc/v3/orders?status=refunded,failed", total: countOrders(w, func(o *world.Order) bool { return o.Status == "refunded" || o.Status == "failed" })},
		{name: "email in other case", target: "/wp-json/wc/v3/customers?email=" + url.QueryEscape(strings.ToLower(capitalised.Shop.Email)), total: 1},
		{name: "sku list in lower case", target: "/wp-json/wc/v3/products?sku=" + strings.ToLower(w.Products[3].SKU) + "," + w.Products[4].SKU, total: 2},
		{name: "unknown sku", target: "/wp-json/wc/v3/products?sku=NOPE-1", total: 0},
		{name: "unmanaged stock", target: "/wp-json/wc/v3/products?include=" + strconv.FormatInt(unmanaged.ID, 10), total: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, api, "GET", tt.target, basicAuth)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("X-WP-Total"); got != strconv.Itoa(tt.total) {
				t.Errorf("X-WP-Total = %s, want %d", got, tt.total)
			}
		})
	}

	t.Run("a page of one counts the listing", func(t *testing.T) {
		// How the gateway counts what a backfill has to read: X-WP-Total
		// of a page of one, whatever per_page is.
		bound := "&dates_are_gmt=true&modified_after=" + since.UTC().Format("2006-01-02T15:04:05")
		products, customers := 0, 0
		for _, p := range w.Products {
			if p.Modified.After(since) && p.Status != "trash" {
				products++
			}
		}
		for _, p := range w.People {
			if p.Shop != nil {
				customers++
			}
		}
		for target, want := range map[string]int{
			"/wp-json/wc/v3/orders?per_page=1&_fields=id" + bound:     modifiedSince,
			"/wp-json/wc/v3/products?per_page=1&_fields=id" + bound:   products,
			"/wp-json/wc/v3/customers?role=all&per_page=1&_fields=id": customers,
		} {
			rec := serve(t, api, "GET", target, basicAuth)
			var items []map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &items); err != nil {
				t.Fatal(err)
			}
			h := rec.Header()
			if h.Get("X-WP-Total") != strconv.Itoa(want) || h.Get("X-WP-TotalPages") != strconv.Itoa(want) || len(items) != min(want, 1) {
				t.Errorf("%s: X-WP-Total %s, X-WP-TotalPages %s with %d items, want %d, %d with %d",
					target, h.Get("X-WP-Total"), h.Get("X-WP-TotalPages"), len(items), want, want, min(want, 1))
			}
			if want == 0 {
				t.Errorf("%s: nothing to count; move the time", target)
			}
		}
	})
	t.Run("dates are site-local unless dates_are_gmt", func(t *testing.T) {
		// Half an hour after the order's modification, as UTC wall-clock
		// time. Read in Berlin time the same string is an hour or two
		// earlier, before the modification.
		o := w.Orders[len(w.Orders)/2]
		bound := o.Modified.UTC().Add(30 * time.Minute).Format("2006-01-02T15:04:05")
		for gmt, want := range map[string]string{"true": "1", "false": "0"} {
			target := fmt.Sprintf("/wp-json/wc/v3/orders?include=%d&modified_before=%s&dates_are_gmt=%s", o.ID, bound, gmt)
			if got := serve(t, api, "GET", target, basicAuth).Header().Get("X-WP-Total"); got != want {
				t.Errorf("dates_are_gmt=%s: X-WP-Total = %s, want %s", gmt, got, want)
			}
		}
	})
	t.Run("unmanaged stock is null", func(t *testing.T) {
		rec := serve(t, api, "GET", "/wp-json/wc/v3/products/"+strconv.FormatInt(unmanaged.ID, 10), basicAuth)
		var p map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if unmanaged.ManageStock || p["stock_quantity"] != nil || p["manage_stock"] != false {
			t.Errorf("manage_stock %v stock_quantity %v, want false and null", p["manage_stock"], p["stock_quantity"])
		}
	})
}

func countOrders(w *world.World, keep func(*world.Order) bool) int {
	n := 0
	for _, o := range w.Orders {
		if keep(o) {
			n++
		}
	}
	return n
}

// BenchmarkBatchRead measures the 100-order include= read a loader sends,
// whole and trimmed with _fields as the adapter asks for it.
func BenchmarkBatchRead(b *testing.B) {
	w := testWorld()
	api := woocommerce.New(w)
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = strconv.FormatInt(w.Orders[i*150].ID, 10)
	}
	target := "/wp-json/wc/v3/orders?per_page=100&include=" + strings.Join(ids, ",")
	for name, query := range map[string]string{"full": "", "fields": "&_fields=id,number,status,currency,date_created_gmt,date_modified_gmt,total,total_tax,customer_id,billing.email,line_items"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := serve(b, api, "GET", target+query, basicAuth)
				if rec.Code != 200 || rec.Header().Get("X-WP-Total") != "100" {
					b.Fatalf("status %d, total %s", rec.Code, rec.Header().Get("X-WP-Total"))
				}
			}
		})
	}
}

func TestFields(t *testing.T) {
	w := testWorld()
	api := woocommerce.New(w)
	order := "/wp-json/wc/v3/orders/" + strconv.FormatInt(w.Orders[0].ID, 10)
	tests := []struct {
		name   string
		target string
		want   string // the body re-encoded by encoding/json, keys sorted
	}{
		{name: "top-level members", target: order + "?_fields=id,status", want: fmt.Sprintf(`{"id":%d,"status":%q}`, w.Orders[0].ID, w.Orders[0].Status)},
		{name: "nested into an object", target: order + "?_fields=id,billing.email", want: fmt.Sprintf(`{"billing":{"email":%q},"id":%d}`, w.Orders[0].BillingEmail, w.Orders[0].ID)},
		{name: "nested into a list empties it", target: order + "?_fields=id,line_items.sku", want: fmt.Sprintf(`{"id":%d,"line_items":[]}`, w.Orders[0].ID)},
		{name: "emptied object becomes a PHP array", target: order + "?_fields=billing.nothing", want: `{"billing":[]}`},
		{name: "list items", target: "/wp-json/wc/v3/products?orderby=id&order=asc&per_page=2&_fields=sku", want: fmt.Sprintf(`[{"sku":%q},{"sku":%q}]`, w.Products[0].SKU, w.Products[1].SKU)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, api, "GET", tt.target, basicAuth)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var v any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			got, _ := json.Marshal(v)
			if string(got) != tt.want {
				t.Errorf("body = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestOrderPagesByDate checks that a page of all orders by date, answered
// without going through them all, is the page a filtering query gets: the
// same query with an exclude= that excludes nothing takes the long way.
func TestOrderPagesByDate(t *testing.T) {
	w := testWorld()
	api := woocommerce.New(w)
	w.PlaceOrder(rand.New(rand.NewPCG(1, 2)), time.Now()) // placed now: the newest
	for _, query := range []string{"", "&order=asc", "&page=3&per_page=7", "&order=asc&offset=5&per_page=4", "&status=any&page=1000"} {
		fast := serve(t, api, "GET", "/wp-json/wc/v3/orders?_fields=id"+query, basicAuth)
		long := serve(t, api, "GET", "/wp-json/wc/v3/orders?_fields=id&exclude=1"+query, basicAuth)
		if fast.Code != 200 || fast.Body.String() != long.Body.String() || fast.Header().Get("X-WP-Total") != long.Header().Get("X-WP-Total") {
			t.Errorf("%q: %d %s (total %s), want as filtered: %s (total %s)", query, fast.Code, fast.Body, fast.Header().Get("X-WP-Total"),
				long.Body, long.Header().Get("X-WP-Total"))
		}
	}
}
