package erpnext_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

// testWorld is built once: generating it takes most of a test's time.
var testWorld = sync.OnceValue(func() *world.World { return world.New(world.Options{Seed: 1}) })

var testAPI = sync.OnceValue(func() *erpnext.API { return erpnext.New(testWorld()) })

const auth = "token " + erpnext.APIKey + ":" + erpnext.APISecret

// get sends a GET through the handler with the given Authorization header.
func get(t testing.TB, path, authorization string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	testAPI().ServeHTTP(w, r)
	return w
}

// list builds a list path from parameters given as key, value pairs.
func list(doctype string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	p := "/api/resource/" + url.PathEscape(doctype)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

func rows(t *testing.T, w *httptest.ResponseRecorder) []map[string]any {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var body struct {
		Data []map[string]any `json:"data"`
	}
	dec := json.NewDecoder(w.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return body.Data
}

func names(rs []map[string]any, field string) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprint(r[field])
	}
	return out
}

func TestErrorBodies(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		auth       string
		wantStatus int
		wantType   string
		wantMsg    string // a substring of _server_messages; empty: none expected
	}{
		{"no credentials run as Guest", list("Customer"), "", 403, "PermissionError", "does not have doctype access"},
		{"wrong secret", list("Customer"), "token demo:nope", 401, "AuthenticationError", ""},
		{"malformed token", list("Customer"), "token demo", 401, "AuthenticationError", ""},
		{"bearer token", list("Customer"), "Bearer abc", 401, "AuthenticationError", ""},
		{"bad basic", list("Customer"), "Basic !!!", 401, "InvalidAuthorizationToken", "base64"},
		{"unknown DocType", list("Sales Order"), auth, 404, "DoesNotExistError", "DocType Sales Order not found"},
		{"unknown document", "/api/resource/Customer/CUST-1999-00001", auth, 404, "DoesNotExistError", "Customer CUST-1999-00001 not found"},
		{"child table without parent", list("Sales Invoice Item"), auth, 403, "PermissionError", ""},
		{"child table under the wrong parent", list("Sales Invoice Item", "parent", "Customer"), auth, 403, "PermissionError", ""},
		{"unknown field", list("Customer", "fields", `["name","nope"]`), auth, 417, "DataError", "Field not permitted in query: nope"},
		{"unknown filter field", list("Customer", "filters", `[["nope","=","x"]]`), auth, 417, "DataError", "Field not permitted in query: nope"},
		{"unknown operator", list("Customer", "filters", `[["name","~","x"]]`), auth, 417, "ValidationError", "Operator must be one of"},
		{"short filter", list("Customer", "filters", `[["name","x"]]`), auth, 417, "ValidationError", "Filter must have 4 values"},
		{"filters not JSON", list("Customer", "filters", `[["name","=",`), auth, 500, "JSONDecodeError", ""},
		{"fields not JSON", list("Customer", "fields", `[name]`), auth, 500, "JSONDecodeError", ""},
		{"bare star is not JSON either", list("Customer", "fields", `*`), auth, 500, "JSONDecodeError", ""},
		{"order by unknown column", list("Customer", "order_by", "nope desc"), auth, 500, "OperationalError", ""},
		{"unknown path", "/api/nothing", auth, 404, "DoesNotExistError", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, tt.path, tt.auth)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var body struct {
				Exception      string `json:"exception"`
				ExcType        string `json:"exc_type"`
				ServerMessages string `json:"_server_messages"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, w.Body)
			}
			if body.ExcType != tt.wantType {
				t.Errorf("exc_type %q, want %q", body.ExcType, tt.wantType)
			}
			if !strings.Contains(body.Exception, tt.wantType) {
				t.Errorf("exception %q does not name %s", body.Exception, tt.wantType)
			}
			if tt.wantMsg == "" {
				return
			}
			// _server_messages is a JSON list of JSON-encoded message objects.
			var msgs []string
			if err := json.Unmarshal([]byte(body.ServerMessages), &msgs); err != nil || len(msgs) != 1 {
				t.Fatalf("_server_messages %q: %v", body.ServerMessages, err)
			}
			var msg struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(msgs[0]), &msg); err != nil {
				t.Fatalf("message %q: %v", msgs[0], err)
			}
			if !strings.Contains(msg.Message, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", msg.Message, tt.wantMsg)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Run("429 is the rate limiter's plain text", func(t *testing.T) {
		w := httptest.NewRecorder()
		w.Header().Set("Retry-After", "7")
		testAPI().Fault(w, http.StatusTooManyRequests)
		if w.Code != 429 || w.Body.String() != "Too Many Requests" {
			t.Errorf("got %d %q", w.Code, w.Body)
		}
		if got := w.Header().Get("X-RateLimit-Reset"); got != "7" {
			t.Errorf("X-RateLimit-Reset %q, want 7", got)
		}
	})
	t.Run("500 is a JSON exception", func(t *testing.T) {
		w := httptest.NewRecorder()
		testAPI().Fault(w, http.StatusInternalServerError)
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 500 || body["exc_type"] != "OperationalError" {
			t.Errorf("got %d %s (%v)", w.Code, w.Body, err)
		}
	})
}

func TestRoute(t *testing.T) {
	tests := []struct{ path, want string }{
		{list("Customer"), "GET /api/resource/Customer"},
		{list("Sales Invoice", "limit", "5"), "GET /api/resource/Sales Invoice"},
		{"/api/resource/Sales%20Invoice/ACC-SINV-2026-00001", "GET /api/resource/Sales Invoice/{name}"},
		{"/api/resource/Item/", "GET /api/resource/Item"},
		{list("Nope"), "GET /api/resource/{doctype}"},
		{"/api/method/frappe.client.get_count?doctype=Item", "GET /api/method/frappe.client.get_count"},
		{"/elsewhere", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := testAPI().Route(httptest.NewRequest(http.MethodGet, tt.path, nil)); got != tt.want {
				t.Errorf("Route = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListParameters(t *testing.T) {
	w := testWorld()
	var spaced, upper *world.Person
	for _, p := range w.People {
		if p.ERP == nil || p.ERP.Email == "" {
			continue
		}
		switch {
		case spaced == nil && strings.HasPrefix(p.ERP.Email, " "):
			spaced = p
		case upper == nil && p.ERP.Email != strings.ToLower(p.ERP.Email):
			upper = p
		}
	}
	if spaced == nil || upper == nil {
		t.Fatal("world has no messy ERP e-mail addresses")
	}
	inv := w.Invoices[100]
	tests := []struct {
		name  string
		path  string
		check func(t *testing.T, rs []map[string]any)
	}{
		{"default is 20 names", list("Customer"), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 20 || len(rs[0]) != 1 || rs[0]["name"] == nil {
				t.Errorf("got %d rows of %v", len(rs), rs[0])
			}
		}},
		{"limit_page_length 0 is everything", list("Item", "limit_page_length", "0"), func(t *testing.T, rs []map[string]any) {
			if len(rs) != len(w.Products) {
				t.Errorf("got %d rows, want %d", len(rs), len(w.Products))
			}
		}},
		{"trailing slash lists", "/api/resource/Item/?limit=3", func(t *testing.T, rs []map[string]any) {
			if len(rs) != 3 {
				t.Errorf("got %d rows, want 3", len(rs))
			}
		}},
		{"limit alias", list("Item", "limit", "7"), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 7 {
				t.Errorf("got %d rows, want 7", len(rs))
			}
		}},
		{"limit_page_length wins over limit", list("Item", "limit", "7", "limit_page_length", "3"), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 3 {
				t.Errorf("got %d rows, want 3", len(rs))
			}
		}},
		{"limit_start pages", list("Item", "order_by", "name asc", "limit_start", "10", "limit_page_length", "2"), func(t *testing.T, rs []map[string]any) {
			skus := make([]string, len(w.Products))
			for i, p := range w.Products {
				skus[i] = p.SKU
			}
			slices.Sort(skus)
			if got := names(rs, "name"); !slices.Equal(got, skus[10:12]) {
				t.Errorf("got %v, want %v", got, skus[10:12])
			}
		}},
		{"fields keep the requested order and aliases", list("Item", "fields", `["item_code as sku","item_name"]`, "limit", "1"), func(t *testing.T, rs []map[string]any) {
			if _, ok := rs[0]["sku"]; !ok || len(rs[0]) != 2 {
				t.Errorf("got %v", rs[0])
			}
		}},
		{"name in", list("Sales Invoice", "filters", fmt.Sprintf(`[["name","in",[%q,"nope"]]]`, inv.Name), "fields", `["name","grand_total","outstanding_amount","currency","posting_date","due_date","docstatus"]`), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 1 {
				t.Fatalf("got %d rows", len(rs))
			}
			r := rs[0]
			if r["grand_total"].(json.Number).String() != pyFloat(inv.Total.String()) {
				t.Errorf("grand_total %v, want %s", r["grand_total"], inv.Total)
			}
			if r["posting_date"] != inv.Posting.Format("2006-01-02") || r["due_date"] != inv.Due.Format("2006-01-02") {
				t.Errorf("dates %v %v", r["posting_date"], r["due_date"])
			}
		}},
		{"dict filters", list("Sales Invoice", "filters", fmt.Sprintf(`{"name":%q,"docstatus":["=",%d]}`, inv.Name, inv.DocStatus)), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 1 {
				t.Errorf("got %d rows", len(rs))
			}
		}},
		{"four-part filters", list("Sales Invoice", "filters", fmt.Sprintf(`[["Sales Invoice","name","=",%q]]`, inv.Name)), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 1 {
				t.Errorf("got %d rows", len(rs))
			}
		}},
		{"e-mail = ignores case", list("Customer", "filters", fmt.Sprintf(`[["email_id","=",%q]]`, strings.ToLower(upper.ERP.Email))), func(t *testing.T, rs []map[string]any) {
			if got := names(rs, "name"); len(got) != 1 || got[0] != upper.ERP.Name {
				t.Errorf("got %v, want %s", got, upper.ERP.Name)
			}
		}},
		{"e-mail in misses a leading space", list("Customer", "filters", fmt.Sprintf(`[["email_id","in",[%q]]]`, strings.TrimSpace(spaced.ERP.Email))), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 0 {
				t.Errorf("got %v, want none: MariaDB does not ignore leading spaces", names(rs, "name"))
			}
		}},
		{"e-mail like finds it", list("Customer", "filters", fmt.Sprintf(`[["email_id","like","%%%s%%"]]`, strings.TrimSpace(spaced.ERP.Email)), "fields", `["name","email_id"]`), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 1 || rs[0]["email_id"] != spaced.ERP.Email {
				t.Errorf("got %v", rs)
			}
		}},
		{"bins of two items, any case, trailing space", list("Bin", "filters", fmt.Sprintf(`[["item_code","in",[%q,%q]]]`, w.Products[0].SKU, strings.ToLower(w.Products[1].SKU)+" "), "fields", `["item_code","warehouse","actual_qty"]`), func(t *testing.T, rs []map[string]any) {
			if len(rs) != 2*len(w.Warehouses) {
				t.Errorf("got %d bins, want %d", len(rs), 2*len(w.Warehouses))
			}
		}},
		{"child rows by parent", list("Sales Invoice Item", "parent", "Sales Invoice", "filters", fmt.Sprintf(`[["parent","in",[%q]]]`, inv.Name), "fields", `["parent","item_code","qty","rate","amount","idx"]`, "order_by", "idx asc"), func(t *testing.T, rs []map[string]any) {
			if len(rs) != len(inv.Items) {
				t.Fatalf("got %d rows, want %d", len(rs), len(inv.Items))
			}
			for i, r := range rs {
				if r["item_code"] != inv.Items[i].SKU || r["qty"].(json.Number).String() != fmt.Sprintf("%d.0", inv.Items[i].Quantity) {
					t.Errorf("row %d: %v", i, r)
				}
			}
		}},
		{"between dates", list("Sales Invoice", "filters", `[["posting_date","between",["2026-10-01","2026-10-02"]]]`, "fields", `["posting_date"]`, "limit", "0"), func(t *testing.T, rs []map[string]any) {
			if len(rs) == 0 {
				t.Fatal("no invoices")
			}
			for _, r := range rs {
				if d := r["posting_date"]; d != "2026-10-01" && d != "2026-10-02" {
					t.Errorf("posting_date %v", d)
				}
			}
		}},
		{"modified since, ascending", list("Sales Invoice", "filters", `[["modified",">","2026-10-31 12:00:00"]]`, "order_by", "modified asc", "fields", `["modified"]`, "limit", "0"), func(t *testing.T, rs []map[string]any) {
			if len(rs) == 0 {
				t.Fatal("no invoices")
			}
			prev := ""
			for _, r := range rs {
				m := r["modified"].(string)
				if m <= "2026-10-31 12:00:00" || m < prev {
					t.Errorf("modified %s after %s", m, prev)
				}
				prev = m
			}
		}},
		{"or_filters", list("Sales Invoice", "or_filters", `[["status","=","Draft"],["status","=","Cancelled"]]`, "fields", `["status"]`, "limit", "0"), func(t *testing.T, rs []map[string]any) {
			seen := map[any]bool{}
			for _, r := range rs {
				seen[r["status"]] = true
			}
			if len(seen) != 2 || !seen["Draft"] || !seen["Cancelled"] {
				t.Errorf("statuses %v", seen)
			}
		}},
		{"is set", list("Customer", "filters", `[["email_id","is","not set"]]`, "fields", `["email_id"]`, "limit", "0"), func(t *testing.T, rs []map[string]any) {
			if len(rs) == 0 {
				t.Fatal("no customers without e-mail")
			}
			for _, r := range rs {
				if r["email_id"] != "" {
					t.Errorf("email_id %q", r["email_id"])
				}
			}
		}},
		{"numeric comparison", list("Sales Invoice", "filters", `[["outstanding_amount",">",1000]]`, "fields", `["outstanding_amount"]`, "limit", "50"), func(t *testing.T, rs []map[string]any) {
			for _, r := range rs {
				if f, _ := r["outstanding_amount"].(json.Number).Float64(); f <= 1000 {
					t.Errorf("outstanding_amount %v", f)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, rows(t, get(t, tt.path, auth)))
		})
	}
}

// pyFloat is how Python prints a decimal string as a float.
func pyFloat(s string) string {
	if !strings.Contains(s, ".") {
		return s + ".0"
	}
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

func TestDocument(t *testing.T) {
	w := testWorld()
	var inv *world.Invoice
	for _, i := range w.Invoices {
		if i.Order != nil && len(i.Items) > 1 {
			inv = i
			break
		}
	}
	resp := get(t, "/api/resource/Sales%20Invoice/"+strings.ToLower(inv.Name), auth)
	if resp.Code != http.StatusOK {
		t.Fatalf("status %d: %s", resp.Code, resp.Body)
	}
	var body struct {
		Data struct {
			Name     string `json:"name"`
			Doctype  string `json:"doctype"`
			PONo     string `json:"po_no"`
			Modified string `json:"modified"`
			Items    []struct {
				Doctype  string `json:"doctype"`
				Parent   string `json:"parent"`
				ItemCode string `json:"item_code"`
				Idx      int    `json:"idx"`
			} `json:"items"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	d := body.Data
	if d.Name != inv.Name || d.Doctype != "Sales Invoice" || d.PONo != fmt.Sprint(inv.Order.ID) {
		t.Errorf("got %s %s po %s", d.Name, d.Doctype, d.PONo)
	}
	loc, _ := time.LoadLocation(erpnext.TimeZone)
	if want := inv.Modified.In(loc).Format("2006-01-02 15:04:05.000000"); d.Modified != want {
		t.Errorf("modified %s, want %s (site time)", d.Modified, want)
	}
	if len(d.Items) != len(inv.Items) {
		t.Fatalf("%d items, want %d", len(d.Items), len(inv.Items))
	}
	for i, it := range d.Items {
		if it.Doctype != "Sales Invoice Item" || it.Parent != inv.Name || it.ItemCode != inv.Items[i].SKU || it.Idx != i+1 {
			t.Errorf("item %d: %+v", i, it)
		}
	}

	var cust *world.Person
	for _, p := range w.People {
		if p.ERP != nil && p.ERP.CreditLimit.IsPos() {
			cust = p
			break
		}
	}
	resp = get(t, "/api/resource/Customer/"+cust.ERP.Name, auth)
	if !strings.Contains(resp.Body.String(), `"credit_limits":[{`) || !strings.Contains(resp.Body.String(), `"credit_limit":`+pyFloat(cust.ERP.CreditLimit.String())) {
		t.Errorf("customer without its credit limit row: %s", resp.Body)
	}
}

func TestCount(t *testing.T) {
	want := 0
	for _, inv := range testWorld().Invoices {
		if inv.Status == "Overdue" {
			want++
		}
	}
	resp := get(t, "/api/method/frappe.client.get_count?doctype=Sales%20Invoice&filters="+url.QueryEscape(`{"status":"overdue"}`), auth)
	if got := strings.TrimSpace(resp.Body.String()); got != fmt.Sprintf(`{"message":%d}`, want) {
		t.Errorf("got %s, want %d", got, want)
	}
}

// TestCountModified counts what changed after a time, as the gateway asks
// before a backfill: get_count with a list filter on modified, which
// compares the site's naive wall-clock times, the bound itself left out.
func TestCountModified(t *testing.T) {
	w := testWorld()
	bound := erpnext.SiteTime(w.Invoices[len(w.Invoices)/2].Modified)
	after := func(ts ...time.Time) (n int) {
		for _, m := range ts {
			if erpnext.SiteTime(m) > bound {
				n++
			}
		}
		return n
	}
	var invoices, bins, customers []time.Time
	for _, inv := range w.Invoices {
		invoices = append(invoices, inv.Modified)
	}
	for _, p := range w.Products {
		for _, b := range p.Bins {
			bins = append(bins, b.Modified)
		}
	}
	for _, p := range w.People {
		if p.ERP != nil {
			customers = append(customers, p.ERP.Modified)
		}
	}
	for doctype, want := range map[string]int{"Sales Invoice": after(invoices...), "Bin": after(bins...), "Customer": after(customers...)} {
		if want == 0 {
			t.Errorf("%s: none changed after %s; move the bound", doctype, bound)
		}
		filters := url.QueryEscape(fmt.Sprintf(`[["modified",">",%q]]`, bound))
		resp := get(t, "/api/method/frappe.client.get_count?doctype="+url.PathEscape(doctype)+"&filters="+filters, auth)
		if got := strings.TrimSpace(resp.Body.String()); got != fmt.Sprintf(`{"message":%d}`, want) {
			t.Errorf("%s: got %s, want %d", doctype, got, want)
		}
	}
}

func TestNonASCIIIsEscaped(t *testing.T) {
	for _, p := range testWorld().People {
		if p.ERP == nil || !strings.ContainsAny(p.LastName, "äöü") || p.Company != "" {
			continue
		}
		resp := get(t, list("Customer", "filters", fmt.Sprintf(`[["name","=",%q]]`, p.ERP.Name), "fields", `["customer_name"]`), auth)
		if !strings.Contains(resp.Body.String(), `\u00`) {
			t.Errorf("non-ASCII not escaped as Python does: %s", resp.Body)
		}
		return
	}
	t.Fatal("world has no individual customer with an umlaut in the name")
}

// BenchmarkBatchRead is a 100-invoice read by name through the handler.
func BenchmarkBatchRead(b *testing.B) {
	w := testWorld()
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = w.Invoices[i*97].Name
	}
	ks, _ := json.Marshal(keys)
	path := list("Sales Invoice",
		"filters", `[["name","in",`+string(ks)+`]]`,
		"fields", `["name","customer","status","docstatus","posting_date","due_date","currency","grand_total","outstanding_amount","po_no","modified"]`,
		"limit_page_length", "100")
	var first struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(get(b, path, auth).Body.Bytes(), &first); err != nil || len(first.Data) != 100 {
		b.Fatalf("got %d rows: %v", len(first.Data), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp := get(b, path, auth)
		if resp.Code != http.StatusOK {
			b.Fatal(resp.Code)
		}
	}
}
