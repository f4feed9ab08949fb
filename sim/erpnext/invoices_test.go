package erpnext_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func eur(s string) decimal.Decimal { return decimal.MustParse(s) }

func TestToday(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), "2026-12-06"},
		// 23:30 UTC is already the next day on a site in Berlin.
		{time.Date(2026, 12, 6, 23, 30, 0, 0, time.UTC), "2026-12-07"},
		{time.Date(2026, 7, 1, 21, 59, 0, 0, time.UTC), "2026-07-01"},
		{time.Date(2026, 7, 1, 22, 0, 0, 0, time.UTC), "2026-07-02"},
	} {
		if got := erpnext.Today(tc.now); !got.Equal(day(tc.want)) {
			t.Errorf("Today(%s) = %s, want %s", tc.now, got, tc.want)
		}
	}
}

func TestUpdateInvoiceStatus(t *testing.T) {
	today := day("2026-12-06")
	modified := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		status      string
		docstatus   int
		due         string
		outstanding string
		want        string
	}{
		{"unpaid, due yesterday", "Unpaid", 1, "2026-12-05", "100.00", "Overdue"},
		{"partly paid, due long ago", "Partly Paid", 1, "2026-10-01", "40.00", "Overdue"},
		{"unpaid, due today", "Unpaid", 1, "2026-12-06", "100.00", "Unpaid"},
		{"partly paid, not yet due", "Partly Paid", 1, "2026-12-20", "40.00", "Partly Paid"},
		{"paid, past due", "Paid", 1, "2026-11-01", "0", "Paid"},
		{"draft, past due", "Draft", 0, "2026-11-01", "100.00", "Draft"},
		{"cancelled, past due", "Cancelled", 2, "2026-11-01", "100.00", "Cancelled"},
		{"already overdue", "Overdue", 1, "2026-11-01", "100.00", "Overdue"},
	}
	w := &world.World{}
	for _, tc := range tests {
		w.Invoices = append(w.Invoices, &world.Invoice{Name: tc.name, Status: tc.status, DocStatus: tc.docstatus,
			Due: day(tc.due), Total: eur("100.00"), Outstanding: eur(tc.outstanding), Modified: modified})
	}
	changed := map[string]bool{}
	for _, inv := range erpnext.UpdateInvoiceStatus(w, today) {
		changed[inv.Name] = true
	}
	for i, tc := range tests {
		inv := w.Invoices[i]
		if inv.Status != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, inv.Status, tc.want)
		}
		if changed[tc.name] != (tc.status != tc.want) {
			t.Errorf("%s: reported changed %v", tc.name, changed[tc.name])
		}
		// A bulk UPDATE of the status column: modified stays.
		if !inv.Modified.Equal(modified) {
			t.Errorf("%s: modified moved to %s", tc.name, inv.Modified)
		}
	}
	if again := erpnext.UpdateInvoiceStatus(w, today); len(again) != 0 {
		t.Errorf("a second run changed %d invoices", len(again))
	}
}

func TestPayFollowsTheStatusRules(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		status      string
		docstatus   int
		due         string
		outstanding string
		pay         string
		taken       bool
		want        string
		left        string
	}{
		{"an overdue invoice paid in full", "Overdue", 1, "2026-11-20", "100.00", "100.00", true, "Paid", "0"},
		{"an overdue invoice paid in part stays overdue", "Overdue", 1, "2026-11-20", "100.00", "30.00", true, "Overdue", "70.00"},
		{"an unpaid invoice paid in part", "Unpaid", 1, "2026-12-20", "100.00", "30.00", true, "Partly Paid", "70.00"},
		{"a partly paid invoice paid off", "Partly Paid", 1, "2026-12-20", "70.00", "70.00", true, "Paid", "0"},
		{"an invoice due today paid in part", "Unpaid", 1, "2026-12-06", "100.00", "1.00", true, "Partly Paid", "99.00"},
		{"more than is owed settles it", "Unpaid", 1, "2026-12-20", "100.00", "150.00", true, "Paid", "0"},
		{"a draft takes no payment", "Draft", 0, "2026-11-20", "100.00", "100.00", false, "Draft", "100.00"},
		{"a cancelled invoice takes none", "Cancelled", 2, "2026-11-20", "100.00", "100.00", false, "Cancelled", "100.00"},
		{"a paid invoice takes none", "Paid", 1, "2026-11-20", "0", "10.00", false, "Paid", "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
			inv := &world.Invoice{Name: "ACC-SINV-2026-00001", Status: tc.status, DocStatus: tc.docstatus, Due: day(tc.due),
				Total: eur("100.00"), Outstanding: eur(tc.outstanding), Modified: before}
			if taken := erpnext.Pay(inv, eur(tc.pay), now); taken != tc.taken {
				t.Fatalf("taken %v, want %v", taken, tc.taken)
			}
			if inv.Status != tc.want || !inv.Outstanding.Equal(eur(tc.left)) {
				t.Errorf("%s with %s outstanding, want %s with %s", inv.Status, inv.Outstanding, tc.want, tc.left)
			}
			if wantModified := map[bool]time.Time{true: now, false: before}[tc.taken]; !inv.Modified.Equal(wantModified) {
				t.Errorf("modified %s, want %s", inv.Modified, wantModified)
			}
		})
	}
}

// The daily job's change shows to a reader of the document, not to a poller
// that reads by modified.
func TestOverdueShowsOnReadNotByModified(t *testing.T) {
	w := world.New(world.Options{Seed: 4, Size: world.Size{People: 200, Orders: 3000, Products: 10}})
	a := erpnext.New(w)
	var inv *world.Invoice
	for _, x := range w.Invoices {
		if x.Status == "Unpaid" && !x.Due.Before(world.Day(w.Anchor)) {
			inv = x
			break
		}
	}
	if inv == nil {
		t.Fatal("no invoice that is not yet due")
	}
	w.Lock()
	erpnext.UpdateInvoiceStatus(w, inv.Due.AddDate(0, 0, 1))
	w.Unlock()

	serve := func(path string) []map[string]any {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, r)
		return rows(t, rec)
	}
	got := serve(list("Sales Invoice", "filters", `[["name","=","`+inv.Name+`"]]`, "fields", `["status"]`))
	if len(got) != 1 || got[0]["status"] != "Overdue" {
		t.Fatalf("read %v, want it Overdue", got)
	}
	since := erpnext.SiteTime(inv.Modified)
	got = serve(list("Sales Invoice", "filters", `[["modified",">","`+since+`"],["name","=","`+inv.Name+`"]]`, "fields", `["name"]`))
	if len(got) != 0 {
		t.Fatalf("a poller past its modified finds %v", got)
	}
}
