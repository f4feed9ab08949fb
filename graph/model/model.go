// Package model holds the domain types shared by the graph, the loaders, the
// cache and the source adapters. Adapters map each upstream dialect into these
// types; money is an exact decimal and every time is in UTC.
package model

import (
	"strings"
	"time"

	"github.com/govalues/decimal"
)

// System names one upstream system by its role.
type System string

// The three upstream systems Trestle consolidates.
const (
	SystemCRM  System = "crm"
	SystemShop System = "shop"
	SystemERP  System = "erp"
)

// Money is an exact amount in one currency (ISO 4217 code).
type Money struct {
	Amount   decimal.Decimal
	Currency string
}

// Contact is a person as the CRM knows them (a HubSpot contact).
type Contact struct {
	ID             string
	Email          string // as stored upstream, not normalised
	FirstName      string
	LastName       string
	Phone          string
	Company        string
	LifecycleStage string
	OwnerID        string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ShopCustomer is a registered account in the shop (a WooCommerce customer).
type ShopCustomer struct {
	ID               int64
	Email            string // as stored upstream, not normalised
	FirstName        string
	LastName         string
	Company          string
	Phone            string
	IsPayingCustomer bool
	CreatedAt        time.Time
	ModifiedAt       time.Time
}

// ERPCustomer is a customer master record in the ERP (an ERPNext Customer).
type ERPCustomer struct {
	ID          string // the document name, e.g. "CUST-2025-00012"
	Name        string // customer_name
	Email       string // email_id as stored upstream; may be empty
	Phone       string // mobile_no as stored upstream; may be empty
	Type        string // "Company" or "Individual"
	Group       string
	Territory   string
	Currency    string // default_currency; may be empty
	CreditLimit *Money // from the credit_limits child table; nil when none is set
	Disabled    bool
	CreatedAt   time.Time
	ModifiedAt  time.Time
}

// Order is a shop order (a WooCommerce order) with its lines.
type Order struct {
	ID            int64
	Number        string
	Status        string // WooCommerce status: pending, processing, on-hold, completed, cancelled, refunded, failed
	Currency      string
	Total         decimal.Decimal // grand total including tax and shipping
	TotalTax      decimal.Decimal
	ShippingTotal decimal.Decimal
	DiscountTotal decimal.Decimal
	CustomerID    int64 // 0 for a guest order
	BillingEmail  string
	BillingName   string
	CreatedAt     time.Time
	ModifiedAt    time.Time
	PaidAt        *time.Time
	CompletedAt   *time.Time
	Lines         []OrderLine
}

// OrderLine is one line item of a shop order.
type OrderLine struct {
	ID        int64
	ProductID int64
	SKU       string
	Name      string
	Currency  string // the order's
	Quantity  int
	Price     decimal.Decimal // unit price before tax
	Subtotal  decimal.Decimal // before discounts, before tax
	Total     decimal.Decimal // after discounts, before tax
	TotalTax  decimal.Decimal
}

// Product is a shop listing (a WooCommerce product).
type Product struct {
	ID            int64
	SKU           string
	Name          string
	Status        string // publish, draft, pending, private
	Price         decimal.Decimal
	RegularPrice  decimal.Decimal
	SalePrice     *decimal.Decimal // nil when not on sale
	Currency      string
	ManageStock   bool
	StockQuantity *int   // nil when the shop does not manage stock for it
	StockStatus   string // instock, outofstock, onbackorder
	ModifiedAt    time.Time
}

// StockLevel is the ERP stock of one item in one warehouse (an ERPNext Bin).
type StockLevel struct {
	SKU        string // item_code
	Warehouse  string
	OnHand     decimal.Decimal // actual_qty
	Reserved   decimal.Decimal // reserved_qty
	Ordered    decimal.Decimal // ordered_qty
	Projected  decimal.Decimal // projected_qty
	ModifiedAt time.Time
}

// Available is what can still be promised: on hand less reserved.
func (s StockLevel) Available() decimal.Decimal {
	d, err := s.OnHand.Sub(s.Reserved)
	if err != nil {
		return decimal.Zero
	}
	return d
}

// Invoice is an ERP sales invoice (an ERPNext Sales Invoice).
type Invoice struct {
	ID          string // the document name, e.g. "ACC-SINV-2025-00042"
	CustomerID  string // the ERP customer's document name
	Status      string // Draft, Unpaid, Partly Paid, Paid, Overdue, Cancelled, ...
	DocStatus   int    // 0 draft, 1 submitted, 2 cancelled
	IssueDate   time.Time
	DueDate     time.Time
	Total       Money  // grand_total
	Outstanding Money  // outstanding_amount
	OrderRef    string // po_no: the shop order id the invoice bills, empty when none
	ModifiedAt  time.Time
}

// Submitted reports whether the invoice is a submitted (booked) document.
func (i Invoice) Submitted() bool { return i.DocStatus == 1 }

// NormalizeEmail is the join key rule for e-mail addresses: trimmed and
// lower-cased. Every system's address goes through it before two records
// are compared.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
