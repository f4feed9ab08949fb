package woocommerce

import (
	"cmp"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/trestlehq/trestle/sim/world"
)

// page is one rendered answer of a collection route.
type page struct {
	total int
	body  []byte
}

// writePage sends a collection page with WordPress's pagination headers:
// X-WP-Total, X-WP-TotalPages and Link rel="prev"/"next" built from the
// request's own query with page replaced.
func writePage(w http.ResponseWriter, r *http.Request, q query, p page) {
	h := w.Header()
	pages := (p.total + q.perPage - 1) / q.perPage
	h.Set("X-WP-Total", strconv.Itoa(p.total))
	h.Set("X-WP-TotalPages", strconv.Itoa(pages))
	if q.page > 1 && pages > 0 {
		h.Add("Link", pageLink(r, min(q.page-1, pages), "prev"))
	}
	if pages > q.page {
		h.Add("Link", pageLink(r, q.page+1, "next"))
	}
	writeJSON(w, p.body)
}

// serveList answers a collection's list route: the query parsed against
// the collection's parameters, the page of records and the number matched
// found by match under the world's read lock, and the page rendered (with
// _fields applied) by the renderer made for it.
func serveList[T any](a *API, w http.ResponseWriter, r *http.Request, c collection, match func(query) (shown []T, total int),
	renderer func(shown []T, base string) func(*enc, T)) {
	q, errs := c.parse(r.URL.Query(), a.loc)
	if errs != nil {
		errs.write(w)
		return
	}
	base := siteBase(r)
	fields := parseFields(r.URL.Query().Get("_fields"))
	var scratch enc
	buf := a.getBuf()
	defer a.putBuf(buf)

	a.w.RLock()
	shown, total := match(q)
	render := renderer(shown, base)
	e := enc{b: *buf}
	e.beginArr()
	for _, rec := range shown {
		emit(&e, &scratch, fields, rec, render)
	}
	e.endArr()
	a.w.RUnlock()

	*buf = e.b
	writePage(w, r, q, page{total: total, body: e.b})
}

// pageOf is the page of matched records the query shows, and how many
// matched.
func pageOf[T any](q query, matched []T) ([]T, int) {
	from, to := q.window(len(matched))
	return matched[from:to], len(matched)
}

func pageLink(r *http.Request, n int, rel string) string {
	v := make(url.Values, len(r.URL.Query()))
	for k, vals := range r.URL.Query() {
		v[k] = vals
	}
	v.Set("page", strconv.Itoa(n))
	return "<" + siteBase(r) + r.URL.Path + "?" + v.Encode() + `>; rel="` + rel + `"`
}

// getBuf and putBuf recycle response buffers between requests.
func (a *API) getBuf() *[]byte { return a.bufs.Get().(*[]byte) }

func (a *API) putBuf(b *[]byte) {
	if cap(*b) > 8<<20 {
		return // let an outsized buffer go rather than pin it
	}
	*b = (*b)[:0]
	a.bufs.Put(b)
}

// pathID reads the {id} of an item route; WordPress only routes digits.
func pathID(r *http.Request) (int64, bool) {
	s := r.PathValue("id")
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

// inRange reports whether t passes the exclusive after/before bounds of a
// WordPress date_query; zero bounds are absent.
func inRange(t, after, before time.Time) bool {
	return (after.IsZero() || t.After(after)) && (before.IsZero() || t.Before(before))
}

// compareBy orders two records by key then id, as WordPress appends ID to
// date and modified sorts so pages stay stable.
func compareBy[K cmp.Ordered](ka, kb K, ida, idb int64, desc bool) int {
	c := cmp.Compare(ka, kb)
	if c == 0 {
		c = cmp.Compare(ida, idb)
	}
	if desc {
		return -c
	}
	return c
}

func compareTime(ta, tb time.Time, ida, idb int64, desc bool) int {
	c := ta.Compare(tb)
	if c == 0 {
		c = cmp.Compare(ida, idb)
	}
	if desc {
		return -c
	}
	return c
}

// modKey is a record's place in a list by modification time: WordPress
// sorts by the date, then by ID.
type modKey struct {
	at time.Time
	id int64
}

func compareModKey(a, b modKey) int { return compareTime(a.at, b.at, a.id, b.id, false) }

// modifiedIndex indexes a collection by modification time, as the shop's
// database does.
func modifiedIndex[T comparable](records func(*world.World) []T, modified func(T) time.Time, id func(T) int64) *world.Index[T, modKey] {
	return world.NewIndex(records, modified, func(r T) modKey { return modKey{modified(r), id(r)} }, compareModKey)
}

// modifiedSpan is the part of a list by modification time between the
// query's modified_after and modified_before, exclusive as inRange has
// them.
func modifiedSpan[T any](q query, sorted []world.Entry[T, modKey]) []world.Entry[T, modKey] {
	lo, hi := 0, len(sorted)
	if !q.modifiedAfter.IsZero() {
		lo = sort.Search(len(sorted), func(i int) bool { return sorted[i].Key.at.After(q.modifiedAfter) })
	}
	if !q.modifiedBefore.IsZero() {
		hi = sort.Search(len(sorted), func(i int) bool { return !sorted[i].Key.at.Before(q.modifiedBefore) })
	}
	return sorted[lo:max(lo, hi)]
}

// includeRank maps ids to their position in include= for orderby=include.
func includeRank(ids []int64) map[int64]int {
	m := make(map[int64]int, len(ids))
	for i, id := range ids {
		m[id] = i
	}
	return m
}
