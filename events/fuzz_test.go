package events

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzWebhooks posts arbitrary bodies, correctly signed, to each receiver:
// whatever the body, the answer is 200 or 400 (or 413 over the limit),
// never a panic or a server error.
func FuzzWebhooks(f *testing.F) {
	f.Add(uint8(0), []byte(wooOrder))
	f.Add(uint8(0), []byte("webhook_id=12"))
	f.Add(uint8(1), []byte(`[{"eventId":100,"occurredAt":1795003170000,"subscriptionType":"contact.propertyChange","objectId":5101}]`))
	f.Add(uint8(2), []byte(`{"doctype": "Bin", "name": "a1", "event": "on_update", "modified": "2026-11-24 12:59:31.000000", "item_code": "TD-10001", "customer": "", "po_no": ""}`))
	f.Add(uint8(2), []byte(`{"doctype": "Sales Invoice", "modified": "24.11.2026"}`))
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	w := NewWebhooks(WebhookOptions{Secrets: secrets, PublicURL: "https://trestle.example.com", ERPZone: time.UTC,
		Sink:   func(context.Context, []Change) error { return nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	w.now = func() time.Time { return now }
	h := w.Handler()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	f.Fuzz(func(t *testing.T, system uint8, body []byte) {
		var req *http.Request
		switch system % 3 {
		case 0:
			req = httptest.NewRequest(http.MethodPost, "/webhooks/shop", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-WC-Webhook-Signature", sign(secrets.Shop, string(body)))
			req.Header.Set("X-WC-Webhook-Topic", "order.updated")
		case 1:
			req = httptest.NewRequest(http.MethodPost, "/webhooks/crm", strings.NewReader(string(body)))
			req.Header.Set("X-HubSpot-Request-Timestamp", ts)
			req.Header.Set("X-HubSpot-Signature-v3", sign(secrets.CRM, "POST", "https://trestle.example.com/webhooks/crm", string(body), ts))
		default:
			req = httptest.NewRequest(http.MethodPost, "/webhooks/erp", strings.NewReader(string(body)))
			req.Header.Set("X-Frappe-Webhook-Signature", sign(secrets.ERP, string(body)))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if s := rec.Code; s != http.StatusOK && s != http.StatusBadRequest && s != http.StatusRequestEntityTooLarge {
			t.Fatalf("system %d, body %q: HTTP %d %s", system%3, body, s, rec.Body)
		}
	})
}
