package resolvers

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/store"
)

// The graph's dimensions of the line, invoice, stock and customer reports
// as the store names them.
var (
	lineDimensions = map[model.LineDimension]store.Dimension{
		model.LineDimensionProduct: store.ByProduct, model.LineDimensionCreated: store.ByCreated, model.LineDimensionPaid: store.ByPaid,
		model.LineDimensionCompleted: store.ByCompleted, model.LineDimensionStatus: store.ByStatus, model.LineDimensionCustomer: store.ByCustomer,
		model.LineDimensionCustomerLifecycleStage: store.ByLifecycleStage, model.LineDimensionCustomerOwner: store.ByOwner,
	}
	invoiceDimensions = map[model.InvoiceDimension]store.Dimension{
		model.InvoiceDimensionIssued: store.ByIssued, model.InvoiceDimensionDue: store.ByDue, model.InvoiceDimensionStatus: store.ByStatus,
		model.InvoiceDimensionCustomer: store.ByCustomer, model.InvoiceDimensionCustomerLifecycleStage: store.ByLifecycleStage,
		model.InvoiceDimensionCustomerOwner: store.ByOwner,
	}
	stockDimensions = map[model.StockDimension]store.Dimension{
		model.StockDimensionWarehouse: store.ByWarehouse, model.StockDimensionSku: store.ByProduct,
	}
	customerDimensions = map[model.CustomerDimension]store.Dimension{
		model.CustomerDimensionLifecycleStage: store.ByLifecycleStage, model.CustomerDimensionOwner: store.ByOwner,
		model.CustomerDimensionSystems: store.BySystems, model.CustomerDimensionCreated: store.ByCreated,
	}
)

// reportShape reads what every report takes beside its filter: groupBy
// (each dimension once, and one of times at most), bucket, timeZone,
// orderBy (each sort's name in lower case, as the store takes it) and
// limit.
func reportShape[D ~string, O any](groupBy []D, dims map[D]store.Dimension, times []D, bucket *model.TimeBucket, timeZone *string,
	orderBy []O, sort func(O) (string, *model.SortDirection), limit *int) (store.ReportShape, error) {
	q := store.ReportShape{Bucket: store.Month, Zone: time.UTC}
	timed := 0
	for i, d := range groupBy {
		if slices.Contains(groupBy[:i], d) {
			return q, badInput("groupBy: %s is given twice", d)
		}
		if slices.Contains(times, d) {
			if timed++; timed > 1 {
				return q, badInput("groupBy: one of %s at a time (a group has one period)", joinNames(times))
			}
		}
		q.GroupBy = append(q.GroupBy, dims[d])
	}
	if bucket != nil {
		q.Bucket = buckets[*bucket]
	}
	if timeZone != nil {
		loc, err := zone(*timeZone)
		if err != nil {
			return q, err
		}
		q.Zone = loc
	}
	for _, o := range orderBy {
		by, dir := sort(o)
		q.OrderBy = append(q.OrderBy, store.OrderSort{By: strings.ToLower(by), Desc: dir != nil && *dir == model.SortDirectionDesc})
	}
	n, err := rowLimit(limit)
	q.Limit = n
	return q, err
}

// joinNames writes names as "A, B and C".
func joinNames[D ~string](names []D) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// timeRange reads a DateTimeRange into its ends, zero where open.
func timeRange(r *model.DateTimeRange) (from, to time.Time) {
	if r == nil {
		return from, to
	}
	return deref(r.From), deref(r.To)
}

// lineReportQuery reads lineReport's arguments.
func lineReportQuery(ctx context.Context, filter *model.LineReportFilter, groupBy []model.LineDimension, bucket *model.TimeBucket,
	timeZone *string, orderBy []model.LineReportOrder, limit *int) (store.LineReportQuery, error) {
	shape, err := reportShape(groupBy, lineDimensions, []model.LineDimension{model.LineDimensionCreated, model.LineDimensionPaid, model.LineDimensionCompleted},
		bucket, timeZone, orderBy, func(o model.LineReportOrder) (string, *model.SortDirection) { return string(o.By), o.Direction }, limit)
	shape.Amounts = askedAmounts(ctx)
	q := store.LineReportQuery{ReportShape: shape, Orders: selectionOf(ctx).has("groups", "orders"), Customers: selectionOf(ctx).has("groups", "customers")}
	if err != nil || filter == nil {
		return q, err
	}
	q.From, q.To = timeRange(filter.CreatedAt)
	if q.Statuses, err = upstreamStatuses(filter.Status, model.ShopStatus); err != nil {
		return q, err
	}
	if filter.Customer != nil {
		if q.Customer, err = parseID(*filter.Customer, "Customer"); err != nil {
			return q, err
		}
	}
	q.SKUs = filter.Skus
	return q, nil
}

// lineGroup maps a store line group to the graph's.
func lineGroup(g store.LineGroup, dims []store.Dimension) model.LineGroup {
	key := &model.LineGroupKey{Currency: g.Currency, Period: reportPeriod(g.Period), LifecycleStage: g.LifecycleStage, Owner: g.Owner}
	if slices.Contains(dims, store.ByStatus) {
		key.Status, key.ShopStatus = orderStatus(g.Status)
	}
	if slices.Contains(dims, store.ByProduct) {
		key.Sku, key.Name = &g.SKU, optString(g.Name)
	}
	if g.Customer != nil {
		key.Customer = reportCustomer(g.Customer)
	}
	amounts := func(a store.LineAmounts) *model.LineAmounts {
		return &model.LineAmounts{Quantity: a.Quantity, Total: money(a.Total, g.Currency), Tax: money(a.Tax, g.Currency)}
	}
	return model.LineGroup{Key: key, Count: int(g.Count), Orders: int(g.Orders), Customers: int(g.Customers),
		Sum: amounts(g.Sum), Avg: amounts(g.Avg), Min: amounts(g.Min), Max: amounts(g.Max)}
}

// invoiceReportQuery reads invoiceReport's arguments.
func invoiceReportQuery(ctx context.Context, filter *model.InvoiceFilter, groupBy []model.InvoiceDimension, bucket *model.TimeBucket,
	timeZone *string, orderBy []model.InvoiceReportOrder, limit *int) (store.InvoiceReportQuery, error) {
	shape, err := reportShape(groupBy, invoiceDimensions, []model.InvoiceDimension{model.InvoiceDimensionIssued, model.InvoiceDimensionDue},
		bucket, timeZone, orderBy, func(o model.InvoiceReportOrder) (string, *model.SortDirection) { return string(o.By), o.Direction }, limit)
	shape.Amounts = askedAmounts(ctx)
	q := store.InvoiceReportQuery{ReportShape: shape}
	if err != nil || filter == nil {
		return q, err
	}
	if q.InvoiceFilter, err = storeInvoiceFilter(filter); err != nil {
		return q, err
	}
	if filter.Customer != nil {
		if q.Customer, err = parseID(*filter.Customer, "Customer"); err != nil {
			return q, err
		}
	}
	return q, nil
}

// invoiceGroup maps a store invoice group to the graph's.
func invoiceGroup(g store.InvoiceGroup, dims []store.Dimension) model.InvoiceGroup {
	key := &model.InvoiceGroupKey{Currency: g.Currency, Period: reportPeriod(g.Period), LifecycleStage: g.LifecycleStage, Owner: g.Owner}
	if slices.Contains(dims, store.ByStatus) {
		inv := model.Invoice{Status: g.Status}
		status := inv.GraphStatus()
		key.Status = &status
		if status == model.InvoiceStatusOther {
			key.ErpStatus = &g.Status
		}
	}
	if g.Customer != nil {
		key.Customer = reportCustomer(g.Customer)
	}
	amounts := func(a store.InvoiceAmounts) *model.InvoiceAmounts {
		return &model.InvoiceAmounts{Total: money(a.Total, g.Currency), Outstanding: money(a.Outstanding, g.OutstandingCurrency)}
	}
	return model.InvoiceGroup{Key: key, Count: int(g.Count), Sum: amounts(g.Sum), Avg: amounts(g.Avg), Min: amounts(g.Min), Max: amounts(g.Max)}
}

// stockReportQuery reads stockReport's arguments.
func stockReportQuery(ctx context.Context, filter *model.StockReportFilter, groupBy []model.StockDimension, orderBy []model.StockReportOrder, limit *int) (store.StockReportQuery, error) {
	shape, err := reportShape(groupBy, stockDimensions, nil, nil, nil,
		orderBy, func(o model.StockReportOrder) (string, *model.SortDirection) { return string(o.By), o.Direction }, limit)
	shape.Amounts = askedAmounts(ctx)
	q := store.StockReportQuery{ReportShape: shape}
	if filter != nil {
		q.SKUs, q.Warehouses = filter.Skus, filter.Warehouses
	}
	return q, err
}

// stockGroup maps a store stock group to the graph's.
func stockGroup(g store.StockGroup, dims []store.Dimension) model.StockGroup {
	key := &model.StockGroupKey{}
	if slices.Contains(dims, store.ByWarehouse) {
		key.Warehouse = &g.Warehouse
	}
	if slices.Contains(dims, store.ByProduct) {
		key.Sku = &g.SKU
	}
	quantities := func(q store.StockQuantities) *model.StockQuantities {
		return &model.StockQuantities{OnHand: q.OnHand, Reserved: q.Reserved, Available: q.Available}
	}
	return model.StockGroup{Key: key, Count: int(g.Count), Skus: int(g.SKUs), Sum: quantities(g.Sum), Min: quantities(g.Min), Max: quantities(g.Max)}
}

// customerReportQuery reads customerReport's arguments.
func customerReportQuery(ctx context.Context, filter *model.CustomerReportFilter, groupBy []model.CustomerDimension, bucket *model.TimeBucket,
	timeZone *string, orderBy []model.CustomerReportOrder, limit *int) (store.CustomerReportQuery, error) {
	shape, err := reportShape(groupBy, customerDimensions, nil, bucket, timeZone,
		orderBy, func(o model.CustomerReportOrder) (string, *model.SortDirection) { return string(o.By), o.Direction }, limit)
	shape.Amounts = askedAmounts(ctx)
	q := store.CustomerReportQuery{ReportShape: shape}
	if err != nil || filter == nil {
		return q, err
	}
	if filter.KnownTo != nil {
		q.KnownTo = model.System(strings.ToLower(string(*filter.KnownTo)))
	}
	q.LifecycleStage = deref(filter.LifecycleStage)
	q.From, q.To = timeRange(filter.CreatedAt)
	return q, nil
}

// customerGroup maps a store customer group to the graph's.
func customerGroup(g store.CustomerGroup, dims []store.Dimension) model.CustomerGroup {
	key := &model.CustomerGroupKey{Currency: optString(g.Currency), Period: reportPeriod(g.Period), LifecycleStage: g.LifecycleStage, Owner: g.Owner}
	if slices.Contains(dims, store.BySystems) {
		key.Systems = make([]model.SourceSystem, len(g.Systems))
		for i, s := range g.Systems {
			key.Systems[i] = model.SourceSystem(strings.ToUpper(string(s)))
		}
	}
	value := func(v *decimal.Decimal) *model.CustomerAmounts {
		if v == nil {
			return &model.CustomerAmounts{}
		}
		return &model.CustomerAmounts{LifetimeValue: money(*v, g.Currency)}
	}
	return model.CustomerGroup{Key: key, Count: int(g.Count), Sum: value(g.Sum), Avg: value(g.Avg), Min: value(g.Min), Max: value(g.Max)}
}

// reportPeriod is a group's period in the graph; nil for none.
func reportPeriod(p *store.Period) *model.ReportPeriod {
	if p == nil {
		return nil
	}
	return &model.ReportPeriod{Start: p.Start.UTC(), End: p.End.UTC(), Label: p.Label}
}

// orderStatus is an order status in the graph, and the shop's name of it
// for OTHER.
func orderStatus(name string) (*model.OrderStatus, *string) {
	o := model.Order{Status: name}
	status := o.GraphStatus()
	if status == model.OrderStatusOther {
		return &status, &name
	}
	return &status, nil
}

func money(amount decimal.Decimal, currency string) *model.Money {
	return &model.Money{Amount: amount, Currency: currency}
}
