package store

import (
	"context"
	"testing"
	"time"

	"github.com/govalues/decimal"
)

// BenchmarkReconcile runs each reconciliation list over the demo world, as
// its GraphQL field asks by default: the first 1,000 items and the count
// (go test -run - -bench Reconcile ./store). The lists read every
// candidate whatever they find, so the demo's few disagreements cost what
// many would.
func BenchmarkReconcile(b *testing.B) {
	s, _ := demoStore(b)
	week := time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		list func(ctx context.Context) (int, error)
	}{
		{"stock mismatches", func(ctx context.Context) (int, error) { return counted(s.StockMismatches(ctx, decimal.One, 1000)) }},
		{"uninvoiced orders", func(ctx context.Context) (int, error) { return counted(s.UninvoicedOrders(ctx, week, 1000)) }},
		{"invoice mismatches", func(ctx context.Context) (int, error) {
			return counted(s.InvoiceMismatches(ctx, decimal.MustNew(1, 2), 1000))
		}},
		{"missing customers", func(ctx context.Context) (int, error) { return counted(s.MissingCustomers(ctx, "", 1000)) }},
		{"field disagreements", func(ctx context.Context) (int, error) { return counted(s.FieldDisagreements(ctx, nil, 1000)) }},
		{"duplicate customers", func(ctx context.Context) (int, error) { return counted(s.DuplicateCustomers(ctx, "", 1000)) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.list(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// counted is what a list counts, and its error.
func counted[T any](_ T, n int, err error) (int, error) { return n, err }
