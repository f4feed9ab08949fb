package hubspot_test

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim/hubspot"
	"github.com/trestlehq/trestle/sim/world"
)

// TestSearchByModifiedFollowsChanges checks that searches sorted by
// lastmodifieddate, answered from the index on it, give what a filter and
// a sort of every contact give, before and after contacts move on, with
// many contacts sharing a millisecond.
func TestSearchByModifiedFollowsChanges(t *testing.T) {
	w := world.New(world.Options{Seed: 4, Size: world.Size{People: 600, Orders: 100, Products: 5}})
	a := hubspot.New(w)
	base := w.Anchor.Add(-time.Hour)
	ms := func(d time.Duration) string { return strconv.FormatInt(base.Add(d).UnixMilli(), 10) }
	filter := func(op, v string) string {
		return `{"propertyName":"lastmodifieddate","operator":"` + op + `","value":"` + v + `"}`
	}
	search := func(groups []string, sort string, after, limit int, query string) string {
		return `{"filterGroups":[` + strings.Join(groups, ",") + `],"sorts":[` + sort + `],"query":"` + query +
			`","properties":["email"],"limit":` + strconv.Itoa(limit) + `,"after":"` + strconv.Itoa(after) + `"}`
	}
	asc, desc := `{"propertyName":"lastmodifieddate","direction":"ASCENDING"}`, `"-lastmodifieddate"`
	since := `{"filters":[` + filter("GTE", ms(0)) + `]}`
	within := func(p *world.Person, from, to time.Duration) bool {
		m := p.CRM.Modified.UnixMilli()
		return m >= base.Add(from).UnixMilli() && m <= base.Add(to).UnixMilli()
	}
	tests := []struct {
		name  string
		body  string
		desc  bool
		after int
		limit int
		keep  func(p *world.Person) bool
	}{
		{"since", search([]string{since}, asc, 0, 50, ""), false, 0, 50,
			func(p *world.Person) bool { return within(p, 0, time.Hour) }},
		{"since, further on", search([]string{since}, asc, 30, 50, ""), false, 30, 50,
			func(p *world.Person) bool { return within(p, 0, time.Hour) }},
		{"since, descending", search([]string{since}, desc, 5, 20, ""), true, 5, 20,
			func(p *world.Person) bool { return within(p, 0, time.Hour) }},
		{"between", search([]string{`{"filters":[{"propertyName":"lastmodifieddate","operator":"BETWEEN","value":"` + ms(time.Second) +
			`","highValue":"` + ms(40*time.Second) + `"}]}`}, asc, 0, 200, ""), false, 0, 200,
			func(p *world.Person) bool { return within(p, time.Second, 40*time.Second) }},
		{"after and before", search([]string{`{"filters":[` + filter("GT", ms(time.Second)) + "," + filter("LT", ms(40*time.Second)) + `]}`}, desc, 0, 200, ""), true, 0, 200,
			func(p *world.Person) bool {
				return within(p, time.Second+time.Millisecond, 40*time.Second-time.Millisecond)
			}},
		{"since, leads", search([]string{`{"filters":[` + filter("GTE", ms(0)) + `,{"propertyName":"lifecyclestage","operator":"EQ","value":"lead"}]}`}, asc, 0, 200, ""), false, 0, 200,
			func(p *world.Person) bool { return within(p, 0, time.Hour) && p.CRM.LifecycleStage == "lead" }},
		{"since, or leads", search([]string{since, `{"filters":[{"propertyName":"lifecyclestage","operator":"EQ","value":"lead"}]}`}, asc, 10, 100, ""), false, 10, 100,
			func(p *world.Person) bool { return within(p, 0, time.Hour) || p.CRM.LifecycleStage == "lead" }},
		{"since, a query", search([]string{since}, desc, 0, 100, "an"), true, 0, 100,
			func(p *world.Person) bool {
				return within(p, 0, time.Hour) && (strings.Contains(strings.ToLower(p.FirstName+"\x00"+p.LastName+"\x00"+p.Company), "an") ||
					strings.Contains(p.CRM.Email, "an"))
			}},
		{"everybody, descending", search(nil, desc, 100, 10, ""), true, 100, 10,
			func(*world.Person) bool { return true }},
	}
	check := func(round string) {
		t.Helper()
		for _, tt := range tests {
			res := serve(t, a, http.MethodPost, "/crm/v3/objects/contacts/search", tt.body)
			if res.Code != http.StatusOK {
				t.Fatalf("%s, %s: status %d: %s", round, tt.name, res.Code, res.Body)
			}
			var got searchResult
			if err := json.Unmarshal(res.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got.Results {
				ids = append(ids, r.ID)
			}
			var matched []*world.Person
			for _, p := range w.People {
				if p.CRM != nil && tt.keep(p) {
					matched = append(matched, p)
				}
			}
			slices.SortFunc(matched, func(a, b *world.Person) int {
				c := cmp.Compare(a.CRM.Modified.UnixMilli(), b.CRM.Modified.UnixMilli())
				if tt.desc {
					c = -c
				}
				if c == 0 {
					c = cmp.Compare(atoi(t, a.CRM.ID), atoi(t, b.CRM.ID))
				}
				return c
			})
			var want []string
			for _, p := range matched[min(tt.after, len(matched)):min(tt.after+tt.limit, len(matched))] {
				want = append(want, p.CRM.ID)
			}
			if got.Total != len(matched) || !slices.Equal(ids, want) {
				t.Errorf("%s, %s: %v of %d, want %v of %d", round, tt.name, ids, got.Total, want, len(matched))
			}
		}
	}
	rng := rand.New(rand.NewPCG(11, 12))
	// An hour of changes on 50 milliseconds, each spread over its
	// millisecond, which search compares contacts to.
	move := func(n int) {
		w.Lock()
		defer w.Unlock()
		for range n {
			if p := w.People[rng.IntN(len(w.People))]; p.CRM != nil {
				p.CRM.Modified = base.Add(time.Duration(rng.IntN(50))*time.Second + time.Duration(rng.IntN(1000))*time.Microsecond)
			}
		}
	}
	move(150)
	check("before")
	for round := range 3 {
		move(40)
		check("after round " + strconv.Itoa(round+1))
	}
}
