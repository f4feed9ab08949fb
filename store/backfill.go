package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
)

// ShopReader reads the shop's records: by modification time for a
// backfill, by key for a change. A read by key leaves out the keys the
// shop does not have.
type ShopReader interface {
	OrdersModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Order, error)
	ProductsModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Product, error)
	ListCustomers(ctx context.Context, limit int) ([]model.ShopCustomer, error)
	Orders(ctx context.Context, ids []int64) ([]model.Order, error)
	Products(ctx context.Context, ids []int64) ([]model.Product, error)
	ProductsBySKU(ctx context.Context, skus []string) ([]model.Product, error)
	Customers(ctx context.Context, ids []int64) ([]model.ShopCustomer, error)
}

// CRMReader reads the CRM's records, as ShopReader the shop's.
type CRMReader interface {
	ContactsModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Contact, error)
	Contacts(ctx context.Context, ids []string) ([]model.Contact, error)
}

// ERPReader reads the ERP's records, as ShopReader the shop's; stock by
// SKU, in every warehouse.
type ERPReader interface {
	InvoicesModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.Invoice, error)
	StockModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.StockLevel, error)
	CustomersModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.ERPCustomer, error)
	Invoices(ctx context.Context, names []string) ([]model.Invoice, error)
	Stock(ctx context.Context, skus []string) ([]model.StockLevel, error)
	Customers(ctx context.Context, names []string) ([]model.ERPCustomer, error)
	// Zone is the site's time zone, whose day its daily jobs follow.
	Zone() *time.Location
}

// ShopCounter is what a ShopReader may also do: say cheaply, in one call
// that reads no records, how many records a backfill has to read: the
// orders and products modified after a time, and every customer account
// (read whole). A backfill uses it to show how far it is.
type ShopCounter interface {
	CountOrdersModifiedAfter(ctx context.Context, after time.Time) (int, error)
	CountProductsModifiedAfter(ctx context.Context, after time.Time) (int, error)
	CountCustomers(ctx context.Context) (int, error)
}

// CRMCounter is what a CRMReader may also do, as ShopCounter for the shop.
type CRMCounter interface {
	CountContactsModifiedAfter(ctx context.Context, after time.Time) (int, error)
}

// ERPCounter is what an ERPReader may also do, as ShopCounter for the shop.
type ERPCounter interface {
	CountInvoicesModifiedAfter(ctx context.Context, after time.Time) (int, error)
	CountStockModifiedAfter(ctx context.Context, after time.Time) (int, error)
	CountCustomersModifiedAfter(ctx context.Context, after time.Time) (int, error)
}

// Sources are the upstreams a backfill reads; a nil one is skipped. The
// adapters apply their own timeouts, retries, breaker and rate limits. A
// reader that is also a counter (ShopCounter, CRMCounter, ERPCounter) gives
// each kind's backfill a total and an estimate of the time left.
type Sources struct {
	Shop ShopReader
	CRM  CRMReader
	ERP  ERPReader
	Page int // records a read takes; 0 means 500
}

// Progress is what a backfill did for one system and kind.
type Progress struct {
	System    model.System
	Kind      Kind
	Read      int       // records read, including those read again
	New       int       // records not read by an earlier backfill
	Watermark time.Time // the newest modification time written
	Took      time.Duration
	Err       error // why it stopped early; nil when it caught up
}

const (
	backfillPage = 500
	// maxGrowth bounds how far a page grows to get past a full page of
	// records that all changed at the mark's time (a bulk update).
	maxGrowth = 16
	// backfillOverlap is read again before the mark: ERPNext's filter is
	// exclusive and WooCommerce's counts whole seconds, and a page cut
	// between records of one time must not lose the rest.
	backfillOverlap = time.Second
)

// epoch is where a new store's backfill starts: a zero time does not
// survive every dialect's date format.
var epoch = time.Unix(0, 0).UTC()

// Backfill fills the store from the sources by modification time, each
// system and kind from its mark's watermark, page by page, and returns what
// it did for each. The systems are read side by side, the kinds of one
// system one after another. An upstream failure stops that system and kind
// only; a later call resumes it from its mark, and records read again are
// written again harmlessly. The error joins the failures.
func (s *Store) Backfill(ctx context.Context, src Sources) ([]Progress, error) {
	page := src.Page
	if page <= 0 {
		page = backfillPage
	}
	var runs [][]func(context.Context) Progress
	if src.Shop != nil {
		runs = append(runs, []func(context.Context) Progress{
			feed[model.Order]{ordersTable.system, events.KindOrder, src.Shop.OrdersModifiedSince, nil, counter(src.Shop, ShopCounter.CountOrdersModifiedAfter), s.PutOrders,
				func(o model.Order) string { return strconv.FormatInt(o.ID, 10) }, func(o model.Order) time.Time { return o.ModifiedAt }}.run(s, page),
			feed[model.Product]{productsTable.system, events.KindProduct, src.Shop.ProductsModifiedSince, nil, counter(src.Shop, ShopCounter.CountProductsModifiedAfter), s.PutProducts,
				func(p model.Product) string { return strconv.FormatInt(p.ID, 10) }, func(p model.Product) time.Time { return p.ModifiedAt }}.run(s, page),
			// WooCommerce has no modified filter for customers: they are
			// read whole each time, as the customer directory reads them.
			feed[model.ShopCustomer]{shopCustTable.system, events.KindCustomer, nil, src.Shop.ListCustomers, counter(src.Shop, countShopCustomers), s.PutShopCustomers,
				func(c model.ShopCustomer) string { return strconv.FormatInt(c.ID, 10) }, func(c model.ShopCustomer) time.Time { return c.ModifiedAt }}.run(s, page),
		})
	}
	if src.CRM != nil {
		runs = append(runs, []func(context.Context) Progress{
			feed[model.Contact]{contactsTable.system, events.KindCustomer, src.CRM.ContactsModifiedSince, nil, counter(src.CRM, CRMCounter.CountContactsModifiedAfter), s.PutContacts,
				func(c model.Contact) string { return c.ID }, func(c model.Contact) time.Time { return c.UpdatedAt }}.run(s, page),
		})
	}
	if src.ERP != nil {
		runs = append(runs, []func(context.Context) Progress{
			feed[model.Invoice]{invoicesTable.system, events.KindInvoice, src.ERP.InvoicesModifiedSince, nil, counter(src.ERP, ERPCounter.CountInvoicesModifiedAfter), s.PutInvoices,
				func(i model.Invoice) string { return i.ID }, func(i model.Invoice) time.Time { return i.ModifiedAt }}.run(s, page),
			feed[model.StockLevel]{stockTable.system, events.KindStock, src.ERP.StockModifiedSince, nil, counter(src.ERP, ERPCounter.CountStockModifiedAfter), s.PutStock,
				func(l model.StockLevel) string { return l.SKU + "\t" + l.Warehouse }, func(l model.StockLevel) time.Time { return l.ModifiedAt }}.run(s, page),
			feed[model.ERPCustomer]{erpCustTable.system, events.KindCustomer, src.ERP.CustomersModifiedSince, nil, counter(src.ERP, ERPCounter.CountCustomersModifiedAfter), s.PutERPCustomers,
				func(c model.ERPCustomer) string { return c.ID }, func(c model.ERPCustomer) time.Time { return c.ModifiedAt }}.run(s, page),
		})
	}
	results := make([][]Progress, len(runs))
	var wg sync.WaitGroup
	for i, kinds := range runs {
		wg.Go(func() {
			for _, run := range kinds {
				results[i] = append(results[i], run(ctx))
			}
		})
	}
	wg.Wait()
	var out []Progress
	var errs []error
	for _, ps := range results {
		for _, p := range ps {
			out = append(out, p)
			if p.Err != nil {
				errs = append(errs, p.Err)
			}
		}
	}
	return out, errors.Join(errs...)
}

// feed is how one system and kind is read and written. Exactly one of
// since and list is set: list reads everything at once. count, when set,
// counts the records modified after a time (all of them, for a list).
type feed[R any] struct {
	system   model.System
	kind     Kind
	since    func(ctx context.Context, since time.Time, limit int) ([]R, error)
	list     func(ctx context.Context, limit int) ([]R, error)
	count    func(ctx context.Context, after time.Time) (int, error)
	put      func(ctx context.Context, readAt time.Time, rs []R) error
	key      func(R) string
	modified func(R) time.Time
}

func (f feed[R]) run(s *Store, page int) func(context.Context) Progress {
	return func(ctx context.Context) Progress {
		start := time.Now()
		p, err := f.fill(ctx, s, page)
		p.Took = time.Since(start)
		if err != nil {
			p.Err = fmt.Errorf("backfill %s %s: %w", f.system, f.kind, err)
			s.logger.Warn("backfill stopped; the next one resumes it", "system", f.system, "kind", f.kind, "new", p.New, "err", err)
		} else {
			s.logger.Info("backfill caught up", "system", f.system, "kind", f.kind, "new", p.New, "read", p.Read,
				"watermark", p.Watermark, "took", p.Took)
		}
		return p
	}
}

// fill reads pages from the mark until one brings nothing newer, as the
// change path's poller does: a full page that does not get past the mark
// is read again twice as large. The mark is set after each page is written; the rows are
// written first, so a crash between the two reads the page again.
func (f feed[R]) fill(ctx context.Context, s *Store, page int) (Progress, error) {
	p := Progress{System: f.system, Kind: f.kind}
	m, err := s.Mark(ctx, f.system, f.kind)
	if err != nil {
		return p, err
	}
	p.Watermark = m.Watermark
	if err := f.begin(ctx, s, &m); err != nil {
		return p, err
	}
	// The keys already written at the watermark's time tell a record read
	// again in the overlap from a new one; the checkpoint keeps them
	// across calls. There are at most a page of them.
	atMark := map[string]bool{}
	if m.Checkpoint != "" {
		for _, k := range strings.Split(m.Checkpoint, "\n") {
			atMark[k] = true
		}
	}
	limit := page
	for {
		since := epoch
		if !m.Watermark.IsZero() {
			since = m.Watermark.Add(-backfillOverlap)
		}
		began := time.Now()
		var rs []R
		if f.list != nil {
			rs, err = f.list(ctx, 0)
		} else {
			rs, err = f.since(ctx, since, limit)
		}
		if err != nil {
			return p, err
		}
		if err := f.put(ctx, began, rs); err != nil {
			return p, err
		}
		prev, newest, fresh := m.Watermark, m.Watermark, 0
		for _, r := range rs {
			at := f.modified(r)
			if at.After(prev) || at.Equal(prev) && !atMark[f.key(r)] {
				fresh++
			}
			if at.After(newest) {
				newest = at
			}
		}
		if newest.After(prev) {
			clear(atMark)
		}
		for _, r := range rs {
			if f.modified(r).Equal(newest) {
				atMark[f.key(r)] = true
			}
		}
		m.Watermark, m.Done = newest, m.Done+int64(fresh)
		m.Checkpoint = checkpoint(atMark)
		// The end of the list: a whole list read, or a page with nothing
		// newer that is not full. Every change made before the read began
		// is in the store.
		end := f.list != nil || !newest.After(prev) && len(rs) < limit
		if end {
			m.CaughtUp = began
			m.Began, m.DoneBefore = time.Time{}, 0
		}
		if err := s.SetMark(ctx, m); err != nil {
			return p, err
		}
		p.Read += len(rs)
		p.New += fresh
		p.Watermark = newest
		switch {
		case end:
			return p, nil
		case newest.After(prev):
			// Even a short page reads on: ERPNext's reader leaves out the
			// records sharing the last one's time, to read them whole next.
			limit = page
		case limit < maxGrowth*page:
			limit *= 2
		default:
			// Not even the largest page gets past them: go on after them
			// rather than read the same page for ever.
			s.logger.Warn("more records changed at one time than a backfill page holds; going on past them",
				"system", f.system, "kind", f.kind, "records", limit, "at", newest)
			m.Watermark = newest.Add(backfillOverlap + time.Second)
			clear(atMark)
			m.Checkpoint = ""
			if err := s.SetMark(ctx, m); err != nil {
				return p, err
			}
			limit = page
		}
	}
}

// begin records in the mark that a backfill of the kind begins: when, from
// which Done, and the Done it reaches when it catches up (Total), as the
// upstream counts the records modified since the watermark. A count that
// fails leaves the total unknown (0) and the backfill going.
func (f feed[R]) begin(ctx context.Context, s *Store, m *Mark) error {
	m.Total = 0
	if f.count != nil {
		after := m.Watermark
		if after.IsZero() {
			after = epoch
		}
		n, err := f.count(ctx, after)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.logger.Warn("the backfill's total is unknown: the count failed", "system", f.system, "kind", f.kind, "err", err)
			}
		case f.list != nil:
			// A list read whole brings all n again, and Done grows by
			// those that changed since: n is as close as can be told.
			m.Total = max(m.Done, int64(n))
		default:
			m.Total = m.Done + int64(n)
		}
	}
	m.Began, m.DoneBefore = time.Now(), m.Done
	return s.SetMark(ctx, *m)
}

// left estimates how long the running backfill of a mark's kind takes to
// read the rest, at its rate since it began; 0 when none runs, when it has
// read nothing yet or has no total, or when it read the total.
func (m Mark) left(now time.Time) time.Duration {
	read, rest, took := m.Done-m.DoneBefore, m.Total-m.Done, now.Sub(m.Began)
	if m.Began.IsZero() || read <= 0 || rest <= 0 || took <= 0 {
		return 0
	}
	return time.Duration(float64(took) * float64(rest) / float64(read))
}

// counter binds a count of reader r when r can count, for a feed; nil
// when it cannot.
func counter[C any](r any, count func(C, context.Context, time.Time) (int, error)) func(context.Context, time.Time) (int, error) {
	c, ok := r.(C)
	if !ok {
		return nil
	}
	return func(ctx context.Context, after time.Time) (int, error) { return count(c, ctx, after) }
}

// countShopCustomers counts every shop customer, the list the backfill
// reads whole; shaped as the counters' method expressions are.
func countShopCustomers(c ShopCounter, ctx context.Context, _ time.Time) (int, error) {
	return c.CountCustomers(ctx)
}

func checkpoint(keys map[string]bool) string {
	ks := make([]string, 0, len(keys))
	for k := range keys {
		ks = append(ks, k)
	}
	return strings.Join(ks, "\n")
}
