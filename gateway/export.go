package gateway

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trestlehq/trestle/resolvers"
	"github.com/trestlehq/trestle/store"
)

// Store is the reporting store as the gateway reads it: its sync's status
// and its rows.
type Store interface {
	resolvers.Store
	EachOrder(ctx context.Context, q store.OrderQuery, each func(*store.OrderRow) error) error
	EachOrderLine(ctx context.Context, q store.OrderQuery, each func(*store.OrderLineRow) error) error
}

// Headers of every export: how complete the store is. Trestle-Watermark
// is absent while a first backfill runs.
const (
	headerWatermark  = "Trestle-Watermark"
	headerStoreState = "Trestle-Store-State"
)

// exportFormat writes rows of one kind in one format.
type exportFormat struct {
	contentType string
	// open starts an export of the columns named.
	open func(w io.Writer, columns []string) rowWriter
}

// rowWriter writes an export's rows, each a value per column, after its
// header, if any.
type rowWriter interface {
	row(values []exportValue) error
	flush() error
}

// exportValue is a row's value of one column: its text; in JSON a string,
// a number when it is a count or key (never an amount, which stays a
// string so that no reader rounds it through a float), or null when
// absent.
type exportValue struct {
	text   string
	null   bool
	number bool
	// json, when set, is the value in NDJSON (a list's items as an
	// array); text is the CSV's.
	json string
}

var exportFormats = map[string]exportFormat{
	"csv": {"text/csv; charset=utf-8", func(w io.Writer, columns []string) rowWriter {
		c := &csvRows{w: csv.NewWriter(w), columns: columns}
		c.w.UseCRLF = true
		return c
	}},
	"ndjson": {"application/x-ndjson", func(w io.Writer, columns []string) rowWriter {
		return &ndjsonRows{w: bufio.NewWriterSize(w, 64<<10), columns: columns}
	}},
}

// csvRows writes RFC 4180 CSV: a header row (of an export without rows
// too), CRLF line ends, quotes where needed; an absent value is an empty
// field.
type csvRows struct {
	w       *csv.Writer
	columns []string
	header  bool
	rec     []string
}

func (c *csvRows) writeHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	return c.w.Write(c.columns)
}

func (c *csvRows) row(values []exportValue) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	c.rec = c.rec[:0]
	for _, v := range values {
		c.rec = append(c.rec, v.text)
	}
	return c.w.Write(c.rec)
}

func (c *csvRows) flush() error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

// ndjsonRows writes one JSON object per line; amounts are strings, so that
// no reader rounds them through a float.
type ndjsonRows struct {
	w       *bufio.Writer
	columns []string
	buf     []byte
}

func (n *ndjsonRows) row(values []exportValue) error {
	b := append(n.buf[:0], '{')
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, n.columns[i])
		b = append(b, ':')
		switch {
		case v.null:
			b = append(b, "null"...)
		case v.json != "":
			b = append(b, v.json...)
		case v.number:
			b = append(b, v.text...)
		default:
			q, _ := json.Marshal(v.text) // a string always marshals
			b = append(b, q...)
		}
	}
	b = append(b, '}', '\n')
	n.buf = b
	_, err := n.w.Write(b)
	return err
}

func (n *ndjsonRows) flush() error { return n.w.Flush() }

// tableExport is an export streamed from a table of the store's, in
// constant memory: its columns, and what writes the rows of a query.
type tableExport struct {
	columns []string
	each    func(ctx context.Context, st Store, q exportQuery, rows rowWriter) error
}

// tableExports are the store's tables as exports, oldest order first.
var tableExports = map[string]tableExport{
	"orders": {
		columns: []string{"id", "number", "status", "created", "paid", "completed", "currency", "total", "tax", "shipping", "discount",
			"customer_name", "customer_email"},
		each: func(ctx context.Context, st Store, q exportQuery, rows rowWriter) error {
			values := make([]exportValue, 0, 13)
			return st.EachOrder(ctx, q.OrderQuery, func(o *store.OrderRow) error {
				values = append(values[:0], intValue(o.ID), text(o.Number), text(o.Status),
					timeValue(&o.Created, q.loc), timeValue(o.Paid, q.loc), timeValue(o.Completed, q.loc), text(o.Currency),
					text(o.Total.String()), text(o.Tax.String()), text(o.Shipping.String()), text(o.Discount.String()),
					text(o.CustomerName), text(o.CustomerEmail))
				return rows.row(values)
			})
		},
	},
	"order_lines": {
		columns: []string{"order_id", "order_number", "order_status", "created", "customer_name", "customer_email",
			"line_id", "product_id", "sku", "name", "quantity", "currency", "price", "subtotal", "total", "tax"},
		each: func(ctx context.Context, st Store, q exportQuery, rows rowWriter) error {
			values := make([]exportValue, 0, 16)
			return st.EachOrderLine(ctx, q.OrderQuery, func(l *store.OrderLineRow) error {
				o := l.Order
				values = append(values[:0], intValue(o.ID), text(o.Number), text(o.Status), timeValue(&o.Created, q.loc),
					text(o.CustomerName), text(o.CustomerEmail), intValue(l.ID), intValue(l.ProductID), text(l.SKU), text(l.Name),
					intValue(l.Quantity), text(o.Currency), text(l.Price.String()), text(l.Subtotal.String()),
					text(l.Total.String()), text(l.Tax.String()))
				return rows.row(values)
			})
		},
	},
}

func text(s string) exportValue { return exportValue{text: s} }

func intValue(n int64) exportValue { return exportValue{text: strconv.FormatInt(n, 10), number: true} }

// exports serves GET /export/{name}.{csv,ndjson}: a table of the store's
// (orders, order_lines) streamed row by row, or any report or list of the
// schema (reports). While the store's first backfill runs an export is
// refused (503), as its rows would be silently partial, unless
// partial=true asks for what the store holds.
func exports(st Store, reports *reportExports, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ext, _ := strings.Cut(r.PathValue("file"), ".")
		format, ok := exportFormats[ext]
		table, isTable := tableExports[name]
		if !ok || !isTable && !reports.has(name) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no such export: /export/NAME.csv or .ndjson, where NAME is %s",
				strings.Join(append(slices.Sorted(maps.Keys(tableExports)), reports.names()...), ", ")), "NOT_FOUND")
			return
		}
		if !isTable {
			reports.serve(w, r, name, ext, format)
			return
		}
		if st == nil {
			writeError(w, http.StatusServiceUnavailable, resolvers.ErrNoStore.Error(), resolvers.CodeStoreUnavailable)
			return
		}
		q, err := exportRange(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "BAD_REQUEST")
			return
		}
		status, err := st.Freshness(r.Context())
		if err != nil {
			logger.ErrorContext(r.Context(), "store status unreadable", "err", err)
			writeError(w, http.StatusServiceUnavailable, "the store's status is unreadable", resolvers.CodeStoreUnavailable)
			return
		}
		rows, done := startExport(w, r, name+"."+ext, format, table.columns, status.State, status.Watermark, logger)
		if rows == nil {
			return
		}
		done(table.each(r.Context(), st, q, rows))
	})
}

// startExport answers an export's headers (its file, and how complete the
// store is: its state, none for a list read live) and opens its rows,
// gzipped when the client accepts it; done ends them. While a first
// backfill runs (no watermark) it refuses the export, unless partial=true,
// and returns no rows.
func startExport(w http.ResponseWriter, r *http.Request, file string, format exportFormat, columns []string, state string,
	watermark time.Time, logger *slog.Logger) (rows rowWriter, done func(error)) {
	if state != "" && watermark.IsZero() && r.URL.Query().Get("partial") != "true" {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "the store is still backfilling, so an export now would be partial: "+
			"ask again later (storeStatus shows the progress), or add partial=true to take what it holds", resolvers.CodeStoreBackfilling)
		return nil, nil
	}
	h := w.Header()
	h.Set("Content-Type", format.contentType)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, file))
	h.Set("Cache-Control", "no-store")
	if state != "" {
		h.Set(headerStoreState, state)
	}
	if !watermark.IsZero() {
		h.Set(headerWatermark, watermark.UTC().Format(time.RFC3339))
	}
	var out io.Writer = w
	closeOut := func() error { return nil }
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		out, closeOut = gz, gz.Close
	}
	rows = format.open(out, columns)
	return rows, func(err error) {
		if err == nil {
			err = rows.flush()
		}
		if err == nil {
			err = closeOut()
		}
		if err != nil && r.Context().Err() == nil {
			// The status is sent: cut the transfer, so that the client sees
			// it fail rather than take a short file for a whole one.
			logger.ErrorContext(r.Context(), "export cut short", "file", file, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// timeValue is a time in RFC 3339 in loc; empty (null) when absent.
func timeValue(t *time.Time, loc *time.Location) exportValue {
	if t == nil || t.IsZero() {
		return exportValue{null: true}
	}
	return exportValue{text: t.In(loc).Format(time.RFC3339)}
}

// exportQuery is an export's range and the zone its dates and times are in.
type exportQuery struct {
	store.OrderQuery
	loc *time.Location
}

// exportRange reads from, to and tz. A date means the whole day in tz: to
// includes its day; a time as to is the first instant left out.
func exportRange(v map[string][]string) (exportQuery, error) {
	get := func(k string) string {
		if vs := v[k]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	q := exportQuery{loc: time.UTC}
	if tz := get("tz"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil || strings.HasPrefix(tz, "/") {
			return q, fmt.Errorf("tz: %q is not an IANA time zone (such as Europe/Berlin)", tz)
		}
		q.loc = loc
	}
	var err error
	if q.From, err = exportTime("from", get("from"), q.loc, false); err != nil {
		return q, err
	}
	if q.To, err = exportTime("to", get("to"), q.loc, true); err != nil {
		return q, err
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return q, errors.New("to: must not be before from")
	}
	return q, nil
}

// exportTime reads a date (YYYY-MM-DD) or a time (RFC 3339); a date as an
// end bound means the end of its day.
func exportTime(name, s string, loc *time.Location, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is neither a date (2026-01-31) nor a time in RFC 3339 (2026-01-31T08:00:00+01:00)", name, s)
	}
	return t, nil
}

// acceptsGzip reports whether the client asked for gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}
