package erpnext

import (
	"strings"
	"sync"
	"time"

	"github.com/trestlehq/trestle/sim/world"
)

// collate is the comparison key of MariaDB's default collation
// (utf8mb4_unicode_ci with PAD SPACE): case does not count, and neither do
// trailing spaces. Leading spaces do, which is why " a@b.de " never equals
// "a@b.de" in a Frappe filter.
func collate(s string) string {
	return strings.ToLower(strings.TrimRight(s, " "))
}

// tableIndex holds one DocType's rows in world order and, per indexed
// column, the rows under each collation key, as of one world version.
type tableIndex struct {
	version uint64
	rows    []rec
	by      map[string]map[string][]rec
}

// Versions tell when a table's index is stale. Records are appended, never
// removed; the keys of invoices, items and bins never change once set, so
// their counts suffice. A customer's e-mail may be edited in place, and an
// edit bumps its modified time, so the customers' version also sums those.
func customerVersion(w *world.World) uint64 {
	var v uint64
	for _, p := range w.People {
		if p.ERP != nil {
			v += 1<<40 + uint64(p.ERP.Modified.UnixNano())
		}
	}
	return v
}

func productVersion(w *world.World) uint64 { return uint64(len(w.Products)) }
func invoiceVersion(w *world.World) uint64 { return uint64(len(w.Invoices)) }

// indexer keeps the per-table indexes and rebuilds one when its version
// moves, and the per-table indexes on modified, which follow the world's
// writes themselves.
type indexer struct {
	mu       sync.Mutex
	tables   map[*table]*tableIndex
	modified map[*table]*world.Index[rec, time.Time]
}

// byModified is t's rows sorted by their modified column (the site's wall
// clock), ties in world order, for the world as it is now; the index is
// made on first use. The caller holds the world's read lock.
func (x *indexer) byModified(e *env, t *table) []world.Entry[rec, time.Time] {
	x.mu.Lock()
	ix := x.modified[t]
	if ix == nil {
		f, _ := t.field("modified")
		ix = world.NewIndex(t.rows, t.modified, func(r rec) time.Time { return f.get(e, r).t }, time.Time.Compare)
		x.modified[t] = ix
	}
	x.mu.Unlock()
	return ix.Sorted(e.w)
}

// index returns t's index for the world as it is now. The caller holds the
// world's read lock.
func (x *indexer) index(e *env, t *table) *tableIndex {
	v := t.version(e.w)
	x.mu.Lock()
	defer x.mu.Unlock()
	if ti := x.tables[t]; ti != nil && ti.version == v {
		return ti
	}
	ti := buildIndex(e, t, v)
	x.tables[t] = ti
	return ti
}

func buildIndex(e *env, t *table, version uint64) *tableIndex {
	ti := &tableIndex{version: version, rows: t.rows(e.w), by: make(map[string]map[string][]rec, len(t.indexed))}
	for _, name := range t.indexed {
		f, _ := t.field(name)
		m := make(map[string][]rec, len(ti.rows))
		for _, r := range ti.rows {
			k := collate(f.get(e, r).s)
			m[k] = append(m[k], r)
		}
		ti.by[name] = m
	}
	return ti
}
