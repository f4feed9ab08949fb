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
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

const exportKey = "trk_export_test"

// get fetches path from the gateway with the export key and headers.
func get(t *testing.T, a *app.App, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", exportKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// A transport of its own, so that Accept-Encoding is left as set.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// storeState asks storeStatus for the sync's state and watermark.
func storeState(t *testing.T, a *app.App) (state, watermark, failure string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.URL()+"/query", strings.NewReader(`{"query":"{ storeStatus { state watermark error } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", exportKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			StoreStatus struct {
				State     string
				Watermark *string
				Error     *string
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	s := out.Data.StoreStatus
	if s.Watermark != nil {
		watermark = *s.Watermark
	}
	if s.Error != nil {
		failure = *s.Error
	}
	return s.State, watermark, failure
}

func TestExportOrders(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 5, Size: world.Size{People: 80, Orders: 400, Products: 10}})
	cfg := simulated(env)
	cfg.Store.Path = filepath.Join(t.TempDir(), "store.db")
	sum := sha256.Sum256([]byte(exportKey))
	cfg.Auth = config.Auth{APIKeys: []config.APIKey{{Name: "bi", SHA256: hex.EncodeToString(sum[:])}}}
	// The ERP is down from the start: the backfill cannot finish.
	env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	a := running(t, cfg)
	w := env.Sim.World

	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		state, _, failure := storeState(t, a)
		if state == "FAILING" && strings.Contains(failure, "erp") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("storeStatus %s %q with the ERP down, want FAILING naming the ERP", state, failure)
		}
	}
	resp, body := get(t, a, "/export/orders.csv")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "STORE_BACKFILLING") || !strings.Contains(string(body), "partial=true") {
		t.Errorf("export before the first backfill: HTTP %d %s, want 503 STORE_BACKFILLING", resp.StatusCode, body)
	}
	resp, body = get(t, a, "/export/orders.csv?partial=true")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Trestle-Store-State") != "failing" || resp.Header.Get("Trestle-Watermark") != "" {
		t.Errorf("a partial export: HTTP %d, state %q, watermark %q; want 200 failing without a watermark",
			resp.StatusCode, resp.Header.Get("Trestle-Store-State"), resp.Header.Get("Trestle-Watermark"))
	}
	if n := bytes.Count(body, []byte("\r\n")) - 1; n != len(w.Orders) {
		t.Errorf("a partial export with the shop up: %d orders, want all %d", n, len(w.Orders))
	}
	if resp, body := get(t, a, "/export/orders.csv", "X-API-Key", "trk_wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong key: HTTP %d %s, want 401", resp.StatusCode, body)
	}

	// The ERP is back: the sync catches up, and the export is whole.
	env.Sim.ERP.SetFaults(sim.Faults{})
	var watermark string
	for deadline := time.Now().Add(time.Minute); watermark == ""; time.Sleep(50 * time.Millisecond) {
		if _, watermark, _ = storeState(t, a); watermark == "" && time.Now().After(deadline) {
			t.Fatal("the store did not catch up after the ERP came back")
		}
	}
	resp, body = get(t, a, "/export/orders.csv")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="orders.csv"` {
		t.Fatalf("export: HTTP %d %v", resp.StatusCode, resp.Header)
	}
	if _, err := time.Parse(time.RFC3339, resp.Header.Get("Trestle-Watermark")); err != nil {
		t.Errorf("Trestle-Watermark %q: %v", resp.Header.Get("Trestle-Watermark"), err)
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := "id,number,status,created,paid,completed,currency,total,tax,shipping,discount,customer_name,customer_email"
	if got := strings.Join(records[0], ","); got != header {
		t.Errorf("header %s, want %s", got, header)
	}
	w.RLock()
	defer w.RUnlock()
	if len(records)-1 != len(w.Orders) {
		t.Fatalf("%d orders exported, want %d", len(records)-1, len(w.Orders))
	}
	for _, r := range records[1:] {
		id, _ := strconv.ParseInt(r[0], 10, 64)
		o := w.OrderByID(id)
		if o == nil {
			t.Errorf("order %s exported, not in the shop", r[0])
			continue
		}
		if r[2] != o.Status || r[3] != o.Created.UTC().Format(time.RFC3339) || r[6] != o.Currency ||
			r[7] != o.Total.String() || r[8] != o.Tax.String() || r[9] != o.Shipping.String() {
			t.Errorf("order %d exported as %v, want status %s created %s %s %s tax %s shipping %s",
				id, r, o.Status, o.Created.UTC().Format(time.RFC3339), o.Currency, o.Total, o.Tax, o.Shipping)
		}
		if !o.Guest && o.Person.Email != "" && r[12] != o.Person.Email {
			t.Errorf("order %d: customer e-mail %q, want %q", id, r[12], o.Person.Email)
		}
	}

	// A range of dates in a time zone, as NDJSON.
	berlin, _ := time.LoadLocation("Europe/Berlin")
	mid := w.Orders[len(w.Orders)/2].Created.In(berlin)
	from := time.Date(mid.Year(), mid.Month(), 1, 0, 0, 0, 0, berlin)
	to := from.AddDate(0, 1, -1) // the month's last day, included
	want := 0
	for _, o := range w.Orders {
		if !o.Created.Before(from) && o.Created.Before(to.AddDate(0, 0, 1)) {
			want++
		}
	}
	resp, body = get(t, a, "/export/orders.ndjson?tz=Europe/Berlin&from="+from.Format(time.DateOnly)+"&to="+to.Format(time.DateOnly))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("NDJSON export: HTTP %d %s", resp.StatusCode, body)
	}
	got := 0
	for sc := bufio.NewScanner(bytes.NewReader(body)); sc.Scan(); got++ {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %d: %v", got+1, err)
		}
		text, _ := row["created"].(string)
		created, err := time.Parse(time.RFC3339, text)
		if err != nil || !strings.HasSuffix(text, "+01:00") && !strings.HasSuffix(text, "+02:00") || created.Before(from) {
			t.Errorf("line %d: created %v (%v), want a time in Berlin from %s", got+1, row["created"], err, from)
		}
		if _, ok := row["total"].(string); !ok {
			t.Errorf("line %d: total %v, want a string (exact)", got+1, row["total"])
		}
		if _, ok := row["id"].(float64); !ok {
			t.Errorf("line %d: id %v, want a number", got+1, row["id"])
		}
	}
	if got != want || want == 0 {
		t.Errorf("%d orders from %s to %s in Berlin, want %d", got, from.Format(time.DateOnly), to.Format(time.DateOnly), want)
	}

	// Compressed when asked, the same rows.
	resp, zipped := get(t, a, "/export/orders.csv", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, plainExport(t, a)) {
		t.Errorf("the gzipped export differs from the plain one (err %v)", err)
	}

	for path, want := range map[string]string{
		"/export/orders.csv?from=2026-13-01":               "from: \\\"2026-13-01\\\" is neither a date",
		"/export/orders.csv?tz=Mars/Olympus":               "tz: \\\"Mars/Olympus\\\" is not an IANA time zone",
		"/export/orders.csv?from=2026-02-01&to=2026-01-01": "to: must not be before from",
		"/export/orders.xlsx":                              "no such export",
		"/export/refunds.csv":                              "no such export",
	} {
		resp, body := get(t, a, path)
		if resp.StatusCode/100 != 4 || !strings.Contains(string(body), want) {
			t.Errorf("%s: HTTP %d %s, want a 4xx saying %s", path, resp.StatusCode, body, want)
		}
	}
}

// plainExport is the whole CSV export, uncompressed.
func plainExport(t *testing.T, a *app.App) []byte {
	t.Helper()
	_, body := get(t, a, "/export/orders.csv")
	return body
}
