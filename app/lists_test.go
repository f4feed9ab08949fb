package app_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// ranked is a list's keys in the order the store sorts them, worked out
// from the world: by value, ties by key, both in the sort's direction.
type ranked struct {
	keys   []string
	values map[string]decimal.Decimal
}

func rank(values map[string]decimal.Decimal) ranked {
	r := ranked{values: values}
	for k := range values {
		r.keys = append(r.keys, k)
	}
	slices.SortFunc(r.keys, func(a, b string) int {
		if c := values[b].Cmp(values[a]); c != 0 {
			return c
		}
		return strings.Compare(b, a)
	})
	return r
}

func total(ds []decimal.Decimal) decimal.Decimal {
	s := decimal.Zero
	for _, d := range ds {
		s, _ = s.Add(d)
	}
	return s
}

// worldRankings are, from the world's own records, the customers by
// lifetime value (an account's sales; without an account, the guest
// orders under the address), the invoices by outstanding amount and the
// products by what the ERP has available, greatest first.
func worldRankings(w *world.World) (customers, invoices, products ranked) {
	w.RLock()
	defer w.RUnlock()
	ltv := map[string]decimal.Decimal{}
	for _, p := range w.People {
		key := p.Email
		if key == "" {
			key = "erp:" + p.ERP.Name
		}
		var spent []decimal.Decimal
		for _, o := range w.Orders {
			if slices.Contains(consolidate.SalesStatuses, o.Status) && (p.Shop != nil && !o.Guest && o.Person == p ||
				p.Shop == nil && p.Email != "" && o.Guest && model.NormalizeEmail(o.BillingEmail) == p.Email) {
				spent = append(spent, o.Total)
			}
		}
		ltv[key] = total(spent)
	}
	outstanding := map[string]decimal.Decimal{}
	for _, inv := range w.Invoices {
		outstanding[inv.Name] = inv.Outstanding
	}
	available := map[string]decimal.Decimal{}
	for _, p := range w.Products {
		var free []decimal.Decimal
		for _, b := range p.Bins {
			d, _ := b.Actual.Sub(b.Reserved)
			free = append(free, d)
		}
		available[p.SKU] = total(free)
	}
	return rank(ltv), rank(outstanding), rank(available)
}

type listAnswer struct {
	Data map[string]struct {
		TotalCount int
		Freshness  *struct {
			Complete  bool
			Watermark *string
		}
		PageInfo struct {
			HasNextPage, HasPreviousPage bool
			EndCursor                    string
		}
		Edges []struct {
			Node struct {
				Email     string
				SourceIds struct{ ERP string }
				Number    string
				SKU       string
				Available string
				Value     struct{ Amount string }
			}
		}
	}
	Errors []struct {
		Message    string
		Extensions struct{ Code string }
	}
}

// pageThrough reads a whole list, first rows a page, with the query's
// %s standing for the page's arguments, and gives each row's key.
func pageThrough(t *testing.T, a *app.App, query string, first int, key func(n listNodeOf) string) []string {
	t.Helper()
	var keys []string
	after := ""
	for page := 0; ; page++ {
		args := fmt.Sprintf("first: %d", first)
		if after != "" {
			args += fmt.Sprintf(", after: %q", after)
		}
		var got listAnswer
		graphQL(t, a, fmt.Sprintf(query, args), &got)
		if len(got.Errors) > 0 {
			t.Fatalf("page %d: %+v", page, got.Errors)
		}
		if f := got.Data["list"].Freshness; f == nil || !f.Complete || f.Watermark == nil {
			t.Fatalf("page %d: freshness %+v, want the store's, complete", page, f)
		}
		l := got.Data["list"]
		if len(l.Edges) != min(first, l.TotalCount-len(keys)) || l.PageInfo.HasPreviousPage != (page > 0) {
			t.Fatalf("page %d: %d rows of %d, %d read before; hasPreviousPage %v", page, len(l.Edges), l.TotalCount, len(keys), l.PageInfo.HasPreviousPage)
		}
		for _, e := range l.Edges {
			keys = append(keys, key(e.Node))
		}
		if l.PageInfo.HasNextPage != (len(keys) < l.TotalCount) {
			t.Fatalf("page %d: hasNextPage %v with %d of %d read", page, l.PageInfo.HasNextPage, len(keys), l.TotalCount)
		}
		if !l.PageInfo.HasNextPage {
			return keys
		}
		after = l.PageInfo.EndCursor
	}
}

type listNodeOf = struct {
	Email     string
	SourceIds struct{ ERP string }
	Number    string
	SKU       string
	Available string
	Value     struct{ Amount string }
}

func TestSortedListsAreTheWorlds(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	customers, invoices, products := worldRankings(env.Sim.World)

	t.Run("the top customers by lifetime value, read live", func(t *testing.T) {
		var got listAnswer
		graphQL(t, a, `{ list: customers(orderBy: {field: LIFETIME_VALUE, direction: DESC}, first: 10) {
			edges { node { email value: lifetimeValue { amount } } } } }`, &got)
		edges := got.Data["list"].Edges
		if len(got.Errors) > 0 || len(edges) != 10 {
			t.Fatalf("errors %+v, %d customers; want 10", got.Errors, len(edges))
		}
		for i, e := range edges {
			amount, err := decimal.Parse(e.Node.Value.Amount)
			if want := customers.keys[i]; e.Node.Email != want || err != nil || amount.Cmp(customers.values[want]) != 0 {
				t.Errorf("#%d: %s %s, want %s %s", i+1, e.Node.Email, e.Node.Value.Amount, want, customers.values[want])
			}
		}
	})
	for _, c := range []struct {
		name  string
		query string
		want  ranked
		key   func(n listNodeOf) string
	}{
		{"every customer by lifetime value", `{ list: customers(orderBy: {field: LIFETIME_VALUE, direction: DESC}, %s) {
			totalCount freshness { complete watermark } pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { email sourceIds { erp } } } } }`,
			customers, func(n listNodeOf) string {
				if n.Email == "" {
					return "erp:" + n.SourceIds.ERP
				}
				return n.Email
			}},
		{"every invoice by outstanding amount", `{ list: invoices(orderBy: {field: OUTSTANDING, direction: DESC}, %s) {
			totalCount freshness { complete watermark } pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { number } } } }`,
			invoices, func(n listNodeOf) string { return n.Number }},
		{"every product by what the ERP has available", `{ list: products(orderBy: {field: ERP_AVAILABLE}, %s) {
			totalCount freshness { complete watermark } pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { sku available } } } }`,
			products, func(n listNodeOf) string {
				if d, err := decimal.Parse(n.Available); err != nil || d.Cmp(products.values[n.SKU]) != 0 {
					t.Errorf("%s: available %s, want %s", n.SKU, n.Available, products.values[n.SKU])
				}
				return n.SKU
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := pageThrough(t, a, c.query, 500, c.key)
			t.Logf("%d rows", len(got))
			if !slices.Equal(got, c.want.keys) {
				for i := range min(len(got), len(c.want.keys)) {
					if got[i] != c.want.keys[i] {
						t.Fatalf("#%d is %s (%s), want %s (%s); %d rows, want %d", i, got[i], c.want.values[got[i]],
							c.want.keys[i], c.want.values[c.want.keys[i]], len(got), len(c.want.keys))
					}
				}
				t.Fatalf("%d rows, want %d", len(got), len(c.want.keys))
			}
		})
	}
}

func TestASortedListRefusesWhatItCannotServe(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 3, Size: world.Size{People: 20, Orders: 40, Products: 5}})
	a := reporting(t, env)
	var first listAnswer
	graphQL(t, a, `{ list: invoices(orderBy: {field: DUE_DATE}, first: 2) { pageInfo { endCursor } } }`, &first)
	cursor := first.Data["list"].PageInfo.EndCursor
	for query, want := range map[string]string{
		`{ customers(orderBy: {field: NAME}, first: 1001) { totalCount } }`: "first must be between 0 and 1000 for a list sorted by orderBy, " +
			"which the reporting store serves, not 1001 (a live list, without orderBy, takes up to 100)",
		`{ customers(first: 500) { totalCount } }`:                                   "first must be between 0 and 100, not 500",
		`{ customers(orderBy: {field: NAME}, after: "b2Zmc2V0OjQ") { totalCount } }`: "after is not a cursor of this list",
		`{ invoices(orderBy: {field: DUE_DATE, direction: ASC}, after: "` + cursor + `") { totalCount } }`: "after is a cursor of invoices by due_date desc, " +
			"not of invoices by due_date asc: page with the orderBy it came from",
		`{ products(orderBy: {field: SKU}, filter: {search: "a"}) { totalCount } }`: "filter.search cannot be combined with orderBy",
	} {
		var got listAnswer
		graphQL(t, a, query, &got)
		if len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Message, want) ||
			got.Errors[0].Extensions.Code != "BAD_USER_INPUT" {
			t.Errorf("%s: errors %+v, want BAD_USER_INPUT saying %q", query, got.Errors, want)
		}
	}
}

func TestASortedListSaysWhenTheStoreCannotAnswerWhole(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 5, Size: world.Size{People: 40, Orders: 100, Products: 8}})
	query := `{ list: products(orderBy: {field: SHOP_STOCK}, first: 1000) { totalCount freshness { complete watermark } edges { node { sku } } } }`

	// No store: the lists that need one say so; the live ones answer.
	a := running(t, simulated(env))
	var got listAnswer
	graphQL(t, a, query, &got)
	if len(got.Errors) != 1 || got.Errors[0].Extensions.Code != "STORE_UNAVAILABLE" {
		t.Errorf("without a store: %+v, want STORE_UNAVAILABLE", got.Errors)
	}
	got = listAnswer{}
	graphQL(t, a, `{ list: products(first: 100) { totalCount } }`, &got)
	if len(got.Errors) > 0 || got.Data["list"].TotalCount != 8 {
		t.Errorf("the live list without a store: %+v, %d products", got.Errors, got.Data["list"].TotalCount)
	}

	// The ERP down from the start: the first backfill cannot end, and
	// the list, though answered, says its rows may be partial.
	env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	cfg := simulated(env)
	cfg.Store.Path = filepath.Join(t.TempDir(), "store.db")
	b := running(t, cfg)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		got = listAnswer{}
		graphQL(t, b, query, &got)
		if got.Data["list"].TotalCount == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shop's products never reached the store: %+v", got)
		}
	}
	f := got.Data["list"].Freshness
	if len(got.Errors) != 1 || got.Errors[0].Extensions.Code != "STORE_BACKFILLING" || f == nil || f.Complete || f.Watermark != nil ||
		len(got.Data["list"].Edges) != 8 {
		raw, _ := json.Marshal(got)
		t.Errorf("while backfilling: %s; want the 8 products, a STORE_BACKFILLING error and the freshness incomplete", raw)
	}
}
