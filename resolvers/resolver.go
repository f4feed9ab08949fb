// Package resolvers answers the GraphQL fields: it maps arguments, asks the
// operation's loaders and the customer directory, and maps the answers into
// the graph's types. Errors become GraphQL errors in ErrorPresenter.
package resolvers

import (
	"context"

	"log/slog"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/store"
)

// Directory is the customer directory the resolvers join customers with.
type Directory interface {
	Wait(ctx context.Context) error
	ByKey(key string) (consolidate.Entry, bool)
	ByEmail(email string) (consolidate.Entry, bool)
	ByShop(id int64) (consolidate.Entry, bool)
	ByERP(name string) (consolidate.Entry, bool)
	ByCRM(id string) (consolidate.Entry, bool)
	OrderCustomer(o *model.Order) *model.Customer
	InvoiceCustomer(inv *model.Invoice) *model.Customer
	Resolve(ctx context.Context, emails []string) (map[string]consolidate.Entry, error)
	List(f consolidate.Filter, after string, first int) consolidate.Page
	// Gaps, Unknown and Reading say what the directory lacks while reading
	// a system's customer list fails, or is still under way.
	Gaps() []consolidate.Gap
	Unknown(c model.Customer, s model.System) (consolidate.Gap, bool)
	Reading() []model.System
	// Version changes whenever what it answers may have.
	Version() uint64
}

// Store is the reporting store: its sync's status and its reports.
type Store interface {
	Status(ctx context.Context) (store.Status, error)
	Freshness(ctx context.Context) (store.Status, error)
	OrderReport(ctx context.Context, q store.OrderReportQuery) ([]store.OrderGroup, error)
	// CustomerList, InvoiceList and ProductList page through the lists
	// the store sorts.
	CustomerList(ctx context.Context, q store.CustomerListQuery) (store.ListPage[store.CustomerRef], error)
	InvoiceList(ctx context.Context, q store.InvoiceListQuery) (store.ListPage[string], error)
	ProductList(ctx context.Context, q store.ProductListQuery) (store.ListPage[string], error)
	LineReport(ctx context.Context, q store.LineReportQuery) ([]store.LineGroup, error)
	InvoiceReport(ctx context.Context, q store.InvoiceReportQuery) ([]store.InvoiceGroup, error)
	StockReport(ctx context.Context, q store.StockReportQuery) ([]store.StockGroup, error)
	CustomerReport(ctx context.Context, q store.CustomerReportQuery) ([]store.CustomerGroup, error)
	ReceivablesAging(ctx context.Context, q store.AgingQuery) (totals, customers []store.CustomerAging, err error)
	StockMismatches(ctx context.Context, minDifference decimal.Decimal, limit int) ([]store.StockMismatch, int, error)
	UninvoicedOrders(ctx context.Context, completedBefore time.Time, limit int) ([]store.UninvoicedOrder, int, error)
	InvoiceMismatches(ctx context.Context, minDifference decimal.Decimal, limit int) ([]store.InvoiceMismatch, int, error)
	MissingCustomers(ctx context.Context, from model.System, limit int) ([]store.MissingCustomer, int, error)
	FieldDisagreements(ctx context.Context, fields []store.CustomerField, limit int) ([]store.FieldDisagreement, int, error)
	DuplicateCustomers(ctx context.Context, system model.System, limit int) ([]store.Duplicates, int, error)
}

// Resolver holds what every resolver needs. The operation's loaders come
// from the context (loaders.For), put there for each operation.
type Resolver struct {
	Directory Directory
	Changes   Changes
	// Store is the reporting store; nil when none is open.
	Store Store
	// Loaders makes the loaders of each subscription event, which the
	// event's filters read through.
	Loaders *loaders.Factory
	Logger  *slog.Logger
	// Delivered, when set, is told of every change handed on as a
	// subscription event.
	Delivered func(events.Change)

	events eventLoaders
}

// directory is the customer directory, for an operation that reads it: its
// answer changes with the directory (the response cache keeps it while
// the directory's version stays).
func (r *Resolver) directory(ctx context.Context) Directory {
	if l := loaders.For(ctx); l != nil {
		l.ReadDirectory()
	}
	return r.Directory
}
