package woocommerce

import (
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
