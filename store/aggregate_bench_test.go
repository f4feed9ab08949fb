package store

import (
	"testing"
	"time"
)

// BenchmarkAggregates runs the line, invoice, stock and customer reports
// the tests check over the demo world (go test -run - -bench Aggregates
// ./store), each measuring what its test's request asks: each has a
// budget of 50 ms.
func BenchmarkAggregates(b *testing.B) {
	s, _ := demoStore(b)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	year := time.Date(time.Now().Year(), 1, 1, 0, 0, 0, 0, berlin)
	for _, c := range []struct {
		name string
		run  func() (int, error)
	}{
		{"top 10 products by revenue", func() (int, error) {
			gs, err := s.LineReport(b.Context(), LineReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByProduct},
				OrderBy: []OrderSort{{By: "total", Desc: true}}, Limit: 10, Amounts: []string{"sum.total", "sum.tax"}}, Orders: true})
			return len(gs), err
		}},
		{"quantity per month for a year in Berlin", func() (int, error) {
			gs, err := s.LineReport(b.Context(), LineReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByCreated}, Bucket: Month, Zone: berlin,
				Amounts: []string{"sum.quantity", "sum.total"}}, From: year.AddDate(-1, 0, 0), To: year})
			return len(gs), err
		}},
		{"quantity per month in Berlin", func() (int, error) {
			gs, err := s.LineReport(b.Context(), LineReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByCreated}, Bucket: Month, Zone: berlin,
				Amounts: []string{"sum.quantity", "sum.total", "avg.quantity", "min.quantity", "max.quantity"}}})
			return len(gs), err
		}},
		{"revenue by lifecycle stage", func() (int, error) {
			gs, err := s.LineReport(b.Context(), LineReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByLifecycleStage}, Amounts: []string{"sum.total"}}})
			return len(gs), err
		}},
		{"invoices outstanding by status", func() (int, error) {
			gs, err := s.InvoiceReport(b.Context(), InvoiceReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByStatus},
				OrderBy: []OrderSort{{By: "outstanding", Desc: true}}, Amounts: []string{"sum.total", "sum.outstanding"}}})
			return len(gs), err
		}},
		{"stock per warehouse", func() (int, error) {
			gs, err := s.StockReport(b.Context(), StockReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByWarehouse}}}) // every measure
			return len(gs), err
		}},
		{"customers per lifecycle stage", func() (int, error) {
			gs, err := s.CustomerReport(b.Context(), CustomerReportQuery{ReportShape: ReportShape{GroupBy: []Dimension{ByLifecycleStage}, Amounts: []string{"sum.lifetime_value"}}})
			return len(gs), err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if n, err := c.run(); err != nil || n == 0 {
					b.Fatalf("%d groups, %v", n, err)
				}
			}
		})
	}
}
