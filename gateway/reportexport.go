package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/trestlehq/trestle/resolvers"
)

// reportExports serve every report and list of the schema as a file: the
// Query fields whose type has a freshness, such as orderReport or
// stockMismatches. GET /export/orderReport.csv?groupBy=CREATED&bucket=MONTH
// runs
//
//	query($groupBy: [OrderDimension!], $bucket: TimeBucket) {
//	  r: orderReport(groupBy: $groupBy, bucket: $bucket) {
//	    freshness { watermark state } rows: groups { …every leaf… } } }
//
// through the GraphQL endpoint, as the client (its authentication, roles
// and limits), and writes one line a row. A parameter of the URL is an
// argument of the field: lists comma-separated, input objects as JSON.
// rows= names the list to write when the type has several; columns= the
// columns (paths, or their prefixes) to keep.
type reportExports struct {
	schema *ast.Schema
	// query is the GraphQL endpoint behind authentication.
	query  http.Handler
	logger *slog.Logger
}

// exportParams are the parameters of a report's export that are not the
// field's arguments.
var exportParams = []string{"partial", "rows", "columns"}

// report is the Query field name, if it is a report or list.
func (e *reportExports) report(name string) *ast.FieldDefinition {
	f := e.schema.Query.Fields.ForName(name)
	if f == nil || f.Type.Elem != nil {
		return nil
	}
	if t := e.schema.Types[f.Type.Name()]; t != nil && t.Fields.ForName("freshness") != nil {
		return f
	}
	return nil
}

func (e *reportExports) has(name string) bool { return e.report(name) != nil }

// names are the reports' names.
func (e *reportExports) names() []string {
	var out []string
	for _, f := range e.schema.Query.Fields {
		if e.report(f.Name) != nil {
			out = append(out, f.Name)
		}
	}
	return out
}

// column is one column of a report's export: the path of a leaf from the
// row, and how its value is written.
type column struct {
	path   []string
	name   string // the path joined by dots
	number bool   // an Int or Float or Boolean: a JSON number or boolean, not a string
	money  bool   // a Money: its amount
	// currency is the currency of the row's amounts, which are all in
	// one.
	currency bool
}

// columns are the leaves of a row of type t: scalars and enums, Money as
// its amount, objects flattened, a list of scalars or enums one column;
// a live object (a Node) gives its own scalars and enums, and no list of
// objects is followed.
func (e *reportExports) columns(t *ast.Definition, prefix []string, node bool) []column {
	var out []column
	for _, f := range t.Fields {
		if strings.HasPrefix(f.Name, "__") || len(f.Arguments) > 0 || f.Directives.ForName("auth") != nil {
			continue
		}
		path := append(slices.Clone(prefix), f.Name)
		ft := e.schema.Types[f.Type.Name()]
		leaf := ft.Kind == ast.Scalar || ft.Kind == ast.Enum
		switch {
		case f.Type.Elem != nil:
			if leaf && f.Type.Elem.Elem == nil && !node {
				out = append(out, column{path: path})
			}
		case leaf:
			switch ft.Name {
			case "Int", "Float", "Boolean":
				out = append(out, column{path: path, number: true})
			default:
				out = append(out, column{path: path})
			}
		case node:
		case ft.Name == "Money":
			out = append(out, column{path: path, money: true})
		case ft.Kind == ast.Object:
			out = append(out, e.columns(ft, path, slices.Contains(ft.Interfaces, "Node"))...)
		}
	}
	for i := range out {
		out[i].name = strings.Join(out[i].path, ".")
	}
	return out
}

// withCurrency adds a column currency to columns that have amounts of
// Money but no currency of their own (a report's row is of one currency).
func withCurrency(columns []column) []column {
	hasMoney := false
	for _, c := range columns {
		if c.path[len(c.path)-1] == "currency" {
			return columns
		}
		hasMoney = hasMoney || c.money
	}
	if !hasMoney {
		return columns
	}
	return append(columns, column{path: []string{"currency"}, name: "currency", currency: true})
}

// selection is the selection set that reads columns.
func selection(columns []column) string {
	var b strings.Builder
	var open []string
	for _, c := range columns {
		if c.currency {
			continue // read with the amounts
		}
		common := 0
		for common < len(open) && common < len(c.path)-1 && open[common] == c.path[common] {
			common++
		}
		for len(open) > common {
			open = open[:len(open)-1]
			b.WriteString(" }")
		}
		for _, name := range c.path[common : len(c.path)-1] {
			b.WriteString(" " + name + " {")
			open = append(open, name)
		}
		b.WriteString(" " + c.path[len(c.path)-1])
		if c.money {
			b.WriteString(" { amount currency }")
		}
	}
	for range open {
		b.WriteString(" }")
	}
	return b.String()
}

// exportRequest is the GraphQL request of a report's export.
type exportRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

// request reads an export's URL into the GraphQL request of report f and
// the columns it writes.
func (e *reportExports) request(f *ast.FieldDefinition, v map[string][]string) (exportRequest, []column, error) {
	req := exportRequest{Variables: map[string]any{}}
	var params, args []string
	for _, a := range f.Arguments {
		raw, ok := v[a.Name]
		if !ok {
			continue
		}
		value, err := e.urlValue(a.Type, strings.Join(raw, ","))
		if err != nil {
			return req, nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		req.Variables[a.Name] = value
		params = append(params, "$"+a.Name+": "+a.Type.String())
		args = append(args, a.Name+": $"+a.Name)
	}
	for k := range v {
		if f.Arguments.ForName(k) == nil && !slices.Contains(exportParams, k) {
			var names []string
			for _, a := range f.Arguments {
				names = append(names, a.Name)
			}
			return req, nil, fmt.Errorf("%s: no such parameter; %s takes %s, and %s", k, f.Name,
				strings.Join(names, ", "), strings.Join(exportParams, ", "))
		}
	}

	// The rows: the type's list of objects, or the one rows= names.
	t := e.schema.Types[f.Type.Name()]
	var lists []string
	for _, lf := range t.Fields {
		if lf.Type.Elem != nil && e.schema.Types[lf.Type.Name()].Kind == ast.Object {
			lists = append(lists, lf.Name)
		}
	}
	rows := ""
	if want := firstValue(v, "rows"); want != "" {
		if !slices.Contains(lists, want) {
			return req, nil, fmt.Errorf("rows: %s has no list %q; it has %s", f.Name, want, strings.Join(lists, ", "))
		}
		rows = want
	} else if len(lists) == 1 {
		rows = lists[0]
	} else {
		return req, nil, fmt.Errorf("rows: %s has several lists; name one: rows=%s", f.Name, strings.Join(lists, " or rows="))
	}
	columns := e.columns(e.schema.Types[t.Fields.ForName(rows).Type.Name()], nil, false)
	if want := firstValue(v, "columns"); want != "" {
		var kept []column
		for _, name := range strings.Split(want, ",") {
			name = strings.TrimSpace(name)
			n := len(kept)
			for _, c := range columns {
				if (c.name == name || strings.HasPrefix(c.name, name+".")) && !slices.ContainsFunc(kept, func(k column) bool { return k.name == c.name }) {
					kept = append(kept, c)
				}
			}
			if len(kept) == n {
				var names []string
				for _, c := range columns {
					names = append(names, c.name)
				}
				return req, nil, fmt.Errorf("columns: %s's %s have no %q; they have %s", f.Name, rows, name, strings.Join(names, ", "))
			}
		}
		columns = kept
	}
	columns = withCurrency(columns)
	call := f.Name
	if len(args) > 0 {
		call += "(" + strings.Join(args, ", ") + ")"
	}
	req.Query = "query Export"
	if len(params) > 0 {
		req.Query += "(" + strings.Join(params, ", ") + ")"
	}
	req.Query += " { r: " + call + " { freshness { watermark state } rows: " + rows + " {" + selection(columns) + " } } }"
	return req, columns, nil
}

// urlValue reads a parameter as a value of type t: a list's items comma
// separated, an input object (or a list of them) as JSON.
func (e *reportExports) urlValue(t *ast.Type, raw string) (any, error) {
	def := e.schema.Types[t.Name()]
	if def.Kind == ast.InputObject {
		var v any
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("not JSON (%v): write a %s as JSON, such as {\"%s\": …}", err, def.Name, def.Fields[0].Name)
		}
		return v, nil
	}
	if t.Elem != nil {
		var out []any
		for _, item := range strings.Split(raw, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			v, err := e.urlValue(t.Elem, item)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	switch def.Name {
	case "Int":
		n, err := strconv.Atoi(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", raw)
		}
		return n, nil
	case "Float":
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", raw)
		}
		return n, nil
	case "Boolean":
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is neither true nor false", raw)
		}
		return b, nil
	}
	return raw, nil
}

func firstValue(v map[string][]string, k string) string {
	if vs := v[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// exportError is a GraphQL error of an export's answer.
type exportError struct {
	Message    string
	Path       []any
	Extensions struct{ Code string }
}

// exportStatus is the HTTP status of an export whose report has no answer,
// by the error's code: a document refused (documentError) is 400 too;
// anything else, an upstream's failure, 502.
func exportStatus(code string) int {
	switch {
	case code == "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case code == resolvers.CodeForbidden:
		return http.StatusForbidden
	case code == resolvers.CodeBadUserInput || documentError(code):
		return http.StatusBadRequest
	case code == resolvers.CodeStoreUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// serve answers the export of report name: the report is run as a
// GraphQL request, and its rows are written. The report is whole before
// a byte is written (at most store.MaxRows rows); errors that left
// values null beside the rows are counted in Trestle-Errors, the first
// one's message in Trestle-Error.
func (e *reportExports) serve(w http.ResponseWriter, r *http.Request, name, ext string, format exportFormat) {
	f := e.report(name)
	req, columns, err := e.request(f, r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
		return
	}
	body, _ := json.Marshal(req) // strings and decoded JSON always marshal
	gql := r.Clone(r.Context())
	gql.Method, gql.URL.Path, gql.URL.RawQuery = http.MethodPost, "/query", ""
	gql.Header = r.Header.Clone()
	gql.Header.Set("Content-Type", "application/json")
	gql.Header.Set("Accept", "application/json")
	gql.Header.Del("Accept-Encoding")
	gql.Body, gql.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	rec := httptest.NewRecorder()
	e.query.ServeHTTP(rec, gql)

	var answer struct {
		Data struct {
			R *struct {
				Freshness *struct {
					Watermark *time.Time
					State     string
				}
				Rows []map[string]any
			}
		}
		Errors []exportError
	}
	d := json.NewDecoder(rec.Body)
	d.UseNumber()
	if err := d.Decode(&answer); err != nil || rec.Code != http.StatusOK && answer.Data.R == nil && len(answer.Errors) == 0 {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var rowErrors []exportError
	for _, ge := range answer.Errors {
		if ge.Extensions.Code != resolvers.CodeStoreBackfilling && ge.Extensions.Code != resolvers.CodeStoreStale { // in Trestle-Store-State
			rowErrors = append(rowErrors, ge)
		}
	}
	if answer.Data.R == nil {
		first := exportError{Message: "the report has no answer"}
		if errs := append(rowErrors, answer.Errors...); len(errs) > 0 {
			first = errs[0]
		}
		writeError(w, exportStatus(first.Extensions.Code), first.Message, first.Extensions.Code)
		return
	}
	if n := len(rowErrors); n > 0 {
		w.Header().Set("Trestle-Errors", strconv.Itoa(n))
		w.Header().Set("Trestle-Error", rowErrors[0].Message)
	}
	var state string // none: a list read live
	var watermark time.Time
	if f := answer.Data.R.Freshness; f != nil {
		state = strings.ToLower(f.State)
		if f.Watermark != nil {
			watermark = *f.Watermark
		}
	}
	names := make([]string, len(columns))
	values := make([]exportValue, len(columns))
	for i, c := range columns {
		names[i], values[i].number = c.name, c.number
	}
	rows, done := startExport(w, r, name+"."+ext, format, names, state, watermark, e.logger)
	if rows == nil {
		return
	}
	var werr error
	for _, row := range answer.Data.R.Rows {
		currency := ""
		for i, c := range columns {
			if c.currency {
				values[i].text, values[i].null = currency, currency == ""
				continue
			}
			values[i].text, values[i].json, values[i].null = leafText(row, c)
			if c.money && !values[i].null {
				cur, _, _ := leafText(row, column{path: append(slices.Clone(c.path), "currency")})
				if currency != "" && cur != currency {
					werr = fmt.Errorf("a row of %s has amounts in %s and %s", name, currency, cur)
				}
				currency = cur
			}
		}
		if werr == nil {
			werr = rows.row(values)
		}
		if werr != nil {
			break
		}
	}
	done(werr)
}

// leafText is a column's value in a row of the answer, as text, and as
// JSON where that is not its text quoted (a list: its items joined by ";",
// and an array); null when it, or an object above it, is.
func leafText(row map[string]any, c column) (text, asJSON string, null bool) {
	var v any = row
	for _, name := range c.path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", "", true
		}
		v = m[name]
	}
	if c.money {
		m, ok := v.(map[string]any)
		if !ok {
			return "", "", true
		}
		v = m["amount"]
	}
	switch v := v.(type) {
	case nil:
		return "", "", true
	case string:
		return v, "", false
	case json.Number:
		return v.String(), "", false
	case bool:
		return strconv.FormatBool(v), "", false
	case []any:
		items := make([]string, len(v))
		for i, item := range v {
			items[i], _, _ = leafText(map[string]any{"": item}, column{path: []string{""}})
		}
		b, _ := json.Marshal(v) // decoded JSON marshals
		return strings.Join(items, ";"), string(b), false
	default:
		b, _ := json.Marshal(v)
		return string(b), "", false
	}
}
