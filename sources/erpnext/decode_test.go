package erpnext

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	simerp "github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

// pages records a 100-record response of each list the client decodes from
// the simulator.
var pages = sync.OnceValues(func() (map[string][]byte, error) {
	w := world.New(world.Options{Seed: 1})
	api := simerp.New(w)
	invoices := make([]string, 100)
	for i := range invoices {
		invoices[i] = w.Invoices[i*97].Name
	}
	skus := make([]string, 34) // three bins each: 102, cut to a page of 100
	for i := range skus {
		skus[i] = w.Products[i*7].SKU
	}
	var customers []string
	for _, p := range w.People {
		if p.ERP != nil && len(customers) < 100 {
			customers = append(customers, p.ERP.Name)
		}
	}
	lists := []struct {
		name, doctype, fields string
		filter                filter
	}{
		{"invoices", "Sales Invoice", invoiceFields, filter{"name", "in", invoices}},
		{"stock", "Bin", binFields, filter{"item_code", "in", skus}},
		{"customers", "Customer", customerFields, filter{"name", "in", customers}},
	}
	out := map[string][]byte{}
	for _, l := range lists {
		f, err := json.Marshal([]filter{l.filter})
		if err != nil {
			return nil, err
		}
		q := url.Values{"fields": {l.fields}, "filters": {string(f)}, "limit_page_length": {"100"}, "order_by": {"name asc"}}
		r := httptest.NewRequest(http.MethodGet, "/api/resource/"+url.PathEscape(l.doctype)+"?"+q.Encode(), nil)
		r.Header.Set("Authorization", "token "+simerp.APIKey+":"+simerp.APISecret)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("simulator: %s: %d %s", l.doctype, rec.Code, rec.Body)
		}
		out[l.name] = rec.Body.Bytes()
	}
	return out, nil
})

func decodeClient(t testing.TB) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: "http://erp.test", APIKey: "k", APISecret: "s", TimeZone: simerp.TimeZone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func decodeInvoices(c *Client, body []byte) (int, error) {
	var p page[invoiceRow]
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, err
	}
	invs, err := c.mapInvoices(p.Data)
	return len(invs), err
}

func decodeStock(c *Client, body []byte) (int, error) {
	var p page[binRow]
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, err
	}
	levels, err := c.mapBins(p.Data)
	return len(levels), err
}

func decodeCustomers(c *Client, body []byte) (int, error) {
	var p page[customerRow]
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range p.Data {
		if _, err := c.customer(r, nil); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

var decoders = []struct {
	name   string
	decode func(*Client, []byte) (int, error)
}{
	{"invoices", decodeInvoices},
	{"stock", decodeStock},
	{"customers", decodeCustomers},
}

// TestDecodeBudget holds decoding and mapping a 100-record page under 5,000
// allocations.
func TestDecodeBudget(t *testing.T) {
	bodies, err := pages()
	if err != nil {
		t.Fatal(err)
	}
	c := decodeClient(t)
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			body := bodies[d.name]
			if n, err := d.decode(c, body); err != nil || n != 100 {
				t.Fatalf("decoded %d records, err %v; want 100", n, err)
			}
			allocs := testing.AllocsPerRun(20, func() { _, _ = d.decode(c, body) })
			if allocs >= 5000 {
				t.Errorf("%.0f allocations per page, want under 5000", allocs)
			}
		})
	}
}

// BenchmarkDecode measures decoding and mapping a recorded 100-record page.
func BenchmarkDecode(b *testing.B) {
	bodies, err := pages()
	if err != nil {
		b.Fatal(err)
	}
	c := decodeClient(b)
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			body := bodies[d.name]
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if n, err := d.decode(c, body); err != nil || n != 100 {
					b.Fatalf("decoded %d records: %v", n, err)
				}
			}
		})
	}
}

// FuzzDecode feeds arbitrary bodies to the decoders of the site's lists:
// a body is mapped or refused with an error, never a panic.
func FuzzDecode(f *testing.F) {
	bodies, err := pages()
	if err != nil {
		f.Fatal(err)
	}
	for _, body := range bodies {
		f.Add(body)
	}
	f.Add([]byte(`{"data":[{"name":"X","posting_date":"31.12.","grand_total":"1e999","modified":"tomorrow","docstatus":7}]}`))
	c := decodeClient(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, d := range decoders {
			_, _ = d.decode(c, body)
		}
	})
}
