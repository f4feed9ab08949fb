package erpnext

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/sim/world"
)

// apiError is a Python exception as Frappe's API reports it.
type apiError struct {
	status  int
	excType string // the exception class: DataError
	module  string // where it lives: frappe.exceptions
	detail  string // the exception's text
	message string // the user-facing message in _server_messages; empty for none
}

func (e *apiError) Error() string { return e.excType + ": " + e.detail }

// dataError is what reportview raises for a column it does not know.
func dataError(field string) *apiError {
	msg := "Field not permitted in query: " + field
	return &apiError{status: 417, excType: "DataError", module: "frappe.exceptions", detail: msg, message: msg}
}

// validationError is frappe.throw's default exception.
func validationError(msg string) *apiError {
	return &apiError{status: 417, excType: "ValidationError", module: "frappe.exceptions", detail: msg, message: msg}
}

// jsonError is an unparsable fields or filters parameter: v1.py and
// reportview call json.loads unguarded, so the exception escapes as a 500.
func jsonError(err error) *apiError {
	detail := "Expecting value: line 1 column 1 (char 0)"
	var se *json.SyntaxError
	if errors.As(err, &se) {
		detail = fmt.Sprintf("Expecting value: line 1 column %d (char %d)", se.Offset, max(se.Offset-1, 0))
	}
	return &apiError{status: 500, excType: "JSONDecodeError", module: "json.decoder", detail: detail}
}

// unknownColumn is MariaDB's answer to an order_by on a column it lacks.
func unknownColumn(col, clause string) *apiError {
	return &apiError{status: 500, excType: "OperationalError", module: "pymysql.err",
		detail: fmt.Sprintf(`(1054, "Unknown column '%s' in '%s'")`, col, clause)}
}

// column is one requested output column.
type column struct {
	f   field
	key string // the JSON key: the field name or its alias
}

// cond is one filter condition with its operands converted to the column's
// kind (strings to their collation key).
type cond struct {
	f       field
	op      string
	args    []value
	set     map[string]struct{} // in / not in on a string column
	keys    []string            // in / =: the distinct keys, for an index lookup
	pattern string              // like / not like, lower case
	isSet   bool                // is: set (true) or not set
}

type sortKey struct {
	f    field
	desc bool
}

// query is a parsed list request.
type query struct {
	t       *table
	columns []column
	filters []cond
	or      []cond
	order   []sortKey
	start   int
	limit   int // 0: all rows
}

// validOperators are the operators Frappe's get_filter accepts.
var validOperators = []string{"=", "!=", ">", "<", ">=", "<=", "like", "not like", "in", "not in", "is",
	"between", "descendants of", "ancestors of", "not descendants of", "not ancestors of", "timespan", "previous", "next"}

// parseQuery reads the parameters of GET /api/resource/{doctype} the way
// frappe.api.v1.document_list and frappe.client.get_list do.
func parseQuery(t *table, params url.Values) (*query, *apiError) {
	q := &query{t: t}
	var err *apiError
	if q.columns, err = parseFields(t, params.Get("fields")); err != nil {
		return nil, err
	}
	if q.filters, err = parseFilters(t, params.Get("filters")); err != nil {
		return nil, err
	}
	if q.or, err = parseFilters(t, params.Get("or_filters")); err != nil {
		return nil, err
	}
	order := params.Get("order_by")
	if order == "" {
		order = t.order
	}
	if q.order, err = parseOrder(t, order); err != nil {
		return nil, err
	}
	q.start = max(cint(params.Get("limit_start")), 0)
	// v1.py: limit_page_length wins when sent; else limit; else 20. Zero
	// (or anything cint reads as zero) lifts the limit.
	switch {
	case params.Has("limit_page_length"):
		q.limit = cint(params.Get("limit_page_length"))
	case params.Get("limit") != "":
		q.limit = cint(params.Get("limit"))
	default:
		q.limit = 20
	}
	q.limit = max(q.limit, 0)
	return q, nil
}

// cint is frappe.utils.cint: int(float(s)), or 0.
func cint(s string) int {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0
	}
	return int(f)
}

// fieldName strips a `tabDocType`.`field` or tabDocType.field qualifier. It
// reports false for another table's column, which would need a join.
func fieldName(t *table, s string) (string, bool) {
	s = strings.TrimSpace(s)
	if table, name, ok := strings.Cut(s, "."); ok {
		table = strings.Trim(table, "`")
		if !strings.EqualFold(table, "tab"+t.doctype) {
			return "", false
		}
		s = name
	}
	return strings.Trim(s, "`"), true
}

func parseFields(t *table, raw string) ([]column, *apiError) {
	var names []string
	// v1.py json.loads the parameter before anything else looks at it, so
	// a bare * fails there; ["*"] is the way to ask for every column.
	switch raw {
	case "":
		names = []string{"name"}
	default:
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, jsonError(err)
		}
		switch v := v.(type) {
		case string:
			names = strings.Split(v, ",")
		case []any:
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					return nil, dataError(fmt.Sprint(x))
				}
				names = append(names, s)
			}
		default:
			return nil, dataError(raw)
		}
		if len(names) == 0 {
			names = []string{"name"}
		}
	}
	var cols []column
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "*" || n == "`tab"+t.doctype+"`.*" {
			for _, f := range t.fields {
				cols = append(cols, column{f: f, key: f.name})
			}
			continue
		}
		if strings.ContainsAny(n, ",(#") || strings.Contains(n, "/*") {
			return nil, dataError(n)
		}
		expr, alias := n, ""
		for _, sep := range []string{" as ", " AS "} {
			if a, b, ok := strings.Cut(n, sep); ok {
				expr, alias = a, strings.Trim(strings.TrimSpace(b), "`")
				break
			}
		}
		name, ok := fieldName(t, expr)
		if !ok {
			return nil, dataError(expr)
		}
		f, ok := t.field(name)
		if !ok {
			return nil, dataError(name)
		}
		if alias == "" {
			alias = f.name
		}
		cols = append(cols, column{f: f, key: alias})
	}
	return cols, nil
}

func parseFilters(t *table, raw string) ([]cond, *apiError) {
	if raw == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	var out []cond
	switch v := v.(type) {
	case map[string]any:
		for name, val := range v {
			op, arg := any("="), val
			if l, ok := val.([]any); ok {
				if len(l) != 2 {
					return nil, validationError(fmt.Sprintf("Filter must have 4 values (doctype, fieldname, operator, value): %v", l))
				}
				op, arg = l[0], l[1]
			}
			c, err := makeCond(t, name, op, arg)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	case []any:
		for _, item := range v {
			l, ok := item.([]any)
			if !ok {
				// Frappe splices a bare string into the SQL; a simulator will not.
				return nil, validationError(fmt.Sprintf("Invalid filter: %v", item))
			}
			switch {
			case len(l) == 3:
				l = append([]any{t.doctype}, l...)
			case len(l) > 4:
				l = l[:4]
			case len(l) != 4:
				return nil, validationError(fmt.Sprintf("Filter must have 4 values (doctype, fieldname, operator, value): %v", l))
			}
			name, _ := l[1].(string)
			if dt, _ := l[0].(string); dt != t.doctype {
				return nil, dataError(name)
			}
			c, err := makeCond(t, name, l[2], l[3])
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	case nil:
	default:
		return nil, validationError(fmt.Sprintf("Invalid filter: %v", v))
	}
	return out, nil
}

func makeCond(t *table, name string, rawOp, arg any) (cond, *apiError) {
	fname, ok := fieldName(t, name)
	if !ok {
		return cond{}, dataError(name)
	}
	f, ok := t.field(fname)
	if !ok {
		return cond{}, dataError(fname)
	}
	opStr, _ := rawOp.(string)
	op := strings.ToLower(strings.TrimSpace(opStr))
	if op == "==" {
		op = "="
	}
	if !slices.Contains(validOperators, op) {
		return cond{}, validationError("Operator must be one of " + strings.Join(validOperators, ", "))
	}
	c := cond{f: f, op: op}
	switch op {
	case "in", "not in":
		var items []any
		switch a := arg.(type) {
		case []any:
			items = a
		case string:
			for _, s := range strings.Split(a, ",") {
				items = append(items, s)
			}
		case nil:
		default:
			items = []any{a}
		}
		if len(items) == 0 {
			items = []any{""} // Frappe turns an empty list into ('')
		}
		if f.kind == kindData {
			c.set = make(map[string]struct{}, len(items))
			for _, it := range items {
				// get_filter strips every value of an in list.
				k := collate(strings.TrimSpace(toString(it)))
				if _, dup := c.set[k]; !dup {
					c.set[k] = struct{}{}
					c.keys = append(c.keys, k)
				}
			}
			return c, nil
		}
		for _, it := range items {
			v, err := operand(f.kind, it)
			if err != nil {
				return cond{}, err
			}
			c.args = append(c.args, v)
		}
	case "like", "not like":
		c.pattern = strings.ToLower(toString(arg))
	case "is":
		s := strings.ToLower(toString(arg))
		if s != "set" && s != "not set" {
			return cond{}, validationError(fmt.Sprintf("Invalid value for is: %v", arg))
		}
		c.isSet = s == "set"
	case "between":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return cond{}, validationError(fmt.Sprintf("Between needs two values: %v", arg))
		}
		lo, err := operand(f.kind, l[0])
		if err != nil {
			return cond{}, err
		}
		hi, err := operand(f.kind, l[1])
		if err != nil {
			return cond{}, err
		}
		// A date alone as the upper bound of a Datetime means the whole day.
		if s, ok := l[1].(string); ok && f.kind == kindDatetime && len(strings.TrimSpace(s)) == len(dateLayout) {
			hi.t = hi.t.Add(24*time.Hour - time.Microsecond)
		}
		c.args = []value{lo, hi}
	case "=", "!=", ">", "<", ">=", "<=":
		v, err := operand(f.kind, arg)
		if err != nil {
			return cond{}, err
		}
		c.args = []value{v}
		if op == "=" && f.kind == kindData {
			c.keys = []string{v.s}
		}
	default:
		return cond{}, validationError("Operator not supported by this site: " + op)
	}
	return c, nil
}

// toString is how Python's cstr renders a JSON scalar.
func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "1"
		}
		return "0"
	default:
		return fmt.Sprint(v)
	}
}

// operand converts a filter value to the column's kind, for comparison.
func operand(k kind, raw any) (value, *apiError) {
	switch k {
	case kindData:
		return str(collate(toString(raw))), nil
	case kindFloat, kindInt:
		s := strings.TrimSpace(toString(raw))
		if s == "" {
			return flt(decimal.Zero), nil
		}
		d, err := decimal.Parse(s)
		if err != nil {
			return flt(decimal.Zero), nil // MariaDB reads a non-number as 0
		}
		return flt(d), nil
	case kindDate, kindDatetime:
		s := strings.TrimSpace(toString(raw))
		if s == "" {
			return value{kind: k}, nil
		}
		for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", dateLayout} {
			if t, err := time.Parse(layout, s); err == nil {
				if k == kindDate {
					t = t.Truncate(24 * time.Hour)
				}
				return value{kind: k, t: t}, nil
			}
		}
		return value{}, validationError(fmt.Sprintf("%s is not a valid date", s))
	}
	return value{}, validationError("unsupported column")
}

func parseOrder(t *table, raw string) ([]sortKey, *apiError) {
	var keys []sortKey
	for part := range strings.SplitSeq(raw, ",") {
		words := strings.Fields(part)
		if len(words) == 0 || len(words) > 2 {
			return nil, unknownColumn(strings.TrimSpace(part), "order clause")
		}
		name, ok := fieldName(t, words[0])
		if !ok {
			return nil, unknownColumn(words[0], "order clause")
		}
		f, ok := t.field(name)
		if !ok {
			return nil, unknownColumn(name, "order clause")
		}
		k := sortKey{f: f}
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, unknownColumn(part, "order clause")
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// key is a row value in comparable form: strings collated, integers as
// decimals, a null date as Frappe's fallback 0001-01-01.
func key(v value) value {
	switch v.kind {
	case kindData:
		v.s = collate(v.s)
	case kindInt:
		v = flt(decimal.MustNew(v.n, 0))
	}
	return v
}

func compare(a, b value) int {
	switch a.kind {
	case kindData:
		return strings.Compare(a.s, b.s)
	case kindFloat, kindInt:
		return a.num.Cmp(b.num)
	default:
		return a.t.Compare(b.t)
	}
}

// text is a value as MariaDB turns it into a string for LIKE.
func text(v value) string {
	switch {
	case v.null:
		return ""
	case v.kind == kindData:
		return v.s
	}
	b := appendValue(nil, v)
	return string(bytes.Trim(b, `"`))
}

func empty(v value) bool {
	switch {
	case v.null:
		return true
	case v.kind == kindData:
		return collate(v.s) == ""
	case v.kind == kindFloat:
		return v.num.IsZero()
	case v.kind == kindInt:
		return v.n == 0
	}
	return false
}

func (c *cond) match(e *env, r rec) bool {
	v := c.f.get(e, r)
	switch c.op {
	case "like":
		return like(c.pattern, strings.ToLower(text(v)))
	case "not like":
		return !like(c.pattern, strings.ToLower(text(v)))
	case "is":
		return empty(v) != c.isSet
	}
	v = key(v)
	switch c.op {
	case "in", "not in":
		found := false
		if c.set != nil {
			_, found = c.set[v.s]
		} else {
			for _, a := range c.args {
				if compare(v, a) == 0 {
					found = true
					break
				}
			}
		}
		return found == (c.op == "in")
	case "between":
		return compare(v, c.args[0]) >= 0 && compare(v, c.args[1]) <= 0
	}
	n := compare(v, c.args[0])
	switch c.op {
	case "=":
		return n == 0
	case "!=":
		return n != 0
	case "<":
		return n < 0
	case ">":
		return n > 0
	case "<=":
		return n <= 0
	case ">=":
		return n >= 0
	}
	return false
}

// like matches SQL LIKE: % is any run, _ one character, \ escapes.
func like(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, ti
			pi++
		case pi < len(p) && p[pi] == '\\' && pi+1 < len(p) && p[pi+1] == t[ti]:
			pi += 2
			ti++
		case pi < len(p) && (p[pi] == '_' || (p[pi] != '\\' && p[pi] == t[ti])):
			pi++
			ti++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

// run selects, sorts and pages the rows of a query. The caller holds the
// world's read lock.
func (q *query) run(e *env, x *indexer) []rec {
	if len(q.order) > 0 && q.order[0].f.name == "modified" && q.lookup() == nil {
		return q.runByModified(e, x.byModified(e, q.t))
	}
	rows := q.candidates(x.index(e, q.t))
	matched := make([]rec, 0, min(len(rows), 1024))
	for _, r := range rows {
		if q.matches(e, r) {
			matched = append(matched, r)
		}
	}
	q.sort(e, matched)
	return q.page(matched)
}

// page is the part of the sorted rows that limit_start and the limit show.
func (q *query) page(rows []rec) []rec {
	if q.start >= len(rows) {
		return nil
	}
	rows = rows[q.start:]
	if q.limit > 0 && q.limit < len(rows) {
		rows = rows[:q.limit]
	}
	return rows
}

// runByModified answers a query ordered by modified first, and narrowed by
// no other index, from the index on modified, as MariaDB would: it reads
// the rows the filters on modified leave, in the order asked, one run of
// equal modified times at a time (sorted by the further order_by keys, if
// any), until the page is full. It gives what run's filter and stable sort
// of every row would.
func (q *query) runByModified(e *env, sorted []world.Entry[rec, time.Time]) []rec {
	span := q.modifiedSpan(sorted)
	var out []rec
	full := func() bool { return q.limit > 0 && len(out) >= q.start+q.limit }
	take := func(run []world.Entry[rec, time.Time]) {
		from := len(out)
		for _, en := range run {
			if q.matches(e, en.Rec) {
				out = append(out, en.Rec)
			}
		}
		if len(q.order) > 1 {
			q.sort(e, out[from:])
		}
	}
	if q.order[0].desc {
		// Descending, yet rows of one time stay in world order, as the
		// stable sort leaves them.
		for j := len(span); j > 0 && !full(); {
			i := j - 1
			for i > 0 && span[i-1].Key.Equal(span[j-1].Key) {
				i--
			}
			take(span[i:j])
			j = i
		}
	} else {
		for i := 0; i < len(span) && !full(); {
			j := i + 1
			for j < len(span) && span[j].Key.Equal(span[i].Key) {
				j++
			}
			take(span[i:j])
			i = j
		}
	}
	return q.page(out)
}

// modifiedSpan is the part of the rows sorted by modified that the filters
// on modified leave; every filter is still checked on each row.
func (q *query) modifiedSpan(sorted []world.Entry[rec, time.Time]) []world.Entry[rec, time.Time] {
	after := func(t time.Time) int { // the first row modified after t
		return sort.Search(len(sorted), func(i int) bool { return sorted[i].Key.After(t) })
	}
	from := func(t time.Time) int { // the first row modified at or after t
		return sort.Search(len(sorted), func(i int) bool { return !sorted[i].Key.Before(t) })
	}
	lo, hi := 0, len(sorted)
	for _, c := range q.filters {
		if c.f.name != "modified" {
			continue
		}
		switch c.op {
		case ">":
			lo = max(lo, after(c.args[0].t))
		case ">=":
			lo = max(lo, from(c.args[0].t))
		case "<":
			hi = min(hi, from(c.args[0].t))
		case "<=":
			hi = min(hi, after(c.args[0].t))
		case "=":
			lo, hi = max(lo, from(c.args[0].t)), min(hi, after(c.args[0].t))
		case "between":
			lo, hi = max(lo, from(c.args[0].t)), min(hi, after(c.args[1].t))
		}
	}
	return sorted[lo:max(lo, hi)]
}

// count is the number of rows the filters select. Filters on modified
// alone are answered from the index on it.
func (q *query) count(e *env, x *indexer) int {
	if q.lookup() == nil && slices.ContainsFunc(q.filters, func(c cond) bool { return c.f.name == "modified" }) {
		span := q.modifiedSpan(x.byModified(e, q.t))
		if len(q.or) == 0 && !slices.ContainsFunc(q.filters, func(c cond) bool { return !spans(c) }) {
			return len(span)
		}
		n := 0
		for _, en := range span {
			if q.matches(e, en.Rec) {
				n++
			}
		}
		return n
	}
	n := 0
	for _, r := range q.candidates(x.index(e, q.t)) {
		if q.matches(e, r) {
			n++
		}
	}
	return n
}

// spans reports whether modifiedSpan applies the condition in full.
func spans(c cond) bool {
	return c.f.name == "modified" && slices.Contains([]string{">", ">=", "<", "<=", "=", "between"}, c.op)
}

func (q *query) matches(e *env, r rec) bool {
	for i := range q.filters {
		if !q.filters[i].match(e, r) {
			return false
		}
	}
	if len(q.or) == 0 {
		return true
	}
	for i := range q.or {
		if q.or[i].match(e, r) {
			return true
		}
	}
	return false
}

// candidates narrows the scan through an index when an = or in condition
// is on an indexed column; every condition is still checked on each row.
func (q *query) candidates(ti *tableIndex) []rec {
	c := q.lookup()
	if c == nil {
		return ti.rows
	}
	m := ti.by[c.f.name]
	var out []rec
	for _, k := range c.keys {
		out = append(out, m[k]...)
	}
	return out
}

// lookup is the condition candidates narrows the scan by: the first = or
// in on an indexed column; nil for none.
func (q *query) lookup() *cond {
	for i, c := range q.filters {
		if c.keys != nil && (c.op == "=" || c.op == "in") && slices.Contains(q.t.indexed, c.f.name) {
			return &q.filters[i]
		}
	}
	return nil
}

func (q *query) sort(e *env, rows []rec) {
	if len(rows) < 2 || len(q.order) == 0 {
		return
	}
	n := len(q.order)
	keys := make([]value, len(rows)*n)
	for i, r := range rows {
		for j, k := range q.order {
			keys[i*n+j] = key(k.f.get(e, r))
		}
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		for j, k := range q.order {
			c := compare(keys[a*n+j], keys[b*n+j])
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	sorted := make([]rec, len(rows))
	for i, j := range idx {
		sorted[i] = rows[j]
	}
	copy(rows, sorted)
}
