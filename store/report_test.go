package store

import (
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim/simtest"
)

func TestPeriodsFollowTheZonesCalendar(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, c := range []struct {
		name        string
		first, last string
		bucket      Bucket
		labels      []string
		hours       []float64 // each period's length
	}{
		{"days over the spring change", "2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z", Day,
			[]string{"2026-03-28", "2026-03-29", "2026-03-30"}, []float64{24, 23, 24}},
		{"a UTC evening is the next day in Berlin", "2026-01-31T23:30:00Z", "2026-01-31T23:30:00Z", Month,
			[]string{"2026-02"}, []float64{28 * 24}},
		{"ISO weeks start on Monday", "2026-01-01T12:00:00Z", "2026-01-05T12:00:00Z", Week,
			[]string{"2026-W01", "2026-W02"}, []float64{7 * 24, 7 * 24}},
		{"quarters", "2026-02-15T00:00:00Z", "2026-04-01T00:00:00Z", Quarter,
			[]string{"2026-Q1", "2026-Q2"}, []float64{90*24 - 1, 91 * 24}},
		{"years", "2025-12-31T23:00:00Z", "2025-12-31T23:00:00Z", Year, []string{"2026"}, []float64{365 * 24}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps, err := periods(at(c.first), at(c.last), c.bucket, berlin)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != len(c.labels) {
				t.Fatalf("%d periods %+v, want %v", len(ps), ps, c.labels)
			}
			for i, p := range ps {
				if p.Label != c.labels[i] || p.End.Sub(p.Start).Hours() != c.hours[i] || p.Start.In(berlin).Hour() != 0 {
					t.Errorf("period %d: %s from %s, %v h; want %s, %v h from midnight", i, p.Label, p.Start.In(berlin), p.End.Sub(p.Start).Hours(), c.labels[i], c.hours[i])
				}
				if i > 0 && !ps[i-1].End.Equal(p.Start) {
					t.Errorf("period %d does not start where %d ends", i, i-1)
				}
			}
		})
	}
	if _, err := periods(at("1990-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"), Day, time.UTC); err == nil {
		t.Error("13,000 days: no error, want a refusal naming the bound")
	}
}

// TestAReportMeasuresWhatItIsAsked: the amounts not asked for (nor sorted
// by) are left zero, as no pass over the orders measured them.
func TestAReportMeasuresWhatItIsAsked(t *testing.T) {
	env := simtest.Start(t, smallWorld)
	s := openTemp(t)
	if _, err := s.Backfill(t.Context(), sources(env, 0)); err != nil {
		t.Fatal(err)
	}
	all, err := s.OrderReport(t.Context(), OrderReportQuery{})
	if err != nil || len(all) == 0 {
		t.Fatalf("%v, %d groups", err, len(all))
	}
	some, err := s.OrderReport(t.Context(), OrderReportQuery{Amounts: []string{"sum.shipping", "max.tax"}, OrderBy: []OrderSort{{By: "avg_total"}}})
	if err != nil || len(some) != len(all) {
		t.Fatalf("%v, %d groups", err, len(some))
	}
	for i, g := range some {
		w := all[i]
		if g.Sum.Shipping != w.Sum.Shipping || g.Max.Tax != w.Max.Tax || g.Sum.Total != w.Sum.Total || g.Avg.Total != w.Avg.Total {
			t.Errorf("%s: %+v, want the amounts asked and sorted by as when all are measured, %+v", g.Currency, g, w)
		}
		if !g.Max.Total.IsZero() || !g.Min.Shipping.IsZero() || !g.Sum.Discount.IsZero() || w.Max.Total.IsZero() {
			t.Errorf("%s: %+v, want what was not asked for zero", g.Currency, g)
		}
	}
}
