package woocommerce

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/trestlehq/trestle/sim/world"
)

func (a *API) listProducts(w http.ResponseWriter, r *http.Request) {
	serveList(a, w, r, productsCollection(), func(q query) ([]*world.Product, int) {
		if q.orderby == "modified" && len(q.include) == 0 && len(q.skus) == 0 {
			return a.productsByModified(q)
		}
		matched := a.matchProducts(q)
		sortProducts(matched, q)
		return pageOf(q, matched)
	}, func(_ []*world.Product, base string) func(*enc, *world.Product) {
		return func(e *enc, p *world.Product) { a.renderProduct(e, p, base) }
	})
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		a.noRoute(w, r)
		return
	}
	base := siteBase(r)
	render := func(e *enc, rec *world.Product) { a.renderProduct(e, rec, base) }
	var scratch enc
	buf := a.getBuf()
	defer a.putBuf(buf)
	e := enc{b: *buf}

	a.w.RLock()
	p := a.w.ProductByID(id)
	var permalink string
	if p != nil {
		emit(&e, &scratch, parseFields(r.URL.Query().Get("_fields")), p, render)
		permalink = base + "/product/" + slug(p) + "/"
	}
	a.w.RUnlock()

	if p == nil {
		writeError(w, http.StatusNotFound, "woocommerce_rest_product_invalid_id", "Invalid ID.")
		return
	}
	// Products are a public post type, so the item route links the page.
	w.Header().Set("Link", "<"+permalink+`>; rel="alternate"; type=text/html`)
	*buf = e.b
	writeJSON(w, e.b)
}

// matchProducts returns the products the query selects. Callers hold the
// read lock.
func (a *API) matchProducts(q query) []*world.Product {
	var candidates []*world.Product
	switch {
	case len(q.include) > 0:
		for _, id := range q.include {
			if p := a.w.ProductByID(id); p != nil {
				candidates = append(candidates, p)
			}
		}
	case len(q.skus) > 0:
		for _, sku := range q.skus {
			p := a.w.ProductBySKU(sku)
			if p == nil {
				// The SKU lookup table compares case-insensitively, as MySQL does.
				p = a.w.ProductBySKU(strings.ToUpper(sku))
			}
			if p != nil && !slices.Contains(candidates, p) {
				candidates = append(candidates, p)
			}
		}
	default:
		candidates = a.w.Products
	}
	keep := productFilter(q)
	out := make([]*world.Product, 0, len(candidates))
	for _, p := range candidates {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// productsByModified answers a query by modification time (without include=
// or sku=) from the index on it: only the products modified between the
// bounds are gone through. Callers hold the read lock.
func (a *API) productsByModified(q query) ([]*world.Product, int) {
	keep := productFilter(q)
	var matched []*world.Product
	for _, e := range modifiedSpan(q, a.products.Sorted(a.w)) {
		if keep(e.Rec) {
			matched = append(matched, e.Rec)
		}
	}
	if q.desc {
		slices.Reverse(matched)
	}
	return pageOf(q, matched)
}

// productFilter is the test a product passes to be selected, include= and
// sku= aside.
func productFilter(q query) func(p *world.Product) bool {
	status := "any"
	if len(q.statuses) > 0 {
		status = q.statuses[0]
	}
	search := strings.ToLower(q.search)
	return func(p *world.Product) bool {
		switch {
		case status == "any" && p.Status == "trash":
		case status != "any" && p.Status != status:
		case len(q.skus) > 0 && len(q.include) > 0 && !skuIn(p.SKU, q.skus):
		case q.stockStatus != "" && p.StockStatus() != q.stockStatus:
		case len(q.exclude) > 0 && slices.Contains(q.exclude, p.ID):
		case !inRange(p.Created, q.after, q.before):
		case !inRange(p.Modified, q.modifiedAfter, q.modifiedBefore):
		case search != "" && !strings.Contains(strings.ToLower(p.Name), search):
		default:
			return true
		}
		return false
	}
}

func skuIn(sku string, skus []string) bool {
	for _, s := range skus {
		if strings.EqualFold(s, sku) {
			return true
		}
	}
	return false
}

func sortProducts(products []*world.Product, q query) {
	var f func(x, y *world.Product) int
	switch q.orderby {
	case "id":
		f = func(x, y *world.Product) int { return compareBy(x.ID, y.ID, 0, 0, q.desc) }
	case "modified":
		f = func(x, y *world.Product) int { return compareTime(x.Modified, y.Modified, x.ID, y.ID, q.desc) }
	case "title":
		f = func(x, y *world.Product) int { return compareBy(x.Name, y.Name, x.ID, y.ID, q.desc) }
	case "slug":
		f = func(x, y *world.Product) int { return compareBy(slug(x), slug(y), x.ID, y.ID, q.desc) }
	case "price":
		f = func(x, y *world.Product) int {
			c := x.Price().Cmp(y.Price())
			if c == 0 {
				c = compareBy(x.ID, y.ID, 0, 0, false)
			}
			if q.desc {
				return -c
			}
			return c
		}
	case "include":
		rank := includeRank(q.include)
		f = func(x, y *world.Product) int { return compareBy(rank[x.ID], rank[y.ID], 0, 0, false) }
	default: // date, and the sorts by sales, rating and menu order, which are all equal here
		f = func(x, y *world.Product) int { return compareTime(x.Created, y.Created, x.ID, y.ID, q.desc) }
	}
	slices.SortFunc(products, f)
}

// slug is the product's post_name: its name in lower case with hyphens,
// made unique with the SKU as WordPress would with a counter.
func slug(p *world.Product) string {
	var b strings.Builder
	b.Grow(len(p.Name) + len(p.SKU) + 1)
	dash := false
	for _, r := range strings.ToLower(p.Name + " " + p.SKU) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// renderProduct writes one product in the shape of WC_REST_Products_Controller.
// Callers hold the read lock.
func (a *API) renderProduct(e *enc, p *world.Product, base string) {
	s := slug(p)
	e.begin()
	e.int("id", p.ID)
	e.str("name", p.Name)
	e.str("slug", s)
	e.str("permalink", base+"/product/"+s+"/")
	e.date("date_created", p.Created, a.loc)
	e.date("date_created_gmt", p.Created, time.UTC)
	e.date("date_modified", p.Modified, a.loc)
	e.date("date_modified_gmt", p.Modified, time.UTC)
	e.str("type", "simple")
	e.str("status", p.Status)
	e.bool("featured", false)
	e.str("catalog_visibility", "visible")
	e.str("description", "")
	e.str("short_description", "")
	e.str("sku", p.SKU)
	e.money("price", p.Price())
	e.money("regular_price", p.RegularPrice)
	if p.SalePrice != nil {
		e.money("sale_price", *p.SalePrice)
	} else {
		e.str("sale_price", "")
	}
	e.null("date_on_sale_from")
	e.null("date_on_sale_from_gmt")
	e.null("date_on_sale_to")
	e.null("date_on_sale_to_gmt")
	e.bool("on_sale", p.SalePrice != nil)
	e.bool("purchasable", p.Status == "publish")
	e.int("total_sales", 0)
	e.bool("virtual", false)
	e.bool("downloadable", false)
	e.raw("downloads", "[]")
	e.int("download_limit", -1)
	e.int("download_expiry", -1)
	e.str("external_url", "")
	e.str("button_text", "")
	e.str("tax_status", "taxable")
	e.str("tax_class", "")
	e.bool("manage_stock", p.ManageStock)
	if p.ManageStock {
		e.int("stock_quantity", int64(p.ShopStock))
	} else {
		e.null("stock_quantity")
	}
	e.str("backorders", "no")
	e.bool("backorders_allowed", false)
	e.bool("backordered", false)
	e.null("low_stock_amount")
	e.bool("sold_individually", false)
	e.str("weight", "")
	e.raw("dimensions", `{"length":"","width":"","height":""}`)
	e.bool("shipping_required", true)
	e.bool("shipping_taxable", true)
	e.str("shipping_class", "")
	e.int("shipping_class_id", 0)
	e.bool("reviews_allowed", true)
	e.str("average_rating", "0")
	e.int("rating_count", 0)
	e.raw("upsell_ids", "[]")
	e.raw("cross_sell_ids", "[]")
	e.int("parent_id", 0)
	e.str("purchase_note", "")
	e.key("categories")
	e.beginArr()
	e.begin()
	e.int("id", categoryID(p.ItemGroup))
	e.str("name", p.ItemGroup)
	e.str("slug", strings.ToLower(p.ItemGroup))
	e.end()
	e.endArr()
	e.raw("tags", "[]")
	e.raw("images", "[]")
	e.raw("attributes", "[]")
	e.raw("default_attributes", "[]")
	e.raw("variations", "[]")
	e.raw("grouped_products", "[]")
	e.int("menu_order", 0)
	e.key("price_html")
	e.b = append(e.b, '"')
	e.escape(`<span class="woocommerce-Price-amount amount"><bdi>`)
	e.escape(strings.Replace(p.Price().Rescale(2).String(), ".", ",", 1))
	e.escape(`&nbsp;<span class="woocommerce-Price-currencySymbol">&euro;</span></bdi></span>`)
	e.b = append(e.b, '"')
	e.raw("related_ids", "[]")
	e.raw("meta_data", "[]")
	e.str("stock_status", p.StockStatus())
	e.bool("has_options", false)
	e.str("post_password", "")
	e.str("global_unique_id", "")
	e.key("_links")
	e.begin()
	e.link("self", base, "/products", p.ID)
	e.link("collection", base, "/products", 0)
	e.end()
	e.end()
}

func categoryID(group string) int64 {
	switch group {
	case "Products":
		return 15
	case "Tools":
		return 16
	case "Kitchen":
		return 17
	case "Garden":
		return 18
	case "Office":
		return 19
	}
	return 1 // Uncategorized
}
