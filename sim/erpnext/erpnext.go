// Package erpnext simulates the ERPNext / Frappe REST API (v1) over a world.
//
// It serves the DocTypes Customer (with its Customer Credit Limit child
// table), Item, Bin and Sales Invoice (with Sales Invoice Item):
//
//	GET /api/resource/{DocType}                      list: fields, filters, or_filters, order_by,
//	                                                 limit_start, limit_page_length (or limit)
//	GET /api/resource/{DocType}/{name}               one document with its child tables
//	GET /api/method/frappe.client.get_count          doctype, filters: {"message": n}
//
// Child DocTypes are listed like Frappe wants them: with the parent DocType in
// the parent parameter and the parent documents in a filter on parent.
// Strings compare as MariaDB's default collation does (case-insensitive,
// trailing spaces ignored); Float and Currency columns are rendered like
// Python floats (119.0); dates are YYYY-MM-DD; creation and modified are
// naive "YYYY-MM-DD HH:MM:SS.ffffff" wall-clock times in the site's system
// time zone, TimeZone. Requests authenticate with
// "Authorization: token APIKey:APISecret"; wrong credentials get 401
// AuthenticationError, none at all are served as Guest and get 403
// PermissionError, each with Frappe's error body.
package erpnext

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the site time zone must load on hosts without zoneinfo

	"github.com/trestlehq/trestle/sim/world"
)

// The fixed credentials of the simulated site's API user.
const (
	APIKey    = "demo"
	APISecret = "demo"
)

// TimeZone is the simulated site's system time zone: creation and modified
// are naive wall-clock times in it, as Frappe stores them. Adapters convert
// them to UTC with this zone.
const TimeZone = "Europe/Berlin"

// Route patterns.
const (
	listPattern  = "GET /api/resource/{doctype}"
	docPattern   = "GET /api/resource/{doctype}/{name...}"
	countPattern = "GET /api/method/frappe.client.get_count"
)

// API is the simulated Frappe REST API of an ERPNext site.
type API struct {
	world  *world.World
	env    env
	tables map[string]*table
	ix     indexer
	mux    *http.ServeMux
}

var _ http.Handler = (*API)(nil)

// SiteTime is how the site writes a time: naive, in its time zone, to the
// microsecond, as in a webhook's {{ doc.modified }}.
func SiteTime(t time.Time) string { return t.In(location()).Format(datetimeLayout) }

// location is the site's time zone, TimeZone.
func location() *time.Location {
	loc, err := time.LoadLocation(TimeZone)
	if err != nil {
		panic("erpnext: load time zone: " + err.Error()) // embedded tzdata makes this unreachable
	}
	return loc
}

// New serves the world in the Frappe REST dialect.
func New(w *world.World) *API {
	a := &API{
		world:  w,
		env:    env{w: w, loc: location()},
		tables: doctypes(),
		mux:    http.NewServeMux(),
	}
	a.ix.tables = make(map[*table]*tableIndex)
	a.ix.modified = make(map[*table]*world.Index[rec, time.Time])
	a.mux.HandleFunc(listPattern, a.list)
	a.mux.HandleFunc(docPattern, a.doc)
	a.mux.HandleFunc(countPattern, a.count)
	a.mux.HandleFunc("/", a.notFound)
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Route names the route a request matches, with the DocType filled in for
// the DocTypes the site has ("GET /api/resource/Sales Invoice"), so
// counters tell a customer read from a credit-limit read.
func (a *API) Route(r *http.Request) string {
	_, pattern := a.mux.Handler(r)
	switch pattern {
	case "", "/":
		return ""
	case listPattern, docPattern:
		rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/resource/")
		seg, name, _ := strings.Cut(rest, "/")
		doctype, err := url.PathUnescape(seg)
		if _, ok := a.tables[doctype]; err != nil || !ok {
			return pattern
		}
		if pattern == docPattern && name != "" {
			return "GET /api/resource/" + doctype + "/{name}"
		}
		return "GET /api/resource/" + doctype
	}
	return pattern
}

// Fault writes an injected error the way a Frappe site shows it: a 429 from
// the request-time rate limiter is plain text with X-RateLimit headers; a
// 500 is an unhandled database exception in Frappe's JSON error body.
func (a *API) Fault(w http.ResponseWriter, status int) {
	if status == http.StatusTooManyRequests {
		h := w.Header()
		reset := h.Get("Retry-After")
		if reset == "" {
			reset = "1"
			h.Set("Retry-After", reset)
		}
		h.Set("X-RateLimit-Reset", reset)
		h.Set("X-RateLimit-Limit", "600000000")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("Too Many Requests"))
		return
	}
	writeError(w, &apiError{status: status, excType: "OperationalError", module: "pymysql.err",
		detail: "(2013, 'Lost connection to MySQL server during query')"})
}

// session is who a request runs as.
type session int

const (
	guest session = iota
	apiUser
)

// authenticate follows frappe.auth.validate_auth: an Authorization header of
// exactly two words must carry valid keys (401 otherwise); any other header,
// or none, leaves the request running as Guest.
func authenticate(r *http.Request) (session, *apiError) {
	parts := strings.Split(r.Header.Get("Authorization"), " ")
	if len(parts) != 2 {
		return guest, nil
	}
	var key, secret string
	switch strings.ToLower(parts[0]) {
	case "token":
		key, secret, _ = strings.Cut(parts[1], ":")
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(parts[1])
		if err != nil {
			msg := "Failed to decode token, please provide a valid base64-encoded token."
			return guest, &apiError{status: 401, excType: "InvalidAuthorizationToken", module: "frappe.exceptions", detail: msg, message: msg}
		}
		key, secret, _ = strings.Cut(string(raw), ":")
	}
	if key == APIKey && secret == APISecret {
		return apiUser, nil
	}
	return guest, &apiError{status: 401, excType: "AuthenticationError", module: "frappe.exceptions"}
}

func noPermission(doctype string) *apiError {
	msg := "User <strong>Guest</strong> does not have doctype access via role permission for document <strong>" + doctype + "</strong>"
	return &apiError{status: 403, excType: "PermissionError", module: "frappe.exceptions", detail: msg, message: msg}
}

func notFound(msg string) *apiError {
	return &apiError{status: 404, excType: "DoesNotExistError", module: "frappe.exceptions", detail: msg, message: msg}
}

// table resolves the DocType a request names, checking the caller first as
// Frappe does: authentication, then the DocType, then read permission.
func (a *API) table(r *http.Request, doctype string) (*table, *apiError) {
	s, err := authenticate(r)
	if err != nil {
		return nil, err
	}
	t, ok := a.tables[doctype]
	if !ok {
		return nil, notFound("DocType " + doctype + " not found")
	}
	if s == guest {
		return nil, noPermission(doctype)
	}
	return t, nil
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	t, err := a.table(r, r.PathValue("doctype"))
	if err != nil {
		writeError(w, err)
		return
	}
	params := r.URL.Query()
	// frappe.client.get_list: a child table is readable only through a
	// parent DocType that embeds it.
	if t.isChild() && !t.parents[params.Get("parent")] {
		writeError(w, &apiError{status: 403, excType: "PermissionError", module: "frappe.exceptions"})
		return
	}
	q, err := parseQuery(t, params)
	if err != nil {
		writeError(w, err)
		return
	}
	a.world.RLock()
	rows := q.run(&a.env, &a.ix)
	body := a.appendList(make([]byte, 0, 256+len(rows)*64*len(q.columns)), q, rows)
	a.world.RUnlock()
	writeJSON(w, http.StatusOK, body)
}

func (a *API) doc(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(r.PathValue("name"), "/")
	if name == "" {
		a.list(w, r) // the router ignores a trailing slash
		return
	}
	t, err := a.table(r, r.PathValue("doctype"))
	if err != nil {
		writeError(w, err)
		return
	}
	a.world.RLock()
	var body []byte
	if found := a.ix.index(&a.env, t).by["name"][collate(name)]; len(found) > 0 {
		body = a.appendDoc(append(make([]byte, 0, 4096), `{"data":`...), t, found[0])
		body = append(body, '}')
	}
	a.world.RUnlock()
	if body == nil {
		writeError(w, notFound(t.doctype+" "+name+" not found"))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// count serves frappe.client.get_count, the way to learn a list's size.
func (a *API) count(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	t, err := a.table(r, params.Get("doctype"))
	if err != nil {
		writeError(w, err)
		return
	}
	filters, err := parseFilters(t, params.Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	q := &query{t: t, filters: filters}
	a.world.RLock()
	n := q.count(&a.env, &a.ix)
	a.world.RUnlock()
	body := strconv.AppendInt([]byte(`{"message":`), int64(n), 10)
	writeJSON(w, http.StatusOK, append(body, '}'))
}

// notFound answers any other path the way Frappe's API router does: its
// NotFound is re-raised as DoesNotExistError.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	if _, err := authenticate(r); err != nil {
		writeError(w, err)
		return
	}
	writeError(w, &apiError{status: 404, excType: "DoesNotExistError", module: "frappe.exceptions"})
}

// appendList renders {"data":[...]} with the requested columns in order.
func (a *API) appendList(b []byte, q *query, rows []rec) []byte {
	b = append(b, `{"data":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j, c := range q.columns {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c.key)
			b = append(b, ':')
			b = appendValue(b, c.f.get(&a.env, r))
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendDoc renders a document as Document.as_dict does: its columns, its
// doctype, then each child table's rows.
func (a *API) appendDoc(b []byte, t *table, r rec) []byte {
	b = append(b, '{')
	for _, f := range t.fields {
		b = appendString(b, f.name)
		b = append(b, ':')
		b = appendValue(b, f.get(&a.env, r))
		b = append(b, ',')
	}
	b = append(b, `"doctype":`...)
	b = appendString(b, t.doctype)
	for _, c := range t.children {
		b = append(b, ',')
		b = appendString(b, c.field)
		b = append(b, ":["...)
		for i, cr := range c.rows(r) {
			if i > 0 {
				b = append(b, ',')
			}
			b = a.appendDoc(b, c.table, cr)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError renders Frappe's error body: the exception line, its class, and
// the messages frappe.throw queued, JSON-encoded twice over as Frappe does.
func writeError(w http.ResponseWriter, e *apiError) {
	exc := e.module + "." + e.excType
	if e.detail != "" {
		exc += ": " + e.detail
	}
	b := append(make([]byte, 0, 512), `{"exception":`...)
	b = appendString(b, exc)
	b = append(b, `,"exc_type":`...)
	b = appendString(b, e.excType)
	if e.message != "" {
		inner := append([]byte(`{"message": `), appendString(nil, e.message)...)
		inner = append(inner, `, "title": "Message", "indicator": "red", "raise_exception": 1}`...)
		outer := append([]byte{'['}, appendString(nil, string(inner))...)
		outer = append(outer, ']')
		b = append(b, `,"_server_messages":`...)
		b = appendString(b, string(outer))
	}
	b = append(b, '}')
	writeJSON(w, e.status, b)
}
