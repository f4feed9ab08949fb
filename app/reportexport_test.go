package app_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/sim/simtest"
)

const financeKey = "trk_finance_test"

// exporting is a gateway with a store over env's world, backfilled, and
// two keys: exportKey with no role, financeKey with FINANCE.
func exporting(t *testing.T, env *simtest.Env) *app.App {
	t.Helper()
	cfg := simulated(env)
	cfg.Store.Path = filepath.Join(t.TempDir(), "store.db")
	hash := func(key string) string {
		sum := sha256.Sum256([]byte(key))
		return hex.EncodeToString(sum[:])
	}
	cfg.Auth = config.Auth{APIKeys: []config.APIKey{{Name: "bi", SHA256: hash(exportKey)},
		{Name: "finance", SHA256: hash(financeKey), Roles: []string{"FINANCE"}}}}
	a := running(t, cfg)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, watermark, _ := storeState(t, a); watermark != "" {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatal("the store's first backfill did not end")
		}
	}
}

// csvRecords reads a CSV export: its header and rows.
func csvRecords(t *testing.T, body []byte) (header []string, rows [][]string) {
	t.Helper()
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(records) == 0 {
		t.Fatalf("not CSV with a header (%v): %.300s", err, body)
	}
	return records[0], records[1:]
}

func TestEveryReportExports(t *testing.T) {
	env := simtest.Start(t, reportWorld)
	a := exporting(t, env)
	w := env.Sim.World

	t.Run("revenue per month in Berlin as CSV", func(t *testing.T) {
		berlin, _ := time.LoadLocation("Europe/Berlin")
		want := map[string]decimal.Decimal{}
		w.RLock()
		for _, o := range w.Orders {
			month := o.Created.In(berlin).Format("2006-01")
			want[month], _ = want[month].Add(o.Total)
		}
		w.RUnlock()
		resp, body := get(t, a, "/export/orderReport.csv?groupBy=CREATED&bucket=MONTH&timeZone=Europe/Berlin&columns=key.period.label,count,sum.total")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Trestle-Watermark") == "" ||
			resp.Header.Get("Content-Disposition") != `attachment; filename="orderReport.csv"` {
			t.Fatalf("HTTP %d %v: %.300s", resp.StatusCode, resp.Header, body)
		}
		header, rows := csvRecords(t, body)
		if !slices.Equal(header, []string{"key.period.label", "count", "sum.total", "currency"}) {
			t.Errorf("columns %q", header)
		}
		if len(rows) != len(want) {
			t.Errorf("%d months, want %d", len(rows), len(want))
		}
		for _, r := range rows {
			if len(r) == 4 && r[2] != want[r[0]].String() {
				t.Errorf("%s: %s, want %s", r[0], r[2], want[r[0]])
			}
		}
	})

	t.Run("the top customers as gzipped NDJSON", func(t *testing.T) {
		q := url.Values{"groupBy": {"CUSTOMER"}, "orderBy": {`[{"by": "TOTAL", "direction": "DESC"}]`}, "limit": {"10"}}
		resp, body := get(t, a, "/export/orderReport.ndjson?"+q.Encode(), "Accept-Encoding", "gzip")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("HTTP %d %v: %.300s", resp.StatusCode, resp.Header, body)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(zr)
		var totals []decimal.Decimal
		for lines.Scan() {
			var row map[string]any
			if err := json.Unmarshal(lines.Bytes(), &row); err != nil {
				t.Fatalf("%v: %s", err, lines.Text())
			}
			total, ok := row["sum.total"].(string)
			if _, isNumber := row["count"].(float64); !ok || !isNumber || row["key.customer.email"] == nil || row["key.customer.id"] == nil {
				t.Fatalf("a row %v: want the amount a string, the count a number, and the customer's id and e-mail", row)
			}
			totals = append(totals, decimal.MustParse(total))
		}
		if len(totals) != 10 || !slices.IsSortedFunc(totals, func(a, b decimal.Decimal) int { return b.Cmp(a) }) {
			t.Errorf("totals %v, want 10, the greatest first", totals)
		}
	})

	t.Run("receivables need FINANCE and a list", func(t *testing.T) {
		if resp, body := get(t, a, "/export/receivablesAging.csv?rows=customers"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("without FINANCE: HTTP %d %s, want 403", resp.StatusCode, body)
		}
		if resp, body := get(t, a, "/export/receivablesAging.csv", "X-API-Key", financeKey); resp.StatusCode != http.StatusBadRequest ||
			!strings.Contains(string(body), "rows=totals or rows=customers") {
			t.Errorf("without rows: HTTP %d %s, want 400 naming the lists", resp.StatusCode, body)
		}
		resp, body := get(t, a, "/export/receivablesAging.csv?rows=customers&asOf=2026-11-30", "X-API-Key", financeKey)
		header, rows := csvRecords(t, body)
		col := slices.Index(header, "buckets.total")
		if resp.StatusCode != http.StatusOK || col < 0 || !slices.Contains(header, "customer.email") || !slices.Contains(header, "currency") {
			t.Fatalf("HTTP %d, columns %q", resp.StatusCode, header)
		}
		// The same as the report asked in GraphQL.
		var answer struct {
			Data struct {
				ReceivablesAging struct {
					Totals []struct{ Total struct{ Amount string } }
				}
			}
		}
		post(t, a, financeKey, `{ receivablesAging(asOf: "2026-11-30") { totals { total { amount } } } }`, &answer)
		var sum decimal.Decimal
		for _, r := range rows {
			sum, _ = sum.Add(decimal.MustParse(r[col]))
		}
		if totals := answer.Data.ReceivablesAging.Totals; len(totals) != 1 || sum.String() != totals[0].Total.Amount || len(rows) == 0 {
			t.Errorf("the customers' rows add up to %s over %d rows; the report's totals are %+v", sum, len(rows), totals)
		}
	})

	t.Run("order lines", func(t *testing.T) {
		type line struct {
			qty   int
			total string
		}
		want := map[string]line{}
		w.RLock()
		for _, o := range w.Orders {
			for _, l := range o.Lines {
				want[strconv.FormatInt(l.ID, 10)] = line{l.Quantity, l.Total.String()}
			}
		}
		w.RUnlock()
		resp, body := get(t, a, "/export/order_lines.csv")
		header, rows := csvRecords(t, body)
		id, qty, total := slices.Index(header, "line_id"), slices.Index(header, "quantity"), slices.Index(header, "total")
		if resp.StatusCode != http.StatusOK || id < 0 || qty < 0 || total < 0 || len(rows) != len(want) {
			t.Fatalf("HTTP %d, columns %q, %d lines; want %d", resp.StatusCode, header, len(rows), len(want))
		}
		for _, r := range rows {
			if l := want[r[id]]; strconv.Itoa(l.qty) != r[qty] || l.total != r[total] {
				t.Errorf("line %s: %s × total %s, want %+v", r[id], r[qty], r[total], l)
			}
		}
		// None: still a header.
		_, body = get(t, a, "/export/order_lines.csv?from=2099-01-01")
		if none, rows := csvRecords(t, body); !slices.Equal(none, header) || len(rows) != 0 {
			t.Errorf("no lines: %q and %d rows, want the header alone", none, len(rows))
		}
	})

	t.Run("lists, sorted by the store and live", func(t *testing.T) {
		q := url.Values{"orderBy": {`{"field": "LIFETIME_VALUE"}`}, "first": {"5"}, "columns": {"node.email"}}
		resp, body := get(t, a, "/export/customers.csv?"+q.Encode())
		header, rows := csvRecords(t, body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Trestle-Watermark") == "" || !slices.Equal(header, []string{"node.email"}) || len(rows) != 5 {
			t.Errorf("customers by lifetime value: HTTP %d %v, %q, %d rows", resp.StatusCode, resp.Header, header, len(rows))
		}
		resp, body = get(t, a, "/export/products.csv?first=3&columns=node.sku,node.name")
		header, rows = csvRecords(t, body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Trestle-Store-State") != "" || len(header) != 2 || len(rows) != 3 {
			t.Errorf("products read live: HTTP %d %v, %q, %d rows; want 3, without the store's headers", resp.StatusCode, resp.Header, header, len(rows))
		}
	})

	t.Run("a list of enums", func(t *testing.T) {
		resp, body := get(t, a, "/export/missingCustomers.csv?columns=knownTo,missingFrom&limit=5")
		header, rows := csvRecords(t, body)
		if resp.StatusCode != http.StatusOK || !slices.Equal(header, []string{"knownTo", "missingFrom"}) || len(rows) == 0 {
			t.Fatalf("HTTP %d, %q, %d rows", resp.StatusCode, header, len(rows))
		}
		for _, r := range rows {
			for _, systems := range r {
				for _, s := range strings.Split(systems, ";") {
					if !slices.Contains([]string{"CRM", "SHOP", "ERP"}, s) {
						t.Errorf("a row %q: want systems joined by ;", r)
					}
				}
			}
		}
		// A report's argument named fields beside the export's columns.
		resp, body = get(t, a, "/export/fieldDisagreements.csv?fields=PHONE&columns=field")
		header, rows = csvRecords(t, body)
		if resp.StatusCode != http.StatusOK || !slices.Equal(header, []string{"field"}) {
			t.Errorf("fieldDisagreements: HTTP %d, %q", resp.StatusCode, header)
		}
		for _, r := range rows {
			if r[0] != "PHONE" {
				t.Errorf("fieldDisagreements(fields: [PHONE]): a row of %s", r[0])
			}
		}
		_, body = get(t, a, "/export/missingCustomers.ndjson?columns=knownTo&limit=1")
		var row struct{ KnownTo []string }
		if err := json.Unmarshal(body, &row); err != nil || len(row.KnownTo) == 0 {
			t.Errorf("NDJSON %s: want knownTo an array (%v)", body, err)
		}
	})

	t.Run("wrongly asked", func(t *testing.T) {
		for path, want := range map[string]string{
			"/export/orderReport.csv?groupBy=NOPE":          "NOPE",
			"/export/orderReport.csv?limit=many":            `is not a whole number`,
			"/export/orderReport.csv?colour=red":            "colour: no such parameter; orderReport takes filter, groupBy",
			"/export/orderReport.csv?columns=key.planet":    `columns: orderReport's groups have no`,
			"/export/orderReport.csv?filter={status":        "filter: not JSON",
			"/export/orderReport.csv?timeZone=Mars/Olympus": "not an IANA time zone",
			"/export/nothing.csv":                           "NAME is order_lines, orders, ",
		} {
			resp, body := get(t, a, path)
			if resp.StatusCode/100 != 4 || !strings.Contains(string(body), want) {
				t.Errorf("%s: HTTP %d %s, want a refusal saying %q", path, resp.StatusCode, body, want)
			}
		}
	})
}

// post asks a GraphQL query with an API key and decodes the answer.
func post(t *testing.T, a *app.App, key, query string, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, a.URL()+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}
