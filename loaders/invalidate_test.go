package loaders_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
)

func TestInvalidateServesTheNewValue(t *testing.T) {
	env, f, _ := setup(t)
	w := env.Sim.World
	ctx := context.Background()
	inv := w.Invoices[0]
	sku := w.Products[0].SKU
	order := inv.Order
	if order == nil {
		for _, i := range w.Invoices {
			if i.Order != nil {
				inv, order = i, i.Order
				break
			}
		}
	}

	read := func() (invoices []model.Invoice, balanceInvoices []model.Invoice, stock []model.StockLevel) {
		l := f.New()
		var err error
		if invoices, err = l.OrderInvoices.Load(ctx, order.ID)(); err != nil {
			t.Fatal(err)
		}
		if balanceInvoices, err = l.CustomerInvoices.Load(ctx, inv.Customer.ERP.Name)(); err != nil {
			t.Fatal(err)
		}
		if stock, err = l.Stock.Load(ctx, sku)(); err != nil {
			t.Fatal(err)
		}
		return
	}
	read()
	time.Sleep(10 * time.Millisecond) // the cache applies writes asynchronously

	// The ERP changes: the invoice is paid, the stock moves.
	w.Lock()
	inv.Outstanding = decimal.Zero
	inv.Status = "Paid"
	w.Products[0].Bins[0].Actual = decimal.MustNew(999, 0)
	w.Unlock()

	// Unannounced, the cache still serves what it read.
	if _, _, stock := read(); stock[0].OnHand.Equal(decimal.MustNew(999, 0)) {
		t.Fatal("the cache went upstream before any change was announced; the test proves nothing")
	}
	f.Invalidate(events.Change{System: model.SystemERP, Kind: events.KindInvoice, Key: inv.Name,
		Customer: inv.Customer.ERP.Name, Order: strconv.FormatInt(order.ID, 10)})
	f.Invalidate(events.Change{System: model.SystemERP, Kind: events.KindStock, Key: sku})

	invoices, balance, stock := read()
	for _, got := range [][]model.Invoice{invoices, balance} {
		found := false
		for _, i := range got {
			if i.ID == inv.Name {
				found = true
				if i.Status != "Paid" || !i.Outstanding.Amount.IsZero() {
					t.Errorf("invoice %s is %s with %s outstanding after the change", i.ID, i.Status, i.Outstanding.Amount)
				}
			}
		}
		if !found {
			t.Fatalf("invoice %s missing", inv.Name)
		}
	}
	var onHand decimal.Decimal
	for _, s := range stock {
		if s.Warehouse == w.Products[0].Bins[0].Warehouse {
			onHand = s.OnHand
		}
	}
	if !onHand.Equal(decimal.MustNew(999, 0)) {
		t.Errorf("stock on hand %s after the change, want 999", onHand)
	}
}
