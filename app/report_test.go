package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// reportWorld is large enough for months and rankings, small enough to
// backfill in a few seconds under the race detector.
var reportWorld = world.Options{Seed: 11, Size: world.Size{People: 300, Orders: 3000, Products: 30}}

// reporting is a gateway with a store over the simulators of env, its
// first backfill done.
func reporting(t *testing.T, env *simtest.Env) *app.App {
	t.Helper()
	cfg := simulated(env)
	cfg.Store.Path = filepath.Join(t.TempDir(), "store.db")
	a := running(t, cfg)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var out struct {
			Data struct{ StoreStatus struct{ Watermark *string } }
		}
		graphQL(t, a, `{ storeStatus { watermark } }`, &out)
		if out.Data.StoreStatus.Watermark != nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatal("the store's first backfill did not end")
		}
	}
}

// graphQL posts a query and decodes the answer into out.
func graphQL(t *testing.T, a *app.App, query string, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	resp, err := http.Post(a.URL()+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

type reportAnswer struct {
	Data struct {
		OrderReport struct {
			Freshness struct {
				Complete  bool
				Watermark string
			}
			Groups []struct {
				Key struct {
					Period   *struct{ Label, Start string }
					Customer *struct{ Email string }
				}
				Count int
				Sum   struct{ Total struct{ Amount string } }
			}
		}
	}
	Errors []struct{ Message string }
}

func TestRevenuePerMonthIsTheShopsInEachZone(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	w := env.Sim.World
	for _, zone := range []string{"UTC", "Europe/Berlin"} {
		loc, _ := time.LoadLocation(zone)
		// Independently, from the shop's own orders.
		want := map[string]decimal.Decimal{}
		count := map[string]int{}
		w.RLock()
		for _, o := range w.Orders {
			month := o.Created.In(loc).Format("2006-01")
			want[month], _ = want[month].Add(o.Total)
			count[month]++
		}
		w.RUnlock()
		var got reportAnswer
		graphQL(t, a, `{ orderReport(groupBy: [CREATED], bucket: MONTH, timeZone: "`+zone+`", limit: 10000) {
			freshness { complete watermark } groups { key { period { label start } } count sum { total { amount } } } } }`, &got)
		r := got.Data.OrderReport
		if len(got.Errors) > 0 || !r.Freshness.Complete || r.Freshness.Watermark == "" {
			t.Fatalf("%s: errors %v, freshness %+v", zone, got.Errors, r.Freshness)
		}
		if len(r.Groups) != len(want) {
			t.Errorf("%s: %d months, want %d", zone, len(r.Groups), len(want))
		}
		for i, g := range r.Groups {
			label := g.Key.Period.Label
			if g.Count != count[label] || g.Sum.Total.Amount != want[label].String() {
				t.Errorf("%s %s: %d orders, %s; want %d, %s", zone, label, g.Count, g.Sum.Total.Amount, count[label], want[label])
			}
			start, _ := time.Parse(time.RFC3339, g.Key.Period.Start)
			if start.In(loc).Format("2006-01-02 15:04") != label+"-01 00:00" {
				t.Errorf("%s %s starts %s, want the month's first midnight there", zone, label, g.Key.Period.Start)
			}
			if i > 0 && r.Groups[i-1].Key.Period.Label >= label {
				t.Errorf("%s: %s after %s, want the months in order", zone, label, r.Groups[i-1].Key.Period.Label)
			}
		}
	}
}

func TestTopCustomersByLifetimeValueAreThePeopleWhoSpentMost(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := reporting(t, env)
	w := env.Sim.World
	// Independently: each person's orders, by the address they are known by.
	type spend struct {
		email string
		total decimal.Decimal
	}
	byPerson := map[*world.Person]*spend{}
	w.RLock()
	for _, o := range w.Orders {
		s := byPerson[o.Person]
		if s == nil {
			s = &spend{email: o.Person.Email}
			byPerson[o.Person] = s
		}
		s.total, _ = s.total.Add(o.Total)
	}
	w.RUnlock()
	var want []*spend
	for _, s := range byPerson {
		want = append(want, s)
	}
	sort.Slice(want, func(i, j int) bool { return want[i].total.Cmp(want[j].total) > 0 })

	var got reportAnswer
	graphQL(t, a, `{ orderReport(groupBy: [CUSTOMER], orderBy: [{by: TOTAL, direction: DESC}], limit: 10) {
		groups { key { customer { email } } count sum { total { amount } } } } }`, &got)
	groups := got.Data.OrderReport.Groups
	if len(got.Errors) > 0 || len(groups) != 10 {
		t.Fatalf("errors %v, %d groups; want 10", got.Errors, len(groups))
	}
	for i, g := range groups {
		if g.Key.Customer == nil || g.Key.Customer.Email != want[i].email || g.Sum.Total.Amount != want[i].total.String() {
			t.Errorf("#%d: %+v %s, want %s %s", i+1, g.Key.Customer, g.Sum.Total.Amount, want[i].email, want[i].total)
		}
	}
}
