package world

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Index keeps one kind of record sorted by a key made from a time the
// record carries, its modified time, as a database index on that column
// does: a list by that time is then a binary search and a page rather than
// a filter and a sort of every record. It follows the world lazily: the
// first read after a write compares each record's time with the one it was
// sorted by and moves only the records whose time changed, and adds the
// records appended since. Should the records it holds no longer lead the
// world's list (one inserted before them, removed or replaced), it sorts
// them all again.
type Index[T comparable, K any] struct {
	records func(w *World) []T  // every record, in the world's order
	stamp   func(r T) time.Time // the time the key is made from
	key     func(r T) K
	compare func(a, b K) int

	mu     sync.Mutex
	built  bool
	writes uint64        // the world's write count it is up to date with
	recs   []T           // the records as of then, in the world's order; a copy
	stamps []time.Time   // their times as of then
	sorted []Entry[T, K] // recs by key, ties in the world's order
}

// Entry is one record of an Index with the key it is sorted by.
type Entry[T, K any] struct {
	Rec T
	Key K
	pos int // in the world's order
}

// NewIndex indexes the records that records lists, in the world's order,
// by key(r), ordered by compare. The key is made from stamp(r) and from
// what never changes in r (an id), since only a change of stamp(r) makes
// the index sort r in again. Records of equal keys keep the world's order,
// as a stable sort leaves them.
func NewIndex[T comparable, K any](records func(*World) []T, stamp func(T) time.Time, key func(T) K, compare func(a, b K) int) *Index[T, K] {
	return &Index[T, K]{records: records, stamp: stamp, key: key, compare: compare}
}

// Sorted is every record in key order as the world is now. The caller holds
// the world's read lock while it uses the slice, and leaves it as it is.
func (x *Index[T, K]) Sorted(w *World) []Entry[T, K] {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.built && x.writes == w.writes {
		return x.sorted
	}
	recs := x.records(w)
	if !x.built || !x.refresh(recs) {
		x.rebuild(recs)
	}
	x.built, x.writes = true, w.writes
	return x.sorted
}

func (x *Index[T, K]) order(a, b Entry[T, K]) int {
	if c := x.compare(a.Key, b.Key); c != 0 {
		return c
	}
	return cmp.Compare(a.pos, b.pos)
}

func (x *Index[T, K]) entry(r T, pos int) Entry[T, K] {
	return Entry[T, K]{Rec: r, Key: x.key(r), pos: pos}
}

func (x *Index[T, K]) rebuild(recs []T) {
	x.recs = slices.Clone(recs)
	x.stamps = make([]time.Time, len(recs))
	x.sorted = make([]Entry[T, K], len(recs))
	for i, r := range recs {
		x.stamps[i] = x.stamp(r)
		x.sorted[i] = x.entry(r, i)
	}
	slices.SortFunc(x.sorted, x.order)
}

// refresh brings the index up to recs when the records it holds still lead
// recs: it sorts in again the records whose time moved and adds the new
// ones. It reports false, having changed nothing that matters, when they do
// not lead recs.
func (x *Index[T, K]) refresh(recs []T) bool {
	if len(recs) < len(x.recs) {
		return false
	}
	var moved []Entry[T, K]
	for i, r := range x.recs {
		if recs[i] != r {
			return false
		}
		if s := x.stamp(r); !s.Equal(x.stamps[i]) {
			x.stamps[i] = s
			moved = append(moved, x.entry(r, i))
		}
	}
	gone := make(map[int]bool, len(moved))
	for _, e := range moved {
		gone[e.pos] = true
	}
	for i := len(x.recs); i < len(recs); i++ {
		x.recs = append(x.recs, recs[i])
		x.stamps = append(x.stamps, x.stamp(recs[i]))
		moved = append(moved, x.entry(recs[i], i))
	}
	if len(moved) == 0 {
		return true
	}
	slices.SortFunc(moved, x.order)
	// A new slice, not the old one changed in place: simpler to trust,
	// and a write costs a copy at most.
	merged := make([]Entry[T, K], 0, len(recs))
	for _, e := range x.sorted {
		if gone[e.pos] {
			continue
		}
		for len(moved) > 0 && x.order(moved[0], e) < 0 {
			merged = append(merged, moved[0])
			moved = moved[1:]
		}
		merged = append(merged, e)
	}
	x.sorted = append(merged, moved...)
	return true
}
