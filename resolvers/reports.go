package resolvers

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/99designs/gqlgen/graphql"
	"github.com/govalues/decimal"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/store"
)

// Codes of a report's numbers that are not whole: read while a first
// backfill runs (partial), or while the sync is stopped (stale).
const (
	CodeStoreBackfilling = "STORE_BACKFILLING"
	CodeStoreStale       = "STORE_STALE"
)

// freshness is how complete the store is for a report (ErrNoStore
// without one: every report reads it first). While a first
// backfill runs the report's numbers are partial, and while the sync is
// stopped they miss what changed since; either way the response carries
// an error saying so beside them, which a client cannot take for a whole
// answer.
func (r *Resolver) freshness(ctx context.Context) (*model.ReportFreshness, error) {
	if r.Store == nil {
		return nil, ErrNoStore
	}
	readsStore(ctx)
	st, err := r.Store.Freshness(ctx)
	if err != nil {
		return nil, err
	}
	f := &model.ReportFreshness{Watermark: optTime(st.Watermark), Complete: !st.Watermark.IsZero(),
		State: model.StoreState(strings.ToUpper(st.State)), PendingChanges: st.Queued}
	var total int64
	var lastChange time.Time
	known := true
	for _, k := range st.Kinds {
		f.BackfillRead += int(k.Done)
		total += k.Total
		known = known && k.Total > 0
		if k.LastChange != nil && k.LastChange.AppliedAt.After(lastChange) {
			lastChange = k.LastChange.AppliedAt
		}
	}
	if known {
		f.BackfillTotal = ptr(int(total))
	}
	f.LastChangeAt = optTime(lastChange)
	notWhole := func(code, message string) {
		graphql.AddError(ctx, &gqlerror.Error{Message: message, Path: graphql.GetPath(ctx), Extensions: map[string]any{"code": code}})
	}
	if !f.Complete {
		notWhole(CodeStoreBackfilling, fmt.Sprintf("the store is still backfilling (%d records read): these numbers are partial", f.BackfillRead))
	}
	if st.State == store.StateFailing {
		f.SyncError = &st.Error
		notWhole(CodeStoreStale, fmt.Sprintf("the store's sync stopped at %s (%s) and is trying again: these numbers miss what changed since",
			st.FailedAt.UTC().Format(time.RFC3339), st.Error))
	}
	return f, nil
}

// orderDimensions are the graph's order dimensions as the store names them.
var orderDimensions = map[model.OrderDimension]store.OrderDimension{
	model.OrderDimensionCreated: store.ByCreated, model.OrderDimensionPaid: store.ByPaid, model.OrderDimensionCompleted: store.ByCompleted,
	model.OrderDimensionStatus: store.ByStatus, model.OrderDimensionCustomer: store.ByCustomer,
	model.OrderDimensionCustomerLifecycleStage: store.ByLifecycleStage, model.OrderDimensionCustomerOwner: store.ByOwner,
}

var buckets = map[model.TimeBucket]store.Bucket{
	model.TimeBucketDay: store.Day, model.TimeBucketWeek: store.Week, model.TimeBucketMonth: store.Month,
	model.TimeBucketQuarter: store.Quarter, model.TimeBucketYear: store.Year,
}

// orderReportQuery reads orderReport's arguments.
func orderReportQuery(ctx context.Context, filter *model.OrderReportFilter, groupBy []model.OrderDimension, bucket *model.TimeBucket,
	timeZone *string, orderBy []model.OrderReportOrder, limit *int) (store.OrderReportQuery, error) {
	q := store.OrderReportQuery{Customers: selectionOf(ctx).has("groups", "customers"), Amounts: askedAmounts(ctx)}
	if filter != nil {
		if r := filter.CreatedAt; r != nil {
			if r.From != nil {
				q.From = *r.From
			}
			if r.To != nil {
				q.To = *r.To
			}
		}
		statuses, err := upstreamStatuses(filter.Status, model.ShopStatus)
		if err != nil {
			return q, err
		}
		q.Statuses = statuses
		if filter.Customer != nil {
			if q.Customer, err = parseID(*filter.Customer, "Customer"); err != nil {
				return q, err
			}
		}
	}
	shape, err := reportShape(groupBy, orderDimensions,
		[]model.OrderDimension{model.OrderDimensionCreated, model.OrderDimensionPaid, model.OrderDimensionCompleted},
		bucket, timeZone, orderBy, func(o model.OrderReportOrder) (string, *model.SortDirection) { return string(o.By), o.Direction }, limit)
	q.GroupBy, q.Bucket, q.Zone, q.OrderBy, q.Limit = shape.GroupBy, shape.Bucket, shape.Zone, shape.OrderBy, shape.Limit
	return q, err
}

// askedAmounts are the measures a report's selection asks of its groups,
// as an aggregate and an amount ("sum.total", "max.on_hand"…), the
// amount's field named as the store names it (onHand is on_hand).
func askedAmounts(ctx context.Context) []string {
	sel := selectionOf(ctx).at("groups")
	amounts := []string{}
	for _, aggregate := range []string{"sum", "avg", "min", "max"} {
		for _, f := range sel.at(aggregate).fields {
			var name strings.Builder
			for _, r := range f.Name {
				if unicode.IsUpper(r) {
					name.WriteByte('_')
				}
				name.WriteRune(unicode.ToLower(r))
			}
			amounts = append(amounts, aggregate+"."+name.String())
		}
	}
	return amounts
}

// orderGroup maps a store group to the graph's.
func orderGroup(g store.OrderGroup, dims []store.OrderDimension) model.OrderGroup {
	key := &model.OrderGroupKey{Currency: g.Currency, LifecycleStage: g.LifecycleStage, Owner: g.Owner}
	for _, d := range dims {
		switch d {
		case store.ByCreated, store.ByPaid, store.ByCompleted:
			if p := g.Periods[d]; p != nil && key.Period == nil {
				key.Period = &model.ReportPeriod{Start: p.Start.UTC(), End: p.End.UTC(), Label: p.Label}
			}
		case store.ByStatus:
			o := model.Order{Status: g.Status}
			status := o.GraphStatus()
			key.Status = &status
			if status == model.OrderStatusOther {
				key.ShopStatus = &g.Status
			}
		case store.ByCustomer:
			if c := g.Customer; c != nil {
				key.Customer = reportCustomer(c)
			}
		}
	}
	money := func(a store.OrderAmounts) *model.OrderAmounts {
		return &model.OrderAmounts{Total: &model.Money{Amount: a.Total, Currency: g.Currency}, Tax: &model.Money{Amount: a.Tax, Currency: g.Currency},
			Shipping: &model.Money{Amount: a.Shipping, Currency: g.Currency}, Discount: &model.Money{Amount: a.Discount, Currency: g.Currency}}
	}
	return model.OrderGroup{Key: key, Count: int(g.Count), Customers: int(g.Customers),
		Sum: money(g.Sum), Avg: money(g.Avg), Min: money(g.Min), Max: money(g.Max)}
}

// reportCustomer is the live graph's customer of a store customer, with
// the same global ID: a joined customer with each system's key, a guest by
// address, or one system's record standing alone. Its fields are read from
// the systems as any customer's.
func reportCustomer(c *store.CustomerRef) *model.Customer {
	prefix, key, _ := strings.Cut(c.Key, ":")
	switch prefix {
	case "email":
		return &model.Customer{Email: key}
	case "crm":
		return &model.Customer{CRMID: c.CRMID}
	case "shop":
		return &model.Customer{ShopID: c.ShopID}
	case "erp":
		return &model.Customer{ERPID: c.ERPID}
	}
	return &model.Customer{JoinKey: c.Key, Email: c.Email, CRMID: c.CRMID, ShopID: c.ShopID, ERPID: c.ERPID}
}

var agingSorts = map[model.AgingSort]string{model.AgingSortTotal: "total", model.AgingSortOver90: "over_90", model.AgingSortMostOverdue: "most_overdue"}

// agingQuery reads receivablesAging's arguments.
func agingQuery(asOf *time.Time, timeZone *string, customer *string, orderBy *model.AgingSort, limit *int) (store.AgingQuery, error) {
	q := store.AgingQuery{OrderBy: "total", Limit: 1000}
	loc := time.UTC
	if timeZone != nil {
		var err error
		if loc, err = zone(*timeZone); err != nil {
			return q, err
		}
	}
	if asOf != nil {
		q.AsOf = *asOf
	} else {
		y, m, d := time.Now().In(loc).Date()
		q.AsOf = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	if customer != nil {
		key, err := parseID(*customer, "Customer")
		if err != nil {
			return q, err
		}
		q.Customer = key
	}
	if orderBy != nil {
		q.OrderBy = agingSorts[*orderBy]
	}
	n, err := rowLimit(limit)
	q.Limit = n
	return q, err
}

// agingBuckets maps a store aging to the graph's.
func agingBuckets(a store.CustomerAging) model.AgingBuckets {
	m := func(d decimal.Decimal) *model.Money { return &model.Money{Amount: d, Currency: a.Currency} }
	return model.AgingBuckets{Current: m(a.Current), Days1to30: m(a.Days1to30), Days31to60: m(a.Days31to60),
		Days61to90: m(a.Days61to90), Over90: m(a.Over90), Total: m(a.Total)}
}

// zone reads an IANA time zone argument.
func zone(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || strings.HasPrefix(name, "/") {
		return nil, badInput("timeZone: %q is not an IANA time zone (such as Europe/Berlin)", name)
	}
	return loc, nil
}

// rowLimit reads a report's limit: between 1 and store.MaxRows; the
// schema's default, 1000, when not given.
func rowLimit(limit *int) (int, error) {
	if limit == nil {
		return 1000, nil
	}
	if *limit < 1 || *limit > store.MaxRows {
		return 0, badInput("limit: between 1 and %d, not %d", store.MaxRows, *limit)
	}
	return *limit, nil
}

// readsStore notes that an operation reads the reporting store, whose rows
// change without the changes that drop kept answers: its answer is not
// kept.
func readsStore(ctx context.Context) {
	if l := loaders.For(ctx); l != nil {
		l.ReadUntracked()
	}
}
