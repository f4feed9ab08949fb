package consolidate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/trestlehq/trestle/graph/model"
)

// The reads a directory makes of each system, declared here at the consumer.
type (
	// CRM lists and finds contacts.
	CRM interface {
		ListContacts(ctx context.Context, after string, limit int) ([]model.Contact, string, error)
		Contacts(ctx context.Context, ids []string) ([]model.Contact, error)
		ContactsByEmail(ctx context.Context, emails []string) ([]model.Contact, error)
	}
	// Shop lists and finds customer accounts.
	Shop interface {
		ListCustomers(ctx context.Context, limit int) ([]model.ShopCustomer, error)
		Customers(ctx context.Context, ids []int64) ([]model.ShopCustomer, error)
		CustomersByEmail(ctx context.Context, emails []string) ([]model.ShopCustomer, error)
	}
	// ERP lists and finds customers.
	ERP interface {
		CustomersModifiedSince(ctx context.Context, since time.Time, limit int) ([]model.ERPCustomer, error)
		Customers(ctx context.Context, names []string) ([]model.ERPCustomer, error)
		CustomersByEmail(ctx context.Context, emails []string) ([]model.ERPCustomer, error)
	}
)

// Entry is one customer in the directory: the keys in each system, and what
// the directory knows to search and list by.
type Entry struct {
	model.Customer
	Name           string
	Company        string
	LifecycleStage string
}

// Directory maps every system's customer key to the joined customer. It is
// built by reading the three systems' customer lists (Sync), and grows as
// customers it does not know yet are looked up by e-mail (Resolve). Reads are
// served from memory, so resolving the customers of a page of orders costs no
// upstream call; the records behind the keys are loaded when a field needs
// them.
type Directory struct {
	crm    CRM
	shop   Shop
	erp    ERP
	join   JoinKey
	logger *slog.Logger

	synced   chan struct{} // closed when the first sync has finished
	syncOnce sync.Once

	mu sync.RWMutex
	// The last good record lists from each system: a system that fails a
	// sync keeps what it had.
	contacts  []model.Contact
	shopCusts []model.ShopCustomer
	erpCusts  []model.ERPCustomer
	readAt    map[model.System]time.Time // when each list was last read whole
	gaps      map[model.System]Gap       // the lists the last read of failed
	reading   map[model.System]bool      // the lists a sync is reading now
	// asked holds, while a list is missing, the addresses Resolve asked
	// the systems about and which of them answered: what they said is
	// known without their lists.
	asked map[string][]model.System
	index
	// version counts the changes of the index, for what keeps answers
	// made from it (Version).
	version atomic.Uint64
}

// Version changes whenever what the directory answers may have: an answer
// made from it at one version may be kept while the version stays.
func (d *Directory) Version() uint64 { return d.version.Load() }

// setIndex puts a new index in place; d.mu is held.
func (d *Directory) setIndex(ix index) {
	d.index = ix
	d.version.Add(1)
}

// maxAsked bounds the addresses asked remembers.
const maxAsked = 10_000

// A Gap is a system's customer list that the directory failed to read at
// its last try. Until a read succeeds, the directory may lack that system's
// customers and their keys in it, so whether the system knows a customer is
// open.
type Gap struct {
	System model.System
	Err    error     // the failure of the last read
	ReadAt time.Time // when the list was last read whole; zero when never
}

// Stale reports whether the directory holds the list as read at ReadAt,
// rather than none of it.
func (g Gap) Stale() bool { return !g.ReadAt.IsZero() }

// systems are the three systems in the order the directory reports them.
var systems = []model.System{model.SystemShop, model.SystemCRM, model.SystemERP}

// index is the joined view, rebuilt from the record lists.
type index struct {
	byKey   map[string]*Entry
	byEmail map[string]*Entry
	byCRM   map[string]*Entry
	byShop  map[int64]*Entry
	byERP   map[string]*Entry
	sorted  []*Entry // by Key, built on first listing after a change
}

// NewDirectory makes an empty directory over the three systems, joining
// their records by the given key.
func NewDirectory(crm CRM, shop Shop, erp ERP, join JoinKey, logger *slog.Logger) *Directory {
	return &Directory{
		crm: crm, shop: shop, erp: erp, join: join, logger: logger,
		synced: make(chan struct{}),
		readAt: map[model.System]time.Time{}, gaps: map[model.System]Gap{}, reading: map[model.System]bool{},
		index: newIndex(),
	}
}

func newIndex() index {
	return index{byKey: map[string]*Entry{}, byEmail: map[string]*Entry{}, byCRM: map[string]*Entry{},
		byShop: map[int64]*Entry{}, byERP: map[string]*Entry{}}
}

// directoryLimit bounds each system's list read.
const directoryLimit = 1_000_000

// Sync reads the three customer lists and rebuilds the directory. A system
// that fails keeps its previous records and is reported by Gaps until a
// read succeeds; the error names every system that failed.
func (d *Directory) Sync(ctx context.Context) error {
	defer d.syncOnce.Do(func() { close(d.synced) })
	return d.readLists(ctx, systems)
}

// readLists reads the lists of the given systems and rebuilds the directory
// with them and the lists it holds of the others.
func (d *Directory) readLists(ctx context.Context, which []model.System) error {
	start := time.Now()
	var (
		contacts  []model.Contact
		shopCusts []model.ShopCustomer
		erpCusts  []model.ERPCustomer
		errs      = map[model.System]error{}
		mu        sync.Mutex
	)
	d.mu.Lock()
	for _, s := range which {
		d.reading[s] = true
	}
	d.mu.Unlock()
	// done records how one list read ended.
	done := func(s model.System, err error) {
		mu.Lock()
		if err != nil {
			errs[s] = err
		}
		mu.Unlock()
		d.mu.Lock()
		delete(d.reading, s)
		d.mu.Unlock()
	}
	var g errgroup.Group
	for _, s := range which {
		switch s {
		case model.SystemCRM:
			g.Go(func() error {
				var after string
				for {
					page, next, err := d.crm.ListContacts(ctx, after, 100)
					if err != nil {
						contacts = nil
						done(s, err)
						return nil
					}
					contacts = append(contacts, page...)
					if next == "" || len(contacts) >= directoryLimit {
						done(s, nil)
						return nil
					}
					after = next
				}
			})
		case model.SystemShop:
			g.Go(func() error {
				var err error
				shopCusts, err = d.shop.ListCustomers(ctx, directoryLimit)
				done(s, err)
				return nil
			})
		default:
			g.Go(func() error {
				var err error
				erpCusts, err = d.erp.CustomersModifiedSince(ctx, time.Time{}, directoryLimit)
				done(s, err)
				return nil
			})
		}
	}
	_ = g.Wait()

	read := time.Now()
	d.mu.Lock()
	for _, s := range which {
		if err := errs[s]; err != nil {
			d.gaps[s] = Gap{System: s, Err: err, ReadAt: d.readAt[s]}
			continue
		}
		delete(d.gaps, s)
		d.readAt[s] = read
		switch s {
		case model.SystemCRM:
			d.contacts = contacts
		case model.SystemShop:
			d.shopCusts = shopCusts
		default:
			d.erpCusts = erpCusts
		}
	}
	d.setIndex(build(d.join, d.contacts, d.shopCusts, d.erpCusts))
	if len(d.gaps) == 0 {
		d.asked = nil
	}
	// What the directory holds now, of the lists read and of the others.
	held := []any{"customers", len(d.byKey), "crm", len(d.contacts), "shop", len(d.shopCusts), "erp", len(d.erpCusts)}
	d.mu.Unlock()

	attrs := append(held, "read", which, "failed", len(errs), "took", time.Since(start).Round(time.Millisecond))
	if len(errs) == 0 {
		d.logger.Info("customer directory synced", attrs...)
		return nil
	}
	d.logger.Warn("customer directory read in part: a customer list failed", attrs...)
	var all []error
	for _, s := range systems {
		if err := errs[s]; err != nil {
			all = append(all, fmt.Errorf("sync %s customers: %w", s, err))
		}
	}
	return errors.Join(all...)
}

// Gaps returns the systems whose customer lists the last read failed, in
// the order shop, CRM, ERP; none when every list was read.
func (d *Directory) Gaps() []Gap {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []Gap
	for _, s := range systems {
		if g, ok := d.gaps[s]; ok {
			out = append(out, g)
		}
	}
	return out
}

// Reading returns the systems whose customer lists a sync is reading now:
// what a caller of Wait still waits for.
func (d *Directory) Reading() []model.System {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []model.System
	for _, s := range systems {
		if d.reading[s] {
			out = append(out, s)
		}
	}
	return out
}

// Unknown reports the gap that leaves open whether system s knows customer
// c: the gap in s's own list, when c has no key of s's; or, for a customer
// the directory does not hold, the gap in the list of a system that knows
// them, since the record that would join them to s is missing. ok is false
// when the directory can tell: c has a key of s's, or s's list was read and
// c was joined against it.
func (d *Directory) Unknown(c model.Customer, s model.System) (g Gap, ok bool) {
	if Knows(c, s) {
		return Gap{}, false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	byEmail := d.join.name == JoinByEmail.name && c.Email != ""
	if g, ok := d.gaps[s]; ok {
		if byEmail && slices.Contains(d.asked[c.Email], s) {
			return Gap{}, false // s was asked about their address, and answered
		}
		return g, true
	}
	if byEmail {
		return Gap{}, false // looked up by their address in s's list
	}
	if e := d.byKey[c.Key()]; e != nil && e.Customer == c {
		return Gap{}, false // joined at the last build
	}
	for _, t := range systems {
		if g, ok := d.gaps[t]; ok && Knows(c, t) {
			return g, true
		}
	}
	return Gap{}, false
}

// Run syncs now and then every interval until ctx ends. The lists a sync
// failed to read are read again sooner, after 5 s and then twice as long
// each time up to a minute, so a system that was down is joined in soon
// after it is back; the lists read well are not read again until the
// next full sync.
func (d *Directory) Run(ctx context.Context, interval time.Duration) {
	const firstRetry, maxRetry = 5 * time.Second, time.Minute
	retry := firstRetry
	next := time.Now().Add(interval) // the next full sync
	err := d.Sync(ctx)
	for {
		wait := time.Until(next)
		if err != nil && ctx.Err() == nil {
			wait = min(wait, retry)
			d.logger.Warn("customer directory sync incomplete", "err", err, "retry_in", wait)
			retry = min(retry*2, maxRetry)
		} else {
			retry = firstRetry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if failed := d.failed(); len(failed) > 0 && time.Now().Before(next) {
			err = d.readLists(ctx, failed)
			continue
		}
		next = time.Now().Add(interval)
		err = d.Sync(ctx)
	}
}

// failed returns the systems whose lists the last read failed.
func (d *Directory) failed() []model.System {
	var out []model.System
	for _, g := range d.Gaps() {
		out = append(out, g.System)
	}
	return out
}

// Wait blocks until the first sync has finished or ctx ends.
func (d *Directory) Wait(ctx context.Context) error {
	select {
	case <-d.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// build joins the three record lists by the join key. Records without a
// key stand alone under their system key. Where one system holds two records
// with the same key, the first one listed (the oldest key) joins and the
// other stands alone. Each entry's e-mail is the first one its records have,
// in the order CRM, shop, ERP.
func build(join JoinKey, contacts []model.Contact, shopCusts []model.ShopCustomer, erpCusts []model.ERPCustomer) index {
	ix := newIndex()
	for i := range contacts {
		c := &contacts[i]
		e := ix.join(model.SystemCRM, join.Contact(c), c.ID, func(e *Entry) bool { return e.CRMID == "" })
		e.CRMID = c.ID
		ix.byCRM[c.ID] = e
		e.Name = fullName(c.FirstName, c.LastName)
		e.Company, e.LifecycleStage = c.Company, c.LifecycleStage
		ix.email(e, c.Email)
	}
	for i := range shopCusts {
		s := &shopCusts[i]
		id := strconv.FormatInt(s.ID, 10)
		e := ix.join(model.SystemShop, join.ShopCustomer(s), id, func(e *Entry) bool { return e.ShopID == 0 })
		e.ShopID = s.ID
		ix.byShop[s.ID] = e
		e.Name = cmp.Or(e.Name, fullName(s.FirstName, s.LastName))
		e.Company = cmp.Or(e.Company, s.Company)
		ix.email(e, s.Email)
	}
	for i := range erpCusts {
		r := &erpCusts[i]
		e := ix.join(model.SystemERP, join.ERPCustomer(r), r.ID, func(e *Entry) bool { return e.ERPID == "" })
		e.ERPID = r.ID
		ix.byERP[r.ID] = e
		e.Name = cmp.Or(e.Name, r.Name)
		if r.Type == "Company" {
			e.Company = cmp.Or(e.Company, r.Name)
		}
		ix.email(e, r.Email)
	}
	return ix
}

// join returns the entry a record with the given (normalised) join key
// joins: the one with that key if it has no record of this system yet, else
// a new entry.
func (ix *index) join(s model.System, key, id string, free func(*Entry) bool) *Entry {
	if key != "" {
		if e, ok := ix.byKey[key]; ok && free(e) {
			return e
		}
		if _, taken := ix.byKey[key]; !taken {
			e := &Entry{Customer: model.Customer{JoinKey: key}}
			ix.byKey[key] = e
			return e
		}
	}
	// No key, or a duplicate within one system: a customer of its own,
	// keyed by the system's key.
	e := &Entry{}
	switch s {
	case model.SystemCRM:
		e.CRMID = id
	case model.SystemShop:
		e.ShopID, _ = strconv.ParseInt(id, 10, 64)
	default:
		e.ERPID = id
	}
	ix.byKey[e.Key()] = e
	return e
}

// email gives an entry its e-mail address, if it has none yet, and indexes
// it; the first entry to claim an address keeps it.
func (ix *index) email(e *Entry, raw string) {
	addr := model.NormalizeEmail(raw)
	if addr == "" || e.Email != "" {
		return
	}
	e.Email = addr
	if _, taken := ix.byEmail[addr]; !taken {
		ix.byEmail[addr] = e
	}
}

// ByKey finds a customer by the key in its global ID.
func (d *Directory) ByKey(key string) (Entry, bool) {
	return d.find(func(ix *index) *Entry { return ix.byKey[key] })
}

// ByEmail finds a customer by e-mail address, normalised first.
func (d *Directory) ByEmail(email string) (Entry, bool) {
	addr := model.NormalizeEmail(email)
	return d.find(func(ix *index) *Entry { return ix.byEmail[addr] })
}

// ByCRM, ByShop and ByERP find a customer by one system's key.
func (d *Directory) ByCRM(id string) (Entry, bool) {
	return d.find(func(ix *index) *Entry { return ix.byCRM[id] })
}

// ByShop finds a customer by shop account id.
func (d *Directory) ByShop(id int64) (Entry, bool) {
	return d.find(func(ix *index) *Entry { return ix.byShop[id] })
}

// ByERP finds a customer by ERP document name.
func (d *Directory) ByERP(name string) (Entry, bool) {
	return d.find(func(ix *index) *Entry { return ix.byERP[name] })
}

func (d *Directory) find(f func(*index) *Entry) (Entry, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if e := f(&d.index); e != nil {
		return *e, true
	}
	return Entry{}, false
}

// Update re-reads one system's record of a customer after a change to it
// and joins it again: a new customer, a changed address or phone number, or
// a record gone (not found) is in the directory at once, not at the next
// sync.
func (d *Directory) Update(ctx context.Context, system model.System, key string) error {
	switch system {
	case model.SystemCRM:
		found, err := d.crm.Contacts(ctx, []string{key})
		if err != nil {
			return fmt.Errorf("update crm customer: %w", err)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.contacts = replaced(d.contacts, found, func(c model.Contact) bool { return c.ID == key })
	case model.SystemShop:
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return fmt.Errorf("update shop customer: key %q is not a shop customer id", key)
		}
		found, err := d.shop.Customers(ctx, []int64{id})
		if err != nil {
			return fmt.Errorf("update shop customer: %w", err)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.shopCusts = replaced(d.shopCusts, found, func(c model.ShopCustomer) bool { return c.ID == id })
	default:
		found, err := d.erp.Customers(ctx, []string{key})
		if err != nil {
			return fmt.Errorf("update erp customer: %w", err)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.erpCusts = replaced(d.erpCusts, found, func(c model.ERPCustomer) bool { return c.ID == key })
	}
	d.setIndex(build(d.join, d.contacts, d.shopCusts, d.erpCusts))
	return nil
}

// replaced is records less the one record is matches, plus what was found
// of it now (nothing when it is gone).
func replaced[R any](records, found []R, is func(R) bool) []R {
	out := make([]R, 0, len(records)+len(found))
	for _, r := range records {
		if !is(r) {
			out = append(out, r)
		}
	}
	return append(out, found...)
}

// OrderCustomer is who placed an order: the customer of its shop account,
// else of its billing e-mail, else a customer known by that e-mail alone (a
// guest no system keeps a record of, or an account not seen yet). Nil for a
// guest order without an address.
func (d *Directory) OrderCustomer(o *model.Order) *model.Customer {
	if o.CustomerID != 0 {
		if e, ok := d.ByShop(o.CustomerID); ok {
			return &e.Customer
		}
	}
	email := model.NormalizeEmail(o.BillingEmail)
	if email != "" {
		if e, ok := d.ByEmail(email); ok {
			return &e.Customer
		}
	}
	if email == "" && o.CustomerID == 0 {
		return nil
	}
	return &model.Customer{Email: email, ShopID: o.CustomerID}
}

// InvoiceCustomer is the customer an invoice bills: the directory's, or
// one known to the ERP alone while the directory has not seen it.
func (d *Directory) InvoiceCustomer(inv *model.Invoice) *model.Customer {
	if e, ok := d.ByERP(inv.CustomerID); ok {
		return &e.Customer
	}
	return &model.Customer{ERPID: inv.CustomerID}
}

// Resolve finds the customers with these e-mail addresses, asking the three
// systems for those the directory does not know yet and adding what they
// find. An address no system knows yields no entry. A system that fails is
// reported, and the entries are built from the others.
func (d *Directory) Resolve(ctx context.Context, emails []string) (map[string]Entry, error) {
	out := map[string]Entry{}
	var unknown []string
	for _, raw := range emails {
		key := model.NormalizeEmail(raw)
		if key == "" {
			continue
		}
		if e, ok := d.ByEmail(key); ok {
			out[key] = e
		} else if !slices.Contains(unknown, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) == 0 {
		return out, nil
	}
	var (
		contacts  []model.Contact
		shopCusts []model.ShopCustomer
		erpCusts  []model.ERPCustomer
		errCRM    error
		errShop   error
		errERP    error
		wg        sync.WaitGroup
	)
	wg.Go(func() { contacts, errCRM = d.crm.ContactsByEmail(ctx, unknown) })
	wg.Go(func() { shopCusts, errShop = d.shop.CustomersByEmail(ctx, unknown) })
	wg.Go(func() { erpCusts, errERP = d.erp.CustomersByEmail(ctx, unknown) })
	wg.Wait()

	d.mu.Lock()
	defer d.mu.Unlock()
	d.remember(unknown, map[model.System]error{model.SystemCRM: errCRM, model.SystemShop: errShop})
	if len(contacts)+len(shopCusts)+len(erpCusts) == 0 {
		return out, errors.Join(errCRM, errShop, errERP)
	}
	merged := struct {
		contacts  []model.Contact
		shopCusts []model.ShopCustomer
		erpCusts  []model.ERPCustomer
	}{
		uniqueBy(append(slices.Clip(d.contacts), contacts...), func(c model.Contact) string { return c.ID }),
		uniqueBy(append(slices.Clip(d.shopCusts), shopCusts...), func(c model.ShopCustomer) int64 { return c.ID }),
		uniqueBy(append(slices.Clip(d.erpCusts), erpCusts...), func(c model.ERPCustomer) string { return c.ID }),
	}
	ix := build(d.join, merged.contacts, merged.shopCusts, merged.erpCusts)
	for _, addr := range unknown {
		if e := ix.byEmail[addr]; e != nil {
			out[addr] = *e
		}
	}
	// Remembered only when every system answered: a join missing a failing
	// system's record would otherwise stand until the next sync.
	if errCRM == nil && errShop == nil && errERP == nil {
		d.contacts, d.shopCusts, d.erpCusts = merged.contacts, merged.shopCusts, merged.erpCusts
		d.setIndex(ix)
	}
	return out, errors.Join(errCRM, errShop, errERP)
}

// remember notes, while a list is missing, which systems answered for these
// addresses (those whose error is nil). The ERP is never noted: its lookup
// by address misses addresses stored with a leading space (see
// erpnext.Client.CustomersByEmail), so only its list can tell.
func (d *Directory) remember(addrs []string, errs map[model.System]error) {
	if len(d.gaps) == 0 {
		return
	}
	for _, addr := range addrs {
		if len(d.asked) >= maxAsked {
			return
		}
		if d.asked == nil {
			d.asked = map[string][]model.System{}
		}
		for _, s := range systems {
			if err, asked := errs[s]; asked && err == nil && !slices.Contains(d.asked[addr], s) {
				d.asked[addr] = append(d.asked[addr], s)
			}
		}
	}
}

// uniqueBy keeps the last record of each key, in first-seen order.
func uniqueBy[R any, K comparable](rs []R, key func(R) K) []R {
	at := make(map[K]int, len(rs))
	out := rs[:0:0]
	for _, r := range rs {
		k := key(r)
		if i, ok := at[k]; ok {
			out[i] = r
			continue
		}
		at[k] = len(out)
		out = append(out, r)
	}
	return out
}

// Filter selects customers from the directory.
type Filter struct {
	Search         string       // case-insensitive substring of name, company or e-mail
	KnownTo        model.System // only customers this system knows; "" for all
	LifecycleStage string       // CRM lifecycle stage, case-insensitive
}

func (f Filter) match(e *Entry) bool {
	if f.KnownTo != "" && !Knows(e.Customer, f.KnownTo) {
		return false
	}
	if f.LifecycleStage != "" && !strings.EqualFold(e.LifecycleStage, f.LifecycleStage) {
		return false
	}
	if f.Search != "" {
		q := strings.ToLower(f.Search)
		if !strings.Contains(strings.ToLower(e.Name), q) && !strings.Contains(strings.ToLower(e.Company), q) &&
			!strings.Contains(e.Email, q) {
			return false
		}
	}
	return true
}

// Page is one page of a directory listing.
type Page struct {
	Entries []Entry
	Total   int  // entries matching the filter
	HasNext bool // more entries follow the page
	HasPrev bool // entries precede the page
}

// List pages through the customers matching f in key order, starting after
// the entry with key after ("" for the start).
func (d *Directory) List(f Filter, after string, first int) Page {
	sorted := d.sortedEntries()

	var p Page
	for _, e := range sorted {
		if !f.match(e) {
			continue
		}
		p.Total++
		if after != "" && compareKeys(e.Key(), after) <= 0 {
			p.HasPrev = true
			continue
		}
		if len(p.Entries) == first {
			p.HasNext = true
			continue
		}
		p.Entries = append(p.Entries, *e)
	}
	return p
}

// sortedEntries returns the entries in key order, sorting them once per
// rebuild of the index.
func (d *Directory) sortedEntries() []*Entry {
	d.mu.RLock()
	sorted := d.sorted
	d.mu.RUnlock()
	if sorted != nil {
		return sorted
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sorted == nil {
		d.sorted = make([]*Entry, 0, len(d.byKey))
		for _, e := range d.byKey {
			d.sorted = append(d.sorted, e)
		}
		slices.SortFunc(d.sorted, func(a, b *Entry) int { return compareKeys(a.Key(), b.Key()) })
	}
	return d.sorted
}

// compareKeys orders join keys first, then system keys ("crm:…", "erp:…",
// "shop:…"), which hold a colon no address or phone number has.
func compareKeys(a, b string) int {
	as, bs := strings.Contains(a, ":"), strings.Contains(b, ":")
	if as != bs {
		if bs {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
