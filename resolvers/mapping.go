package resolvers

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/store"
)

func ptr[T any](v T) *T { return &v }

// upstreamStatuses maps a filter's statuses to the upstream's names; OTHER
// cannot be filtered on, as it stands for names nobody listed.
func upstreamStatuses[S ~string](in []S, name func(S) (string, bool)) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		name, ok := name(s)
		if !ok {
			return nil, badInput("status %s cannot be filtered on", s)
		}
		out = append(out, name)
	}
	return out, nil
}

// Cursors of offset-paged lists: the position of the item, opaque to clients.

func offsetCursor(i int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(i)))
}

// firstOf checks a connection's first argument (20 when not given).
func firstOf(first *int) (int, error) {
	n := 20
	if first != nil {
		n = *first
	}
	if n < 0 || n > 100 {
		return 0, badInput("first must be between 0 and 100, not %d", n)
	}
	return n, nil
}

// pageWindow checks first and after and returns the offset of the page.
func pageWindow(first *int, after *string) (n, offset int, err error) {
	if n, err = firstOf(first); err != nil {
		return 0, 0, err
	}
	if after == nil || *after == "" {
		return n, 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*after)
	pos, ok := strings.CutPrefix(string(raw), "offset:")
	i, convErr := strconv.Atoi(pos)
	if err != nil || !ok || convErr != nil || i < 0 {
		return 0, 0, badInput("after is not a cursor of this list")
	}
	return n, i + 1, nil
}

func pageInfo(offset, count, total int) *model.PageInfo {
	pi := &model.PageInfo{HasPreviousPage: offset > 0, HasNextPage: offset+count < total}
	if count > 0 {
		pi.StartCursor = ptr(offsetCursor(offset))
		pi.EndCursor = ptr(offsetCursor(offset + count - 1))
	}
	return pi
}

// customerFor is the customer behind a directory entry.
func customerFor(e consolidate.Entry) *model.Customer { c := e.Customer; return &c }

// orderID reads an invoice's order reference as a shop order id.
func orderID(ref string) (int64, bool) {
	id, err := strconv.ParseInt(ref, 10, 64)
	return id, ref != "" && err == nil
}

// records loads the record of one system for a customer; the other
// systems' records stay nil.
func records(ctx context.Context, c *model.Customer, s model.System) (consolidate.Records, error) {
	l := loaders.For(ctx)
	var r consolidate.Records
	var err error
	switch s {
	case model.SystemCRM:
		r.Contact, err = loaders.Found(l.Contact.Load(ctx, c.CRMID)())
	case model.SystemShop:
		r.Shop, err = loaders.Found(l.ShopCustomer.Load(ctx, c.ShopID)())
	default:
		r.ERP, err = loaders.Found(l.ERPCustomer.Load(ctx, c.ERPID)())
	}
	return r, err
}

// ruleValue answers a customer field by its ownership rule: the first owner
// that knows the customer and has a value answers; an owner that fails
// fails the field, and so does one the directory cannot tell knows the
// customer, as its list could not be read.
func (r *Resolver) ruleValue(ctx context.Context, c *model.Customer, rule consolidate.Rule) (*string, error) {
	for _, s := range rule.Owners {
		if !consolidate.Knows(*c, s) {
			if err := r.unjoined(ctx, c, s); err != nil {
				return nil, err
			}
			continue
		}
		recs, err := records(ctx, c, s)
		if err != nil {
			return nil, err
		}
		if !recs.Has(s) {
			continue // the record is gone upstream since the directory saw it
		}
		if v := rule.Value(recs, s); v != "" {
			return &v, nil
		}
	}
	return nil, nil
}

// parseID checks a global ID's type and returns its key.
func parseID(id, want string) (string, error) {
	typ, key, err := model.ParseGlobalID(id)
	if err != nil {
		return "", err
	}
	if typ != want {
		return "", badInput("id is a %s id, not a %s id", typ, want)
	}
	return key, nil
}

// parseOrderID reads an Order global ID as the shop's order number.
func parseOrderID(id string) (int64, error) {
	key, err := parseID(id, "Order")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return 0, model.ErrBadID
	}
	return n, nil
}

// mayReadInvoices refuses a client without the FINANCE role an invoice
// asked for by id, as the invoice fields (@auth) do.
func mayReadInvoices(ctx context.Context) error {
	return require(ctx, model.RoleFinance, func() string { return "an Invoice" })
}

// customerByKey finds a customer by the key of its global ID. A key the
// directory does not hold is null only when no list it failed to read may
// hold it.
func (r *Resolver) customerByKey(ctx context.Context, key string) (*model.Customer, error) {
	if err := r.directoryReady(ctx); err != nil {
		return nil, err
	}
	if e, ok := r.directory(ctx).ByKey(key); ok {
		return customerFor(e), nil
	}
	if addr, guest := strings.CutPrefix(key, "email:"); guest {
		return r.guestCustomer(ctx, addr)
	}
	if strings.Contains(key, "@") {
		return r.customerByEmail(ctx, key)
	}
	// A system's own key ("erp:…") only that system's list holds; a join
	// key any of them may.
	gaps := r.directory(ctx).Gaps()
	if prefix, _, ok := strings.Cut(key, ":"); ok {
		gaps = slices.DeleteFunc(gaps, func(g consolidate.Gap) bool { return string(g.System) != prefix })
	}
	return nil, reportGaps(ctx, gaps)
}

// guestCustomer is a customer known by the e-mail address of shop orders
// placed without an account, when no system has a record of it: nil if the
// shop has no such orders either.
func (r *Resolver) guestCustomer(ctx context.Context, addr string) (*model.Customer, error) {
	if c, err := r.customerByEmail(ctx, addr); c != nil || err != nil {
		return c, err
	}
	history, err := loaders.For(ctx).GuestOrders(ctx, model.NormalizeEmail(addr))
	if err != nil || len(history) == 0 {
		return nil, err
	}
	return &model.Customer{Email: model.NormalizeEmail(addr)}, nil
}

// customerByEmail finds a customer by e-mail address, asking the systems
// when the directory does not know the address yet.
func (r *Resolver) customerByEmail(ctx context.Context, email string) (*model.Customer, error) {
	if err := r.directoryReady(ctx); err != nil {
		return nil, err
	}
	addr := model.NormalizeEmail(email)
	if e, ok := r.directory(ctx).ByEmail(addr); ok {
		return customerFor(e), nil
	}
	found, err := r.directory(ctx).Resolve(ctx, []string{addr})
	if e, ok := found[addr]; ok {
		if err != nil {
			// Answered from the systems that did; the failing one is
			// reported, as its keys may be missing.
			graphql.AddError(ctx, err)
		}
		return customerFor(e), nil
	}
	return nil, err
}

// storeStatus maps the store's status into the graph's.
func storeStatus(st store.Status) *model.StoreStatus {
	out := &model.StoreStatus{State: model.StoreState(strings.ToUpper(st.State)), Error: optString(st.Error),
		FailedAt: optTime(st.FailedAt), Watermark: optTime(st.Watermark), NextSweep: optTime(st.NextSweep), Queued: st.Queued,
		SyncedBy: optString(st.SyncedBy), Heartbeat: optTime(st.Heartbeat), Syncing: st.Syncing}
	for _, k := range st.Kinds {
		ks := model.StoreKindStatus{Source: model.SourceSystem(strings.ToUpper(string(k.System))), Kind: model.RecordKind(strings.ToUpper(string(k.Kind))),
			Rows: int(k.Rows), Backfill: &model.StoreBackfill{Read: int(k.Done), Done: !k.CaughtUp.IsZero()},
			Watermark: optTime(k.CaughtUp), NewestModified: optTime(k.Newest)}
		if k.Total > 0 {
			ks.Backfill.Total = ptr(int(k.Total))
		}
		if k.Left > 0 {
			// Rounded up: an estimate never says none is left while some is.
			ks.Backfill.EtaSeconds = ptr(int((k.Left + time.Second - 1) / time.Second))
		}
		if c := k.LastChange; c != nil {
			ks.LastChange = &model.StoreChange{Cursor: changeCursor(c.Seq), At: c.At, AppliedAt: c.AppliedAt, LagSeconds: k.Lag().Seconds()}
		}
		out.Kinds = append(out.Kinds, ks)
	}
	return out
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
