package erpnext_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	simerp "github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources/erpnext"
	"github.com/trestlehq/trestle/sources/rest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One world and one simulated site for the package: building them is most
// of a test's cost. Each test gets its own upstream for its own counters.
var (
	testWorld = sync.OnceValue(func() *world.World { return world.New(world.Options{Seed: 1}) })
	testSite  = sync.OnceValue(func() *simerp.API { return simerp.New(testWorld()) })
	siteZone  = sync.OnceValue(func() *time.Location {
		loc, err := time.LoadLocation(simerp.TimeZone)
		if err != nil {
			panic(err)
		}
		return loc
	})
)

const (
	listCustomers    = "GET /api/resource/Customer"
	listCreditLimits = "GET /api/resource/Customer Credit Limit"
	listInvoices     = "GET /api/resource/Sales Invoice"
	listBins         = "GET /api/resource/Bin"
)

type site struct {
	*erpnext.Client
	up *sim.Upstream
}

func newSite(t *testing.T, f sim.Faults, mod func(*erpnext.Config)) site {
	t.Helper()
	up := sim.NewUpstream(model.SystemERP, testSite(), f)
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	cfg := erpnext.Config{
		BaseURL:   srv.URL,
		APIKey:    simerp.APIKey,
		APISecret: simerp.APISecret,
		TimeZone:  simerp.TimeZone,
		Timeout:   5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := erpnext.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return site{Client: c, up: up}
}

// sameInstant accepts a time that is off only because the site's naive
// wall clock repeats an hour when daylight saving time ends.
func sameInstant(got, want time.Time) bool {
	if got.Equal(want) {
		return true
	}
	loc := siteZone()
	return got.In(loc).Format(time.DateTime) == want.In(loc).Format(time.DateTime)
}

func customers(n int, pred func(*world.Person) bool) []*world.Person {
	var out []*world.Person
	for _, p := range testWorld().People {
		if p.ERP != nil && (pred == nil || pred(p)) {
			out = append(out, p)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  erpnext.Config
		want []string
	}{
		{"no credentials", erpnext.Config{BaseURL: "http://erp.test"}, []string{"api key and secret"}},
		{"bad zone", erpnext.Config{BaseURL: "http://erp.test", APIKey: "k", APISecret: "s", TimeZone: "Mars/Olympus"}, []string{"time zone"}},
		{"relative URL", erpnext.Config{BaseURL: "erp.test", APIKey: "k", APISecret: "s"}, []string{"base URL"}},
		{"negative parallel", erpnext.Config{BaseURL: "http://erp.test", APIKey: "k", APISecret: "s", Parallel: -1}, []string{"parallel"}},
		{"every problem at once", erpnext.Config{TimeZone: "Mars/Olympus"}, []string{"api key and secret", "time zone", "base URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := erpnext.New(tt.cfg)
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBatchReads(t *testing.T) {
	w := testWorld()
	var custNames, orderRefs, invNames, skus []string
	for _, p := range customers(250, nil) {
		custNames = append(custNames, p.ERP.Name)
	}
	for _, inv := range w.Invoices {
		if len(invNames) < 250 {
			invNames = append(invNames, inv.Name)
		}
		if inv.Order != nil && len(orderRefs) < 250 && !slices.Contains(orderRefs, strconv.FormatInt(inv.Order.ID, 10)) {
			orderRefs = append(orderRefs, strconv.FormatInt(inv.Order.ID, 10))
		}
	}
	for _, p := range w.Products[:250] {
		skus = append(skus, p.SKU)
	}
	wantOrderInvoices := 0
	for _, inv := range w.Invoices {
		if inv.Order != nil && slices.Contains(orderRefs, strconv.FormatInt(inv.Order.ID, 10)) {
			wantOrderInvoices++
		}
	}

	tests := []struct {
		name       string
		read       func(ctx context.Context, s site) (int, error)
		want       int
		wantRoutes map[string]int64
	}{
		{"250 customers in 3 calls, credit limits in 3 more", func(ctx context.Context, s site) (int, error) {
			r, err := s.Customers(ctx, custNames)
			return len(r), err
		}, 250, map[string]int64{listCustomers: 3, listCreditLimits: 3}},
		{"duplicates and blanks are dropped before chunking", func(ctx context.Context, s site) (int, error) {
			r, err := s.Customers(ctx, append(append(slices.Clone(custNames[:100]), custNames[:100]...), ""))
			return len(r), err
		}, 100, map[string]int64{listCustomers: 1, listCreditLimits: 1}},
		{"250 invoices in 3 calls", func(ctx context.Context, s site) (int, error) {
			r, err := s.Invoices(ctx, invNames)
			return len(r), err
		}, 250, map[string]int64{listInvoices: 3}},
		{"invoices of 250 orders in 3 calls", func(ctx context.Context, s site) (int, error) {
			r, err := s.InvoicesByOrder(ctx, orderRefs)
			return len(r), err
		}, wantOrderInvoices, map[string]int64{listInvoices: 3}},
		{"750 bins of 250 items in 3 calls", func(ctx context.Context, s site) (int, error) {
			r, err := s.Stock(ctx, skus)
			return len(r), err
		}, 250 * len(w.Warehouses), map[string]int64{listBins: 3}},
		{"no keys, no calls", func(ctx context.Context, s site) (int, error) {
			r, err := s.Stock(ctx, nil)
			return len(r), err
		}, 0, map[string]int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, sim.Faults{}, nil)
			got, err := tt.read(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %d records, want %d", got, tt.want)
			}
			if routes := s.up.Routes(); !mapsEqual(routes, tt.wantRoutes) {
				t.Errorf("calls %v, want %v", routes, tt.wantRoutes)
			}
		})
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestInvoicesByCustomerPagesUntilExhausted(t *testing.T) {
	w := testWorld()
	want := map[string]bool{}
	var names []string
	for _, inv := range w.Invoices {
		n := inv.Customer.ERP.Name
		if len(names) < 150 && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, inv := range w.Invoices {
		if slices.Contains(names, inv.Customer.ERP.Name) {
			want[inv.Name] = true
		}
	}
	s := newSite(t, sim.Faults{}, nil)
	got, err := s.InvoicesByCustomer(t.Context(), names)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("got %d invoices, want %d", len(got), len(want))
	}
	for _, inv := range got {
		if !want[inv.ID] {
			t.Errorf("unexpected invoice %s", inv.ID)
		}
	}
	// Two chunks of keys; a chunk matching more than a page takes more calls.
	if calls := s.up.Routes()[listInvoices]; calls <= 2 {
		t.Errorf("%d calls: %d invoices should not fit two pages", calls, len(want))
	}
}

func TestMapping(t *testing.T) {
	w := testWorld()
	s := newSite(t, sim.Faults{}, nil)

	t.Run("invoices", func(t *testing.T) {
		var names []string
		for i := 0; i < len(w.Invoices); i += len(w.Invoices) / 100 {
			names = append(names, w.Invoices[i].Name)
		}
		got, err := s.Invoices(t.Context(), names)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(names) {
			t.Fatalf("got %d, want %d", len(got), len(names))
		}
		for _, g := range got {
			inv := w.InvoiceByName(g.ID)
			ref := ""
			if inv.Order != nil {
				ref = strconv.FormatInt(inv.Order.ID, 10)
			}
			switch {
			case g.Total.Amount.Cmp(inv.Total) != 0 || g.Total.Amount.String() != inv.Total.String():
				t.Errorf("%s: total %s, want %s", g.ID, g.Total.Amount, inv.Total)
			case g.Outstanding.Amount.Cmp(inv.Outstanding) != 0 || g.Outstanding.Amount.Scale() < 2:
				t.Errorf("%s: outstanding %s, want %s", g.ID, g.Outstanding.Amount, inv.Outstanding)
			case g.Total.Currency != inv.Currency || g.Outstanding.Currency != inv.Currency:
				t.Errorf("%s: currency %s", g.ID, g.Total.Currency)
			case g.CustomerID != inv.Customer.ERP.Name || g.Status != inv.Status || g.DocStatus != inv.DocStatus || g.OrderRef != ref:
				t.Errorf("%s: got %+v", g.ID, g)
			case !g.IssueDate.Equal(inv.Posting) || !g.DueDate.Equal(inv.Due):
				t.Errorf("%s: dates %s %s, want %s %s", g.ID, g.IssueDate, g.DueDate, inv.Posting, inv.Due)
			case !sameInstant(g.ModifiedAt, inv.Modified) || g.ModifiedAt.Location() != time.UTC:
				t.Errorf("%s: modified %s, want %s", g.ID, g.ModifiedAt, inv.Modified)
			}
		}
	})

	t.Run("customers", func(t *testing.T) {
		ps := customers(100, nil)
		var names []string
		for _, p := range ps {
			names = append(names, p.ERP.Name)
		}
		got, err := s.Customers(t.Context(), append(names, "CUST-1999-00001"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ps) {
			t.Fatalf("got %d, want %d: a missing name is simply absent", len(got), len(ps))
		}
		limits := 0
		for _, g := range got {
			p := w.PersonByERP(g.ID)
			e := p.ERP
			if g.Email != e.Email || g.Phone != e.Phone || g.Type != e.Type || g.Group != e.Group || g.Territory != e.Territory || g.Disabled != e.Disabled {
				t.Errorf("%s: got %+v", g.ID, g)
			}
			if !sameInstant(g.ModifiedAt, e.Modified) {
				t.Errorf("%s: modified %s, want %s", g.ID, g.ModifiedAt, e.Modified)
			}
			switch {
			case e.CreditLimit.IsZero() && g.CreditLimit != nil:
				t.Errorf("%s: credit limit %v, want none", g.ID, g.CreditLimit)
			case !e.CreditLimit.IsZero() && (g.CreditLimit == nil || g.CreditLimit.Amount.String() != e.CreditLimit.String() || g.CreditLimit.Currency != w.Currency):
				t.Errorf("%s: credit limit %v, want %s", g.ID, g.CreditLimit, e.CreditLimit)
			case g.CreditLimit != nil:
				limits++
			}
		}
		if limits == 0 {
			t.Error("no customer with a credit limit in the sample")
		}
	})

	t.Run("stock", func(t *testing.T) {
		p := w.Products[42]
		got, err := s.Stock(t.Context(), []string{p.SKU, "NO-SUCH-SKU"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(p.Bins) {
			t.Fatalf("got %d levels, want %d", len(got), len(p.Bins))
		}
		for _, g := range got {
			i := slices.IndexFunc(p.Bins, func(b *world.Bin) bool { return b.Warehouse == g.Warehouse })
			if i < 0 {
				t.Fatalf("unknown warehouse %s", g.Warehouse)
			}
			b := p.Bins[i]
			if g.SKU != p.SKU || g.OnHand.Cmp(b.Actual) != 0 || g.Reserved.Cmp(b.Reserved) != 0 ||
				g.Ordered.Cmp(b.Ordered) != 0 || g.Projected.Cmp(b.Projected()) != 0 || g.OnHand.String() != b.Actual.String() {
				t.Errorf("%s: got %+v", g.Warehouse, g)
			}
			if !sameInstant(g.ModifiedAt, b.Modified) {
				t.Errorf("%s: modified %s, want %s", g.Warehouse, g.ModifiedAt, b.Modified)
			}
		}
	})
}

func TestCustomersByEmail(t *testing.T) {
	var exact, caseOnly, spaced *world.Person
	for _, p := range customers(-1, func(p *world.Person) bool { return p.ERP.Email != "" }) {
		e := p.ERP.Email
		switch {
		case exact == nil && e == p.Email:
			exact = p
		case caseOnly == nil && strings.TrimSpace(e) == e && e != p.Email:
			caseOnly = p
		case spaced == nil && strings.HasPrefix(e, " "):
			spaced = p
		}
	}
	tests := []struct {
		name  string
		email string
		want  string // the customer found; empty for none
	}{
		{"as stored", exact.ERP.Email, exact.ERP.Name},
		{"other case", caseOnly.Email, caseOnly.ERP.Name},
		{"trailing space ignored", exact.ERP.Email + "  ", exact.ERP.Name},
		{"stored with a leading space is missed", spaced.Email, ""},
		{"unknown", "nobody@example.invalid", ""},
	}
	s := newSite(t, sim.Faults{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.CustomersByEmail(t.Context(), []string{tt.email})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("got %v, want none", got)
			case tt.want != "" && (len(got) != 1 || got[0].ID != tt.want):
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
}

func TestModifiedSince(t *testing.T) {
	w := testWorld()
	since := w.Anchor.Add(-20 * 24 * time.Hour)
	var want []*world.Invoice
	for _, inv := range w.Invoices {
		if inv.Modified.After(since) {
			want = append(want, inv)
		}
	}
	if len(want) <= 500 {
		t.Fatalf("only %d invoices changed: the walk would not page", len(want))
	}

	t.Run("invoices, all pages", func(t *testing.T) {
		s := newSite(t, sim.Faults{}, nil)
		got, err := s.InvoicesModifiedSince(t.Context(), since, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d, want %d", len(got), len(want))
		}
		for i := 1; i < len(got); i++ {
			// The site orders by wall clock, which runs back an hour once a year.
			if got[i].ModifiedAt.Before(got[i-1].ModifiedAt.Add(-time.Hour)) {
				t.Fatalf("not oldest first at %d: %s after %s", i, got[i].ModifiedAt, got[i-1].ModifiedAt)
			}
		}
		if calls, wantCalls := s.up.Routes()[listInvoices], int64(len(want)/500+1); calls != wantCalls {
			t.Errorf("%d calls, want %d", calls, wantCalls)
		}
	})

	t.Run("resuming after a cut misses nothing", func(t *testing.T) {
		s := newSite(t, sim.Faults{}, nil)
		seen := map[string]bool{}
		from := since
		for range 100 {
			got, err := s.InvoicesModifiedSince(t.Context(), from, 137)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			for _, inv := range got {
				seen[inv.ID] = true
			}
			from = got[len(got)-1].ModifiedAt
		}
		if len(seen) != len(want) {
			t.Errorf("saw %d invoices, want %d", len(seen), len(want))
		}
	})

	t.Run("customers and stock", func(t *testing.T) {
		s := newSite(t, sim.Faults{}, nil)
		cs, err := s.CustomersModifiedSince(t.Context(), since, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantCustomers := len(customers(-1, func(p *world.Person) bool { return p.ERP.Modified.After(since) }))
		if len(cs) != wantCustomers {
			t.Errorf("got %d customers, want %d", len(cs), wantCustomers)
		}
		bins, err := s.StockModifiedSince(t.Context(), w.Anchor.Add(-24*time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		wantBins := 0
		for _, p := range w.Products {
			for _, b := range p.Bins {
				if b.Modified.After(w.Anchor.Add(-24 * time.Hour)) {
					wantBins++
				}
			}
		}
		if len(bins) != wantBins {
			t.Errorf("got %d bins, want %d", len(bins), wantBins)
		}
	})
}

func TestListInvoices(t *testing.T) {
	w := testWorld()
	cust := w.Invoices[0].Customer.ERP.Name
	statuses := []string{"Unpaid", "Overdue", "Partly Paid"}
	from := w.Anchor.AddDate(0, -6, 0).Truncate(24 * time.Hour)
	var want []string
	for _, inv := range w.Invoices {
		if slices.Contains(statuses, inv.Status) && !inv.Posting.Before(from) {
			want = append(want, inv.Name)
		}
	}
	s := newSite(t, sim.Faults{}, nil)
	q := erpnext.InvoiceQuery{Statuses: statuses, IssuedFrom: from, Limit: 40}
	var got []string
	var last time.Time
	for {
		p, err := s.ListInvoices(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range p.Invoices {
			if !last.IsZero() && inv.IssueDate.After(last) {
				t.Fatalf("%s out of order", inv.ID)
			}
			last = inv.IssueDate
			got = append(got, inv.ID)
		}
		if !p.HasMore {
			break
		}
		q.Offset += q.Limit
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %d invoices, want %d", len(got), len(want))
	}
	n, err := s.CountInvoices(t.Context(), q)
	if err != nil || n != len(want) {
		t.Errorf("count %d (%v), want %d", n, err, len(want))
	}

	p, err := s.ListInvoices(t.Context(), erpnext.InvoiceQuery{Customer: cust, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range p.Invoices {
		if inv.CustomerID != cust {
			t.Errorf("%s belongs to %s", inv.ID, inv.CustomerID)
		}
	}
	if _, err := s.ListInvoices(t.Context(), erpnext.InvoiceQuery{Limit: 501}); err == nil {
		t.Error("page of 501 accepted")
	}

	// Open invoices: submitted with something outstanding; a cancelled one
	// keeps its outstanding amount but is owed nothing.
	open := 0
	for _, inv := range w.Invoices {
		if inv.DocStatus == 1 && inv.Outstanding.IsPos() {
			open++
		}
	}
	n, err = s.CountInvoices(t.Context(), erpnext.InvoiceQuery{OpenOnly: true})
	if err != nil || n != open {
		t.Errorf("open invoices: count %d (%v), want %d", n, err, open)
	}
	p, err = s.ListInvoices(t.Context(), erpnext.InvoiceQuery{OpenOnly: true, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range p.Invoices {
		if !inv.Submitted() || !inv.Outstanding.Amount.IsPos() {
			t.Fatalf("%s (%s, docstatus %d, outstanding %s) listed as open", inv.ID, inv.Status, inv.DocStatus, inv.Outstanding.Amount)
		}
	}
}

func TestFailures(t *testing.T) {
	names := []string{customers(1, nil)[0].ERP.Name}
	tests := []struct {
		name   string
		faults sim.Faults
		mod    func(*erpnext.Config)
		class  error
		check  func(t *testing.T, e *rest.Error)
	}{
		{name: "wrong credentials", mod: func(c *erpnext.Config) { c.APISecret = "wrong" }, class: rest.ErrUnauthorized},
		{name: "rate limited", faults: sim.Faults{RateLimitRate: 1, RetryAfterS: 3}, class: rest.ErrRateLimited,
			check: func(t *testing.T, e *rest.Error) {
				if e.RetryAfter != 3*time.Second {
					t.Errorf("RetryAfter %s, want 3s", e.RetryAfter)
				}
			}},
		{name: "server error", faults: sim.Faults{ErrorRate: 1}, class: rest.ErrUnavailable},
		{name: "malformed body", faults: sim.Faults{MalformedRate: 1}, class: rest.ErrBadResponse},
		{name: "truncated body", faults: sim.Faults{TruncateRate: 1}, class: rest.ErrUnavailable},
		{name: "connection reset", faults: sim.Faults{ResetRate: 1}, class: rest.ErrUnavailable},
		{name: "slow upstream", faults: sim.Faults{LatencyMS: 500}, mod: func(c *erpnext.Config) { c.Timeout = 50 * time.Millisecond }, class: rest.ErrUnavailable},
		{name: "down", faults: sim.Faults{Down: true}, class: rest.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, tt.faults, tt.mod)
			got, err := s.Customers(t.Context(), names)
			if !errors.Is(err, tt.class) {
				t.Fatalf("err = %v (%d records), want %v", err, len(got), tt.class)
			}
			var e *rest.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not a *rest.Error", err)
			}
			if strings.Contains(err.Error(), simerp.APIKey+":") || strings.Contains(err.Error(), "token ") {
				t.Errorf("error leaks credentials: %v", err)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

func ExampleClient_Invoices() {
	up := sim.NewUpstream(model.SystemERP, testSite(), sim.Faults{})
	srv := httptest.NewServer(up)
	defer srv.Close()
	c, err := erpnext.New(erpnext.Config{BaseURL: srv.URL, APIKey: simerp.APIKey, APISecret: simerp.APISecret, TimeZone: simerp.TimeZone})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	invs, err := c.Invoices(context.Background(), []string{testWorld().Invoices[0].Name})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(invs), invs[0].Total.Amount.Scale(), up.Routes()[listInvoices])
	// Output: 1 2 1
}

func TestCountModifiedAfter(t *testing.T) {
	w := testWorld()
	// An invoice's own time, a few days back: the count leaves it out.
	after := w.Invoices[0].Modified
	for _, inv := range w.Invoices {
		if inv.Modified.Before(w.Anchor.Add(-3*24*time.Hour)) && inv.Modified.After(after) {
			after = inv.Modified
		}
	}
	invoices, bins, custs := 0, 0, 0
	for _, inv := range w.Invoices {
		invoices += btoi(inv.Modified.After(after))
	}
	for _, p := range w.Products {
		for _, b := range p.Bins {
			bins += btoi(b.Modified.After(after))
		}
	}
	custs = len(customers(-1, func(p *world.Person) bool { return p.ERP.Modified.After(after) }))
	if invoices == 0 || bins == 0 || custs == 0 {
		t.Fatalf("%d invoices, %d bins and %d customers changed after %s; move the time", invoices, bins, custs, after)
	}
	tests := []struct {
		name  string
		count func(context.Context, site) (int, error)
		read  func(context.Context, site) (int, error)
		want  int
	}{
		{
			name:  "invoices",
			count: func(ctx context.Context, s site) (int, error) { return s.CountInvoicesModifiedAfter(ctx, after) },
			read:  func(ctx context.Context, s site) (int, error) { return size(s.InvoicesModifiedSince(ctx, after, 0)) },
			want:  invoices,
		},
		{
			name:  "stock",
			count: func(ctx context.Context, s site) (int, error) { return s.CountStockModifiedAfter(ctx, after) },
			read:  func(ctx context.Context, s site) (int, error) { return size(s.StockModifiedSince(ctx, after, 0)) },
			want:  bins,
		},
		{
			name:  "customers",
			count: func(ctx context.Context, s site) (int, error) { return s.CountCustomersModifiedAfter(ctx, after) },
			read:  func(ctx context.Context, s site) (int, error) { return size(s.CustomersModifiedSince(ctx, after, 0)) },
			want:  custs,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, sim.Faults{}, nil)
			got, err := tt.count(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("counted %d, want %d", got, tt.want)
			}
			if n := s.up.Routes()["GET /api/method/frappe.client.get_count"]; n != 1 || s.up.Requests() != 1 {
				t.Errorf("%d counts in %d calls, want one", n, s.up.Requests())
			}
			read, err := tt.read(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			if read != got {
				t.Errorf("counted %d, read %d with the same filter", got, read)
			}
		})
	}
}

// size is how many records a read brought.
func size[R any](rs []R, err error) (int, error) { return len(rs), err }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
