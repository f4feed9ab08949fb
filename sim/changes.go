package sim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/govalues/decimal"
	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

// DemoWebhookSecret is the secret the simulators sign their webhooks with,
// in every dialect; the no-config gateway is set up with it.
const DemoWebhookSecret = "demo-webhook-secret"

// Changes configures RunChanges.
type Changes struct {
	// Target is the base URL the webhooks go to: /webhooks/shop and
	// /webhooks/erp below it.
	Target string
	Secret string        // signs every webhook
	Every  time.Duration // one change this often
}

// RunChanges makes a change in the world every so often, as the real
// systems' users would (stock moves in the ERP, an order's status moves on
// in the shop, an invoice gets paid, a contact moves on in the CRM), and
// sends the shop's and the ERP's to Target as those systems would: a signed
// WooCommerce or ERPNext webhook. CRM changes send nothing (a HubSpot
// webhook needs a public app); a gateway polls the CRM for them. On the
// first tick of each new day it runs the daily jobs (RunDailyJobs), which
// send nothing either. Times come from the Sim's clock. It runs until ctx
// ends.
func (s *Sim) RunChanges(ctx context.Context, c Changes, logger *slog.Logger) {
	client := &http.Client{Timeout: 5 * time.Second}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	t := time.NewTicker(c.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if marked := s.RunDailyJobs(); len(marked) > 0 {
			logger.Info("ERP daily job marked invoices overdue", "count", len(marked))
		}
		var path string
		var body []byte
		var header http.Header
		switch rng.IntN(4) {
		case 0:
			path, body, header = s.moveStock(rng, c.Secret)
		case 1:
			path, body, header = s.advanceOrder(rng, c.Secret)
		case 2:
			path, body, header = s.payInvoice(rng, c.Secret)
		default:
			s.advanceContact(rng) // no webhook: the gateway polls the CRM
		}
		if body == nil {
			continue
		}
		// A change made is told, even when ctx ends meanwhile: the data
		// has changed.
		if err := deliver(context.WithoutCancel(ctx), client, c.Target+path, body, header); err != nil {
			logger.Warn("change webhook not delivered", "target", c.Target+path, "err", err)
		}
	}
}

func deliver(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// frappe is the ERPNext webhook of a document, in the template the gateway
// documents (events.ERPNextTemplate).
func frappe(secret, doctype, name, modified, itemCode, customer, poNo string) (string, []byte, http.Header) {
	body, _ := json.Marshal(map[string]string{"doctype": doctype, "name": name, "event": "on_update",
		"modified": modified, "item_code": itemCode, "customer": customer, "po_no": poNo})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Frappe-Webhook-Signature", sign(secret, body))
	return "/webhooks/erp", body, h
}

// moveStock receives or ships some of a SKU in one warehouse.
func (s *Sim) moveStock(rng *rand.Rand, secret string) (string, []byte, http.Header) {
	w := s.World
	w.Lock()
	p := w.Products[rng.IntN(len(w.Products))]
	b := p.Bins[rng.IntN(len(p.Bins))]
	delta := int64(rng.IntN(21) - 10)
	next, err := b.Actual.Add(decimal.MustNew(delta, 0))
	if err != nil || next.IsNeg() {
		next = b.Actual
	}
	w.Unlock()
	return s.SetStock(b, next, secret)
}

// SetStock sets what a bin has on hand, as a stock entry in the ERP does,
// and returns the ERP's webhook of it: its path, body and headers, signed
// with secret.
func (s *Sim) SetStock(b *world.Bin, actual decimal.Decimal, secret string) (path string, body []byte, header http.Header) {
	w := s.World
	w.Lock()
	b.Actual, b.Modified = actual, s.now().UTC()
	name, sku, modified := b.Name, b.SKU, erpnext.SiteTime(b.Modified)
	w.Unlock()
	return frappe(secret, "Bin", name, modified, sku, "", "")
}

// advanceOrder moves a recent open order on (pending to processing,
// processing or on-hold to completed), or, as often, takes a new one.
func (s *Sim) advanceOrder(rng *rand.Rand, secret string) (string, []byte, http.Header) {
	w := s.World
	w.Lock()
	defer w.Unlock()
	now := s.now().UTC()
	if rng.IntN(2) == 0 {
		return wooOrder(secret, w.PlaceOrder(rng, now), "created", now)
	}
	next := map[string]string{"pending": "processing", "processing": "completed", "on-hold": "completed"}
	recent := w.Orders[max(0, len(w.Orders)-500):]
	for range 20 {
		o := recent[rng.IntN(len(recent))]
		to, ok := next[o.Status]
		if !ok {
			continue
		}
		o.Status, o.Modified = to, now
		if to == "completed" {
			o.Completed = &now
		}
		return wooOrder(secret, o, "updated", now)
	}
	return wooOrder(secret, w.PlaceOrder(rng, now), "created", now)
}

// wooOrder is WooCommerce's webhook of an order event. The caller holds the
// world's lock.
func wooOrder(secret string, o *world.Order, event string, now time.Time) (string, []byte, http.Header) {
	customer := int64(0)
	if !o.Guest && o.Person.Shop != nil {
		customer = o.Person.Shop.ID
	}
	body, _ := json.Marshal(map[string]any{"id": o.ID, "status": o.Status, "customer_id": customer,
		"date_modified_gmt": o.Modified.Format("2006-01-02T15:04:05")})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-WC-Webhook-Topic", "order."+event)
	h.Set("X-WC-Webhook-Resource", "order")
	h.Set("X-WC-Webhook-Event", event)
	h.Set("X-WC-Webhook-Delivery-ID", strconv.FormatInt(now.UnixNano(), 10))
	h.Set("X-WC-Webhook-Signature", sign(secret, body))
	return "/webhooks/shop", body, h
}

// payInvoice pays an open invoice, mostly in full, sometimes in part; the
// ERP's status rules then make it Paid, Partly Paid or (past due) Overdue.
func (s *Sim) payInvoice(rng *rand.Rand, secret string) (string, []byte, http.Header) {
	w := s.World
	w.Lock()
	defer w.Unlock()
	now := s.now().UTC()
	for range 50 {
		inv := w.Invoices[rng.IntN(len(w.Invoices))]
		amount := inv.Outstanding
		if rng.IntN(4) == 0 {
			amount, _ = amount.Mul(decimal.MustNew(int64(20+rng.IntN(60)), 2))
			amount = amount.Round(2)
		}
		if !erpnext.Pay(inv, amount, now) {
			continue
		}
		poNo := ""
		if inv.Order != nil {
			poNo = strconv.FormatInt(inv.Order.ID, 10)
		}
		return frappe(secret, "Sales Invoice", inv.Name, erpnext.SiteTime(inv.Modified), "", inv.Customer.ERP.Name, poNo)
	}
	return "", nil, nil
}

// stages is the order a contact's lifecycle stage moves in.
var stages = map[string]string{"subscriber": "lead", "lead": "marketingqualifiedlead",
	"marketingqualifiedlead": "salesqualifiedlead", "salesqualifiedlead": "opportunity", "opportunity": "customer"}

// advanceContact moves a contact's lifecycle stage on.
func (s *Sim) advanceContact(rng *rand.Rand) {
	w := s.World
	w.Lock()
	defer w.Unlock()
	for range 50 {
		p := w.People[rng.IntN(len(w.People))]
		if p.CRM == nil {
			continue
		}
		if next, ok := stages[p.CRM.LifecycleStage]; ok {
			p.CRM.LifecycleStage, p.CRM.Modified = next, s.now().UTC()
			return
		}
	}
}
