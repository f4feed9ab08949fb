package world_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim/world"
)

// TestIndexFollowsWrites checks an index against a stable sort of every
// record after each kind of write: times moved (onto each other, too),
// records appended, and records dropped from the middle of the list, which
// makes it sort them all again.
func TestIndexFollowsWrites(t *testing.T) {
	w := world.New(world.Options{Seed: 5, Size: world.Size{People: 300, Orders: 2000, Products: 20}})
	// The people with a CRM record, by modified time to the minute, so
	// that many share a key and the world's order must break the ties.
	records := func(w *world.World) []*world.Person {
		var out []*world.Person
		for _, p := range w.People {
			if p.CRM != nil {
				out = append(out, p)
			}
		}
		return out
	}
	stamp := func(p *world.Person) time.Time { return p.CRM.Modified }
	key := func(p *world.Person) time.Time { return p.CRM.Modified.Truncate(time.Minute) }
	x := world.NewIndex(records, stamp, key, time.Time.Compare)

	check := func(step string) {
		t.Helper()
		w.RLock()
		defer w.RUnlock()
		want := records(w)
		slices.SortStableFunc(want, func(a, b *world.Person) int { return key(a).Compare(key(b)) })
		got := x.Sorted(w)
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", step, len(got), len(want))
		}
		for i, e := range got {
			if e.Rec != want[i] || !e.Key.Equal(key(want[i])) {
				t.Fatalf("%s: record %d is %s at %v, want %s at %v", step, i, e.Rec.CRM.ID, e.Key, want[i].CRM.ID, key(want[i]))
			}
		}
	}
	check("built")

	rng := rand.New(rand.NewPCG(7, 8))
	base := w.Anchor.Add(-time.Hour)
	move := func(n int) {
		w.Lock()
		defer w.Unlock()
		for range n {
			p := w.People[rng.IntN(len(w.People))]
			if p.CRM != nil {
				p.CRM.Modified = base.Add(time.Duration(rng.IntN(600)) * time.Second)
			}
		}
	}
	move(1)
	check("one moved")
	move(50)
	check("many moved")
	check("read again")

	w.Lock()
	for i := range 5 {
		w.People = append(w.People, &world.Person{CRM: &world.CRMContact{ID: "new", Modified: base.Add(time.Duration(i) * time.Minute)}})
	}
	w.Unlock()
	check("appended")

	w.Lock()
	w.People[3].CRM, w.People[10].CRM = nil, nil
	w.Unlock()
	move(20)
	check("dropped")

	w.Lock()
	w.People[3].CRM = &world.CRMContact{ID: "back", Modified: base}
	w.Unlock()
	check("inserted")
}
