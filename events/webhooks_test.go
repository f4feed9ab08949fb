package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
)

var secrets = config.WebhookSecrets{Shop: "wc-secret", CRM: "hs-client-secret", ERP: "frappe-secret"}

func sign(secret string, parts ...string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		mac.Write([]byte(p))
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// receiver serves the webhooks and records what passed the de-duplication
// stage. Its ERP is in Berlin.
type receiver struct {
	srv  *httptest.Server
	now  time.Time
	mu   sync.Mutex
	got  []Change
	fail error
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	w := NewWebhooks(WebhookOptions{Secrets: secrets, PublicURL: "https://trestle.example.com", ERPZone: berlin,
		Sink: NewDedupe(100).Sink(func(_ context.Context, cs []Change) error {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if rc.fail != nil {
				return rc.fail
			}
			rc.got = append(rc.got, cs...)
			return nil
		}), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w.now = func() time.Time { return rc.now }
	rc.srv = httptest.NewServer(w.Handler())
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) post(t *testing.T, path, contentType string, header map[string]string, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, rc.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (rc *receiver) changes() []Change {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Change(nil), rc.got...)
}

const wooOrder = `{"id":4711,"status":"completed","customer_id":42,"date_modified_gmt":"2026-11-24T11:59:30","total":"29.35"}`

func wooHeaders(sig string) map[string]string {
	return map[string]string{"X-WC-Webhook-Signature": sig, "X-WC-Webhook-Topic": "order.updated",
		"X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "updated", "X-WC-Webhook-Delivery-ID": "9001"}
}

func TestShopWebhook(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		header                  map[string]string
		status                  int
		want                    *Change
	}{
		{"signed order update", "application/json", wooOrder, wooHeaders(sign(secrets.Shop, wooOrder)), 200,
			&Change{System: model.SystemShop, Kind: KindOrder, Key: "4711", Op: OpUpdated, Customer: "42",
				At: time.Date(2026, 11, 24, 11, 59, 30, 0, time.UTC)}},
		{"ping", "application/x-www-form-urlencoded", "webhook_id=17", nil, 200, nil},
		{"no signature", "application/json", wooOrder, wooHeaders(""), 401, nil},
		{"wrong secret", "application/json", wooOrder, wooHeaders(sign("other", wooOrder)), 401, nil},
		{"tampered body", "application/json", strings.Replace(wooOrder, "29.35", "0.01", 1), wooHeaders(sign(secrets.Shop, wooOrder)), 401, nil},
		{"signature not base64", "application/json", wooOrder, wooHeaders("%%%"), 401, nil},
		{"signed but malformed", "application/json", `{"id":`, wooHeaders(sign(secrets.Shop, `{"id":`)), 400, nil},
		{"form body without ping is not a ping", "application/x-www-form-urlencoded", "id=4711", nil, 401, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			if got := rc.post(t, "/webhooks/shop", tt.contentType, tt.header, tt.body); got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
			got := rc.changes()
			switch {
			case tt.want == nil && len(got) > 0:
				t.Fatalf("changes %+v, want none", got)
			case tt.want != nil && (len(got) != 1 || got[0] != *tt.want):
				t.Fatalf("changes %+v, want %+v", got, *tt.want)
			}
		})
	}
}

func TestCRMWebhook(t *testing.T) {
	const events = `[{"eventId":100,"subscriptionId":1,"portalId":62515,"appId":54321,"occurredAt":1795003170000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":5101,"propertyName":"lifecyclestage","propertyValue":"customer","changeSource":"CRM"},` +
		`{"eventId":101,"occurredAt":1795003171000,"subscriptionType":"contact.deletion","objectId":5104},` +
		`{"eventId":102,"occurredAt":1795003172000,"subscriptionType":"deal.creation","objectId":9}]`
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(now.Add(-time.Minute).UnixMilli(), 10)
	// HubSpot signs the URI it called, with some escapes decoded.
	uri := "https://trestle.example.com/webhooks/crm?portal=62515&note=a:b"
	headers := func(sig, ts string) map[string]string {
		return map[string]string{"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": ts}
	}
	good := sign(secrets.CRM, "POST", uri, events, ts)
	old := strconv.FormatInt(now.Add(-6*time.Minute).UnixMilli(), 10)
	tests := []struct {
		name   string
		header map[string]string
		body   string
		status int
		want   int
	}{
		{"signed", headers(good, ts), events, 200, 2},
		{"no signature", headers("", ts), events, 401, 0},
		{"no timestamp", headers(good, ""), events, 401, 0},
		{"signed over another timestamp", headers(good, strconv.FormatInt(now.UnixMilli(), 10)), events, 401, 0},
		{"older than five minutes", headers(sign(secrets.CRM, "POST", uri, events, old), old), events, 401, 0},
		{"tampered body", headers(good, ts), strings.Replace(events, "5101", "5102", 1), 401, 0},
		{"signed but not an array", headers(sign(secrets.CRM, "POST", uri, `{}`, ts), ts), `{}`, 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			if got := rc.post(t, "/webhooks/crm?portal=62515&note=a%3Ab", "application/json", tt.header, tt.body); got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
			got := rc.changes()
			if len(got) != tt.want {
				t.Fatalf("%d changes, want %d: %+v", len(got), tt.want, got)
			}
			if tt.want == 2 {
				want := []Change{
					{System: model.SystemCRM, Kind: KindCustomer, Key: "5101", Op: OpUpdated, At: time.UnixMilli(1795003170000).UTC()},
					{System: model.SystemCRM, Kind: KindCustomer, Key: "5104", Op: OpDeleted, At: time.UnixMilli(1795003171000).UTC()},
				}
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestERPWebhook(t *testing.T) {
	invoice := `{"doctype": "Sales Invoice", "name": "ACC-SINV-2026-00042", "event": "on_update", "modified": "2026-11-24 12:59:30.123456", "item_code": "", "customer": "CUST-2025-00012", "po_no": "4711"}`
	bin := `{"doctype": "Bin", "name": "a1b2c3d4e5", "event": "on_update", "modified": "2026-11-24 12:59:31.000000", "item_code": "TD-10001", "customer": "", "po_no": ""}`
	header := func(sig string) map[string]string { return map[string]string{"X-Frappe-Webhook-Signature": sig} }
	tests := []struct {
		name   string
		body   string
		header map[string]string
		status int
		want   *Change
	}{
		{"invoice", invoice, header(sign(secrets.ERP, invoice)), 200, &Change{System: model.SystemERP, Kind: KindInvoice,
			Key: "ACC-SINV-2026-00042", Op: OpUpdated, Customer: "CUST-2025-00012", Order: "4711",
			At: time.Date(2026, 11, 24, 11, 59, 30, 123456000, time.UTC)}},
		{"bin", bin, header(sign(secrets.ERP, bin)), 200, &Change{System: model.SystemERP, Kind: KindStock,
			Key: "TD-10001", Op: OpUpdated, At: time.Date(2026, 11, 24, 11, 59, 31, 0, time.UTC)}},
		{"no signature", invoice, header(""), 401, nil},
		{"wrong secret", invoice, header(sign("other", invoice)), 401, nil},
		{"not the template", `{"data": 1}`, header(sign(secrets.ERP, `{"data": 1}`)), 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			if got := rc.post(t, "/webhooks/erp", "application/json", tt.header, tt.body); got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
			got := rc.changes()
			if tt.want == nil {
				if len(got) > 0 {
					t.Fatalf("changes %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0] != *tt.want {
				t.Fatalf("changes %+v, want %+v", got, *tt.want)
			}
		})
	}
}

func TestWebhookBodyLimit(t *testing.T) {
	rc := newReceiver(t)
	big := `{"id":1,"pad":"` + strings.Repeat("x", MaxWebhookBody) + `"}`
	if got := rc.post(t, "/webhooks/shop", "application/json", wooHeaders(sign(secrets.Shop, big)), big); got != 413 {
		t.Fatalf("status %d, want 413", got)
	}
	if len(rc.changes()) != 0 {
		t.Fatal("an oversized body changed something")
	}
}

func TestDuplicateDeliveriesApplyOnce(t *testing.T) {
	rc := newReceiver(t)
	h := wooHeaders(sign(secrets.Shop, wooOrder))
	for range 3 {
		if got := rc.post(t, "/webhooks/shop", "application/json", h, wooOrder); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	if n := len(rc.changes()); n != 1 {
		t.Fatalf("%d changes from three deliveries of one, want 1", n)
	}
}

func TestRefusedChangesAreRetried(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = errors.New("bus unavailable")
	h := wooHeaders(sign(secrets.Shop, wooOrder))
	if got := rc.post(t, "/webhooks/shop", "application/json", h, wooOrder); got != 503 {
		t.Fatalf("status %d, want 503 so the sender retries", got)
	}
	rc.fail = nil
	if got := rc.post(t, "/webhooks/shop", "application/json", h, wooOrder); got != 200 {
		t.Fatalf("retry: status %d", got)
	}
	if n := len(rc.changes()); n != 1 {
		t.Fatalf("%d changes after the retry, want 1: the refused delivery was not dropped as a duplicate", n)
	}
}

func TestNoReceiverWithoutASecret(t *testing.T) {
	w := NewWebhooks(WebhookOptions{Secrets: config.WebhookSecrets{Shop: "s"}, Sink: func(context.Context, []Change) error { return nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := httptest.NewRecorder()
	w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks/crm", bytes.NewReader([]byte("[]"))))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d, want 404 for a system without a secret", rec.Code)
	}
}

func TestShopProductWebhookNamesTheSKU(t *testing.T) {
	rc := newReceiver(t)
	body := `{"id":100,"sku":"TD-10001","stock_quantity":7,"date_modified_gmt":"2026-11-24T11:00:00"}`
	h := map[string]string{"X-WC-Webhook-Signature": sign(secrets.Shop, body), "X-WC-Webhook-Topic": "product.updated", "X-WC-Webhook-Delivery-ID": "77"}
	if got := rc.post(t, "/webhooks/shop", "application/json", h, body); got != 200 {
		t.Fatalf("status %d", got)
	}
	if got := rc.changes(); len(got) != 1 || got[0].Kind != KindProduct || got[0].Key != "TD-10001" {
		t.Fatalf("changes %+v, want the product by SKU", got)
	}
}
