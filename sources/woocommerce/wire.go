package woocommerce

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/graph/model"
)

// The raw upstream shapes hold only the members the mapping reads: the
// decoder skips the rest without allocating, which keeps a 100-order page
// cheap to decode.

type wcOrder struct {
	ID               int64           `json:"id"`
	Number           string          `json:"number"`
	Status           string          `json:"status"`
	Currency         string          `json:"currency"`
	DateCreatedGMT   gmtTime         `json:"date_created_gmt"`
	DateModifiedGMT  gmtTime         `json:"date_modified_gmt"`
	DatePaidGMT      gmtTime         `json:"date_paid_gmt"`
	DateCompletedGMT gmtTime         `json:"date_completed_gmt"`
	DiscountTotal    decimal.Decimal `json:"discount_total"`
	ShippingTotal    decimal.Decimal `json:"shipping_total"`
	Total            decimal.Decimal `json:"total"`
	TotalTax         decimal.Decimal `json:"total_tax"`
	CustomerID       int64           `json:"customer_id"`
	Billing          struct {
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Email     string `json:"email"`
	} `json:"billing"`
	LineItems []wcLineItem `json:"line_items"`
}

type wcLineItem struct {
	ID        int64           `json:"id"`
	Name      string          `json:"name"`
	ProductID int64           `json:"product_id"`
	Quantity  int             `json:"quantity"`
	Subtotal  decimal.Decimal `json:"subtotal"`
	Total     decimal.Decimal `json:"total"`
	TotalTax  decimal.Decimal `json:"total_tax"`
	SKU       string          `json:"sku"`
}

type wcProduct struct {
	ID              int64      `json:"id"`
	Name            string     `json:"name"`
	SKU             string     `json:"sku"`
	Status          string     `json:"status"`
	Price           optDecimal `json:"price"`
	RegularPrice    optDecimal `json:"regular_price"`
	SalePrice       optDecimal `json:"sale_price"`
	ManageStock     bool       `json:"manage_stock"`
	StockQuantity   *int       `json:"stock_quantity"`
	StockStatus     string     `json:"stock_status"`
	DateModifiedGMT gmtTime    `json:"date_modified_gmt"`
}

type wcCustomer struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Billing   struct {
		Company string `json:"company"`
		Phone   string `json:"phone"`
	} `json:"billing"`
	IsPayingCustomer bool    `json:"is_paying_customer"`
	DateCreatedGMT   gmtTime `json:"date_created_gmt"`
	DateModifiedGMT  gmtTime `json:"date_modified_gmt"`
}

type wcCurrency struct {
	Code string `json:"code"`
}

// wireLayout is how WordPress writes dates: no zone. The *_gmt members are
// UTC; the members without the suffix are in the site's timezone and are
// never read here.
const wireLayout = "2006-01-02T15:04:05"

// gmtTime is a *_gmt date member; null (an order not yet paid) is the zero time.
type gmtTime struct{ time.Time }

func (t *gmtTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("date %s is not a string", b)
	}
	s := b[1 : len(b)-1]
	if len(s) == 0 {
		t.Time = time.Time{}
		return nil
	}
	parsed, ok := parseWire(s)
	if !ok {
		return fmt.Errorf("date %s is not YYYY-MM-DDTHH:MM:SS", b)
	}
	t.Time = parsed
	return nil
}

// parseWire reads YYYY-MM-DDTHH:MM:SS as UTC without allocating.
func parseWire(s []byte) (time.Time, bool) {
	if len(s) != len(wireLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for _, c := range s[from:to] {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}

// ptr returns the time or nil when unset.
func (t gmtTime) ptr() *time.Time {
	if t.IsZero() {
		return nil
	}
	v := t.Time
	return &v
}

// optDecimal is a price member, which WooCommerce sends as "" when unset.
type optDecimal struct {
	d  decimal.Decimal
	ok bool
}

func (o *optDecimal) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) || bytes.Equal(b, []byte(`""`)) {
		*o = optDecimal{}
		return nil
	}
	if err := o.d.UnmarshalJSON(b); err != nil {
		return err
	}
	o.ok = true
	return nil
}

func mapOrders(raw []wcOrder) []model.Order {
	out := make([]model.Order, len(raw))
	for i := range raw {
		mapOrder(&raw[i], &out[i])
	}
	return out
}

func mapOrder(r *wcOrder, o *model.Order) {
	*o = model.Order{
		ID:            r.ID,
		Number:        r.Number,
		Status:        r.Status,
		Currency:      r.Currency,
		Total:         r.Total,
		TotalTax:      r.TotalTax,
		ShippingTotal: r.ShippingTotal,
		DiscountTotal: r.DiscountTotal,
		CustomerID:    r.CustomerID,
		BillingEmail:  r.Billing.Email,
		BillingName:   joinName(r.Billing.FirstName, r.Billing.LastName),
		CreatedAt:     r.DateCreatedGMT.Time,
		ModifiedAt:    r.DateModifiedGMT.Time,
		PaidAt:        r.DatePaidGMT.ptr(),
		CompletedAt:   r.DateCompletedGMT.ptr(),
		Lines:         make([]model.OrderLine, len(r.LineItems)),
	}
	for j := range r.LineItems {
		l := &r.LineItems[j]
		o.Lines[j] = model.OrderLine{
			ID:        l.ID,
			ProductID: l.ProductID,
			SKU:       l.SKU,
			Name:      l.Name,
			Currency:  r.Currency,
			Quantity:  l.Quantity,
			Price:     unitPrice(l),
			Subtotal:  l.Subtotal,
			Total:     l.Total,
			TotalTax:  l.TotalTax,
		}
	}
}

// unitPrice is the catalogue price of one unit: the line subtotal (before
// discounts) over the quantity. The API's own "price" member is a float of
// the discounted total over the quantity, so it is neither exact nor the
// unit price.
func unitPrice(l *wcLineItem) decimal.Decimal {
	if l.Quantity <= 0 {
		return l.Subtotal
	}
	q, err := decimal.New(int64(l.Quantity), 0)
	if err != nil {
		return l.Subtotal
	}
	p, err := l.Subtotal.Quo(q)
	if err != nil {
		return l.Subtotal
	}
	return p.Trim(2)
}

func joinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}

func mapProducts(raw []wcProduct, currency string) []model.Product {
	out := make([]model.Product, len(raw))
	for i := range raw {
		r := &raw[i]
		p := model.Product{
			ID:           r.ID,
			SKU:          r.SKU,
			Name:         r.Name,
			Status:       r.Status,
			Price:        r.Price.d,
			RegularPrice: r.RegularPrice.d,
			Currency:     currency,
			ManageStock:  r.ManageStock,
			StockStatus:  r.StockStatus,
			ModifiedAt:   r.DateModifiedGMT.Time,
		}
		if r.SalePrice.ok {
			sale := r.SalePrice.d
			p.SalePrice = &sale
		}
		if r.ManageStock {
			p.StockQuantity = r.StockQuantity
		}
		out[i] = p
	}
	return out
}

func mapCustomers(raw []wcCustomer) []model.ShopCustomer {
	out := make([]model.ShopCustomer, len(raw))
	for i := range raw {
		r := &raw[i]
		out[i] = model.ShopCustomer{
			ID:               r.ID,
			Email:            r.Email,
			FirstName:        r.FirstName,
			LastName:         r.LastName,
			Company:          r.Billing.Company,
			Phone:            r.Billing.Phone,
			IsPayingCustomer: r.IsPayingCustomer,
			CreatedAt:        r.DateCreatedGMT.Time,
			ModifiedAt:       r.DateModifiedGMT.Time,
		}
	}
	return out
}

// formatGMT writes a time for a date filter sent with dates_are_gmt=true.
func formatGMT(t time.Time) string { return t.UTC().Format(wireLayout) }

// joinIDs writes ids as the comma list include= takes.
func joinIDs(ids []int64) string {
	b := make([]byte, 0, len(ids)*8)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(b)
}
