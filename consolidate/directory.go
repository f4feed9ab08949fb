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
	index
}

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
		index:  newIndex(),
	}
}

func newIndex() index {
	return index{byKey: map[string]*Entry{}, byEmail: map[string]*Entry{}, byCRM: map[string]*Entry{},
		byShop: map[int64]*Entry{}, byERP: map[string]*Entry{}}
}

// directoryLimit bounds each system's list read.
const directoryLimit = 1_000_000

// Sync reads the three customer lists and rebuilds the directory. A system
// that fails keeps its previous records; the error names every system that
// failed.
func (d *Directory) Sync(ctx context.Context) error {
	defer d.syncOnce.Do(func() { close(d.synced) })
	start := time.Now()
	var (
		contacts  []model.Contact
		shopCusts []model.ShopCustomer
		erpCusts  []model.ERPCustomer
		errs      = map[model.System]error{}
		mu        sync.Mutex
	)
	fail := func(s model.System, err error) {
		mu.Lock()
		errs[s] = err
		mu.Unlock()
	}
	var g errgroup.Group
	g.Go(func() error {
		var after string
		for {
			page, next, err := d.crm.ListContacts(ctx, after, 100)
			if err != nil {
				fail(model.SystemCRM, err)
				contacts = nil
				return nil
			}
			contacts = append(contacts, page...)
			if next == "" || len(contacts) >= directoryLimit {
				return nil
			}
			after = next
		}
	})
	g.Go(func() error {
		var err error
		if shopCusts, err = d.shop.ListCustomers(ctx, directoryLimit); err != nil {
			fail(model.SystemShop, err)
		}
		return nil
	})
	g.Go(func() error {
		var err error
		if erpCusts, err = d.erp.CustomersModifiedSince(ctx, time.Time{}, directoryLimit); err != nil {
			fail(model.SystemERP, err)
		}
		return nil
	})
	_ = g.Wait()

	d.mu.Lock()
	if errs[model.SystemCRM] == nil {
		d.contacts = contacts
	}
	if errs[model.SystemShop] == nil {
		d.shopCusts = shopCusts
	}
	if errs[model.SystemERP] == nil {
		d.erpCusts = erpCusts
	}
	d.index = build(d.join, d.contacts, d.shopCusts, d.erpCusts)
	size := len(d.byKey)
	d.mu.Unlock()

	d.logger.Info("customer directory synced", "customers", size, "crm", len(contacts), "shop", len(shopCusts),
		"erp", len(erpCusts), "failed", len(errs), "took", time.Since(start).Round(time.Millisecond))
	if len(errs) == 0 {
		return nil
	}
	var all []error
	for _, s := range []model.System{model.SystemShop, model.SystemCRM, model.SystemERP} {
		if err := errs[s]; err != nil {
			all = append(all, fmt.Errorf("sync %s customers: %w", s, err))
		}
	}
	return errors.Join(all...)
}

// Run syncs now and then every interval until ctx ends. A sync a system
// failed is tried again sooner, after 5 s and then twice as long each time,
// so a system that was down at start is joined in once it is back.
func (d *Directory) Run(ctx context.Context, interval time.Duration) {
	const firstRetry = 5 * time.Second
	retry := firstRetry
	for {
		wait := interval
		if err := d.Sync(ctx); err != nil && ctx.Err() == nil {
			d.logger.Warn("customer directory sync incomplete", "err", err, "retry_in", min(retry, interval))
			wait, retry = min(retry, interval), retry*2
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
	}
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
		e := ix.join(model.SystemCRM, join.normalize(join.crm(c)), c.ID, func(e *Entry) bool { return e.CRMID == "" })
		e.CRMID = c.ID
		ix.byCRM[c.ID] = e
		e.Name = fullName(c.FirstName, c.LastName)
		e.Company, e.LifecycleStage = c.Company, c.LifecycleStage
		ix.email(e, c.Email)
	}
	for i := range shopCusts {
		s := &shopCusts[i]
		id := strconv.FormatInt(s.ID, 10)
		e := ix.join(model.SystemShop, join.normalize(join.shop(s)), id, func(e *Entry) bool { return e.ShopID == 0 })
		e.ShopID = s.ID
		ix.byShop[s.ID] = e
		e.Name = cmp.Or(e.Name, fullName(s.FirstName, s.LastName))
		e.Company = cmp.Or(e.Company, s.Company)
		ix.email(e, s.Email)
	}
	for i := range erpCusts {
		r := &erpCusts[i]
		e := ix.join(model.SystemERP, join.normalize(join.erp(r)), r.ID, func(e *Entry) bool { return e.ERPID == "" })
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
	d.index = build(d.join, d.contacts, d.shopCusts, d.erpCusts)
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

	if len(contacts)+len(shopCusts)+len(erpCusts) == 0 {
		return out, errors.Join(errCRM, errShop, errERP)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
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
		d.contacts, d.shopCusts, d.erpCusts, d.index = merged.contacts, merged.shopCusts, merged.erpCusts, ix
	}
	return out, errors.Join(errCRM, errShop, errERP)
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
