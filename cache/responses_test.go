package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

func newTestResponses(t *testing.T, maxBytes int64) (*Entities, *time.Time) {
	t.Helper()
	c, err := New(Config{Responses: true, ResponseBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	return c, &now
}

func TestAnAnswerIsDroppedByAChangeToWhatItRead(t *testing.T) {
	c, _ := newTestResponses(t, 0)
	r := c.Responses()
	order7 := Read(model.SystemShop, Orders, "7")
	put := func(key string, reads ...string) {
		t.Helper()
		if !r.Put(key, []byte(key), Reads{Keys: reads}, r.Begin(), 0) {
			t.Fatalf("%s not kept", key)
		}
	}
	put("order 7", order7, Read(model.SystemERP, Invoices, "order:7"))
	put("order 8", Read(model.SystemShop, Orders, "8"))
	put("orders", ListRead(model.SystemShop, Orders))
	put("stock", Read(model.SystemERP, Stock, "TD-1"))

	c.Invalidate(model.SystemShop, Orders, "7")
	for key, want := range map[string]bool{"order 7": false, "order 8": true, "orders": false, "stock": true} {
		if _, ok := r.Get(key, 0); ok != want {
			t.Errorf("%s after order 7 changed: kept %v, want %v", key, ok, want)
		}
	}
	c.Invalidate(model.SystemERP, Stock, "TD-2")
	if _, ok := r.Get("stock", 0); !ok {
		t.Error("a change of another SKU dropped the stock answer")
	}
	if st := r.Stats(); st.Entries != 2 || st.Hits != 3 || st.Misses != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestAnAnswerLivesAsLongAsTheShortestTTLOfWhatItRead(t *testing.T) {
	c, now := newTestResponses(t, 0)
	r := c.Responses()
	r.Put("stock and orders", []byte("x"), Reads{Keys: []string{Read(model.SystemShop, Orders, "1"), Read(model.SystemERP, Stock, "A")}}, r.Begin(), 0)
	r.Put("orders", []byte("x"), Reads{Keys: []string{Read(model.SystemShop, Orders, "1")}}, r.Begin(), 0)
	*now = now.Add(DefaultTTL()[Stock] + time.Millisecond)
	if _, ok := r.Get("stock and orders", 0); ok {
		t.Error("kept past the stock's TTL")
	}
	if _, ok := r.Get("orders", 0); !ok {
		t.Error("dropped before the orders' TTL")
	}
}

func TestAnAnswerMadeWhileWhatItReadChangedIsNotKept(t *testing.T) {
	c, _ := newTestResponses(t, 0)
	r := c.Responses()
	begun := r.Begin()
	c.Invalidate(model.SystemShop, Orders, "99") // another order of the kind, while the execution ran
	if r.Put("orders", []byte("x"), Reads{Keys: []string{Read(model.SystemShop, Orders, "1")}}, begun, 0) {
		t.Error("kept an answer whose kind changed while it was made")
	}
	if !r.Put("stock", []byte("x"), Reads{Keys: []string{Read(model.SystemERP, Stock, "A")}}, begun, 0) {
		t.Error("an answer of another kind was not kept")
	}
	if r.Put("report", []byte("x"), Reads{Keys: []string{Read(model.SystemERP, Stock, "A")}, Untracked: true}, r.Begin(), 0) {
		t.Error("kept an answer that read what no change reports")
	}
}

func TestAnAnswerOfTheDirectoryLivesWhileItsVersion(t *testing.T) {
	c, _ := newTestResponses(t, 0)
	r := c.Responses()
	for _, made := range []uint64{0, 4} { // 0: before the directory's first read
		r.Put("customers", []byte("x"), Reads{Directory: true}, r.Begin(), made)
		if _, ok := r.Get("customers", made); !ok {
			t.Errorf("made at %d: dropped while the directory did not change", made)
		}
		if _, ok := r.Get("customers", made+1); ok {
			t.Errorf("made at %d: kept after the directory changed", made)
		}
	}
}

func TestTheResponseCacheHoldsItsBytes(t *testing.T) {
	c, _ := newTestResponses(t, 10_000)
	r := c.Responses()
	read := Read(model.SystemShop, Products, "A")
	for i := range 100 {
		r.Put(fmt.Sprint("answer ", i), make([]byte, 1000), Reads{Keys: []string{read}}, r.Begin(), 0)
		r.Get("answer 0", 0) // the oldest, used again each time: kept
	}
	st := r.Stats()
	if st.Bytes > 10_000 || st.Evictions == 0 || st.Entries < 5 {
		t.Errorf("stats %+v, want at most 10,000 bytes, some evicted", st)
	}
	if _, ok := r.Get("answer 0", 0); !ok {
		t.Error("the answer used most recently was evicted")
	}
	if _, ok := r.Get("answer 1", 0); ok {
		t.Error("the least recently used answer was kept")
	}
	c.Invalidate(model.SystemShop, Products, "A")
	if st := r.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Errorf("after the product changed: %+v, want none held", st)
	}
}
