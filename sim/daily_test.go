package sim_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

// clock is a settable time for the simulators.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

func TestAnchorToday(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   sim.Options
		anchor time.Time
	}{
		{"fixed by default", sim.Options{World: small}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"the clock's day", sim.Options{World: small, AnchorToday: true, Now: newClock(time.Date(2027, 3, 14, 15, 9, 26, 0, time.UTC)).now},
			time.Date(2027, 3, 14, 0, 0, 0, 0, time.UTC)},
		{"today over a given anchor", sim.Options{World: world.Options{Seed: 1, Size: small.Size, Anchor: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
			AnchorToday: true, Now: newClock(time.Date(2027, 3, 14, 0, 0, 0, 0, time.UTC)).now}, time.Date(2027, 3, 14, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sim.New(tc.opts).World.Anchor; !got.Equal(tc.anchor) {
				t.Fatalf("anchor %s, want %s", got, tc.anchor)
			}
		})
	}
}

// unpaidNotYetDue finds a submitted invoice that is owed but not yet due.
func unpaidNotYetDue(t *testing.T, w *world.World) *world.Invoice {
	t.Helper()
	for _, inv := range w.Invoices {
		if inv.Status == "Unpaid" && !inv.Due.Before(world.Day(w.Anchor)) {
			return inv
		}
	}
	t.Fatal("no unpaid invoice that is not yet due")
	return nil
}

var daily = world.Options{Seed: 1, Size: world.Size{People: 200, Orders: 3000, Products: 20}}

func TestDailyJobsMarkInvoicesOverdueOncePerDay(t *testing.T) {
	anchor := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk := newClock(anchor.Add(9 * time.Hour))
	s := sim.New(sim.Options{World: daily, AnchorToday: true, Now: clk.now})
	inv := unpaidNotYetDue(t, s.World)
	modified := inv.Modified

	if marked := s.RunDailyJobs(); len(marked) != 0 {
		t.Fatalf("on the anchor's day the job marked %v", marked)
	}
	// The morning after the due date, on the site's clock.
	clk.set(inv.Due.AddDate(0, 0, 1).Add(7 * time.Hour))
	marked := s.RunDailyJobs()
	if !slices.Contains(marked, inv.Name) || inv.Status != "Overdue" {
		t.Fatalf("marked %v, %s is %s; want it Overdue", marked, inv.Name, inv.Status)
	}
	if !inv.Modified.Equal(modified) {
		t.Errorf("modified moved from %s to %s; the job updates the status column only", modified, inv.Modified)
	}
	clk.add(10 * time.Hour)
	if again := s.RunDailyJobs(); len(again) != 0 {
		t.Fatalf("a second run on the same day marked %v", again)
	}

	// The simulated ERP serves the new status.
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/erp/api/resource/Sales%20Invoice/"+inv.Name, nil)
	req.Header.Set("Authorization", "token "+erpnext.APIKey+":"+erpnext.APISecret)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Data struct {
			Status   string `json:"status"`
			Modified string `json:"modified"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Data.Status != "Overdue" || doc.Data.Modified != erpnext.SiteTime(modified) {
		t.Errorf("the ERP serves %+v, want Overdue with modified %s", doc.Data, erpnext.SiteTime(modified))
	}
}

// Days pass while the demo runs: the change generator runs the daily job on
// its clock, and its payments keep to the same status rules.
func TestRunChangesKeepsInvoiceStatusesAsDaysPass(t *testing.T) {
	anchor := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk := newClock(anchor.Add(10 * time.Hour))
	s := sim.New(sim.Options{World: daily, AnchorToday: true, Now: clk.now})
	inv := unpaidNotYetDue(t, s.World)
	// Weeks later, past the invoice's due date.
	clk.set(inv.Due.AddDate(0, 0, 3).Add(10 * time.Hour))
	today := erpnext.Today(clk.now())

	var invoiceHooks atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/webhooks/erp" && r.Header.Get("X-Frappe-Webhook-Signature") != "" {
			var body map[string]string
			if json.NewDecoder(r.Body).Decode(&body) == nil && body["doctype"] == "Sales Invoice" {
				invoiceHooks.Add(1)
			}
		}
	}))
	defer sink.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.RunChanges(ctx, sim.Changes{Target: sink.URL, Secret: sim.DemoWebhookSecret, Every: time.Millisecond}, quiet)
		close(done)
	}()
	overdue := func() bool {
		s.World.RLock()
		defer s.World.RUnlock()
		return inv.Status == "Overdue" || inv.Status == "Paid" || inv.Status == "Partly Paid"
	}
	for deadline := time.Now().Add(10 * time.Second); (!overdue() || invoiceHooks.Load() < 20) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done

	if !overdue() {
		t.Fatalf("%s due %s is still %s", inv.Name, inv.Due.Format(time.DateOnly), inv.Status)
	}
	if n := invoiceHooks.Load(); n < 20 {
		t.Fatalf("%d invoice webhooks, want payments", n)
	}
	var paid, partly int
	for _, x := range s.World.Invoices {
		if want := x.StatusOn(today); x.Status != want {
			t.Errorf("%s (docstatus %d, due %s, %s of %s outstanding) is %s, want %s", x.Name, x.DocStatus,
				x.Due.Format(time.DateOnly), x.Outstanding, x.Total, x.Status, want)
		}
		if x.Modified.Equal(clk.now()) {
			if x.Outstanding.IsZero() {
				paid++
			} else {
				partly++
			}
		}
	}
	if paid == 0 {
		t.Errorf("no invoice paid in full (%d in part)", partly)
	}
}
