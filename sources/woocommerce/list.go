package woocommerce

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources/rest"
)

// ListCustomers reads every customer account in id order, walking pages of
// the maximum size until none are left or limit accounts are read; limit <= 0
// means 100,000. The gateway's customer directory is built from it.
func (c *Client) ListCustomers(ctx context.Context, limit int) ([]model.ShopCustomer, error) {
	if limit <= 0 {
		limit = 100_000
	}
	v := url.Values{
		"orderby":  {"id"},
		"role":     {"all"},
		"order":    {"asc"},
		"per_page": {strconv.Itoa(maxPerPage)},
		"_fields":  {customerFields},
	}
	var out []wcCustomer
	for page := 1; len(out) < limit; page++ {
		v.Set("page", strconv.Itoa(page))
		var batch []wcCustomer
		if _, err := c.rest.Do(ctx, rest.Call{Route: "customers.list", Path: "/customers", Query: v}, &batch); err != nil {
			return nil, fmt.Errorf("list customers: %w", err)
		}
		out = append(out, batch...)
		if len(batch) < maxPerPage {
			break
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return mapCustomers(uniqueBy(out, func(r wcCustomer) int64 { return r.ID })), nil
}

// CountCustomers is how many customer accounts the shop holds, whatever
// their role: those ListCustomers reads, counted in one call. The shop has
// no modification filter for them.
func (c *Client) CountCustomers(ctx context.Context) (int, error) {
	n, err := c.count(ctx, "customers.count", "/customers", url.Values{"role": {"all"}})
	if err != nil {
		return 0, fmt.Errorf("count customers: %w", err)
	}
	return n, nil
}

// ProductQuery selects a page of products. Zero fields do not filter.
type ProductQuery struct {
	Search      string // in name, SKU and description, as the shop searches
	StockStatus string // instock, outofstock or onbackorder
	Offset      int    // products to skip
	PerPage     int    // at most 100; default 100
}

// ProductPage is one page of products with the listing's size.
type ProductPage struct {
	Products []model.Product
	Total    int
}

// ListProducts reads a page of products ordered by slug (the URL form of
// the name, unique per product).
func (c *Client) ListProducts(ctx context.Context, q ProductQuery) (ProductPage, error) {
	if q.PerPage < 0 || q.PerPage > maxPerPage {
		return ProductPage{}, fmt.Errorf("list products: per page %d is not within 1 to %d", q.PerPage, maxPerPage)
	}
	currency, err := c.shopCurrency(ctx)
	if err != nil {
		return ProductPage{}, fmt.Errorf("list products: %w", err)
	}
	v := url.Values{
		"orderby":  {"slug"}, // unique, so pages are stable; close to name order
		"order":    {"asc"},
		"offset":   {strconv.Itoa(q.Offset)},
		"per_page": {strconv.Itoa(cmp.Or(q.PerPage, maxPerPage))},
		"_fields":  {productFields},
	}
	if q.Search != "" {
		v.Set("search", q.Search)
	}
	if q.StockStatus != "" {
		v.Set("stock_status", q.StockStatus)
	}
	var raw []wcProduct
	resp, err := c.rest.Do(ctx, rest.Call{Route: "products.list", Path: "/products", Query: v}, &raw)
	if err != nil {
		return ProductPage{}, fmt.Errorf("list products: %w", err)
	}
	total, _ := pageCounts(resp)
	return ProductPage{Products: mapProducts(raw, currency), Total: total}, nil
}
