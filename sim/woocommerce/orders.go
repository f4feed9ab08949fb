package woocommerce

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/sim/world"
)

func (a *API) listOrders(w http.ResponseWriter, r *http.Request) {
	serveList(a, w, r, ordersCollection(), func(q query) ([]*world.Order, int) {
		if shown, ok := a.pageByDate(q); ok {
			return shown, len(a.w.Orders)
		}
		if q.orderby == "modified" && len(q.include) == 0 {
			return a.ordersByModified(q)
		}
		matched := a.matchOrders(q)
		a.sortOrders(matched, q)
		return pageOf(q, matched)
	}, func(_ []*world.Order, base string) func(*enc, *world.Order) {
		return func(e *enc, o *world.Order) { a.renderOrder(e, o, base) }
	})
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		a.noRoute(w, r)
		return
	}
	buf := a.getBuf()
	defer a.putBuf(buf)
	e := enc{b: *buf}

	base := siteBase(r)
	render := func(e *enc, rec *world.Order) { a.renderOrder(e, rec, base) }
	var scratch enc

	a.w.RLock()
	o := a.w.OrderByID(id)
	if o != nil {
		emit(&e, &scratch, parseFields(r.URL.Query().Get("_fields")), o, render)
	}
	a.w.RUnlock()

	if o == nil {
		writeError(w, http.StatusNotFound, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
		return
	}
	*buf = e.b
	writeJSON(w, e.b)
}

// pageByDate answers a page of all the orders by date without going
// through them all: the world keeps its orders in the order they were
// placed, as the shop's index on the date does. ok is false for a query
// that filters or sorts otherwise. Callers hold the read lock.
func (a *API) pageByDate(q query) (shown []*world.Order, ok bool) {
	if filtersOrders(q) || !q.modifiedAfter.IsZero() || !q.modifiedBefore.IsZero() || q.orderby != "date" {
		return nil, false
	}
	n := len(a.w.Orders)
	from, to := q.window(n)
	shown = make([]*world.Order, 0, to-from)
	for i := from; i < to; i++ {
		if q.desc {
			shown = append(shown, a.w.Orders[n-1-i])
		} else {
			shown = append(shown, a.w.Orders[i])
		}
	}
	return shown, true
}

// ordersByModified answers a query by modification time (without include=)
// from the index on it, as the shop's index on the modified date does: the
// orders modified between the bounds are found by binary search, and only
// when the query filters on more than that are they gone through. Callers
// hold the read lock.
func (a *API) ordersByModified(q query) (shown []*world.Order, total int) {
	span := modifiedSpan(q, a.orders.Sorted(a.w))
	if !filtersOrders(q) {
		from, to := q.window(len(span))
		shown = make([]*world.Order, 0, to-from)
		for i := from; i < to; i++ {
			if q.desc {
				shown = append(shown, span[len(span)-1-i].Rec)
			} else {
				shown = append(shown, span[i].Rec)
			}
		}
		return shown, len(span)
	}
	keep := orderFilter(q)
	matched := make([]*world.Order, 0, min(len(span), 1024))
	for _, e := range span {
		if keep(e.Rec) {
			matched = append(matched, e.Rec)
		}
	}
	if q.desc {
		slices.Reverse(matched)
	}
	return pageOf(q, matched)
}

// filtersOrders reports whether the query selects orders by anything but
// their modification time.
func filtersOrders(q query) bool {
	return len(q.include) > 0 || len(q.exclude) > 0 || q.search != "" || q.hasCustomer || q.product != 0 ||
		!q.after.IsZero() || !q.before.IsZero() || len(q.statuses) > 0 && !slices.Contains(q.statuses, "any")
}

// matchOrders returns the orders the query selects, in no particular order.
// Callers hold the read lock.
func (a *API) matchOrders(q query) []*world.Order {
	var candidates []*world.Order
	if len(q.include) > 0 {
		candidates = make([]*world.Order, 0, len(q.include))
		for _, id := range q.include {
			if o := a.w.OrderByID(id); o != nil {
				candidates = append(candidates, o)
			}
		}
	} else {
		candidates = a.w.Orders
	}
	keep := orderFilter(q)
	out := make([]*world.Order, 0, min(len(candidates), 1024))
	for _, o := range candidates {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// orderFilter is the test an order passes to be selected, include= aside.
func orderFilter(q query) func(o *world.Order) bool {
	anyStatus := len(q.statuses) == 0 || slices.Contains(q.statuses, "any")
	search := strings.ToLower(q.search)
	return func(o *world.Order) bool {
		switch {
		case !anyStatus && !slices.Contains(q.statuses, o.Status):
		case q.hasCustomer && customerID(o) != q.customer:
		case q.product != 0 && !hasProduct(o, q.product):
		case len(q.exclude) > 0 && slices.Contains(q.exclude, o.ID):
		case !inRange(o.Created, q.after, q.before):
		case !inRange(o.Modified, q.modifiedAfter, q.modifiedBefore):
		case search != "" && !orderMatches(o, search):
		default:
			return true
		}
		return false
	}
}

func (a *API) sortOrders(orders []*world.Order, q query) {
	switch q.orderby {
	case "id":
		slices.SortFunc(orders, func(x, y *world.Order) int { return compareBy(x.ID, y.ID, 0, 0, q.desc) })
	case "modified":
		slices.SortFunc(orders, func(x, y *world.Order) int { return compareTime(x.Modified, y.Modified, x.ID, y.ID, q.desc) })
	case "include":
		rank := includeRank(q.include)
		slices.SortFunc(orders, func(x, y *world.Order) int { return compareBy(rank[x.ID], rank[y.ID], 0, 0, false) })
	default: // date; an order's title and slug are made from its date
		slices.SortFunc(orders, func(x, y *world.Order) int { return compareTime(x.Created, y.Created, x.ID, y.ID, q.desc) })
	}
}

// customerID is the order's customer_id: 0 for a guest checkout.
func customerID(o *world.Order) int64 {
	if o.Guest || o.Person == nil || o.Person.Shop == nil {
		return 0
	}
	return o.Person.Shop.ID
}

func hasProduct(o *world.Order, id int64) bool {
	for _, l := range o.Lines {
		if l.Product != nil && l.Product.ID == id {
			return true
		}
	}
	return false
}

// orderMatches is a small version of the order search: id, billing name,
// e-mail and company, and line item names.
func orderMatches(o *world.Order, needle string) bool {
	if strconv.FormatInt(o.ID, 10) == needle || strings.Contains(strings.ToLower(o.BillingEmail), needle) {
		return true
	}
	if p := o.Person; p != nil {
		if strings.Contains(strings.ToLower(p.FirstName+" "+p.LastName), needle) || strings.Contains(strings.ToLower(p.Company), needle) {
			return true
		}
	}
	for _, l := range o.Lines {
		if l.Product != nil && strings.Contains(strings.ToLower(l.Product.Name), needle) {
			return true
		}
	}
	return false
}

var (
	taxRate    = decimal.MustNew(19, 2)
	zeroAmount = decimal.MustNew(0, 2)
)

// Item ids other than line items are not in the world; they are derived
// from the order id so they stay stable and apart from the line item ids.
const (
	shippingItemBase = 50_000_000
	taxItemBase      = 60_000_000
	couponItemBase   = 70_000_000
	refundBase       = 80_000_000
)

// renderOrder writes one order in the shape of WC_REST_Orders_Controller,
// members in the order the real API sends them. Callers hold the read lock.
func (a *API) renderOrder(e *enc, o *world.Order, base string) {
	p := o.Person
	if p == nil {
		p = &world.Person{}
	}
	discountTax := zeroAmount // the tax the discounts took off
	for _, l := range o.Lines {
		d, _ := lineSubtotalTax(l).Sub(l.Tax)
		discountTax, _ = discountTax.Add(d)
	}

	e.begin()
	e.int("id", o.ID)
	e.int("parent_id", 0)
	e.str("status", o.Status)
	e.str("currency", o.Currency)
	e.str("version", "9.8.5")
	e.bool("prices_include_tax", false)
	e.date("date_created", o.Created, a.loc)
	e.date("date_modified", o.Modified, a.loc)
	e.money("discount_total", o.Discount)
	e.money("discount_tax", discountTax)
	e.money("shipping_total", o.Shipping)
	e.money("shipping_tax", zeroAmount)
	e.money("cart_tax", o.Tax)
	e.money("total", o.Total)
	e.money("total_tax", o.Tax)
	e.int("customer_id", customerID(o))
	e.str("order_key", o.Key)

	addr := addressOf(p)
	e.key("billing")
	e.begin()
	e.str("first_name", p.FirstName)
	e.str("last_name", p.LastName)
	e.str("company", p.Company)
	addr.write(e)
	e.str("email", o.BillingEmail)
	e.str("phone", p.Phone)
	e.end()
	e.key("shipping")
	e.begin()
	e.str("first_name", p.FirstName)
	e.str("last_name", p.LastName)
	e.str("company", p.Company)
	addr.write(e)
	e.str("phone", "")
	e.end()

	e.str("payment_method", o.PaymentMethod)
	e.str("payment_method_title", paymentTitle(o.PaymentMethod))
	if o.Paid != nil && (o.PaymentMethod == "stripe" || o.PaymentMethod == "paypal") {
		e.str("transaction_id", transactionID(o))
	} else {
		e.str("transaction_id", "")
	}
	e.str("customer_ip_address", "")
	e.str("customer_user_agent", "")
	e.str("created_via", "checkout")
	e.str("customer_note", "")
	e.optDate("date_completed", o.Completed, a.loc)
	e.optDate("date_paid", o.Paid, a.loc)
	e.str("cart_hash", "")
	e.str("number", strconv.FormatInt(o.ID, 10))
	e.raw("meta_data", "[]")

	e.key("line_items")
	e.beginArr()
	for _, l := range o.Lines {
		a.renderLine(e, l)
	}
	e.endArr()

	e.key("tax_lines")
	e.beginArr()
	if len(o.Lines) > 0 {
		e.begin()
		e.int("id", taxItemBase+o.ID)
		e.str("rate_code", "DE-MWST-1")
		e.int("rate_id", 1)
		e.str("label", "MwSt.")
		e.bool("compound", false)
		e.money("tax_total", o.Tax)
		e.money("shipping_tax_total", zeroAmount)
		e.int("rate_percent", 19)
		e.raw("meta_data", "[]")
		e.end()
	}
	e.endArr()

	e.key("shipping_lines")
	e.beginArr()
	e.begin()
	e.int("id", shippingItemBase+o.ID)
	if o.Shipping.IsZero() {
		e.str("method_title", "Free shipping")
		e.str("method_id", "free_shipping")
		e.str("instance_id", "2")
	} else {
		e.str("method_title", "Flat rate")
		e.str("method_id", "flat_rate")
		e.str("instance_id", "1")
	}
	e.money("total", o.Shipping)
	e.money("total_tax", zeroAmount)
	e.raw("taxes", "[]")
	e.raw("meta_data", "[]")
	e.end()
	e.endArr()

	e.raw("fee_lines", "[]")
	e.key("coupon_lines")
	e.beginArr()
	if o.Discount.IsPos() {
		e.begin()
		e.int("id", couponItemBase+o.ID)
		e.str("code", "stammkunde10")
		e.money("discount", o.Discount)
		e.money("discount_tax", discountTax)
		e.raw("meta_data", "[]")
		e.end()
	}
	e.endArr()
	e.key("refunds")
	e.beginArr()
	if o.Status == "refunded" {
		e.begin()
		e.int("id", refundBase+o.ID)
		e.str("reason", "")
		e.key("total")
		e.moneyValue(o.Total.Neg())
		e.end()
	}
	e.endArr()

	e.key("payment_url")
	e.b = append(e.b, '"')
	e.escape(base)
	e.escape("/checkout/order-pay/")
	e.b = strconv.AppendInt(e.b, o.ID, 10)
	e.escape("/?pay_for_order=true&key=")
	e.escape(o.Key)
	e.b = append(e.b, '"')
	e.bool("is_editable", o.Status == "pending" || o.Status == "on-hold" || o.Status == "failed")
	e.bool("needs_payment", o.Status == "pending" || o.Status == "failed")
	e.bool("needs_processing", true)
	e.date("date_created_gmt", o.Created, time.UTC)
	e.date("date_modified_gmt", o.Modified, time.UTC)
	e.optDate("date_completed_gmt", o.Completed, time.UTC)
	e.optDate("date_paid_gmt", o.Paid, time.UTC)
	e.str("currency_symbol", currencySymbol(o.Currency))

	e.key("_links")
	e.begin()
	e.link("self", base, "/orders", o.ID)
	e.link("collection", base, "/orders", 0)
	if id := customerID(o); id != 0 {
		e.link("customer", base, "/customers", id)
	}
	e.end()
	e.end()
}

func (a *API) renderLine(e *enc, l *world.OrderLine) {
	pr := l.Product
	if pr == nil {
		pr = &world.Product{}
	}
	e.begin()
	e.int("id", l.ID)
	e.str("name", pr.Name)
	e.int("product_id", pr.ID)
	e.int("variation_id", 0)
	e.int("quantity", int64(l.Quantity))
	e.str("tax_class", "")
	e.money("subtotal", l.Subtotal)
	e.money("subtotal_tax", lineSubtotalTax(l))
	e.money("total", l.Total)
	e.money("total_tax", l.Tax)
	e.key("taxes")
	e.beginArr()
	e.begin()
	e.int("id", 1)
	e.money("total", l.Tax)
	e.money("subtotal", lineSubtotalTax(l))
	e.end()
	e.endArr()
	e.raw("meta_data", "[]")
	e.str("sku", pr.SKU)
	// WooCommerce sends price as a float: the line total after discounts
	// divided by the quantity, not the catalogue price.
	total, _ := l.Total.Float64()
	e.float("price", total/float64(max(l.Quantity, 1)))
	e.raw("image", `{"id":"","src":""}`)
	e.null("parent_name")
	e.end()
}

// lineSubtotalTax is the tax on a line before its discount.
func lineSubtotalTax(l *world.OrderLine) decimal.Decimal {
	t, err := l.Subtotal.Mul(taxRate)
	if err != nil {
		return zeroAmount
	}
	return t.Round(2)
}

func paymentTitle(method string) string {
	switch method {
	case "stripe":
		return "Credit Card (Stripe)"
	case "paypal":
		return "PayPal"
	case "bacs":
		return "Direct bank transfer"
	case "cod":
		return "Cash on delivery"
	}
	return method
}

func transactionID(o *world.Order) string {
	key := strings.TrimPrefix(o.Key, "wc_order_")
	if o.PaymentMethod == "paypal" {
		return strings.ToUpper(key) + "PP"
	}
	return "pi_3" + key + "Tr"
}

func currencySymbol(code string) string {
	switch code {
	case "EUR":
		return "€"
	case "USD":
		return "$"
	case "GBP":
		return "£"
	}
	return code
}

// address is a postal address derived from a person's name, since the world
// keeps none: stable per person and plausible for a German shop.
type address struct {
	street   string
	number   int
	city     string
	postcode string
}

var (
	streets = []string{"Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schillerstraße", "Am Markt", "Goethestraße", "Bergstraße"}
	cities  = [][2]string{{"Berlin", "10115"}, {"Hamburg", "20095"}, {"München", "80331"}, {"Köln", "50667"}, {"Frankfurt am Main", "60311"}, {"Leipzig", "04109"}, {"Dresden", "01067"}, {"Hannover", "30159"}}
)

func addressOf(p *world.Person) address {
	h := uint32(2166136261) // FNV-1a over the person's identity
	for _, s := range [...]string{p.FirstName, p.LastName, p.Email} {
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
	}
	c := cities[h%uint32(len(cities))]
	return address{street: streets[(h>>8)%uint32(len(streets))], number: int(h>>16)%120 + 1, city: c[0], postcode: c[1]}
}

func (ad address) write(e *enc) {
	e.key("address_1")
	e.b = append(e.b, '"')
	e.escape(ad.street)
	e.b = append(e.b, ' ')
	e.b = strconv.AppendInt(e.b, int64(ad.number), 10)
	e.b = append(e.b, '"')
	e.str("address_2", "")
	e.str("city", ad.city)
	e.str("state", "")
	e.str("postcode", ad.postcode)
	e.str("country", "DE")
}
