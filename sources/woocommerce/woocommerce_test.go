package woocommerce_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"
	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	simwc "github.com/trestlehq/trestle/sim/woocommerce"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources/rest"
	"github.com/trestlehq/trestle/sources/woocommerce"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testWorld is built once per package: generating it takes ~100 ms.
var testWorld = sync.OnceValue(func() *world.World { return world.New(world.Options{Seed: 1}) })

const (
	ordersRoute   = "GET /wp-json/wc/v3/orders"
	productsRoute = "GET /wp-json/wc/v3/products"
	custRoute     = "GET /wp-json/wc/v3/customers"
	currencyRoute = "GET /wp-json/wc/v3/data/currencies/current"
)

// newShop serves the simulator over real HTTP and returns a client for it.
func newShop(t *testing.T, f sim.Faults, mod func(*woocommerce.Config)) (*woocommerce.Client, *sim.Upstream) {
	t.Helper()
	u := sim.NewUpstream(model.SystemShop, simwc.New(testWorld()), f)
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	cfg := woocommerce.Config{
		BaseURL:        srv.URL + simwc.Prefix,
		ConsumerKey:    simwc.ConsumerKey,
		ConsumerSecret: simwc.ConsumerSecret,
		Timeout:        5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := woocommerce.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, u
}

func orderIDs(w *world.World, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = w.Orders[i*(len(w.Orders)/n)].ID
	}
	return ids
}

func TestBatchReads(t *testing.T) {
	w := testWorld()
	productIDs := make([]int64, 250)
	for i := range productIDs {
		productIDs[i] = w.Products[i*2].ID
	}
	skus := make([]string, 120)
	for i := range skus {
		skus[i] = w.Products[i*4].SKU
	}
	var customerIDs []int64
	for _, p := range w.People {
		if p.Shop != nil && len(customerIDs) < 250 {
			customerIDs = append(customerIDs, p.Shop.ID)
		}
	}
	tests := []struct {
		name     string
		currency string
		read     func(context.Context, *woocommerce.Client) (int, error)
		want     int
		calls    map[string]int64
	}{
		{
			name: "250 orders in 3 calls",
			read: func(ctx context.Context, c *woocommerce.Client) (int, error) {
				got, err := c.Orders(ctx, orderIDs(w, 250))
				return len(got), err
			},
			want: 250, calls: map[string]int64{ordersRoute: 3},
		},
		{
			name: "duplicate ids are asked for once",
			read: func(ctx context.Context, c *woocommerce.Client) (int, error) {
				ids := orderIDs(w, 100)
				got, err := c.Orders(ctx, append(ids, ids...))
				return len(got), err
			},
			want: 100, calls: map[string]int64{ordersRoute: 1},
		},
		{
			name: "250 products in 3 calls and the currency once",
			read: func(ctx context.Context, c *woocommerce.Client) (int, error) {
				got, err := c.Products(ctx, productIDs)
				if err != nil {
					return 0, err
				}
				again, err := c.Products(ctx, productIDs[:10])
				return len(got) + len(again) - 10, err
			},
			want: 250, calls: map[string]int64{productsRoute: 4, currencyRoute: 1},
		},
		{
			name: "120 SKUs in 2 calls with the currency configured", currency: "EUR",
			read: func(ctx context.Context, c *woocommerce.Client) (int, error) {
				got, err := c.ProductsBySKU(ctx, skus)
				return len(got), err
			},
			want: 120, calls: map[string]int64{productsRoute: 2},
		},
		{
			name: "250 customers in 3 calls",
			read: func(ctx context.Context, c *woocommerce.Client) (int, error) {
				got, err := c.Customers(ctx, customerIDs)
				return len(got), err
			},
			want: 250, calls: map[string]int64{custRoute: 3},
		},
		{
			name: "no keys, no calls",
			read: func(ctx context.Context, c *woocommerce.Client) (int, error) {
				got, err := c.Orders(ctx, nil)
				return len(got), err
			},
			want: 0, calls: map[string]int64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, u := newShop(t, sim.Faults{}, func(cfg *woocommerce.Config) { cfg.Currency = tt.currency })
			got, err := tt.read(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %d records, want %d", got, tt.want)
			}
			routes := u.Routes()
			for route, n := range tt.calls {
				if routes[route] != n {
					t.Errorf("%d calls to %s, want %d", routes[route], route, n)
				}
			}
			var total int64
			for _, n := range tt.calls {
				total += n
			}
			if u.Requests() != total {
				t.Errorf("%d requests in all (%v), want %d", u.Requests(), routes, total)
			}
		})
	}
}

func TestMissingKeysAreAbsent(t *testing.T) {
	w := testWorld()
	c, _ := newShop(t, sim.Faults{}, nil)
	known := []int64{w.Orders[10].ID, w.Orders[20].ID}
	got, err := c.Orders(t.Context(), []int64{known[0], 1, 2, known[1], 999_999_999})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, o := range got {
		ids = append(ids, o.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, known) {
		t.Errorf("got orders %v, want %v", ids, known)
	}
	products, err := c.ProductsBySKU(t.Context(), []string{"NO-SUCH-SKU", w.Products[7].SKU, "with,comma"})
	if err != nil {
		t.Fatal(err)
	}
	if len(products) != 1 || products[0].SKU != w.Products[7].SKU {
		t.Errorf("got %v, want only %s", products, w.Products[7].SKU)
	}
}

func TestOrderMapping(t *testing.T) {
	w := testWorld()
	picks := map[string]*world.Order{}
	for _, o := range w.Orders {
		switch {
		case o.Guest && picks["guest"] == nil:
			picks["guest"] = o
		case o.Status == "refunded" && picks["refunded"] == nil:
			picks["refunded"] = o
		case o.Discount.IsPos() && picks["discounted"] == nil:
			picks["discounted"] = o
		case o.Status == "pending" && picks["unpaid"] == nil:
			picks["unpaid"] = o
		case o.Person.Shop != nil && o.Person.Shop.Email != strings.ToLower(o.Person.Shop.Email) && picks["capitals"] == nil:
			picks["capitals"] = o
		}
	}
	c, _ := newShop(t, sim.Faults{}, nil)
	var ids []int64
	for _, o := range picks {
		ids = append(ids, o.ID)
	}
	got, err := c.Orders(t.Context(), ids)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]model.Order{}
	for _, o := range got {
		byID[o.ID] = o
	}
	for name, want := range picks {
		t.Run(name, func(t *testing.T) {
			o, ok := byID[want.ID]
			if !ok {
				t.Fatalf("order %d missing", want.ID)
			}
			wantCustomer := int64(0)
			if !want.Guest {
				wantCustomer = want.Person.Shop.ID
			}
			if o.Status != want.Status || o.Currency != want.Currency || o.CustomerID != wantCustomer ||
				o.BillingEmail != want.BillingEmail || o.BillingName != want.Person.FirstName+" "+want.Person.LastName {
				t.Errorf("got %+v", o)
			}
			for _, a := range []struct {
				name      string
				got, want decimal.Decimal
			}{
				{"total", o.Total, want.Total}, {"tax", o.TotalTax, want.Tax},
				{"shipping", o.ShippingTotal, want.Shipping}, {"discount", o.DiscountTotal, want.Discount},
			} {
				if a.got.Cmp(a.want) != 0 {
					t.Errorf("%s = %s, want %s", a.name, a.got, a.want)
				}
			}
			checkTime(t, "created", o.CreatedAt, want.Created)
			checkTime(t, "modified", o.ModifiedAt, want.Modified)
			checkOptTime(t, "paid", o.PaidAt, want.Paid)
			checkOptTime(t, "completed", o.CompletedAt, want.Completed)
			if len(o.Lines) != len(want.Lines) {
				t.Fatalf("%d lines, want %d", len(o.Lines), len(want.Lines))
			}
			for i, l := range o.Lines {
				wl := want.Lines[i]
				if l.ID != wl.ID || l.SKU != wl.Product.SKU || l.ProductID != wl.Product.ID || l.Quantity != wl.Quantity ||
					l.Name != wl.Product.Name || l.Currency != want.Currency {
					t.Errorf("line %d = %+v, want %+v", i, l, wl)
				}
				if l.Price.Cmp(wl.Price) != 0 || l.Subtotal.Cmp(wl.Subtotal) != 0 || l.Total.Cmp(wl.Total) != 0 || l.TotalTax.Cmp(wl.Tax) != 0 {
					t.Errorf("line %d amounts price %s subtotal %s total %s tax %s, want %s %s %s %s",
						i, l.Price, l.Subtotal, l.Total, l.TotalTax, wl.Price, wl.Subtotal, wl.Total, wl.Tax)
				}
			}
		})
	}
}

func TestProductAndCustomerMapping(t *testing.T) {
	w := testWorld()
	c, _ := newShop(t, sim.Faults{}, nil)
	var sale, unmanaged, plain *world.Product
	for _, p := range w.Products {
		switch {
		case p.SalePrice != nil && sale == nil:
			sale = p
		case !p.ManageStock && unmanaged == nil:
			unmanaged = p
		case p.ManageStock && p.SalePrice == nil && plain == nil:
			plain = p
		}
	}
	products, err := c.ProductsBySKU(t.Context(), []string{sale.SKU, unmanaged.SKU, plain.SKU})
	if err != nil {
		t.Fatal(err)
	}
	if len(products) != 3 {
		t.Fatalf("got %d products, want 3", len(products))
	}
	for _, p := range products {
		want := w.ProductBySKU(p.SKU)
		t.Run(p.SKU, func(t *testing.T) {
			if p.ID != want.ID || p.Name != want.Name || p.Status != want.Status || p.Currency != "EUR" ||
				p.ManageStock != want.ManageStock || p.StockStatus != want.StockStatus() {
				t.Errorf("got %+v", p)
			}
			if p.Price.Cmp(want.Price()) != 0 || p.RegularPrice.Cmp(want.RegularPrice) != 0 {
				t.Errorf("price %s regular %s, want %s %s", p.Price, p.RegularPrice, want.Price(), want.RegularPrice)
			}
			if (p.SalePrice == nil) != (want.SalePrice == nil) || p.SalePrice != nil && p.SalePrice.Cmp(*want.SalePrice) != 0 {
				t.Errorf("sale price %v, want %v", p.SalePrice, want.SalePrice)
			}
			switch {
			case !want.ManageStock && p.StockQuantity != nil:
				t.Errorf("stock quantity %d for unmanaged stock, want nil", *p.StockQuantity)
			case want.ManageStock && (p.StockQuantity == nil || *p.StockQuantity != want.ShopStock):
				t.Errorf("stock quantity %v, want %d", p.StockQuantity, want.ShopStock)
			}
			checkTime(t, "modified", p.ModifiedAt, want.Modified)
		})
	}

	var person *world.Person
	for _, p := range w.People {
		if p.Shop != nil && p.Company != "" && p.Shop.Email != strings.ToLower(p.Shop.Email) {
			person = p
			break
		}
	}
	customers, err := c.Customers(t.Context(), []int64{person.Shop.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(customers) != 1 {
		t.Fatalf("got %d customers, want 1", len(customers))
	}
	got := customers[0]
	if got.ID != person.Shop.ID || got.Email != person.Shop.Email || got.FirstName != person.FirstName ||
		got.LastName != person.LastName || got.Company != person.Company || got.Phone != person.Shop.Phone {
		t.Errorf("got %+v, want the account of %+v (e-mail as stored)", got, person)
	}
	checkTime(t, "customer created", got.CreatedAt, person.Shop.Created)
	checkTime(t, "customer modified", got.ModifiedAt, person.Shop.Modified)
}

func TestCustomersByEmail(t *testing.T) {
	w := testWorld()
	var capitalised, plain *world.Person
	for _, p := range w.People {
		switch {
		case p.Shop == nil:
		case p.Shop.Email != strings.ToLower(p.Shop.Email) && capitalised == nil:
			capitalised = p
		case p.Shop.Email == strings.ToLower(p.Shop.Email) && plain == nil:
			plain = p
		}
	}
	c, u := newShop(t, sim.Faults{}, nil)
	got, err := c.CustomersByEmail(t.Context(), []string{
		strings.ToLower(capitalised.Shop.Email),
		"  " + plain.Shop.Email + " ",
		strings.ToUpper(plain.Shop.Email), // the same account again
		"nobody@example.com",
		"not an address",
		"",
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, cu := range got {
		ids = append(ids, cu.ID)
	}
	slices.Sort(ids)
	want := []int64{capitalised.Shop.ID, plain.Shop.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("got accounts %v, want %v", ids, want)
	}
	if n := u.Routes()[custRoute]; n != 3 {
		t.Errorf("%d calls, want 3 (one per distinct address)", n)
	}
}

func TestListOrders(t *testing.T) {
	w := testWorld()
	// The customer with the most orders.
	counts := map[int64]int{}
	var best int64
	for _, o := range w.Orders {
		if !o.Guest {
			id := o.Person.Shop.ID
			counts[id]++
			if counts[id] > counts[best] {
				best = id
			}
		}
	}
	after := w.Anchor.Add(-200 * 24 * time.Hour)
	var ofBest, completedSince int
	for _, o := range w.Orders {
		if !o.Guest && o.Person.Shop.ID == best {
			ofBest++
		}
		if o.Status == "completed" && o.Created.After(after) {
			completedSince++
		}
	}
	c, _ := newShop(t, sim.Faults{}, nil)
	tests := []struct {
		name      string
		q         woocommerce.OrderQuery
		total     int
		pageItems int
	}{
		{name: "customer, first page", q: woocommerce.OrderQuery{CustomerID: best, PerPage: 3}, total: ofBest, pageItems: 3},
		{name: "customer, last page", q: woocommerce.OrderQuery{CustomerID: best, PerPage: 3, Page: (ofBest + 2) / 3}, total: ofBest, pageItems: ofBest - 3*((ofBest+2)/3-1)},
		{name: "status and date", q: woocommerce.OrderQuery{Statuses: []string{"completed"}, CreatedAfter: after, OldestFirst: true}, total: completedSince, pageItems: min(100, completedSince)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := c.ListOrders(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != tt.total || len(page.Orders) != tt.pageItems {
				t.Fatalf("total %d with %d on the page, want %d with %d", page.Total, len(page.Orders), tt.total, tt.pageItems)
			}
			sorted := slices.IsSortedFunc(page.Orders, func(a, b model.Order) int {
				if tt.q.OldestFirst {
					return a.CreatedAt.Compare(b.CreatedAt)
				}
				return b.CreatedAt.Compare(a.CreatedAt)
			})
			if !sorted {
				t.Error("page is not sorted by creation date")
			}
			for _, o := range page.Orders {
				if tt.q.CustomerID != 0 && o.CustomerID != tt.q.CustomerID {
					t.Errorf("order %d of customer %d", o.ID, o.CustomerID)
				}
				if !tt.q.CreatedAfter.IsZero() && !o.CreatedAt.After(tt.q.CreatedAfter) {
					t.Errorf("order %d created %s, before the bound", o.ID, o.CreatedAt)
				}
			}
		})
	}
}

func TestModifiedSince(t *testing.T) {
	w := testWorld()
	since := w.Anchor.Add(-20 * 24 * time.Hour)
	var wantOrders []*world.Order
	for _, o := range w.Orders {
		if !o.Modified.Before(since) {
			wantOrders = append(wantOrders, o)
		}
	}
	slices.SortFunc(wantOrders, func(a, b *world.Order) int {
		if c := a.Modified.Compare(b.Modified); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	if len(wantOrders) < 250 {
		t.Fatalf("only %d orders in the window; widen it", len(wantOrders))
	}
	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{name: "all of them", limit: 5000, want: len(wantOrders)},
		{name: "bounded", limit: 150, want: 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, u := newShop(t, sim.Faults{}, nil)
			got, err := c.OrdersModifiedSince(t.Context(), since, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("got %d orders, want %d", len(got), tt.want)
			}
			for i, o := range got {
				if o.ID != wantOrders[i].ID {
					t.Fatalf("order %d is %d, want %d (oldest change first)", i, o.ID, wantOrders[i].ID)
				}
			}
			if calls, most := u.Routes()[ordersRoute], int64(2*(tt.limit/100)+4); calls > most {
				t.Errorf("%d calls, want at most %d", calls, most)
			}
		})
	}

	t.Run("products", func(t *testing.T) {
		c, _ := newShop(t, sim.Faults{}, nil)
		want := 0
		for _, p := range w.Products {
			if !p.Modified.Before(since) {
				want++
			}
		}
		got, err := c.ProductsModifiedSince(t.Context(), since, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("got %d products, want %d", len(got), want)
		}
	})
}

func TestFailures(t *testing.T) {
	ids := orderIDs(testWorld(), 10)
	tests := []struct {
		name       string
		faults     sim.Faults
		mod        func(*woocommerce.Config)
		class      error
		retryAfter time.Duration
	}{
		{name: "wrong secret", mod: func(c *woocommerce.Config) { c.ConsumerSecret = "cs_wrong" }, class: rest.ErrUnauthorized},
		{name: "unknown key", mod: func(c *woocommerce.Config) { c.ConsumerKey = "ck_unknown" }, class: rest.ErrUnauthorized},
		{name: "rate limited", faults: sim.Faults{RateLimitRate: 1, RetryAfterS: 7}, class: rest.ErrRateLimited, retryAfter: 7 * time.Second},
		{name: "server error", faults: sim.Faults{ErrorRate: 1}, class: rest.ErrUnavailable},
		{name: "malformed JSON", faults: sim.Faults{MalformedRate: 1}, class: rest.ErrBadResponse},
		{name: "truncated body", faults: sim.Faults{TruncateRate: 1}, class: rest.ErrUnavailable},
		{name: "connection reset", faults: sim.Faults{ResetRate: 1}, class: rest.ErrUnavailable},
		{name: "down", faults: sim.Faults{Down: true}, class: rest.ErrUnavailable},
		{name: "slow upstream", faults: sim.Faults{LatencyMS: 2000}, mod: func(c *woocommerce.Config) { c.Timeout = 50 * time.Millisecond }, class: rest.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newShop(t, tt.faults, tt.mod)
			got, err := c.Orders(t.Context(), ids)
			if !errors.Is(err, tt.class) {
				t.Fatalf("err = %v, want %v", err, tt.class)
			}
			if got != nil {
				t.Errorf("got %d orders with the error", len(got))
			}
			var re *rest.Error
			if !errors.As(err, &re) {
				t.Fatalf("err %T is not a *rest.Error", err)
			}
			if re.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", re.RetryAfter, tt.retryAfter)
			}
			if strings.Contains(err.Error(), "cs_") || strings.Contains(err.Error(), simwc.ConsumerSecret) {
				t.Errorf("error %q shows a credential", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  woocommerce.Config
		want []string
	}{
		{name: "empty", cfg: woocommerce.Config{}, want: []string{"base URL", "consumer key"}},
		{name: "relative URL", cfg: woocommerce.Config{BaseURL: "/wp-json/wc/v3", ConsumerKey: "k", ConsumerSecret: "s"}, want: []string{"absolute"}},
		{name: "negative parallel", cfg: woocommerce.Config{BaseURL: "https://shop.example/wp-json/wc/v3", ConsumerKey: "k", ConsumerSecret: "s", Parallel: -1}, want: []string{"parallel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := woocommerce.New(tt.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func checkTime(t *testing.T, name string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %s, want %s in UTC", name, got, want.UTC())
	}
}

func checkOptTime(t *testing.T, name string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", name, got, want)
	default:
		checkTime(t, name, *got, *want)
	}
}

func TestAResetConnectionIsSentOnlyAsThePolicyAllows(t *testing.T) {
	ids := orderIDs(testWorld(), 1)
	for _, attempts := range []int{1, 3} {
		t.Run(strconv.Itoa(attempts)+" attempts", func(t *testing.T) {
			c, up := newShop(t, sim.Faults{}, func(cfg *woocommerce.Config) {
				cfg.Policy = rest.Policy{Attempts: attempts, Backoff: time.Millisecond}
			})
			// A first read leaves a keep-alive connection in the pool, the
			// one Go's transport would send the read on again once reset.
			if _, err := c.Orders(t.Context(), ids); err != nil {
				t.Fatal(err)
			}
			up.ResetCounters()
			up.SetFaults(sim.Faults{ResetRate: 1})
			if _, err := c.Orders(t.Context(), ids); !errors.Is(err, rest.ErrUnavailable) {
				t.Fatalf("err = %v, want unavailable", err)
			}
			if n := up.Routes()[ordersRoute]; n != int64(attempts) {
				t.Fatalf("%d calls reached the shop, want the policy's %d attempts", n, attempts)
			}
		})
	}
}

func TestRateLimitsAreNotAmplified(t *testing.T) {
	const callers = 20
	ids := orderIDs(testWorld(), callers)
	// The default policy: 3 attempts, a retry budget of a fifth of the
	// calls in flight (never fewer than 3), Retry-After waited up to 2 s.
	c, up := newShop(t, sim.Faults{RateLimitRate: 1, RetryAfterS: 1}, nil)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if _, err := c.Orders(t.Context(), []int64{id}); !errors.Is(err, rest.ErrRateLimited) {
				t.Errorf("err = %v, want rate limited", err)
			}
		})
	}
	wg.Wait()
	// Every caller's first attempt, and the retries of the callers the
	// budget lets retry: at most max(3, 20/5) = 4 of them, each with the
	// policy's 2 retries.
	const most = callers + 4*2
	if n := up.Routes()[ordersRoute]; n > most {
		t.Fatalf("%d calls reached the shop for %d callers, want at most %d", n, callers, most)
	}
}

func TestRetryAfterHoldsBackEveryCaller(t *testing.T) {
	ids := orderIDs(testWorld(), 10)
	// A Retry-After longer than the policy waits (2 s) fails the call at
	// once; the callers that follow within it are not sent at all.
	c, up := newShop(t, sim.Faults{RateLimitRate: 1, RetryAfterS: 30}, nil)
	for _, id := range ids {
		_, err := c.Orders(t.Context(), []int64{id})
		var e *rest.Error
		if !errors.As(err, &e) || !errors.Is(err, rest.ErrRateLimited) || e.RetryAfter <= 0 || e.RetryAfter > 30*time.Second {
			t.Fatalf("err = %v, want rate limited with the rest of the 30 s to wait", err)
		}
	}
	if n := up.Requests(); n != 1 {
		t.Fatalf("%d calls reached the shop, want 1: the rest wait out its Retry-After", n)
	}
}

func TestCounts(t *testing.T) {
	w := testWorld()
	// An order's own time, a few hundred changes back: the count leaves
	// it out.
	times := make([]time.Time, len(w.Orders))
	for i, o := range w.Orders {
		times[i] = o.Modified
	}
	slices.SortFunc(times, time.Time.Compare)
	after := times[len(times)-300]
	orders, products, customers := 0, 0, 0
	for _, o := range w.Orders {
		orders += btoi(o.Modified.After(after))
	}
	for _, p := range w.Products {
		products += btoi(p.Modified.After(after) && p.Status != "trash")
	}
	for _, p := range w.People {
		customers += btoi(p.Shop != nil)
	}
	if orders == 0 || products == 0 || products == len(w.Products) {
		t.Fatalf("%d orders and %d of %d products modified after %s; move the time", orders, products, len(w.Products), after)
	}
	tests := []struct {
		name  string
		route string
		count func(context.Context, *woocommerce.Client) (int, error)
		want  int
	}{
		{
			name: "orders", route: ordersRoute, want: orders,
			count: func(ctx context.Context, c *woocommerce.Client) (int, error) {
				return c.CountOrdersModifiedAfter(ctx, after)
			},
		},
		{
			name: "products", route: productsRoute, want: products,
			count: func(ctx context.Context, c *woocommerce.Client) (int, error) {
				return c.CountProductsModifiedAfter(ctx, after)
			},
		},
		{
			name: "customers", route: custRoute, want: customers,
			count: func(ctx context.Context, c *woocommerce.Client) (int, error) { return c.CountCustomers(ctx) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The configured currency keeps the products' count from
			// asking for the shop's.
			c, u := newShop(t, sim.Faults{}, func(c *woocommerce.Config) { c.Currency = "EUR" })
			got, err := tt.count(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("counted %d, want %d", got, tt.want)
			}
			if n, routes := u.Requests(), u.Routes(); n != 1 || routes[tt.route] != 1 {
				t.Errorf("%d calls %v, want one to %s", n, routes, tt.route)
			}
		})
	}

	t.Run("the modified read agrees", func(t *testing.T) {
		c, _ := newShop(t, sim.Faults{}, nil)
		n, err := c.CountOrdersModifiedAfter(t.Context(), after)
		if err != nil {
			t.Fatal(err)
		}
		read, err := c.OrdersModifiedSince(t.Context(), after.Add(time.Second), 100_000)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(read) {
			t.Errorf("counted %d orders modified after %s, read %d from the next second", n, after, len(read))
		}
	})

	t.Run("no total header", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`[{"id":1}]`))
		}))
		t.Cleanup(srv.Close)
		c, err := woocommerce.New(woocommerce.Config{BaseURL: srv.URL, ConsumerKey: "ck", ConsumerSecret: "cs", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if n, err := c.CountCustomers(t.Context()); !errors.Is(err, rest.ErrBadResponse) {
			t.Errorf("counted %d with error %v, want a bad response", n, err)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
