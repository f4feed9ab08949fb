package model

import "github.com/govalues/decimal"

// The graph's derived fields of the domain types. They are methods, not
// resolvers, so the executor answers them inline rather than concurrently:
// they cost nothing to compute.

func money(d decimal.Decimal, currency string) Money { return Money{Amount: d, Currency: currency} }

// TotalMoney, TotalTaxMoney, ShippingTotalMoney and DiscountTotalMoney are
// the order's amounts in its currency.
func (o *Order) TotalMoney() Money         { return money(o.Total, o.Currency) }
func (o *Order) TotalTaxMoney() Money      { return money(o.TotalTax, o.Currency) }
func (o *Order) ShippingTotalMoney() Money { return money(o.ShippingTotal, o.Currency) }
func (o *Order) DiscountTotalMoney() Money { return money(o.DiscountTotal, o.Currency) }

// Guest reports whether the order was placed without a shop account.
func (o *Order) Guest() bool { return o.CustomerID == 0 }

// UnitPrice, TotalMoney and TaxMoney are the line's amounts in the order's
// currency.
func (l *OrderLine) UnitPrice() Money  { return money(l.Price, l.Currency) }
func (l *OrderLine) TotalMoney() Money { return money(l.Total, l.Currency) }
func (l *OrderLine) TaxMoney() Money   { return money(l.TotalTax, l.Currency) }

// PriceMoney, RegularPriceMoney and SalePriceMoney are the product's prices
// in the shop's currency; SalePriceMoney is nil when it is not on sale.
func (p *Product) PriceMoney() Money        { return money(p.Price, p.Currency) }
func (p *Product) RegularPriceMoney() Money { return money(p.RegularPrice, p.Currency) }
func (p *Product) SalePriceMoney() *Money {
	if p.SalePrice == nil {
		return nil
	}
	m := money(*p.SalePrice, p.Currency)
	return &m
}

// The shop's order statuses and the graph's, both ways.
var (
	orderStatuses = map[string]OrderStatus{
		"pending": OrderStatusPending, "processing": OrderStatusProcessing, "on-hold": OrderStatusOnHold,
		"completed": OrderStatusCompleted, "cancelled": OrderStatusCancelled, "refunded": OrderStatusRefunded,
		"failed": OrderStatusFailed, "checkout-draft": OrderStatusDraft, "trash": OrderStatusTrash,
	}
	shopStatuses = invert(orderStatuses)

	invoiceStatuses = map[string]InvoiceStatus{
		"Draft": InvoiceStatusDraft, "Unpaid": InvoiceStatusUnpaid, "Partly Paid": InvoiceStatusPartlyPaid,
		"Paid": InvoiceStatusPaid, "Overdue": InvoiceStatusOverdue, "Cancelled": InvoiceStatusCancelled,
		"Return": InvoiceStatusReturn, "Credit Note Issued": InvoiceStatusCreditNoteIssued,
		"Unpaid and Discounted":      InvoiceStatusUnpaidAndDiscounted,
		"Partly Paid and Discounted": InvoiceStatusPartlyPaidAndDiscounted,
		"Overdue and Discounted":     InvoiceStatusOverdueAndDiscounted,
		"Internal Transfer":          InvoiceStatusInternalTransfer, "Submitted": InvoiceStatusSubmitted,
	}
	erpStatuses = invert(invoiceStatuses)
)

func invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// GraphStatus is the order's status in the graph; OTHER for one a shop
// plugin added.
func (o *Order) GraphStatus() OrderStatus {
	if s, ok := orderStatuses[o.Status]; ok {
		return s
	}
	return OrderStatusOther
}

// GraphStatus is the invoice's status in the graph; OTHER for one this
// version does not know.
func (i *Invoice) GraphStatus() InvoiceStatus {
	if s, ok := invoiceStatuses[i.Status]; ok {
		return s
	}
	return InvoiceStatusOther
}

// ShopStatus is the shop's name of a graph order status; false for OTHER.
func ShopStatus(s OrderStatus) (string, bool) { name, ok := shopStatuses[s]; return name, ok }

// ERPStatus is the ERP's name of a graph invoice status; false for OTHER.
func ERPStatus(s InvoiceStatus) (string, bool) { name, ok := erpStatuses[s]; return name, ok }

// EmailAddress is the customer's normalised e-mail address, nil when no
// record has one.
func (c *Customer) EmailAddress() *string {
	if c.Email == "" {
		return nil
	}
	return &c.Email
}

// Sources are the customer's keys in each system; nil where a system does
// not know them.
func (c *Customer) Sources() SourceIds {
	var ids SourceIds
	if c.CRMID != "" {
		ids.Crm = &c.CRMID
	}
	if c.ShopID != 0 {
		shop := itoa(c.ShopID)
		ids.Shop = &shop
	}
	if c.ERPID != "" {
		ids.Erp = &c.ERPID
	}
	return ids
}
