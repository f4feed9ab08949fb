package woocommerce

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	simwc "github.com/trestlehq/trestle/sim/woocommerce"
	"github.com/trestlehq/trestle/sim/world"
)

// pages records a 100-record response of each collection from the simulator.
var pages = sync.OnceValue(func() map[string][]byte {
	w := world.New(world.Options{Seed: 1})
	api := simwc.New(w)
	var orders, products, customers []string
	for i := range 100 {
		orders = append(orders, strconv.FormatInt(w.Orders[i*150].ID, 10))
		products = append(products, strconv.FormatInt(w.Products[i*5].ID, 10))
	}
	for _, p := range w.People {
		if p.Shop != nil && len(customers) < 100 {
			customers = append(customers, strconv.FormatInt(p.Shop.ID, 10))
		}
	}
	out := map[string][]byte{}
	for name, ids := range map[string][]string{"orders": orders, "products": products, "customers": customers} {
		req := httptest.NewRequest("GET", simwc.Prefix+"/"+name+"?per_page=100&role=all&_fields="+fieldsFor("/"+name)+"&include="+strings.Join(ids, ","), nil)
		req.SetBasicAuth(simwc.ConsumerKey, simwc.ConsumerSecret)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		out[name] = rec.Body.Bytes()
	}
	return out
})

func decodeOrders(body []byte) (int, error) {
	var raw []wcOrder
	if err := json.Unmarshal(body, &raw); err != nil {
		return 0, err
	}
	return len(mapOrders(raw)), nil
}

func decodeProducts(body []byte) (int, error) {
	var raw []wcProduct
	if err := json.Unmarshal(body, &raw); err != nil {
		return 0, err
	}
	return len(mapProducts(raw, "EUR")), nil
}

func decodeCustomers(body []byte) (int, error) {
	var raw []wcCustomer
	if err := json.Unmarshal(body, &raw); err != nil {
		return 0, err
	}
	return len(mapCustomers(raw)), nil
}

var decoders = []struct {
	name   string
	decode func([]byte) (int, error)
}{
	{"orders", decodeOrders},
	{"products", decodeProducts},
	{"customers", decodeCustomers},
}

// TestDecodeBudget holds decoding and mapping a 100-record page under 5,000
// allocations.
func TestDecodeBudget(t *testing.T) {
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			body := pages()[d.name]
			if n, err := d.decode(body); err != nil || n != 100 {
				t.Fatalf("decoded %d records, err %v; want 100", n, err)
			}
			allocs := testing.AllocsPerRun(20, func() { _, _ = d.decode(body) })
			if allocs >= 5000 {
				t.Errorf("%.0f allocations per page, want under 5000", allocs)
			}
		})
	}
}

// BenchmarkDecode measures decoding and mapping a recorded 100-record page.
func BenchmarkDecode(b *testing.B) {
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			body := pages()[d.name]
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzDecode feeds arbitrary bodies to the decoders of the shop's lists:
// a body is mapped or refused with an error, never a panic.
func FuzzDecode(f *testing.F) {
	for _, body := range pages() {
		f.Add(body)
	}
	f.Add([]byte(`[{"id": 1, "line_items": [{"quantity": -1, "price": "NaN"}], "date_created_gmt": "yesterday"}]`))
	f.Add([]byte(`[{"id": 2, "prices": null, "stock_quantity": 1e400}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodeOrders(body)
		_, _ = decodeProducts(body)
		_, _ = decodeCustomers(body)
	})
}
