package woocommerce_test

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim/woocommerce"
	"github.com/trestlehq/trestle/sim/world"
)

// byModified is a list query by modification time and what a filter and a
// sort of every record in the world say it must answer.
type byModified struct {
	name          string
	path          string // /orders or /products
	after, before time.Duration
	desc          bool
	perPage, page int
	offset        int // -1 for none
	status        string
}

func (q byModified) target(now time.Time) string {
	v := url.Values{"orderby": {"modified"}, "order": {"asc"}, "dates_are_gmt": {"true"}, "_fields": {"id"},
		"per_page": {strconv.Itoa(q.perPage)}, "page": {strconv.Itoa(q.page)}}
	if q.desc {
		v.Set("order", "desc")
	}
	if q.after != 0 {
		v.Set("modified_after", now.Add(q.after).Format("2006-01-02T15:04:05"))
	}
	if q.before != 0 {
		v.Set("modified_before", now.Add(q.before).Format("2006-01-02T15:04:05"))
	}
	if q.offset >= 0 {
		v.Set("offset", strconv.Itoa(q.offset))
	}
	if q.status != "" {
		v.Set("status", q.status)
	}
	return "/wp-json/wc/v3" + q.path + "?" + v.Encode()
}

// want is the page and the total by brute force: every record filtered,
// the matches sorted by (modified, id).
func (q byModified) want(w *world.World, now time.Time) (ids []int64, total int) {
	type row struct {
		id       int64
		modified time.Time
		status   string
	}
	var rows []row
	if q.path == "/orders" {
		for _, o := range w.Orders {
			rows = append(rows, row{o.ID, o.Modified, o.Status})
		}
	} else {
		for _, p := range w.Products {
			rows = append(rows, row{p.ID, p.Modified, p.Status})
		}
	}
	var matched []row
	for _, r := range rows {
		switch {
		case q.after != 0 && !r.modified.After(now.Add(q.after)):
		case q.before != 0 && !r.modified.Before(now.Add(q.before)):
		case q.status != "" && r.status != q.status:
		default:
			matched = append(matched, r)
		}
	}
	slices.SortFunc(matched, func(a, b row) int {
		if c := a.modified.Compare(b.modified); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	if q.desc {
		slices.Reverse(matched)
	}
	from := (q.page - 1) * q.perPage
	if q.offset >= 0 {
		from = q.offset
	}
	from = min(from, len(matched))
	for _, r := range matched[from:min(from+q.perPage, len(matched))] {
		ids = append(ids, r.id)
	}
	return ids, len(matched)
}

// TestListsByModifiedFollowChanges checks that lists by modification time,
// answered from the index on it, give what a filter and a sort of every
// record give, before and after changes of the kinds the change generator
// makes (a time moved, an order placed), with many records sharing a
// second.
func TestListsByModifiedFollowChanges(t *testing.T) {
	w := world.New(world.Options{Seed: 2, Size: world.Size{People: 300, Orders: 3000, Products: 60}})
	api := woocommerce.New(w)
	now := w.Anchor
	queries := []byModified{
		{name: "orders, all", path: "/orders", perPage: 100, page: 1, offset: -1},
		{name: "orders after", path: "/orders", after: -2 * time.Hour, perPage: 100, page: 1, offset: -1},
		{name: "orders after, page 2", path: "/orders", after: -2 * time.Hour, perPage: 7, page: 2, offset: -1},
		{name: "orders after, desc", path: "/orders", after: -2 * time.Hour, desc: true, perPage: 10, page: 1, offset: -1},
		{name: "orders between, offset", path: "/orders", after: -90 * time.Minute, before: -30 * time.Minute, perPage: 5, page: 1, offset: 3},
		{name: "orders between, desc, offset", path: "/orders", after: -90 * time.Minute, before: -30 * time.Minute, desc: true, perPage: 5, page: 1, offset: 4},
		{name: "orders before, desc", path: "/orders", before: -time.Hour, desc: true, perPage: 20, page: 3, offset: -1},
		{name: "orders after, one status", path: "/orders", after: -2 * time.Hour, status: "completed", perPage: 10, page: 1, offset: -1},
		{name: "orders past the end", path: "/orders", after: -2 * time.Hour, perPage: 100, page: 50, offset: -1},
		{name: "products after", path: "/products", after: -2 * time.Hour, perPage: 10, page: 1, offset: -1},
		{name: "products after, desc", path: "/products", after: -2 * time.Hour, desc: true, perPage: 3, page: 2, offset: -1},
		{name: "products, drafts", path: "/products", status: "draft", perPage: 100, page: 1, offset: -1},
	}
	check := func(t *testing.T, round string) {
		t.Helper()
		for _, q := range queries {
			rec := serve(t, api, "GET", q.target(now), basicAuth)
			if rec.Code != 200 {
				t.Fatalf("%s, %s: status %d: %s", round, q.name, rec.Code, rec.Body)
			}
			var page []struct {
				ID int64 `json:"id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range page {
				got = append(got, r.ID)
			}
			want, total := q.want(w, now)
			if !slices.Equal(got, want) || rec.Header().Get("X-WP-Total") != strconv.Itoa(total) {
				t.Errorf("%s, %s: %v of %s, want %v of %d", round, q.name, got, rec.Header().Get("X-WP-Total"), want, total)
			}
		}
	}
	check(t, "as generated")

	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 3 {
		w.Lock()
		// Within the last two hours, on 300 seconds: many share one.
		at := func() time.Time { return now.Add(-2*time.Hour + time.Duration(rng.IntN(300))*24*time.Second) }
		for range 40 {
			w.Orders[rng.IntN(len(w.Orders))].Modified = at()
		}
		for range 5 {
			w.Products[rng.IntN(len(w.Products))].Modified = at()
		}
		// On the bounds of the queries, which leave them out.
		w.Orders[rng.IntN(len(w.Orders))].Modified = now.Add(-2 * time.Hour)
		w.Orders[rng.IntN(len(w.Orders))].Modified = now.Add(-30 * time.Minute)
		w.Products[rng.IntN(len(w.Products))].Modified = now.Add(-2 * time.Hour)
		w.PlaceOrder(rng, at())
		w.Unlock()
		check(t, "after round "+strconv.Itoa(round+1))
	}
}
