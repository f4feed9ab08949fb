package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogFields(t *testing.T) {
	tests := []struct {
		line string
		want map[string]string
	}{
		{`time=2026-01-02T15:04:05.123Z level=INFO msg="backfill caught up" system=shop took=1.5s`,
			map[string]string{"time": "2026-01-02T15:04:05.123Z", "level": "INFO", "msg": "backfill caught up", "system": "shop", "took": "1.5s"}},
		{`msg="say \"hi\"" empty= last=x`, map[string]string{"msg": `say "hi"`, "empty": "", "last": "x"}},
		{`msg="unterminated`, map[string]string{}},
		{`Trestle on http://127.0.0.1:8080`, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if got := logFields(tt.line); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("logFields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackfillLog(t *testing.T) {
	// The lines as the store logs them, through log/slog's text handler.
	var log bytes.Buffer
	log.WriteString("Trestle on http://127.0.0.1:8080\n")
	logger := slog.New(slog.NewTextHandler(&log, nil)).With("component", "store")
	caughtUp := func(system, kind string, took time.Duration) {
		logger.Info("backfill caught up", "system", system, "kind", kind, "new", 10, "read", 10,
			"watermark", time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC), "took", took)
	}
	caughtUp("erp", "invoice", 300*time.Millisecond)
	logger.Warn("backfill stopped; the next one resumes it", "system", "crm", "kind", "customer", "new", 0, "err", "HTTP 503")
	caughtUp("shop", "order", 2*time.Second)
	caughtUp("erp", "invoice", time.Millisecond) // a later sweep's
	log.WriteString("time=bad level=INFO msg=\"backfill caught up\" system=crm kind=customer took=1s\n")

	finishes, stopped := backfillLog(log.String())
	var got []string
	for _, f := range finishes {
		if f.at.IsZero() {
			t.Errorf("%s caught up at no time", f.name())
		}
		got = append(got, f.name()+" "+f.took.String())
	}
	if want := []string{"erp invoice 300ms", "shop order 2s"}; !reflect.DeepEqual(got, want) || stopped != 1 {
		t.Errorf("backfillLog = %v and %d stopped, want %v and 1", got, stopped, want)
	}
}

func TestSystemsDone(t *testing.T) {
	start := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	finishes := []finish{
		{system: "erp", kind: "invoice", at: at(1), took: time.Second},
		{system: "shop", kind: "order", at: at(2), took: 2 * time.Second},
		{system: "erp", kind: "stock", at: at(3), took: 2 * time.Second},
		{system: "shop", kind: "product", at: at(4.5), took: 2500 * time.Millisecond},
	}
	if got, want := systemsDone(finishes, start), "erp 3.00, shop 4.50"; got != want {
		t.Errorf("systemsDone = %q, want %q", got, want)
	}
	if got, want := lastSystem(finishes), "shop: order 2.00, product 2.50"; got != want {
		t.Errorf("lastSystem = %q, want %q", got, want)
	}
}

func TestChangedRow(t *testing.T) {
	order := http.Header{"X-Wc-Webhook-Resource": {"order"}}
	tests := []struct {
		name   string
		path   string
		header http.Header
		body   string
		want   string // the row; empty for an error
	}{
		{"order", "/webhooks/shop", order, `{"id":42,"status":"completed"}`, "orders 42"},
		{"product", "/webhooks/shop", http.Header{"X-Wc-Webhook-Resource": {"product"}}, `{"id":42}`, ""},
		{"order without id", "/webhooks/shop", order, `{"status":"completed"}`, ""},
		{"invoice", "/webhooks/erp", nil, `{"doctype":"Sales Invoice","name":"ACC-SINV-1"}`, "invoices ACC-SINV-1"},
		{"bin", "/webhooks/erp", nil, `{"doctype":"Bin","name":"BIN-7","item_code":"TD-10001"}`, "stock TD-10001"},
		{"bin without item", "/webhooks/erp", nil, `{"doctype":"Bin","name":"BIN-7"}`, ""},
		{"erp customer", "/webhooks/erp", nil, `{"doctype":"Customer","name":"CUST-1"}`, "erp_customers CUST-1"},
		{"other doctype", "/webhooks/erp", nil, `{"doctype":"Item","name":"TD-1"}`, ""},
		{"crm", "/webhooks/crm", nil, `[]`, ""},
		{"not json", "/webhooks/erp", nil, `nope`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row, err := changedRow(tt.path, tt.header, []byte(tt.body))
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("changedRow = %s, want an error", row)
			case tt.want != "" && (err != nil || row.String() != tt.want):
				t.Errorf("changedRow = %s, %v; want %s", row, err, tt.want)
			case err == nil && !strings.HasPrefix(row.query, "SELECT max(read_at) FROM "+row.table+" WHERE "):
				t.Errorf("query %q", row.query)
			}
		})
	}
}

// The relay passes every webhook on, and hands over only those answered
// 200 once it is armed, up to its count.
func TestRelay(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("X-Frappe-Webhook-Signature"))
		mu.Unlock()
		if r.Header.Get("X-Frappe-Webhook-Signature") == "bad" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer gw.Close()
	rel := newRelay(1)
	post := func(signature string) int {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/erp", strings.NewReader(`{"doctype":"Bin","name":"BIN-7","item_code":"TD-1"}`))
		req.Header.Set("X-Frappe-Webhook-Signature", signature)
		rec := httptest.NewRecorder()
		rel.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post("early"); code != http.StatusServiceUnavailable {
		t.Errorf("before the gateway runs: HTTP %d, want 503", code)
	}
	rel.setTarget(gw.URL)
	if code := post("unarmed"); code != http.StatusOK || len(rel.sent) != 0 {
		t.Errorf("unarmed: HTTP %d, %d handed over; want 200, none", code, len(rel.sent))
	}
	rel.arm()
	before := time.Now()
	for _, sig := range []string{"bad", "good", "past the count"} {
		post(sig)
	}
	if len(rel.sent) != 1 {
		t.Fatalf("%d handed over, want 1", len(rel.sent))
	}
	c := <-rel.sent
	if c.row.String() != "stock TD-1" || c.sent.Before(before) || c.answered.Before(c.sent) {
		t.Errorf("handed over %s sent %v answered %v", c.row, c.sent, c.answered)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/webhooks/erp unarmed", "/webhooks/erp bad", "/webhooks/erp good", "/webhooks/erp past the count"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the gateway got %q, want %q", got, want)
	}
}
