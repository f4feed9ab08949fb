package erpnext

import (
	"context"
	"fmt"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/graph/model"
)

// binRow is a Bin: one item's stock in one warehouse.
type binRow struct {
	Name         string          `json:"name"`
	ItemCode     string          `json:"item_code"`
	Warehouse    string          `json:"warehouse"`
	ActualQty    decimal.Decimal `json:"actual_qty"`
	ReservedQty  decimal.Decimal `json:"reserved_qty"`
	OrderedQty   decimal.Decimal `json:"ordered_qty"`
	ProjectedQty decimal.Decimal `json:"projected_qty"`
	Modified     string          `json:"modified"`
}

var binFields = fieldList("name", "item_code", "warehouse", "actual_qty", "reserved_qty", "ordered_qty",
	"projected_qty", "modified")

// Stock reads the bins of the given item codes (SKUs), one StockLevel per
// item and warehouse. Items with no bin are absent from the result, which
// comes in no particular order.
func (c *Client) Stock(ctx context.Context, skus []string) ([]model.StockLevel, error) {
	out, err := fanOut(ctx, c, skus, func(ctx context.Context, chunk []string) ([]model.StockLevel, error) {
		rows, err := listAll[binRow](ctx, c, listCall{
			route: "stock.by_sku", doctype: "Bin", fields: binFields,
			filters: []filter{{"item_code", "in", chunk}}, order: "name asc",
		})
		if err != nil {
			return nil, err
		}
		return c.mapBins(rows)
	})
	if err != nil {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	return out, nil
}

// StockModifiedSince reads up to limit bins changed after since, oldest
// change first; limit <= 0 means 10,000 (see walkModified for the cut at
// limit).
func (c *Client) StockModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.StockLevel, error) {
	rows, err := walkModified(ctx, c, listCall{route: "stock.modified", doctype: "Bin", fields: binFields},
		since, limit, func(r binRow) string { return r.Modified })
	if err != nil {
		return nil, fmt.Errorf("read stock modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	out, err := c.mapBins(rows)
	if err != nil {
		return nil, fmt.Errorf("read stock modified since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	return out, nil
}

// CountStockModifiedAfter is how many bins changed after the given time,
// those StockModifiedSince would read, counted in one call.
func (c *Client) CountStockModifiedAfter(ctx context.Context, after time.Time) (int, error) {
	n, err := c.countModified(ctx, "stock.count_modified", "Bin", after)
	if err != nil {
		return 0, fmt.Errorf("count stock modified after %s: %w", after.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

func (c *Client) mapBins(rows []binRow) ([]model.StockLevel, error) {
	out := make([]model.StockLevel, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		modified, err := c.datetime(r.Modified)
		if err != nil {
			return nil, badField("Bin", r.Name, "modified")
		}
		out = append(out, model.StockLevel{
			SKU:        r.ItemCode,
			Warehouse:  r.Warehouse,
			OnHand:     quantity(r.ActualQty),
			Reserved:   quantity(r.ReservedQty),
			Ordered:    quantity(r.OrderedQty),
			Projected:  quantity(r.ProjectedQty),
			ModifiedAt: modified,
		})
	}
	return out, nil
}

// quantity drops the ".0" Python gives every float: 12.0 is 12 units.
func quantity(d decimal.Decimal) decimal.Decimal { return d.Trim(0) }
