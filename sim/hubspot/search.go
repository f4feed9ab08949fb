package hubspot

import (
	"bytes"
	"cmp"
	"encoding/json"
	"iter"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trestlehq/trestle/sim/world"
)

// Search limits in force since HubSpot widened them in August 2024.
const (
	maxFilterGroups    = 5
	maxFiltersPerGroup = 10
	maxFilters         = 25
)

// searchRequest is PublicObjectSearchRequest. Sorts and after are kept raw:
// the live API takes sorts as names or as {propertyName, direction} objects,
// and after as a string or a number.
type searchRequest struct {
	Query        string `json:"query"`
	FilterGroups []struct {
		Filters []filter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []json.RawMessage `json:"sorts"`
	Properties []string          `json:"properties"`
	Limit      *int              `json:"limit"`
	After      json.RawMessage   `json:"after"`
}

// filter is HubSpot's Filter.
type filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        *string  `json:"value"`
	HighValue    *string  `json:"highValue"`
	Values       []string `json:"values"`
}

// searchResponse is CollectionResponseWithTotalSimplePublicObject but for
// its results (see writeResults).
type searchResponse struct {
	Total  int     `json:"total"`
	Paging *paging `json:"paging,omitempty"`
}

// search serves POST /crm/v3/objects/contacts/search. Paging is by offset:
// paging.next.after is the index of the next result, and no query pages past
// SearchCap results whatever its total.
func (a *API) search(w http.ResponseWriter, r *http.Request) {
	var in searchRequest
	if !decodeBody(w, r, &in) {
		return
	}
	limit := 10
	if in.Limit != nil {
		if *in.Limit < 0 || *in.Limit > MaxSearchLimit {
			validation(w, "limit must be between 0 and %d, got %d", MaxSearchLimit, *in.Limit)
			return
		}
		limit = *in.Limit
	}
	offset, err := parseAfter(in.After)
	if err != nil {
		validation(w, "after %s is not a valid paging cursor", in.After)
		return
	}
	if offset >= SearchCap {
		validation(w, "The search API returns at most %d results per query; after %d is past them. Narrow the filters instead.", SearchCap, offset)
		return
	}
	groups, msg := compileGroups(in)
	if msg != "" {
		validation(w, "%s", msg)
		return
	}
	by, msg := compileSort(in.Sorts)
	if msg != "" {
		validation(w, "%s", msg)
		return
	}
	query := strings.ToLower(strings.TrimSpace(in.Query))

	var recs []record
	var total int
	if by.prop == "lastmodifieddate" {
		recs, total = a.searchByModified(groups, query, by.desc, offset, limit)
	} else {
		matched := a.match(groups, query)
		slices.SortFunc(matched, by.compare)
		total = len(matched)
		if end := min(offset+limit, total, SearchCap); offset < end {
			recs = matched[offset:end]
		}
	}

	sel := selectProperties(in.Properties, nil)
	reachable := min(total, SearchCap)
	end := max(min(offset+limit, reachable), offset)
	out := searchResponse{Total: total}
	if end < reachable {
		out.Paging = &paging{Next: nextPage{After: strconv.Itoa(end)}}
	}
	writeResults(w, http.StatusOK, out, sel, recs)
}

func parseAfter(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
	} else {
		s = string(raw)
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}

// match scans the contacts under the read lock and copies out the ones any
// filter group accepts.
func (a *API) match(groups [][]condition, query string) []record {
	a.w.RLock()
	defer a.w.RUnlock()
	var out []record
	for _, p := range a.w.People {
		if p.CRM == nil {
			continue
		}
		rec, ok := snapshot(p)
		if !ok || !rec.matchesQuery(query) {
			continue
		}
		if len(groups) == 0 || slices.ContainsFunc(groups, rec.holdsAll) {
			out = append(out, rec)
		}
	}
	return out
}

// contactKey is a contact's place in the index on lastmodifieddate: the
// time to the millisecond as search compares it, then the id.
type contactKey struct{ ms, id int64 }

func compareContactKey(a, b contactKey) int {
	if c := cmp.Compare(a.ms, b.ms); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// modifiedIndex indexes the contacts search can find (those with a numeric
// id, as snapshot has them) by lastmodifieddate.
func modifiedIndex() *world.Index[*world.Person, contactKey] {
	return world.NewIndex(func(w *world.World) []*world.Person {
		var out []*world.Person
		for _, p := range w.People {
			if p.CRM == nil {
				continue
			}
			if _, err := strconv.ParseInt(p.CRM.ID, 10, 64); err == nil {
				out = append(out, p)
			}
		}
		return out
	}, func(p *world.Person) time.Time { return p.CRM.Modified }, func(p *world.Person) contactKey {
		id, _ := strconv.ParseInt(p.CRM.ID, 10, 64)
		return contactKey{p.CRM.Modified.UnixMilli(), id}
	}, compareContactKey)
}

// searchByModified answers a search sorted by lastmodifieddate from the
// index on it, as HubSpot's search engine would: the filters of a single
// filter group on lastmodifieddate pick the span of the index by binary
// search, and when they are all there is to the search, the total is the
// span's size and only the page is read. It gives what match and a sort
// of every contact would: the page at offset (up to limit, within
// SearchCap) and the total.
func (a *API) searchByModified(groups [][]condition, query string, desc bool, offset, limit int) ([]record, int) {
	a.w.RLock()
	defer a.w.RUnlock()
	span, exact := modifiedSpan(a.contacts.Sorted(a.w), groups)
	exact = exact && query == ""
	end := min(offset+limit, SearchCap)
	var recs []record
	n := 0 // matches so far
	for p := range inOrder(span, desc) {
		if exact {
			if n >= end {
				break
			}
			if n >= offset {
				rec, _ := snapshot(p)
				recs = append(recs, rec)
			}
			n++
			continue
		}
		rec, _ := snapshot(p)
		if !rec.matchesQuery(query) || len(groups) > 0 && !slices.ContainsFunc(groups, rec.holdsAll) {
			continue
		}
		if n >= offset && n < end {
			recs = append(recs, rec)
		}
		n++
	}
	if exact {
		n = len(span)
	}
	return recs, n
}

// holdsAll reports whether the record meets every condition of a group.
func (r *record) holdsAll(group []condition) bool {
	for i := range group {
		if !group[i].holds(r) {
			return false
		}
	}
	return true
}

// modifiedSpan is the part of the index a search's filters on
// lastmodifieddate leave, when it has one filter group; exact reports
// whether that group has no other filter.
func modifiedSpan(sorted []world.Entry[*world.Person, contactKey], groups [][]condition) (span []world.Entry[*world.Person, contactKey], exact bool) {
	if len(groups) == 0 {
		return sorted, true
	}
	if len(groups) > 1 {
		return sorted, false
	}
	after := func(ms int64) int { // the first contact modified after ms
		return sort.Search(len(sorted), func(i int) bool { return sorted[i].Key.ms > ms })
	}
	from := func(ms int64) int { // the first contact modified at or after ms
		return sort.Search(len(sorted), func(i int) bool { return sorted[i].Key.ms >= ms })
	}
	lo, hi := 0, len(sorted)
	exact = true
	for _, c := range groups[0] {
		if c.prop != "lastmodifieddate" || c.kind != dateProp {
			exact = false
			continue
		}
		switch c.op {
		case "GT":
			lo = max(lo, after(c.lo.n))
		case "GTE":
			lo = max(lo, from(c.lo.n))
		case "LT":
			hi = min(hi, from(c.lo.n))
		case "LTE":
			hi = min(hi, after(c.lo.n))
		case "EQ":
			lo, hi = max(lo, from(c.lo.n)), min(hi, after(c.lo.n))
		case "BETWEEN":
			lo, hi = max(lo, from(c.lo.n)), min(hi, after(c.hi.n))
		default:
			exact = false
		}
	}
	return sorted[lo:max(lo, hi)], exact
}

// inOrder yields the contacts of a span ascending, or descending by time
// with each time's contacts still in id order, as the search's sort has
// them.
func inOrder(span []world.Entry[*world.Person, contactKey], desc bool) iter.Seq[*world.Person] {
	return func(yield func(*world.Person) bool) {
		if !desc {
			for _, e := range span {
				if !yield(e.Rec) {
					return
				}
			}
			return
		}
		for j := len(span); j > 0; {
			i := j - 1
			for i > 0 && span[i-1].Key.ms == span[j-1].Key.ms {
				i--
			}
			for _, e := range span[i:j] {
				if !yield(e.Rec) {
					return
				}
			}
			j = i
		}
	}
}

// matchesQuery is a plain take on the free-text query: a case-insensitive
// substring of a name, the e-mail, the phone or the company.
func (r *record) matchesQuery(q string) bool {
	if q == "" {
		return true
	}
	for _, v := range []string{r.first, r.last, r.email, r.phone, r.company} {
		if strings.Contains(strings.ToLower(v), q) {
			return true
		}
	}
	return false
}

// condition is a compiled filter: values parsed once per request for the
// property's kind.
type condition struct {
	prop   string
	kind   propKind
	op     string
	lo, hi operand
	set    []operand
}

// operand is a comparable value: n for dates (Unix milliseconds) and
// numbers, s (lower case) for text.
type operand struct {
	n int64
	s string
}

func compare(kind propKind, a, b operand) int {
	if kind == textProp {
		return strings.Compare(a.s, b.s)
	}
	return cmp.Compare(a.n, b.n)
}

func parseOperand(kind propKind, v string) (operand, bool) {
	v = strings.TrimSpace(v)
	switch kind {
	case dateProp:
		// Dates are accepted as Unix milliseconds or as ISO 8601.
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return operand{n: n}, true
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return operand{n: t.UnixMilli()}, true
			}
		}
		return operand{}, false
	case numberProp:
		n, err := strconv.ParseInt(v, 10, 64)
		return operand{n: n}, err == nil
	default:
		return operand{s: strings.ToLower(v)}, true
	}
}

// operandOf is the record's value of the property, false when it has none.
func (r *record) operandOf(prop string, kind propKind) (operand, bool) {
	switch kind {
	case dateProp:
		if prop == "createdate" {
			return operand{n: r.created.UnixMilli()}, true
		}
		return operand{n: r.modified.UnixMilli()}, true
	case numberProp:
		return operand{n: r.id}, true
	default:
		v, ok := r.value(prop)
		return operand{s: strings.ToLower(v)}, ok
	}
}

func (c *condition) holds(r *record) bool {
	v, has := r.operandOf(c.prop, c.kind)
	switch c.op {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "NEQ":
		return !has || compare(c.kind, v, c.lo) != 0
	case "NOT_IN":
		return !has || !slices.ContainsFunc(c.set, func(o operand) bool { return compare(c.kind, v, o) == 0 })
	case "NOT_CONTAINS_TOKEN":
		return !has || !containsToken(v.s, c.lo.s)
	}
	if !has {
		return false
	}
	switch c.op {
	case "EQ":
		return compare(c.kind, v, c.lo) == 0
	case "GT":
		return compare(c.kind, v, c.lo) > 0
	case "GTE":
		return compare(c.kind, v, c.lo) >= 0
	case "LT":
		return compare(c.kind, v, c.lo) < 0
	case "LTE":
		return compare(c.kind, v, c.lo) <= 0
	case "BETWEEN":
		return compare(c.kind, v, c.lo) >= 0 && compare(c.kind, v, c.hi) <= 0
	case "IN":
		return slices.ContainsFunc(c.set, func(o operand) bool { return compare(c.kind, v, o) == 0 })
	case "CONTAINS_TOKEN":
		return containsToken(v.s, c.lo.s)
	}
	return false
}

// containsToken matches a token of the value against a pattern that may
// start or end with the * wildcard.
func containsToken(value, pattern string) bool {
	prefix, suffix := strings.HasSuffix(pattern, "*"), strings.HasPrefix(pattern, "*")
	p := strings.Trim(pattern, "*")
	if prefix && suffix {
		return strings.Contains(value, p)
	}
	for tok := range strings.FieldsFuncSeq(value, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	}) {
		switch {
		case prefix && strings.HasPrefix(tok, p), suffix && strings.HasSuffix(tok, p), tok == p:
			return true
		}
	}
	return value == p
}

// compileGroups checks the filter groups against HubSpot's limits and parses
// their values; the message is empty when they are valid.
func compileGroups(in searchRequest) ([][]condition, string) {
	if len(in.FilterGroups) > maxFilterGroups {
		return nil, "Too many filter groups: at most " + strconv.Itoa(maxFilterGroups) + " are allowed"
	}
	total := 0
	groups := make([][]condition, 0, len(in.FilterGroups))
	for _, g := range in.FilterGroups {
		if len(g.Filters) > maxFiltersPerGroup {
			return nil, "Too many filters in a filter group: at most " + strconv.Itoa(maxFiltersPerGroup) + " are allowed"
		}
		total += len(g.Filters)
		conds := make([]condition, 0, len(g.Filters))
		for _, f := range g.Filters {
			c, msg := compileFilter(f)
			if msg != "" {
				return nil, msg
			}
			conds = append(conds, c)
		}
		groups = append(groups, conds)
	}
	if total > maxFilters {
		return nil, "Too many filters: at most " + strconv.Itoa(maxFilters) + " are allowed in one search"
	}
	return groups, ""
}

func compileFilter(f filter) (condition, string) {
	kind, ok := kindOf(f.PropertyName)
	if !ok {
		return condition{}, "Invalid filter: property " + strconv.Quote(f.PropertyName) + " does not exist on contacts"
	}
	c := condition{prop: f.PropertyName, kind: kind, op: f.Operator}
	one := func(v *string) (operand, string) {
		if v == nil {
			return operand{}, "Invalid filter: operator " + f.Operator + " on " + f.PropertyName + " needs a value"
		}
		o, ok := parseOperand(kind, *v)
		if !ok {
			return operand{}, "Invalid filter: " + strconv.Quote(*v) + " is not a valid value for " + f.PropertyName
		}
		return o, ""
	}
	var msg string
	switch f.Operator {
	case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
	case "EQ", "NEQ", "GT", "GTE", "LT", "LTE":
		c.lo, msg = one(f.Value)
	case "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		c.lo, msg = one(f.Value)
		c.kind = textProp // tokens match the text form, whatever the property
	case "BETWEEN":
		if c.lo, msg = one(f.Value); msg == "" {
			c.hi, msg = one(f.HighValue)
		}
	case "IN", "NOT_IN":
		if len(f.Values) == 0 {
			return c, "Invalid filter: operator " + f.Operator + " on " + f.PropertyName + " needs values"
		}
		for _, v := range f.Values {
			o, m := one(&v)
			if m != "" {
				return c, m
			}
			c.set = append(c.set, o)
		}
	default:
		return c, "Invalid filter: unknown operator " + strconv.Quote(f.Operator)
	}
	return c, msg
}

// order is the one sort HubSpot allows; ties fall back to id order so
// offset paging is stable.
type order struct {
	prop string // "" sorts by id alone
	kind propKind
	desc bool
}

func (o order) compare(a, b record) int {
	byID := cmp.Compare(a.id, b.id)
	if o.prop == "" {
		return byID
	}
	va, oka := a.operandOf(o.prop, o.kind)
	vb, okb := b.operandOf(o.prop, o.kind)
	switch {
	case oka != okb: // records without a value sort last
		if oka {
			return -1
		}
		return 1
	case oka:
		if c := compare(o.kind, va, vb); c != 0 {
			if o.desc {
				return -c
			}
			return c
		}
	}
	return byID
}

// compileSort reads the one sort HubSpot allows, by id when there is none.
func compileSort(raw []json.RawMessage) (order, string) {
	if len(raw) == 0 {
		return order{}, ""
	}
	if len(raw) > 1 {
		return order{}, "Only one sort is allowed per search"
	}
	var s struct {
		PropertyName string `json:"propertyName"`
		Direction    string `json:"direction"`
	}
	var name string
	if err := json.Unmarshal(raw[0], &name); err == nil {
		s.PropertyName, s.Direction = name, "ASCENDING"
		if rest, ok := strings.CutPrefix(name, "-"); ok {
			s.PropertyName, s.Direction = rest, "DESCENDING"
		}
	} else if err := json.Unmarshal(raw[0], &s); err != nil {
		return order{}, "Invalid sort: " + err.Error()
	}
	kind, ok := kindOf(s.PropertyName)
	if !ok {
		return order{}, "Invalid sort: property " + strconv.Quote(s.PropertyName) + " does not exist on contacts"
	}
	o := order{prop: s.PropertyName, kind: kind}
	switch s.Direction {
	case "", "ASCENDING":
	case "DESCENDING":
		o.desc = true
	default:
		return order{}, "Invalid sort: direction must be ASCENDING or DESCENDING"
	}
	return o, ""
}
