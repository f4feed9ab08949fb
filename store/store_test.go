package store

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/graph/model"
)

var (
	logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	t0     = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)
	dec    = decimal.MustParse
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Path: filepath.Join(t.TempDir(), "store.db"), Join: consolidate.JoinByEmail, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func order(modified time.Time, total string) model.Order {
	paid := t0.Add(time.Minute)
	return model.Order{
		ID: 4711, Number: "4711", Status: "processing", Currency: "EUR",
		Total: dec(total), TotalTax: dec("4.69"), ShippingTotal: dec("4.90"), DiscountTotal: dec("0.00"),
		CustomerID: 12, BillingEmail: " Ann.Lee@Example.com", BillingName: "Ann Lee",
		CreatedAt: t0, ModifiedAt: modified, PaidAt: &paid,
		Lines: []model.OrderLine{
			{ID: 1, ProductID: 7, SKU: "MUG-01", Name: "Mug", Currency: "EUR", Quantity: 2, Price: dec("9.99"), Subtotal: dec("19.98"), Total: dec("19.98"), TotalTax: dec("3.80")},
			{ID: 2, ProductID: 8, SKU: "TEA-02", Name: "Tea", Currency: "EUR", Quantity: 1, Price: dec("0.1234"), Subtotal: dec("0.1234"), Total: dec("0.12"), TotalTax: dec("0.02")},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	qty := 17
	sale := dec("7.99")
	cases := []struct {
		name string
		put  func() error
		read func() (any, bool)
		want any
	}{
		{"order", func() error { return s.PutOrders(ctx, t0, []model.Order{order(t0, "35.35")}) },
			func() (any, bool) { return readOrder(t, s, 4711) }, order(t0, "35.35")},
		{"product", func() error {
			return s.PutProducts(ctx, t0, []model.Product{{ID: 7, SKU: "MUG-01", Name: "Mug", Status: "publish", Price: dec("7.99"), RegularPrice: dec("9.99"), SalePrice: &sale, Currency: "EUR", ManageStock: true, StockQuantity: &qty, StockStatus: "instock", ModifiedAt: t0}})
		}, func() (any, bool) { return readProduct(t, s, 7) },
			model.Product{ID: 7, SKU: "MUG-01", Name: "Mug", Status: "publish", Price: dec("7.99"), RegularPrice: dec("9.99"), SalePrice: &sale, Currency: "EUR", ManageStock: true, StockQuantity: &qty, StockStatus: "instock", ModifiedAt: t0}},
		{"stock", func() error {
			return s.PutStock(ctx, t0, []model.StockLevel{{SKU: "MUG-01", Warehouse: "Stores - TQ", OnHand: dec("120"), Reserved: dec("2.5"), Ordered: dec("0"), Projected: dec("117.5"), ModifiedAt: t0}})
		}, func() (any, bool) { return readStock(t, s, "MUG-01", "Stores - TQ") },
			model.StockLevel{SKU: "MUG-01", Warehouse: "Stores - TQ", OnHand: dec("120"), Reserved: dec("2.5"), Ordered: dec("0"), Projected: dec("117.5"), ModifiedAt: t0}},
		{"invoice", func() error {
			return s.PutInvoices(ctx, t0, []model.Invoice{{ID: "ACC-SINV-2026-00042", CustomerID: "CUST-2025-00012", Status: "Partly Paid", DocStatus: 1, IssueDate: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), DueDate: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), Total: model.Money{Amount: dec("119.00"), Currency: "EUR"}, Outstanding: model.Money{Amount: dec("19.01"), Currency: "EUR"}, OrderRef: "4711", ModifiedAt: t0}})
		}, func() (any, bool) { return readInvoice(t, s, "ACC-SINV-2026-00042") },
			model.Invoice{ID: "ACC-SINV-2026-00042", CustomerID: "CUST-2025-00012", Status: "Partly Paid", DocStatus: 1, IssueDate: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), DueDate: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), Total: model.Money{Amount: dec("119.00"), Currency: "EUR"}, Outstanding: model.Money{Amount: dec("19.01"), Currency: "EUR"}, OrderRef: "4711", ModifiedAt: t0}},
		{"contact", func() error {
			return s.PutContacts(ctx, t0, []model.Contact{{ID: "501", Email: "Ann.Lee@Example.com ", FirstName: "Ann", LastName: "Lee", Phone: "+44 20 7946 0000", Company: "Lee & Co", LifecycleStage: "customer", OwnerID: "9", CreatedAt: t0, UpdatedAt: t0}})
		}, func() (any, bool) { return readContact(t, s, "501") },
			model.Contact{ID: "501", Email: "Ann.Lee@Example.com ", FirstName: "Ann", LastName: "Lee", Phone: "+44 20 7946 0000", Company: "Lee & Co", LifecycleStage: "customer", OwnerID: "9", CreatedAt: t0, UpdatedAt: t0}},
		{"shop customer", func() error {
			return s.PutShopCustomers(ctx, t0, []model.ShopCustomer{{ID: 12, Email: "ann.lee@example.com", FirstName: "Ann", LastName: "Lee", IsPayingCustomer: true, CreatedAt: t0, ModifiedAt: t0}})
		}, func() (any, bool) { return readShopCustomer(t, s, 12) },
			model.ShopCustomer{ID: 12, Email: "ann.lee@example.com", FirstName: "Ann", LastName: "Lee", IsPayingCustomer: true, CreatedAt: t0, ModifiedAt: t0}},
		{"erp customer", func() error {
			return s.PutERPCustomers(ctx, t0, []model.ERPCustomer{{ID: "CUST-2025-00012", Name: "Lee & Co", Email: "ANN.LEE@EXAMPLE.COM", Type: "Company", Group: "Commercial", Territory: "UK", Currency: "EUR", CreditLimit: &model.Money{Amount: dec("5000.00"), Currency: "EUR"}, CreatedAt: t0, ModifiedAt: t0}})
		}, func() (any, bool) { return readERPCustomer(t, s, "CUST-2025-00012") },
			model.ERPCustomer{ID: "CUST-2025-00012", Name: "Lee & Co", Email: "ANN.LEE@EXAMPLE.COM", Type: "Company", Group: "Commercial", Territory: "UK", Currency: "EUR", CreditLimit: &model.Money{Amount: dec("5000.00"), Currency: "EUR"}, CreatedAt: t0, ModifiedAt: t0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 2 { // the second put is a no-op
				if err := c.put(); err != nil {
					t.Fatal(err)
				}
				got, ok := c.read()
				if !ok || !reflect.DeepEqual(got, c.want) {
					t.Fatalf("read back %+v (found %v), want %+v", got, ok, c.want)
				}
			}
		})
	}
}

func TestExactSums(t *testing.T) {
	s := openTemp(t)
	var orders []model.Order
	for i := range 1000 {
		o := order(t0, "0.10")
		o.ID, o.Lines = int64(i+1), nil
		orders = append(orders, o)
	}
	if err := s.PutOrders(t.Context(), t0, orders); err != nil {
		t.Fatal(err)
	}
	var sum int64
	if err := s.db.QueryRow(`SELECT sum(total_e4) FROM orders`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if got := money(sum); got.Cmp(dec("100")) != 0 {
		t.Errorf("sum of 1000 × 0.10 = %s, want 100", got)
	}
	o := order(t0, "0.00001")
	if err := s.PutOrders(t.Context(), t0, []model.Order{o}); !errors.Is(err, ErrPrecision) {
		t.Errorf("a fifth decimal place: %v, want ErrPrecision", err)
	}
}

func TestNewerWins(t *testing.T) {
	older, newer := t0, t0.Add(time.Second)
	cases := []struct {
		name      string
		puts      []model.Order
		wantTotal string
		wantLines int
	}{
		{"newer overwrites older", []model.Order{order(older, "1.00"), order(newer, "2.00")}, "2.00", 2},
		{"older never overwrites newer", []model.Order{order(newer, "2.00"), order(older, "1.00")}, "2.00", 2},
		{"same time: the later read wins", []model.Order{order(older, "1.00"), order(older, "3.00")}, "3.00", 2},
		{"in one batch, in order", nil, "2.00", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTemp(t)
			if c.puts == nil {
				if err := s.PutOrders(t.Context(), t0, []model.Order{order(newer, "2.00"), order(older, "1.00")}); err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range c.puts {
				if err := s.PutOrders(t.Context(), t0, []model.Order{o}); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := readOrder(t, s, 4711)
			if got.Total.String() != c.wantTotal || len(got.Lines) != c.wantLines {
				t.Errorf("total %s with %d lines, want %s with %d", got.Total, len(got.Lines), c.wantTotal, c.wantLines)
			}
		})
	}
	t.Run("same time: a read begun earlier never overwrites", func(t *testing.T) {
		// A sweep's page read before a change of the same second, written
		// after the change path wrote that change.
		s := openTemp(t)
		must(t, s.PutOrders(t.Context(), t0.Add(2*time.Second), []model.Order{order(older, "3.00")}))
		must(t, s.PutOrders(t.Context(), t0.Add(time.Second), []model.Order{order(older, "1.00")}))
		if got, _ := readOrder(t, s, 4711); got.Total.String() != "3.00" {
			t.Errorf("total %s, want 3.00 read later", got.Total)
		}
	})
	t.Run("older order's lines are not applied", func(t *testing.T) {
		s := openTemp(t)
		o := order(older, "1.00")
		o.Lines = o.Lines[:1]
		if err := s.PutOrders(t.Context(), t0, []model.Order{order(newer, "2.00"), o}); err != nil {
			t.Fatal(err)
		}
		if got, _ := readOrder(t, s, 4711); len(got.Lines) != 2 {
			t.Errorf("%d lines, want the newer order's 2", len(got.Lines))
		}
	})
}

func TestDelete(t *testing.T) {
	cases := []struct {
		name      string
		deleteAt  time.Time
		thenPut   *time.Time
		wantFound bool
	}{
		{"delete removes the order and its lines", t0.Add(time.Hour), nil, false},
		{"a delete older than the row is ignored", t0.Add(-time.Hour), nil, true},
		{"an older put after the delete stays deleted", t0.Add(time.Hour), &t0, false},
		{"a newer put after the delete brings it back", t0.Add(time.Hour), ptr(t0.Add(2 * time.Hour)), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTemp(t)
			ctx := t.Context()
			if err := s.PutOrders(ctx, t0, []model.Order{order(t0, "1.00")}); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, model.SystemShop, events.KindOrder, "4711", c.deleteAt); err != nil {
				t.Fatal(err)
			}
			if c.thenPut != nil {
				if err := s.PutOrders(ctx, t0, []model.Order{order(*c.thenPut, "1.00")}); err != nil {
					t.Fatal(err)
				}
			}
			got, found := readOrder(t, s, 4711)
			if found != c.wantFound {
				t.Fatalf("found %v, want %v", found, c.wantFound)
			}
			var lines int
			s.db.QueryRow(`SELECT count(*) FROM order_lines`).Scan(&lines)
			if lines != len(got.Lines) {
				t.Errorf("%d lines in the table, %d with the order", lines, len(got.Lines))
			}
		})
	}
	t.Run("other kinds", func(t *testing.T) {
		s := openTemp(t)
		ctx := t.Context()
		must(t, s.PutStock(ctx, t0, []model.StockLevel{{SKU: "A", Warehouse: "W1", ModifiedAt: t0}, {SKU: "A", Warehouse: "W2", ModifiedAt: t0}}))
		must(t, s.PutContacts(ctx, t0, []model.Contact{{ID: "1", UpdatedAt: t0}}))
		must(t, s.Delete(ctx, model.SystemERP, events.KindStock, "A", t0))
		must(t, s.Delete(ctx, model.SystemCRM, events.KindCustomer, "1", t0))
		if _, ok := readStock(t, s, "A", "W2"); ok {
			t.Error("stock of a deleted SKU is still there")
		}
		if _, ok := readContact(t, s, "1"); ok {
			t.Error("deleted contact is still there")
		}
		if err := s.Delete(ctx, model.SystemCRM, events.KindOrder, "1", t0); !errors.Is(err, ErrUnknownKind) {
			t.Errorf("delete of a CRM order: %v, want ErrUnknownKind", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrations(t *testing.T) {
	ctx := t.Context()
	t.Run("an older file is migrated", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "store.db")
		old, err := openSQLite(ctx, Options{Path: path, Join: consolidate.JoinByEmail, Logger: logger}, 1)
		must(t, err)
		// A row as version 1 wrote it.
		_, err = old.db.ExecContext(ctx, `INSERT INTO crm_contacts (id, email, first_name, last_name, phone, company, lifecycle_stage, owner_id,
	join_key, email_normalized, modified_at, read_at) VALUES ('1', '', '', '', '', '', '', '', '', '', ?, ?)`, t0.UnixNano(), t0.UnixNano())
		must(t, err)
		old.Close()
		s, err := Open(ctx, Options{Path: path, Join: consolidate.JoinByEmail, Logger: logger})
		must(t, err)
		defer s.Close()
		var v int
		must(t, s.db.QueryRow(`SELECT version FROM schema_version`).Scan(&v))
		if v != len(migrations) {
			t.Errorf("version %d, want %d", v, len(migrations))
		}
		must(t, s.SetMark(ctx, Mark{System: model.SystemCRM, Kind: events.KindCustomer, Checkpoint: "after=1", Done: 1, Total: 2500, Watermark: t0}))
		if _, ok := readContact(t, s, "1"); !ok {
			t.Error("the older file's rows are gone")
		}
	})
	t.Run("a newer file is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "store.db")
		s, err := Open(ctx, Options{Path: path, Join: consolidate.JoinByEmail, Logger: logger})
		must(t, err)
		_, err = s.db.Exec(`UPDATE schema_version SET version = version + 1`)
		must(t, err)
		s.Close()
		_, err = Open(ctx, Options{Path: path, Join: consolidate.JoinByEmail, Logger: logger})
		if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), path) {
			t.Errorf("open: %v, want ErrNewerSchema naming %s", err, path)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	junk := make([]byte, 64<<10)
	rand.Read(junk)
	must(t, os.WriteFile(corrupt, junk, 0o600))
	notDir := filepath.Join(dir, "file")
	must(t, os.WriteFile(notDir, nil, 0o600))
	other := filepath.Join(dir, "other.db")
	s, err := Open(t.Context(), Options{Path: other, Join: consolidate.JoinByEmail, Logger: logger})
	must(t, err)
	_, err = s.db.Exec(`DROP TABLE schema_version; CREATE TABLE notes (body TEXT)`)
	must(t, err)
	s.Close()

	// A place nobody can write to, whoever runs the tests (root may write
	// into any directory): a path below a file.
	cases := []struct {
		name string
		path string
		is   error
	}{
		{"random bytes", corrupt, nil},
		{"unwritable: below a file", filepath.Join(notDir, "store.db"), nil},
		{"another application's file", other, ErrNotStore},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(t.Context(), Options{Path: c.path, Join: consolidate.JoinByEmail, Logger: logger})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), c.path) {
				t.Errorf("error %q does not name %s", err, c.path)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v, want %v", err, c.is)
			}
		})
	}
}

func TestMarks(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	m, err := s.Mark(ctx, model.SystemShop, events.KindOrder)
	must(t, err)
	if m.Checkpoint != "" || !m.Watermark.IsZero() || m.System != model.SystemShop {
		t.Errorf("unset mark %+v", m)
	}
	for _, want := range []Mark{
		{System: model.SystemShop, Kind: events.KindOrder, Checkpoint: "page=3", Done: 200, Total: 20000},
		{System: model.SystemShop, Kind: events.KindOrder, Checkpoint: "", Done: 20000, Total: 20000, Watermark: t0},
	} {
		must(t, s.SetMark(ctx, want))
		got, err := s.Mark(ctx, model.SystemShop, events.KindOrder)
		must(t, err)
		if got.UpdatedAt.IsZero() {
			t.Error("no UpdatedAt")
		}
		got.UpdatedAt = time.Time{}
		if got != want {
			t.Errorf("mark %+v, want %+v", got, want)
		}
	}
}

func TestCustomersView(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	// One person in all three systems, written as the simulators do:
	// capitals, stray spaces; a duplicate shop account; a CRM-only contact
	// and an ERP customer without an e-mail address.
	must(t, s.PutContacts(ctx, t0, []model.Contact{
		{ID: "501", Email: " Ann.Lee@Example.com", FirstName: "Ann", LastName: "Lee", Company: "", Phone: "", LifecycleStage: "customer", OwnerID: "9", CreatedAt: t0, UpdatedAt: t0},
		{ID: "502", Email: "bo@example.com", FirstName: "Bo", LastName: "Ng", LifecycleStage: "lead", CreatedAt: t0, UpdatedAt: t0},
	}))
	must(t, s.PutShopCustomers(ctx, t0, []model.ShopCustomer{
		{ID: 12, Email: "ann.lee@example.com ", FirstName: "Annie", LastName: "Lee", Company: "Lee & Co", Phone: "+44 20 7946 0000", CreatedAt: t0, ModifiedAt: t0},
		{ID: 13, Email: "ANN.LEE@example.com", FirstName: "A.", LastName: "Lee", CreatedAt: t0.Add(time.Hour), ModifiedAt: t0},
	}))
	must(t, s.PutERPCustomers(ctx, t0, []model.ERPCustomer{
		{ID: "CUST-2025-00012", Name: "Lee & Co Ltd", Email: "ANN.LEE@EXAMPLE.COM", Type: "Company", CreatedAt: t0, ModifiedAt: t0},
		{ID: "CUST-2025-00013", Name: "Walk-in", Type: "Individual", CreatedAt: t0, ModifiedAt: t0},
	}))
	type customer struct {
		key, crm, erp, email, name, company, phone, stage, owner string
		shop                                                     int64
	}
	rows, err := s.db.QueryContext(ctx, `SELECT key, coalesce(crm_id, ''), coalesce(shop_id, 0), coalesce(erp_id, ''), coalesce(email, ''),
		coalesce(name, ''), coalesce(company, ''), coalesce(phone, ''), coalesce(lifecycle_stage, ''), coalesce(owner, '') FROM customers ORDER BY key`)
	must(t, err)
	defer rows.Close()
	var got []customer
	for rows.Next() {
		var c customer
		must(t, rows.Scan(&c.key, &c.crm, &c.shop, &c.erp, &c.email, &c.name, &c.company, &c.phone, &c.stage, &c.owner))
		got = append(got, c)
	}
	must(t, rows.Err())
	want := []customer{
		{key: "ann.lee@example.com", crm: "501", shop: 12, erp: "CUST-2025-00012", email: "ann.lee@example.com",
			name: "Ann Lee", company: "Lee & Co", phone: "+44 20 7946 0000", stage: "customer", owner: "9"},
		{key: "bo@example.com", crm: "502", email: "bo@example.com", name: "Bo Ng", stage: "lead"},
		{key: "erp:CUST-2025-00013", erp: "CUST-2025-00013", name: "Walk-in"},
		{key: "shop:13", shop: 13, email: "ann.lee@example.com", name: "A. Lee"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("customers\n got %+v\nwant %+v", got, want)
	}
}
