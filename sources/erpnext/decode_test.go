package erpnext

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	simerp "github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

// recorded asks the simulator for a 100-record page and returns its body.
func recorded(b *testing.B, doctype, fields string, filters []filter) []byte {
	b.Helper()
	w := world.New(world.Options{Seed: 1})
	f, _ := json.Marshal(filters)
	q := url.Values{"fields": {fields}, "filters": {string(f)}, "limit_page_length": {"100"}, "order_by": {"name asc"}}
	r := httptest.NewRequest(http.MethodGet, "/api/resource/"+url.PathEscape(doctype)+"?"+q.Encode(), nil)
	r.Header.Set("Authorization", "token "+simerp.APIKey+":"+simerp.APISecret)
	rec := httptest.NewRecorder()
	simerp.New(w).ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		b.Fatalf("simulator: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func benchClient(b *testing.B) *Client {
	b.Helper()
	c, err := New(Config{BaseURL: "http://erp.test", APIKey: "k", APISecret: "s", TimeZone: simerp.TimeZone})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// BenchmarkDecodeInvoices decodes and maps a recorded 100-invoice page.
func BenchmarkDecodeInvoices(b *testing.B) {
	w := world.New(world.Options{Seed: 1})
	names := make([]string, 100)
	for i := range names {
		names[i] = w.Invoices[i*97].Name
	}
	body := recorded(b, "Sales Invoice", invoiceFields, []filter{{"name", "in", names}})
	c := benchClient(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p page[invoiceRow]
		if err := json.Unmarshal(body, &p); err != nil {
			b.Fatal(err)
		}
		invs, err := c.mapInvoices(p.Data)
		if err != nil || len(invs) != 100 {
			b.Fatalf("%d invoices: %v", len(invs), err)
		}
	}
}

// BenchmarkDecodeStock decodes and maps a recorded 100-bin page.
func BenchmarkDecodeStock(b *testing.B) {
	w := world.New(world.Options{Seed: 1})
	skus := make([]string, 34)
	for i := range skus {
		skus[i] = w.Products[i*7].SKU
	}
	body := recorded(b, "Bin", binFields, []filter{{"item_code", "in", skus}})
	c := benchClient(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p page[binRow]
		if err := json.Unmarshal(body, &p); err != nil {
			b.Fatal(err)
		}
		levels, err := c.mapBins(p.Data)
		if err != nil || len(levels) != 100 {
			b.Fatalf("%d levels: %v", len(levels), err)
		}
	}
}
