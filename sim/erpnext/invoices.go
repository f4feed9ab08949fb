package erpnext

import (
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/sim/world"
)

// Today is the site's date at the instant now, as Frappe's getdate() gives
// it in the system time zone, kept as the world keeps dates (00:00 UTC).
func Today(now time.Time) time.Time {
	y, m, d := now.In(location()).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// UpdateInvoiceStatus is ERPNext's daily scheduled job
// erpnext.controllers.accounts_controller.update_invoice_status: every
// submitted Unpaid or Partly Paid invoice with money outstanding past its
// due date becomes Overdue. It returns the invoices it changed. The caller
// holds the world's write lock.
//
// The job is one UPDATE of the status column, not a document save: modified
// stays as it was and no document event runs, so no webhook goes out and a
// poller that reads by modified does not see the change, as on a real site.
func UpdateInvoiceStatus(w *world.World, today time.Time) []*world.Invoice {
	var out []*world.Invoice
	for _, inv := range w.Invoices {
		if inv.DocStatus == 1 && (inv.Status == "Unpaid" || inv.Status == "Partly Paid") &&
			inv.Outstanding.IsPos() && inv.Due.Before(today) {
			inv.Status = "Overdue"
			out = append(out, inv)
		}
	}
	return out
}

// Pay records a payment against a submitted invoice at the instant now, as
// submitting a Payment Entry does: the outstanding amount drops by amount
// (at most to zero), the invoice's set_status runs for the site's date, and
// its modified moves, so a poller sees the payment. It reports whether
// the invoice took the payment: a draft, a cancelled or a settled one does
// not. The caller holds the world's write lock.
func Pay(inv *world.Invoice, amount decimal.Decimal, now time.Time) bool {
	if inv.DocStatus != 1 || !inv.Outstanding.IsPos() || !amount.IsPos() {
		return false
	}
	left, err := inv.Outstanding.Sub(amount)
	if err != nil || left.IsNeg() {
		left = decimal.Zero
	}
	inv.Outstanding = left
	inv.Status = inv.StatusOn(Today(now))
	inv.Modified = now.UTC()
	return true
}
