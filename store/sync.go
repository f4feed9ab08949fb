package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
)

// Syncing defaults.
const (
	// retryFirst and retryMost bound the wait before a failed sync is
	// tried again, doubling in between.
	retryFirst, retryMost = 5 * time.Second, time.Minute
	// progressEvery is how often a running backfill logs its progress.
	progressEvery = 5 * time.Second
	// maxQueued bounds the changes kept while the store is behind: past it
	// they are dropped, as the sweep that catches up reads them anyway.
	maxQueued = 100_000
	// tickMargin is how long after a second has passed its records are
	// read once more, for the shop's clock running ahead of this one.
	tickMargin = 250 * time.Millisecond
	// heartbeatEvery is how often the syncing replica records that it
	// lives; staleAfter is when the others say it has stopped.
	heartbeatEvery, staleAfter = 2 * time.Second, 30 * time.Second
)

// Syncer keeps a store current with the three systems: it backfills from
// their lists, applies each change the change path publishes by reading
// its record again, and sweeps what changed since the last sweep. A failed
// read or write stops the sync, which tries again until it catches up.
// Replicas sharing a PostgreSQL store take turns: one syncs, and when it
// dies another takes over and sweeps what it missed meanwhile.
type Syncer struct {
	store   *Store
	src     Sources
	changes *events.Queue
	sweep   time.Duration
	logger  *slog.Logger
	now     func() time.Time
	// catchUp asks the sweeping loop for a sweep now.
	catchUp chan struct{}
	// retry is the first wait before a failed sync is tried again.
	retry time.Duration
	// replica names this replica in the store's sync state.
	replica string

	mu       sync.Mutex
	leading  bool
	sweeping bool
	failure  error // the last failure since the last sweep that caught up
	failedAt time.Time
}

type kindKey struct {
	system model.System
	kind   Kind
}

// Applied is the last change a system and kind had applied.
type Applied struct {
	Seq       uint64
	At        time.Time // the upstream's time of the change
	AppliedAt time.Time
}

// SyncOptions configure NewSyncer.
type SyncOptions struct {
	// Replica names this gateway among the replicas sharing the store.
	Replica string
	Sources Sources
	// Changes is the store's queue on the change path.
	Changes *events.Queue
	// Sweep is how often the store reads what changed since the last
	// sweep; it must be positive.
	Sweep  time.Duration
	Logger *slog.Logger
}

// NewSyncer makes the sync of a store; Run runs it.
func NewSyncer(s *Store, o SyncOptions) *Syncer {
	return &Syncer{store: s, src: o.Sources, changes: o.Changes, sweep: o.Sweep, logger: o.Logger, now: time.Now,
		catchUp: make(chan struct{}, 1), retry: retryFirst, replica: o.Replica}
}

// Changes is the queue the change path fills for the store: every change.
func Changes() *events.Queue { return events.NewQueue(nil) }

// Run syncs until ctx ends, in this replica's turns: a backfill (or, for
// a store filled before, a sweep) at once, then the changes as they come
// and a sweep every sweep period or after a failure. Out of turn, the
// changes are left to the replica that syncs.
func (y *Syncer) Run(ctx context.Context) {
	for {
		l, err := y.store.acquire(ctx, func() { y.changes.Take() })
		if err != nil {
			return
		}
		if y.store.shared() {
			y.logger.Info("this replica syncs the shared store", "replica", y.replica)
		}
		turn, end := context.WithCancel(ctx)
		y.setLeading(true)
		var wg sync.WaitGroup
		wg.Go(func() { y.sweepLoop(turn) })
		wg.Go(func() { y.applyLoop(turn) })
		wg.Go(func() { y.heartbeat(turn) })
		select {
		case <-ctx.Done():
		case <-l.lost:
		}
		end()
		wg.Wait()
		y.setLeading(false)
		l.release()
		if ctx.Err() != nil {
			return
		}
	}
}

// heartbeat records every heartbeatEvery that this replica syncs, and
// whether it is failing.
func (y *Syncer) heartbeat(ctx context.Context) {
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	for {
		y.mu.Lock()
		st := syncState{leader: y.replica, heartbeat: y.now()}
		if y.failure != nil {
			st.failure, st.failedAt = y.failure.Error(), y.failedAt
		}
		y.mu.Unlock()
		if err := y.store.writeSyncState(ctx, st); err != nil && ctx.Err() == nil {
			y.fail(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweepLoop runs the backfill at start, every sweep period, and after a
// failure, with a growing pause between failed tries.
func (y *Syncer) sweepLoop(ctx context.Context) {
	retry := y.retry
	for {
		y.setSweeping(true)
		err := y.runBackfill(ctx)
		if err == nil {
			err = y.rereadFallenDue(ctx)
		}
		y.setSweeping(false)
		if ctx.Err() != nil {
			return
		}
		wait := y.sweep
		if err != nil {
			y.fail(err)
			wait, retry = retry, min(2*retry, retryMost)
		} else {
			y.caughtUp()
			retry = y.retry
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-y.catchUp:
			timer.Stop()
		}
	}
}

// runBackfill runs one backfill, logging its progress every few seconds.
func (y *Syncer) runBackfill(ctx context.Context) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				y.logProgress(ctx)
			}
		}
	})
	_, err := y.store.Backfill(ctx, y.src)
	close(done)
	wg.Wait()
	return err
}

func (y *Syncer) logProgress(ctx context.Context) {
	st, err := y.Freshness(ctx)
	if err != nil {
		return
	}
	for _, k := range st.Kinds {
		if k.CaughtUp.IsZero() {
			attrs := []any{"system", k.System, "kind", k.Kind, "read", k.Done}
			if k.Total > 0 {
				attrs = append(attrs, "total", k.Total)
			}
			if k.Left > 0 {
				attrs = append(attrs, "eta", k.Left.Round(time.Second))
			}
			y.logger.Info("store backfill", append(attrs, "rows", k.Rows, "newest", k.Newest)...)
		}
	}
}

// rereadFallenDue reads again the invoices that have fallen due without
// turning Overdue in the store: ERPNext's daily job marks them so without
// changing their modification time, so no list by modification time and
// no change ever brings the new status.
func (y *Syncer) rereadFallenDue(ctx context.Context) error {
	if y.src.ERP == nil {
		return nil
	}
	// Dates are stored as 00:00 UTC of the day; the job runs on the
	// site's day.
	y0, m0, d0 := y.now().In(y.src.ERP.Zone()).Date()
	names, err := y.store.fallenDue(ctx, time.Date(y0, m0, d0, 0, 0, 0, 0, time.UTC))
	if err != nil || len(names) == 0 {
		return err
	}
	_, err = reread(ctx, time.Now(), names, y.src.ERP.Invoices, y.store.PutInvoices, func(i model.Invoice) string { return i.ID })
	if err != nil {
		return fmt.Errorf("read again the invoices fallen due: %w", err)
	}
	return nil
}

// applyLoop applies the queued changes as they come.
func (y *Syncer) applyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-y.changes.Ready():
		}
		if y.failing() && y.changes.Len() > maxQueued {
			// The sweep that catches up reads every one of them again.
			y.logger.Warn("the store is behind: changes dropped until a sweep catches up", "changes", len(y.changes.Take()))
			continue
		}
		if err := y.Apply(ctx, y.changes.Take()); err != nil && ctx.Err() == nil {
			y.fail(err)
			select {
			case y.catchUp <- struct{}{}:
			default:
			}
		}
	}
}

// Apply brings the records of changes up to date: each is read again from
// its system, in a batch per system and kind, and written when it is not
// older than the stored row; a record its system no longer has is deleted
// as of the change. Applying a change again does nothing.
func (y *Syncer) Apply(ctx context.Context, changes []events.Change) error {
	var order []kindKey
	byKind := map[kindKey][]events.Change{}
	for _, c := range changes {
		k := kindKey{c.System, c.Kind}
		if _, ok := byKind[k]; !ok {
			order = append(order, k)
		}
		byKind[k] = append(byKind[k], c)
	}
	var errs []error
	for _, k := range order {
		cs := byKind[k]
		began := time.Now()
		if err := y.applyKind(ctx, k, cs); err != nil {
			errs = append(errs, fmt.Errorf("apply %s %s changes: %w", k.system, k.kind, err))
			continue
		}
		y.readAfterTick(began, cs)
		last := cs[0]
		for _, c := range cs {
			if c.Seq > last.Seq {
				last = c
			}
		}
		if err := y.store.setApplied(ctx, k.system, k.kind, Applied{Seq: last.Seq, At: last.At, AppliedAt: y.now()}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readAfterTick queues again the shop's changes that were read within
// their second. WooCommerce stamps whole seconds, so a second change of a
// record within that second has the same time and operation, and the
// change path takes it for the first; reading the record once more after
// the second has passed brings whatever it was.
func (y *Syncer) readAfterTick(readAt time.Time, cs []events.Change) {
	for _, c := range cs {
		tickEnds := c.At.Truncate(time.Second).Add(time.Second)
		if c.System != model.SystemShop || !readAt.Before(tickEnds) {
			continue
		}
		time.AfterFunc(time.Until(tickEnds)+tickMargin, func() { y.changes.Add(c) })
	}
}

// applyKind reads the changed records of one system and kind again and
// writes them.
func (y *Syncer) applyKind(ctx context.Context, k kindKey, cs []events.Change) error {
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.Key
	}
	var found []string
	var err error
	readAt := time.Now()
	switch {
	case k.system == model.SystemShop && k.kind == events.KindOrder && y.src.Shop != nil:
		found, err = reread(ctx, readAt, ids(keys), y.src.Shop.Orders, y.store.PutOrders, func(o model.Order) string { return strconv.FormatInt(o.ID, 10) })
	case k.system == model.SystemShop && k.kind == events.KindProduct && y.src.Shop != nil:
		return y.applyProducts(ctx, readAt, cs)
	case k.system == model.SystemShop && k.kind == events.KindCustomer && y.src.Shop != nil:
		found, err = reread(ctx, readAt, ids(keys), y.src.Shop.Customers, y.store.PutShopCustomers, func(c model.ShopCustomer) string { return strconv.FormatInt(c.ID, 10) })
	case k.system == model.SystemCRM && k.kind == events.KindCustomer && y.src.CRM != nil:
		found, err = reread(ctx, readAt, keys, y.src.CRM.Contacts, y.store.PutContacts, func(c model.Contact) string { return c.ID })
	case k.system == model.SystemERP && k.kind == events.KindInvoice && y.src.ERP != nil:
		found, err = reread(ctx, readAt, keys, y.src.ERP.Invoices, y.store.PutInvoices, func(i model.Invoice) string { return i.ID })
	case k.system == model.SystemERP && k.kind == events.KindStock && y.src.ERP != nil:
		found, err = reread(ctx, readAt, keys, y.src.ERP.Stock, y.store.PutStock, func(l model.StockLevel) string { return l.SKU })
	case k.system == model.SystemERP && k.kind == events.KindCustomer && y.src.ERP != nil:
		found, err = reread(ctx, readAt, keys, y.src.ERP.Customers, y.store.PutERPCustomers, func(c model.ERPCustomer) string { return c.ID })
	default:
		return nil // a system the store does not read
	}
	if err != nil {
		return err
	}
	for _, c := range cs {
		if !slices.Contains(found, c.Key) {
			if err := y.store.Delete(ctx, c.System, c.Kind, c.Key, c.At); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyProducts applies changes of shop products, which the change path
// keys by SKU (by id for a product without one, as WooCommerce allows): a
// key is read as a SKU, and a number the shop has no SKU of as an id too.
// A product read by neither is deleted as of its change.
func (y *Syncer) applyProducts(ctx context.Context, readAt time.Time, cs []events.Change) error {
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.Key
	}
	bySKU, err := y.src.Shop.ProductsBySKU(ctx, keys)
	if err != nil {
		return err
	}
	found := map[string]bool{}
	for _, p := range bySKU {
		found[p.SKU] = true
	}
	var byID []int64
	for _, id := range ids(keys) {
		if !found[strconv.FormatInt(id, 10)] {
			byID = append(byID, id)
		}
	}
	products := bySKU
	if len(byID) > 0 {
		more, err := y.src.Shop.Products(ctx, byID)
		if err != nil {
			return err
		}
		for _, p := range more {
			found[strconv.FormatInt(p.ID, 10)] = true
		}
		products = append(products, more...)
	}
	if err := y.store.PutProducts(ctx, readAt, products); err != nil {
		return err
	}
	for _, c := range cs {
		if found[c.Key] {
			continue
		}
		gone, err := y.store.productIDs(ctx, c.Key)
		if err != nil {
			return err
		}
		for _, id := range gone {
			if err := y.store.Delete(ctx, c.System, c.Kind, strconv.FormatInt(id, 10), c.At); err != nil {
				return err
			}
		}
	}
	return nil
}

// reread reads records by key and writes them, returning the keys found.
func reread[K, R any](ctx context.Context, readAt time.Time, keys []K, read func(context.Context, []K) ([]R, error),
	put func(context.Context, time.Time, []R) error, key func(R) string) ([]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rs, err := read(ctx, keys)
	if err != nil {
		return nil, err
	}
	if err := put(ctx, readAt, rs); err != nil {
		return nil, err
	}
	found := make([]string, len(rs))
	for i, r := range rs {
		found[i] = key(r)
	}
	return found, nil
}

// ids parses the shop's numeric keys; a key that is not a number names no
// record the shop can have.
func ids(keys []string) []int64 {
	out := make([]int64, 0, len(keys))
	for _, k := range keys {
		if id, err := strconv.ParseInt(k, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func (y *Syncer) setLeading(on bool) {
	y.mu.Lock()
	y.leading = on
	y.mu.Unlock()
}

func (y *Syncer) setSweeping(on bool) {
	y.mu.Lock()
	y.sweeping = on
	y.mu.Unlock()
}

// fail records why the sync stopped; it stands until a sweep catches up.
func (y *Syncer) fail(err error) {
	y.mu.Lock()
	first := y.failure == nil
	y.failure, y.failedAt = err, y.now()
	y.mu.Unlock()
	if first {
		y.logger.Error("the store's sync stopped; it tries again until it catches up", "err", err)
	}
}

func (y *Syncer) caughtUp() {
	y.mu.Lock()
	was := y.failure
	y.failure = nil
	y.mu.Unlock()
	if was != nil {
		y.logger.Info("the store's sync caught up again")
	}
}

func (y *Syncer) failing() bool {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.failure != nil
}

// The states of the sync, as Status reports them.
const (
	StateBackfilling = "backfilling" // a kind has not yet been read to its end
	StateSweeping    = "sweeping"    // reading what changed since the last sweep
	StateCurrent     = "current"     // following the changes
	StateFailing     = "failing"     // stopped by a failure, trying again
)

// Status is the sync's state, and each system and kind's.
type Status struct {
	State    string
	Error    string    // why the sync stopped, when failing
	FailedAt time.Time // when it last failed, when failing
	Queued   int       // changes waiting to be applied
	// Watermark is the oldest of the kinds' CaughtUp: every upstream
	// change made before it is in the store. Zero until every kind was
	// read to its end once.
	Watermark time.Time
	NextSweep time.Time
	// SyncedBy is the replica that syncs the store (this one when
	// Syncing), and Heartbeat when it last said so.
	SyncedBy  string
	Heartbeat time.Time
	Syncing   bool
	Kinds     []KindStatus
}

// KindStatus is one system and kind's part of the store.
type KindStatus struct {
	System model.System
	Kind   Kind
	Rows   int64
	// Done is how many records the backfills have read; Total how many
	// they will have read when the running one catches up, as the
	// upstream counted when it began; 0 when it does not say.
	Done, Total int64
	// Left estimates the time the running backfill needs to read the
	// rest, at its rate since it began; 0 when unknown or when none runs.
	Left time.Duration
	// CaughtUp is when a backfill last read to the end of the upstream's
	// list: the kind's watermark. Zero while the first backfill runs.
	CaughtUp time.Time
	// Newest is the newest upstream modification time read.
	Newest time.Time
	// LastChange is the last change applied; nil when none was.
	LastChange *Applied
}

// Lag is how long after the upstream made it the last change was applied.
func (k KindStatus) Lag() time.Duration {
	if k.LastChange == nil {
		return 0
	}
	return max(k.LastChange.AppliedAt.Sub(k.LastChange.At), 0)
}

// Status reads the sync's state and the store's rows. Every replica
// sharing a store reads the same, but for the changes queued, and a failure
// of its own sync that it could not record.
func (y *Syncer) Status(ctx context.Context) (Status, error) { return y.status(ctx, true) }

// Freshness is Status without the rows, which cost a count of each table:
// what a report or a readiness probe needs.
func (y *Syncer) Freshness(ctx context.Context) (Status, error) { return y.status(ctx, false) }

func (y *Syncer) status(ctx context.Context, rows bool) (Status, error) {
	kinds, err := y.store.kindStatus(ctx, y.now(), rows)
	if err != nil {
		return Status{}, err
	}
	shared, err := y.store.readSyncState(ctx)
	if err != nil {
		return Status{}, err
	}
	st := Status{State: StateCurrent, Queued: y.changes.Len(), Kinds: kinds,
		SyncedBy: shared.leader, Heartbeat: shared.heartbeat, Error: shared.failure, FailedAt: shared.failedAt}
	y.mu.Lock()
	st.Syncing = y.leading
	if y.failure != nil {
		st.Error, st.FailedAt = y.failure.Error(), y.failedAt
	}
	sweeping := y.sweeping
	y.mu.Unlock()
	if !st.Syncing && !st.Heartbeat.IsZero() && y.now().Sub(st.Heartbeat) > staleAfter {
		st.Error = fmt.Sprintf("the replica that syncs the store (%s) last said so at %s", st.SyncedBy, st.Heartbeat.Format(time.RFC3339))
		st.FailedAt = st.Heartbeat
	}
	complete := true
	for _, k := range kinds {
		if k.CaughtUp.IsZero() {
			complete = false
		} else if st.Watermark.IsZero() || k.CaughtUp.Before(st.Watermark) {
			st.Watermark = k.CaughtUp
		}
	}
	if !complete {
		st.Watermark = time.Time{}
	}
	switch {
	case st.Error != "":
		st.State = StateFailing
	case !complete:
		st.State = StateBackfilling
	case sweeping:
		st.State = StateSweeping
	}
	if complete {
		st.NextSweep = st.Watermark.Add(y.sweep)
	}
	return st, nil
}

// kindStatus reads each table's marks and, when asked, rows, for the
// kinds of the sources the store reads, as of now.
func (s *Store) kindStatus(ctx context.Context, now time.Time, rows bool) ([]KindStatus, error) {
	out := make([]KindStatus, 0, len(tables))
	for _, t := range tables {
		k := KindStatus{System: t.system, Kind: t.kind}
		if rows {
			if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&k.Rows); err != nil {
				return nil, fmt.Errorf("count %s: %w", t.name, err)
			}
		}
		m, err := s.Mark(ctx, t.system, t.kind)
		if err != nil {
			return nil, err
		}
		k.Done, k.Total, k.CaughtUp, k.Newest, k.LastChange = m.Done, m.Total, m.CaughtUp, m.Watermark, m.LastChange
		k.Left = m.left(now)
		out = append(out, k)
	}
	return out, nil
}
