package store

import (
	"context"
	"testing"
)

// BenchmarkListPage reads a page of 500 rows of each list the store sorts,
// over the demo world: the second page (after a cursor) where the list has
// one, else the first (go test -run - -bench ListPage ./store).
func BenchmarkListPage(b *testing.B) {
	s, _ := demoStore(b)
	pages := []struct {
		name string
		read func(ctx context.Context, after string) (ListPage[string], error)
	}{
		{"customers by lifetime value", customerPage(s, "lifetime_value")},
		{"customers by open balance", customerPage(s, "open_balance")},
		{"customers by name", customerPage(s, "name")},
		{"customers by created", customerPage(s, "created")},
		{"invoices by outstanding", func(ctx context.Context, after string) (ListPage[string], error) {
			return s.InvoiceList(ctx, InvoiceListQuery{Sort: ListSort{By: "outstanding", Desc: true}, After: after, First: 500})
		}},
		{"invoices by due date, open", func(ctx context.Context, after string) (ListPage[string], error) {
			return s.InvoiceList(ctx, InvoiceListQuery{Sort: ListSort{By: "due_date"}, InvoiceFilter: InvoiceFilter{OpenOnly: true}, After: after, First: 500})
		}},
		{"products by ERP available", func(ctx context.Context, after string) (ListPage[string], error) {
			return s.ProductList(ctx, ProductListQuery{Sort: ListSort{By: "erp_available", Desc: true}, After: after, First: 500})
		}},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			first, err := p.read(b.Context(), "")
			if err != nil || len(first.Rows) == 0 {
				b.Fatalf("%d rows, %v", len(first.Rows), err)
			}
			after := ""
			if first.HasNext {
				after = first.Cursors[len(first.Cursors)-1]
			}
			for b.Loop() {
				if _, err := p.read(b.Context(), after); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func customerPage(s *Store, by string) func(ctx context.Context, after string) (ListPage[string], error) {
	return func(ctx context.Context, after string) (ListPage[string], error) {
		p, err := s.CustomerList(ctx, CustomerListQuery{Sort: ListSort{By: by, Desc: true}, After: after, First: 500})
		return ListPage[string]{Rows: make([]string, len(p.Rows)), Cursors: p.Cursors, Total: p.Total, HasNext: p.HasNext}, err
	}
}
