package erpnext_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

// docRow is one document as the brute force sees it.
type docRow struct {
	name, modified, status string // modified as the site writes it
}

// docRows lists a DocType's documents in world order.
func docRows(w *world.World, doctype string) []docRow {
	var out []docRow
	switch doctype {
	case "Sales Invoice":
		for _, inv := range w.Invoices {
			out = append(out, docRow{inv.Name, erpnext.SiteTime(inv.Modified), inv.Status})
		}
	case "Bin":
		for _, p := range w.Products {
			for _, b := range p.Bins {
				out = append(out, docRow{name: b.Name, modified: erpnext.SiteTime(b.Modified)})
			}
		}
	case "Customer":
		for _, p := range w.People {
			if p.ERP != nil {
				out = append(out, docRow{name: p.ERP.Name, modified: erpnext.SiteTime(p.ERP.Modified)})
			}
		}
	}
	return out
}

// modifiedQuery is a list by modified and what a filter and a stable sort
// of every document in the world say it must answer. Times are the site's
// wall clock, which a sort by the instant gets wrong in the hour the clocks
// go back.
type modifiedQuery struct {
	name     string
	doctype  string
	from, to string // modified > from, and < to when set
	status   string // status = when set
	order    string // "" for the DocType's default
	start    int
	limit    string // limit_page_length
}

func (q modifiedQuery) filters() string {
	f := [][]string{{"modified", ">", q.from}}
	if q.to != "" {
		f = append(f, []string{"modified", "<", q.to})
	}
	if q.status != "" {
		f = append(f, []string{"status", "=", q.status})
	}
	b, _ := json.Marshal(f)
	return string(b)
}

func (q modifiedQuery) matches(r docRow) bool {
	return r.modified > q.from && (q.to == "" || r.modified < q.to) && (q.status == "" || r.status == q.status)
}

func (q modifiedQuery) want(docs []docRow) (page []string, count int) {
	var matched []docRow
	for _, r := range docs {
		if q.matches(r) {
			matched = append(matched, r)
		}
	}
	order := q.order
	if order == "" {
		order = "modified desc"
		if q.doctype == "Bin" {
			order = "modified asc"
		}
	}
	slices.SortStableFunc(matched, func(a, b docRow) int {
		c := strings.Compare(a.modified, b.modified)
		if strings.HasPrefix(order, "modified desc") {
			c = -c
		}
		if c == 0 && strings.HasSuffix(order, "name asc") {
			c = strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
		}
		return c
	})
	limit, _ := strconv.Atoi(q.limit)
	from := min(q.start, len(matched))
	to := len(matched)
	if limit > 0 {
		to = min(from+limit, to)
	}
	for _, r := range matched[from:to] {
		page = append(page, r.name)
	}
	return page, len(matched)
}

// TestListsByModifiedFollowChanges checks that lists and counts by
// modified, answered from the index on it, give what a filter and a
// stable sort of every document give, before and after changes of the
// kinds the change generator makes (stock moved, an invoice paid) and
// with many documents sharing a time, some in the hour the clocks went
// back.
func TestListsByModifiedFollowChanges(t *testing.T) {
	w := world.New(world.Options{Seed: 3, Size: world.Size{People: 300, Orders: 3000, Products: 60}})
	a := erpnext.New(w)
	serve := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, r)
		return rec
	}
	const recent, dst = "2026-10-31 20:00:00.000000", "2025-10-26 00:00:00.000000"
	queries := []modifiedQuery{
		{name: "walk", doctype: "Sales Invoice", from: recent, order: "modified asc, name asc", limit: "25"},
		{name: "walk, further", doctype: "Sales Invoice", from: recent, order: "modified asc, name asc", start: 7, limit: "25"},
		{name: "default order", doctype: "Sales Invoice", from: recent, limit: "20"},
		{name: "ascending", doctype: "Sales Invoice", from: recent, order: "modified asc", limit: "0"},
		{name: "descending, paid", doctype: "Sales Invoice", from: recent, status: "Paid", order: "modified desc", start: 2, limit: "10"},
		{name: "clocks back", doctype: "Sales Invoice", from: dst, to: "2025-10-27 00:00:00.000000", order: "modified asc, name asc", limit: "0"},
		{name: "clocks back, descending", doctype: "Sales Invoice", from: dst, to: "2025-10-27 00:00:00.000000", order: "modified desc", limit: "0"},
		{name: "bins", doctype: "Bin", from: recent, order: "modified asc, name asc", limit: "30"},
		{name: "bins, default order", doctype: "Bin", from: recent, start: 5, limit: "30"},
		{name: "customers", doctype: "Customer", from: recent, order: "modified asc, name asc", limit: "0"},
		{name: "customers, descending", doctype: "Customer", from: recent, order: "modified desc, name asc", limit: "15"},
	}
	check := func(round string) {
		t.Helper()
		docs := map[string][]docRow{}
		for _, q := range queries {
			if docs[q.doctype] == nil {
				docs[q.doctype] = docRows(w, q.doctype)
			}
			want, count := q.want(docs[q.doctype])
			// An empty order_by is the DocType's default.
			got := names(rows(t, serve(list(q.doctype, "filters", q.filters(), "order_by", q.order, "limit_start", strconv.Itoa(q.start),
				"limit_page_length", q.limit))), "name")
			if !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
				t.Errorf("%s, %s: %v, want %v", round, q.name, got, want)
			}
			rec := serve("/api/method/frappe.client.get_count?" + url.Values{"doctype": {q.doctype}, "filters": {q.filters()}}.Encode())
			if body := rec.Body.String(); body != `{"message":`+strconv.Itoa(count)+`}` {
				t.Errorf("%s, %s: count %s, want %d", round, q.name, body, count)
			}
		}
	}
	check("as generated")

	rng := rand.New(rand.NewPCG(9, 10))
	anchor := w.Anchor
	// Recent times on 100 seconds, so that many share one, and times in
	// the hour the clocks went back: 00:30Z and 01:30Z are both 02:30 in
	// Berlin, and 00:45Z (02:45) comes before 01:15Z (02:15).
	at := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Date(2025, 10, 26, 0, 15*(2+rng.IntN(4)), 0, 0, time.UTC)
		}
		return anchor.Add(-3*time.Hour + time.Duration(rng.IntN(100))*30*time.Second)
	}
	for round := range 3 {
		w.Lock()
		for range 30 {
			w.Invoices[rng.IntN(len(w.Invoices))].Modified = at()
			p := w.Products[rng.IntN(len(w.Products))]
			p.Bins[rng.IntN(len(p.Bins))].Modified = at()
			if p := w.People[rng.IntN(len(w.People))]; p.ERP != nil {
				p.ERP.Modified = at()
			}
		}
		paid := 0
		for _, inv := range w.Invoices {
			if paid < 5 && erpnext.Pay(inv, inv.Outstanding, anchor.Add(-time.Hour)) {
				paid++
			}
		}
		w.Unlock()
		check("after round " + strconv.Itoa(round+1))
	}
}
