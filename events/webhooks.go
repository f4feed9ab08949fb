package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
)

// MaxWebhookBody bounds a webhook request's body; a larger one gets 413.
const MaxWebhookBody = 1 << 20

// hubspotMaxAge is how old a HubSpot request may be before it is refused as
// a possible replay, as HubSpot's v3 signature rules say.
const hubspotMaxAge = 5 * time.Minute

// Sink takes the changes a verified webhook or a poll reported. An error
// means they were not taken: a webhook is answered 503 so the upstream
// retries, a poll is read again.
type Sink func(ctx context.Context, changes []Change) error

// WebhookOptions configure the receivers.
type WebhookOptions struct {
	// Secrets each system signs with; a system without one has no receiver.
	Secrets config.WebhookSecrets
	// PublicURL is the gateway's public base URL
	// (https://trestle.example.com) when a proxy stands in front of it:
	// HubSpot signs the URL it called.
	PublicURL string
	// ERPZone is the ERPNext site's time zone, which the modified time in
	// its webhooks is in; UTC when nil.
	ERPZone *time.Location
	// Sink takes the changes, through the de-duplication stage.
	Sink   Sink
	Logger *slog.Logger
}

// webhookRetryAfter is the Retry-After, in seconds, of a webhook whose
// changes were not taken.
const webhookRetryAfter = 10

// Webhooks receives the three systems' webhooks:
//
//	POST /webhooks/shop   WooCommerce, X-WC-Webhook-Signature
//	POST /webhooks/crm    HubSpot, X-HubSpot-Signature-v3
//	POST /webhooks/erp    ERPNext, X-Frappe-Webhook-Signature
//
// A missing or wrong signature gets 401 and changes nothing, a malformed
// body 400, a body over 1 MB 413. Changes the sink does not take get 503
// with Retry-After.
type Webhooks struct {
	WebhookOptions
	now func() time.Time
}

// NewWebhooks makes the receivers.
func NewWebhooks(o WebhookOptions) *Webhooks {
	o.PublicURL = strings.TrimSuffix(o.PublicURL, "/")
	if o.ERPZone == nil {
		o.ERPZone = time.UTC
	}
	return &Webhooks{WebhookOptions: o, now: time.Now}
}

// Handler serves the receivers of the systems that have a secret.
func (w *Webhooks) Handler() http.Handler {
	mux := http.NewServeMux()
	if w.Secrets.Shop != "" {
		mux.HandleFunc("POST /webhooks/shop", w.receive(model.SystemShop, w.shop))
	}
	if w.Secrets.CRM != "" {
		mux.HandleFunc("POST /webhooks/crm", w.receive(model.SystemCRM, w.crm))
	}
	if w.Secrets.ERP != "" {
		mux.HandleFunc("POST /webhooks/erp", w.receive(model.SystemERP, w.erp))
	}
	return mux
}

// rejection is a webhook refused with a status and a reason for the sender.
type rejection struct {
	status int
	reason string
}

func (r *rejection) Error() string { return r.reason }

func reject(status int, format string, args ...any) error {
	return &rejection{status: status, reason: fmt.Sprintf(format, args...)}
}

// receive reads a webhook's body within the bound, has the dialect verify
// and parse it and hands the changes to the sink.
func (w *Webhooks) receive(system model.System, parse func(r *http.Request, body []byte) ([]Change, error)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxWebhookBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(rw, "body over 1 MB", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(rw, "body could not be read", http.StatusBadRequest)
			return
		}
		changes, err := parse(r, body)
		if err != nil {
			var rej *rejection
			if !errors.As(err, &rej) {
				rej = &rejection{status: http.StatusBadRequest, reason: err.Error()}
			}
			w.Logger.Warn("webhook refused", "system", system, "status", rej.status, "reason", rej.reason)
			http.Error(rw, rej.reason, rej.status)
			return
		}
		if len(changes) > 0 {
			if err := w.Sink(r.Context(), changes); err != nil {
				w.Logger.Error("webhook changes not taken", "system", system, "err", err)
				rw.Header().Set("Retry-After", strconv.Itoa(webhookRetryAfter))
				http.Error(rw, "changes could not be taken; retry", http.StatusServiceUnavailable)
				return
			}
		}
		rw.WriteHeader(http.StatusOK)
	}
}

// signedBy reports whether sig is the base64 HMAC-SHA256 of msg under secret,
// compared in constant time.
func signedBy(secret string, sig string, msg ...[]byte) bool {
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil || sig == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	for _, m := range msg {
		mac.Write(m)
	}
	return hmac.Equal(mac.Sum(nil), want)
}

// shop verifies and reads a WooCommerce webhook: the resource (order,
// product, customer) as JSON, signed over the raw body. The first delivery
// of a new webhook is an unsigned form-encoded ping, webhook_id=N, answered
// 200 and otherwise ignored.
func (w *Webhooks) shop(r *http.Request, body []byte) ([]Change, error) {
	sig := r.Header.Get("X-WC-Webhook-Signature")
	if sig == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Has("webhook_id") {
			return nil, nil
		}
	}
	if !signedBy(w.Secrets.Shop, sig, body) {
		return nil, reject(http.StatusUnauthorized, "missing or wrong X-WC-Webhook-Signature")
	}
	resource, event, _ := strings.Cut(r.Header.Get("X-WC-Webhook-Topic"), ".")
	kind, ok := map[string]Kind{"order": KindOrder, "product": KindProduct, "customer": KindCustomer}[resource]
	if !ok {
		return nil, nil // a topic the gateway does not follow
	}
	var rec struct {
		ID              int64  `json:"id"`
		SKU             string `json:"sku"`
		CustomerID      int64  `json:"customer_id"`
		DateModifiedGMT string `json:"date_modified_gmt"`
	}
	if err := json.Unmarshal(body, &rec); err != nil || rec.ID == 0 {
		return nil, errors.New("body is not a WooCommerce resource with an id")
	}
	c := Change{System: model.SystemShop, Kind: kind, Key: strconv.FormatInt(rec.ID, 10), Op: wooOp(event), At: w.now().UTC()}
	if kind == KindProduct && rec.SKU != "" {
		c.Key = rec.SKU // products are known by SKU across the systems
	}
	if t, err := time.Parse("2006-01-02T15:04:05", rec.DateModifiedGMT); err == nil {
		c.At = t.UTC()
	}
	if kind == KindOrder && rec.CustomerID != 0 {
		c.Customer = strconv.FormatInt(rec.CustomerID, 10)
	}
	return []Change{c}, nil
}

func wooOp(event string) Op {
	switch event {
	case "created":
		return OpCreated
	case "deleted":
		return OpDeleted
	default: // updated, restored
		return OpUpdated
	}
}

// crm verifies and reads a HubSpot webhook: a JSON array of events, signed
// (v3) over method, URI, body and the request's timestamp, which must be at
// most five minutes old.
func (w *Webhooks) crm(r *http.Request, body []byte) ([]Change, error) {
	ts := r.Header.Get("X-HubSpot-Request-Timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, reject(http.StatusUnauthorized, "missing or bad X-HubSpot-Request-Timestamp")
	}
	if age := w.now().Sub(time.UnixMilli(ms)); age > hubspotMaxAge || age < -hubspotMaxAge {
		return nil, reject(http.StatusUnauthorized, "X-HubSpot-Request-Timestamp is more than 5 minutes off")
	}
	uri := hubspotURI(w.requestURL(r))
	if !signedBy(w.Secrets.CRM, r.Header.Get("X-HubSpot-Signature-v3"), []byte(r.Method), []byte(uri), body, []byte(ts)) {
		return nil, reject(http.StatusUnauthorized, "missing or wrong X-HubSpot-Signature-v3")
	}
	var events []struct {
		SubscriptionType string `json:"subscriptionType"`
		ObjectID         int64  `json:"objectId"`
		OccurredAt       int64  `json:"occurredAt"`
	}
	if err := json.Unmarshal(body, &events); err != nil {
		return nil, errors.New("body is not an array of HubSpot events")
	}
	var changes []Change
	for _, e := range events {
		object, event, _ := strings.Cut(e.SubscriptionType, ".")
		if object != "contact" || e.ObjectID == 0 {
			continue // an object the gateway does not follow
		}
		op := OpUpdated
		switch event {
		case "creation":
			op = OpCreated
		case "deletion", "privacyDeletion":
			op = OpDeleted
		}
		changes = append(changes, Change{System: model.SystemCRM, Kind: KindCustomer, Key: strconv.FormatInt(e.ObjectID, 10),
			Op: op, At: time.UnixMilli(e.OccurredAt).UTC()})
	}
	return changes, nil
}

// requestURL is the URL the sender called: the configured public base URL
// with the request's path and query, or the request's own scheme and host.
func (w *Webhooks) requestURL(r *http.Request) string {
	if w.PublicURL != "" {
		return w.PublicURL + r.URL.RequestURI()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// hubspotURI decodes the escapes HubSpot decodes before signing a URI.
var hubspotURI = strings.NewReplacer("%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$",
	"%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";").Replace

// ERPNextTemplate is the request body an ERPNext webhook must be configured
// with (Webhook > Request Structure: JSON), one webhook per DocType and
// event, with the event written in:
//
//	{"doctype": "{{ doc.doctype }}", "name": "{{ doc.name }}", "event": "on_update",
//	 "modified": "{{ doc.modified }}", "item_code": "{{ doc.item_code or '' }}",
//	 "customer": "{{ doc.customer or '' }}", "po_no": "{{ doc.po_no or '' }}"}
//
// for Sales Invoice (on_update, on_submit, on_cancel), Customer (after_insert,
// on_update, on_trash) and Bin (on_update).
const ERPNextTemplate = `{"doctype": "{{ doc.doctype }}", "name": "{{ doc.name }}", "event": "on_update", "modified": "{{ doc.modified }}", "item_code": "{{ doc.item_code or '' }}", "customer": "{{ doc.customer or '' }}", "po_no": "{{ doc.po_no or '' }}"}`

// erp verifies and reads an ERPNext webhook sent with ERPNextTemplate,
// signed over the raw body.
func (w *Webhooks) erp(r *http.Request, body []byte) ([]Change, error) {
	if !signedBy(w.Secrets.ERP, r.Header.Get("X-Frappe-Webhook-Signature"), body) {
		return nil, reject(http.StatusUnauthorized, "missing or wrong X-Frappe-Webhook-Signature")
	}
	var doc struct {
		DocType  string `json:"doctype"`
		Name     string `json:"name"`
		Event    string `json:"event"`
		Modified string `json:"modified"`
		ItemCode string `json:"item_code"`
		Customer string `json:"customer"`
		PONo     string `json:"po_no"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.DocType == "" || doc.Name == "" {
		return nil, errors.New("body is not the documented ERPNext webhook template")
	}
	c := Change{System: model.SystemERP, Key: doc.Name, Op: OpUpdated, At: w.now().UTC()}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", doc.Modified, w.ERPZone); err == nil {
		c.At = t.UTC()
	}
	switch doc.DocType {
	case "Sales Invoice":
		c.Kind, c.Customer, c.Order = KindInvoice, doc.Customer, doc.PONo
	case "Customer":
		c.Kind = KindCustomer
	case "Bin":
		if doc.ItemCode == "" {
			return nil, errors.New("a Bin webhook needs item_code in its body")
		}
		c.Kind, c.Key = KindStock, doc.ItemCode
	default:
		return nil, nil // a DocType the gateway does not follow
	}
	switch doc.Event {
	case "after_insert":
		c.Op = OpCreated
	case "on_trash":
		c.Op = OpDeleted
	}
	return []Change{c}, nil
}
