package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"
	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/auth"
	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gw is a gateway as app.New builds it from a config, over simulators
// served on a loopback port, running until the test ends.
type gw struct {
	env *simtest.Env
	app *app.App
	url string // the clients' listener
}

// testConfig is a test gateway's config over the simulators of env: its
// listener and admin listener on free loopback ports, every role for a
// request without credentials, and a 64 MB cache.
func testConfig(env *simtest.Env) config.Config {
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Sources = env.Sim.Sources(env.URL)
	cfg.Auth = config.Auth{Anonymous: true, AnonymousRoles: []string{"FINANCE"}}
	cfg.Cache.MaxMB = 64
	return cfg
}

// startApp builds a gateway with app.New over the simulators of env, from
// testConfig as mods change it, logging to logger, and runs it until the
// test ends. It returns at once; settle waits for its first checks.
func startApp(tb testing.TB, env *simtest.Env, logger *slog.Logger, mods ...func(*config.Config)) *gw {
	tb.Helper()
	cfg := testConfig(env)
	for _, mod := range mods {
		mod(&cfg)
	}
	a, err := app.New(cfg, logger)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			tb.Error(err)
		}
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return &gw{env: env, app: a, url: a.URL()}
}

// start is a settled gateway over new simulators of a world built from
// opts.
func start(tb testing.TB, opts world.Options, mods ...func(*config.Config)) *gw {
	tb.Helper()
	g := startApp(tb, simtest.Start(tb, opts), quiet, mods...)
	g.settle(tb)
	return g
}

// settle waits until the gateway's first checks of the sources and its
// first read of the customer lists have ended, well or not, and returns
// its readiness checks: the upstream calls a test counts from then on are
// its own.
func (g *gw) settle(tb testing.TB) map[string]string {
	tb.Helper()
	return g.await(tb, "the first checks and reads", func(checks map[string]string) bool {
		for _, state := range checks {
			if state == "checking" || strings.HasPrefix(state, "reading the customer lists") {
				return false
			}
		}
		return true
	})
}

// await waits until the gateway's readiness checks, as /readyz shows them
// on the admin listener, satisfy cond, for up to 30 seconds.
func (g *gw) await(tb testing.TB, what string, cond func(checks map[string]string) bool) map[string]string {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(g.app.AdminURL() + "/readyz")
		if err != nil {
			tb.Fatal(err)
		}
		var body struct{ Checks map[string]string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			tb.Fatal(err)
		}
		if cond(body.Checks) {
			return body.Checks
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: /readyz still says %v after 30s", what, body.Checks)
		}
	}
}

// syncDirectory asks the gateway to read the customer lists again, on its
// admin listener, and returns the answer.
func (g *gw) syncDirectory(tb testing.TB) (int, string) {
	tb.Helper()
	resp, err := http.Post(g.app.AdminURL()+"/directory/sync", "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric is the value of a sample on the admin listener's /metrics, named
// as it is written there (trestle_cache_misses_total{kind="orders"}); 0
// when there is none.
func (g *gw) metric(tb testing.TB, sample string) float64 {
	tb.Helper()
	resp, err := http.Get(g.app.AdminURL() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if value, ok := strings.CutPrefix(lines.Text(), sample+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				tb.Fatalf("%s: %v", lines.Text(), err)
			}
			return v
		}
	}
	return 0
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// options are gateway.New's options over the simulators of env, for the
// tests and benchmarks that build the handler alone: a customer directory
// synced, loaders over entities, and every role for a request without
// credentials.
func options(tb testing.TB, env *simtest.Env, entities *cache.Entities) gateway.Options {
	tb.Helper()
	dir := consolidate.NewDirectory(env.Sources.CRM, env.Sources.Shop, env.Sources.ERP, consolidate.JoinByEmail, quiet)
	if err := dir.Sync(context.Background()); err != nil {
		tb.Fatal(err)
	}
	finance, err := auth.New(context.Background(), auth.Config{Anonymous: true, AnonymousRoles: []string{"FINANCE"}})
	if err != nil {
		tb.Fatal(err)
	}
	return gateway.Options{Directory: dir, Auth: finance, Logger: quiet,
		Loaders: loaders.NewFactory(env.Sources.Shop, env.Sources.CRM, env.Sources.ERP, entities, time.Millisecond)}
}

// newCache is an entity cache for a handler built alone, closed when the
// test ends.
func newCache(tb testing.TB, ttl map[cache.Kind]time.Duration) *cache.Entities {
	tb.Helper()
	entities, err := cache.New(cache.Config{MaxBytes: 64 << 20, EntrySize: loaders.EntrySize, TTL: ttl})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(entities.Close)
	return entities
}

// response is a GraphQL response with its data left raw for each test to
// decode into its own shape.
type response struct {
	Data       json.RawMessage `json:"data"`
	Errors     []responseError `json:"errors"`
	Extensions struct {
		Stale []loaders.StaleRead `json:"stale"`
	} `json:"extensions"`
}

// responseError is one error of a GraphQL response.
type responseError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (g *gw) query(t testing.TB, q string, vars map[string]any, into any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	resp, err := http.Post(g.url+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("HTTP %d: %s", resp.StatusCode, b)
	}
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if into != nil && len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, into); err != nil {
			t.Fatalf("decode data: %v\n%s", err, r.Data)
		}
	}
	return r
}

func noErrors(t testing.TB, r response) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
}

type money struct{ Amount, Currency string }

func dec(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.Parse(s)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return d
}

type customer struct {
	ID        string
	Email     *string
	Name      *string
	SourceIds struct{ Crm, Shop, Erp *string }
	Balance   *money  `json:"openBalance"`
	Lifetime  *money  `json:"lifetimeValue"`
	Stage     *string `json:"lifecycleStage"`
}

const customerFields = `id email name lifecycleStage sourceIds { crm shop erp } openBalance { amount currency } lifetimeValue { amount currency }`

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// wantCustomer checks a customer against the person the world holds: keys,
// name by the ownership rule, open balance and lifetime value summed from the
// simulators' own records.
func wantCustomer(t *testing.T, w *world.World, p *world.Person, got customer) {
	t.Helper()
	wantIDs := [3]string{}
	if p.CRM != nil {
		wantIDs[0] = p.CRM.ID
	}
	if p.Shop != nil {
		wantIDs[1] = strconv.FormatInt(p.Shop.ID, 10)
	}
	if p.ERP != nil {
		wantIDs[2] = p.ERP.Name
	}
	if ids := [3]string{str(got.SourceIds.Crm), str(got.SourceIds.Shop), str(got.SourceIds.Erp)}; ids != wantIDs {
		t.Errorf("%s: sourceIds %v, want %v", p.Email, ids, wantIDs)
	}
	if str(got.Email) != p.Email {
		t.Errorf("email %q, want %q", str(got.Email), p.Email)
	}
	wantName := p.FirstName + " " + p.LastName
	if p.CRM == nil && p.Shop == nil {
		wantName = p.Company
		if p.Company == "" {
			wantName = p.FirstName + " " + p.LastName
		}
	}
	if str(got.Name) != wantName {
		t.Errorf("%s: name %q, want %q", p.Email, str(got.Name), wantName)
	}
	if p.ERP != nil {
		balance := decimal.Zero
		submitted := false
		for _, inv := range w.Invoices {
			if inv.Customer == p && inv.DocStatus == 1 {
				balance, _ = balance.Add(inv.Outstanding)
				submitted = true
			}
		}
		switch {
		case !submitted && got.Balance != nil:
			t.Errorf("%s: open balance %v without a submitted invoice", p.Email, got.Balance)
		case submitted && (got.Balance == nil || !dec(t, got.Balance.Amount).Equal(balance) || got.Balance.Currency != "EUR"):
			t.Errorf("%s: open balance %+v, want %s EUR", p.Email, got.Balance, balance)
		}
	}
	// Lifetime value: the sales of the shop account, or of a guest's orders.
	ltv, orders := decimal.Zero, 0
	for _, o := range w.Orders {
		if o.Person == p {
			orders++
			if o.Status == "completed" || o.Status == "processing" {
				ltv, _ = ltv.Add(o.Total)
			}
		}
	}
	switch {
	case p.Shop == nil && orders == 0:
		if got.Lifetime != nil {
			t.Errorf("%s: lifetime value %+v without a shop order", p.Email, got.Lifetime)
		}
	case got.Lifetime == nil || !dec(t, got.Lifetime.Amount).Equal(ltv) || got.Lifetime.Currency != "EUR":
		t.Errorf("%s: lifetime value %+v, want %s EUR", p.Email, got.Lifetime, ltv)
	}
}

func TestCustomersJoinAcrossSystems(t *testing.T) {
	g := start(t, world.Options{Seed: 1})
	w := g.env.Sim.World

	// One person of each kind of mess the data set has.
	pick := map[string]*world.Person{}
	for _, p := range w.People {
		switch {
		case p.ERP != nil && p.ERP.Email != "" && strings.TrimSpace(p.ERP.Email) != p.ERP.Email && pick["ERP address with spaces"] == nil:
			pick["ERP address with spaces"] = p
		case p.ERP != nil && p.ERP.Email != "" && strings.TrimSpace(p.ERP.Email) == p.ERP.Email && p.ERP.Email != p.Email && pick["ERP address in capitals"] == nil:
			pick["ERP address in capitals"] = p
		case p.Shop != nil && p.Shop.Email != p.Email && pick["shop address in capitals"] == nil:
			pick["shop address in capitals"] = p
		case p.CRM != nil && p.Shop == nil && p.ERP == nil && pick["CRM only"] == nil:
			pick["CRM only"] = p
		case p.CRM == nil && p.Shop != nil && pick["not in the CRM"] == nil:
			pick["not in the CRM"] = p
		case p.Shop == nil && p.ERP != nil && p.Email != "" && pick["guest buyer"] == nil:
			pick["guest buyer"] = p
		}
	}
	if len(pick) != 6 {
		t.Fatalf("the data set lacks a case: %v", pick)
	}
	for name, p := range pick {
		t.Run(name, func(t *testing.T) {
			var data struct{ CustomerByEmail *customer }
			r := g.query(t, `query($e: String!) { customerByEmail(email: $e) { `+customerFields+` } }`,
				map[string]any{"e": "  " + strings.ToUpper(p.Email) + " "}, &data)
			noErrors(t, r)
			if data.CustomerByEmail == nil {
				t.Fatalf("%s not found", p.Email)
			}
			wantCustomer(t, w, p, *data.CustomerByEmail)

			// Their orders, by account or, for a guest, by e-mail address.
			var orders struct {
				Node struct {
					Orders struct {
						TotalCount int
						Edges      []struct{ Node struct{ Number string } }
					}
				}
			}
			noErrors(t, g.query(t, `query($id: ID!) { node(id: $id) { ... on Customer { orders(first: 100) { totalCount edges { node { number } } } } } }`,
				map[string]any{"id": data.CustomerByEmail.ID}, &orders))
			var want []string
			for i := len(w.Orders) - 1; i >= 0; i-- { // newest first
				if w.Orders[i].Person == p {
					want = append(want, strconv.FormatInt(w.Orders[i].ID, 10))
				}
			}
			var got []string
			for _, e := range orders.Node.Orders.Edges {
				got = append(got, e.Node.Number)
			}
			if orders.Node.Orders.TotalCount != len(want) || !slices.Equal(got, want[:min(len(want), 100)]) {
				t.Errorf("orders %v (total %d), want %v", got, orders.Node.Orders.TotalCount, want)
			}

			// The global ID fetches the same customer again.
			var again struct{ Node *customer }
			r = g.query(t, `query($id: ID!) { node(id: $id) { ... on Customer { `+customerFields+` } } }`,
				map[string]any{"id": data.CustomerByEmail.ID}, &again)
			noErrors(t, r)
			if again.Node == nil || again.Node.ID != data.CustomerByEmail.ID {
				t.Fatalf("node(id:) gave %+v", again.Node)
			}
		})
	}
}

func TestERPOnlyCustomerWithoutEmail(t *testing.T) {
	g := start(t, world.Options{Seed: 1})
	w := g.env.Sim.World
	var p *world.Person
	for _, q := range w.People {
		if q.Email == "" {
			p = q
			break
		}
	}
	id := model.GlobalID("Customer", "erp:"+p.ERP.Name)
	var data struct{ Customer *customer }
	noErrors(t, g.query(t, `query($id: ID!) { customer(id: $id) { `+customerFields+` } }`, map[string]any{"id": id}, &data))
	if data.Customer == nil {
		t.Fatal("not found")
	}
	wantCustomer(t, w, p, *data.Customer)
}

// deepQuery is the query of the unified graph issue: orders with their
// customers, lines, products, stock levels and invoices.
const deepQuery = `{ orders(first: 100) { totalCount edges { node {
	id number status total { amount currency }
	customer { name email }
	lines { sku quantity unitPrice { amount currency } product { name price { amount } stock { warehouse onHand reserved available } } }
	invoices { number status total { amount } outstanding { amount } dueDate }
} } } }`

type deepOrders struct {
	Orders struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				ID, Number, Status string
				Total              money
				Customer           *struct{ Name, Email *string }
				Lines              []struct {
					SKU      string `json:"sku"`
					Quantity int
					Product  *struct {
						Name  string
						Stock []struct {
							Warehouse                   string
							OnHand, Reserved, Available string
						}
					}
				}
				Invoices []struct {
					Number, Status string
					Outstanding    struct{ Amount string }
				}
			}
		}
	}
}

func TestDeepQueryBatchesOneCallPerUpstreamPerLevel(t *testing.T) {
	g := start(t, world.Options{Seed: 1})
	w := g.env.Sim.World
	for _, u := range g.env.Sim.Upstreams() {
		u.ResetCounters()
	}
	var data deepOrders
	noErrors(t, g.query(t, deepQuery, nil, &data))
	if len(data.Orders.Edges) != 100 || data.Orders.TotalCount != len(w.Orders) {
		t.Fatalf("%d orders of %d", len(data.Orders.Edges), data.Orders.TotalCount)
	}

	// The answers are what the simulators hold.
	skus, crmKnown, shopOnly := map[string]bool{}, map[string]bool{}, map[int64]bool{}
	for i, e := range data.Orders.Edges {
		o := w.Orders[len(w.Orders)-1-i] // newest first
		n := e.Node
		if n.Number != strconv.FormatInt(o.ID, 10) || !dec(t, n.Total.Amount).Equal(o.Total) || n.Total.Currency != "EUR" {
			t.Fatalf("order %s: %+v, want %d with total %s", n.Number, n, o.ID, o.Total)
		}
		if n.Customer == nil || str(n.Customer.Email) != o.Person.Email {
			t.Fatalf("order %d: customer %+v, want %s", o.ID, n.Customer, o.Person.Email)
		}
		if o.Person.CRM != nil {
			crmKnown[o.Person.CRM.ID] = true
		} else if o.Person.Shop != nil {
			shopOnly[o.Person.Shop.ID] = true
		}
		if len(n.Lines) != len(o.Lines) {
			t.Fatalf("order %d: %d lines, want %d", o.ID, len(n.Lines), len(o.Lines))
		}
		for j, l := range n.Lines {
			want := o.Lines[j]
			skus[want.Product.SKU] = true
			if l.SKU != want.Product.SKU || l.Quantity != want.Quantity || l.Product == nil || l.Product.Name != want.Product.Name {
				t.Fatalf("order %d line %d: %+v, want %s × %d", o.ID, j, l, want.Product.SKU, want.Quantity)
			}
			if len(l.Product.Stock) != len(want.Product.Bins) {
				t.Fatalf("%s: %d stock levels, want %d", l.SKU, len(l.Product.Stock), len(want.Product.Bins))
			}
			for _, s := range l.Product.Stock {
				for _, b := range want.Product.Bins {
					if b.Warehouse == s.Warehouse && !dec(t, s.OnHand).Equal(b.Actual) {
						t.Fatalf("%s in %s: on hand %s, want %s", l.SKU, s.Warehouse, s.OnHand, b.Actual)
					}
				}
			}
		}
		var invoices []*world.Invoice
		for _, inv := range w.Invoices {
			if inv.Order == o {
				invoices = append(invoices, inv)
			}
		}
		if len(n.Invoices) != len(invoices) {
			t.Fatalf("order %d: %d invoices, want %d", o.ID, len(n.Invoices), len(invoices))
		}
		for j, inv := range invoices {
			if n.Invoices[j].Number != inv.Name || !dec(t, n.Invoices[j].Outstanding.Amount).Equal(inv.Outstanding) {
				t.Fatalf("order %d: invoice %+v, want %s outstanding %s", o.ID, n.Invoices[j], inv.Name, inv.Outstanding)
			}
		}
	}

	// One call per upstream per level, but for key sets above a dialect's
	// page maximum of 100, which take one call per hundred.
	chunks := func(n int) int64 { return int64((n + 99) / 100) }
	want := map[string]map[string]int64{
		"shop": {"GET /wp-json/wc/v3/orders": 1, "GET /wp-json/wc/v3/products": chunks(len(skus))},
		"crm":  {"POST /crm/v3/objects/contacts/batch/read": chunks(len(crmKnown))},
		"erp":  {"GET /api/resource/Bin": chunks(len(skus)), "GET /api/resource/Sales Invoice": 1},
	}
	if len(shopOnly) > 0 {
		want["shop"]["GET /wp-json/wc/v3/customers"] = 1 // names of customers the CRM does not know
	}
	for _, u := range g.env.Sim.Upstreams() {
		got := u.Routes()
		for route, n := range want[string(u.System())] {
			if got[route] != n {
				t.Errorf("%s %s: %d calls, want %d", u.System(), route, got[route], n)
			}
		}
		for route, n := range got {
			if _, ok := want[string(u.System())][route]; !ok {
				t.Errorf("%s %s: %d unexpected calls", u.System(), route, n)
			}
		}
	}

	// The same query again is answered from the cache.
	for _, u := range g.env.Sim.Upstreams() {
		u.ResetCounters()
	}
	noErrors(t, g.query(t, deepQuery, nil, &data))
	if s := g.env.Sim.Stats(); s.Shop+s.CRM+s.ERP != 0 {
		t.Errorf("warm query made upstream calls: %+v", s.Routes)
	}
}

// TestFaultMatrix fails each upstream in each way it can fail, once after
// the customer directory has synced and once from start (the directory's
// first sync already finds it failing), and checks that the answer is
// partial, with the failure's code and source where the failing system's
// fields were, that the failing upstream was not called more than its
// retries allow, that the breaker then answers for it, that no null the
// failure caused is silent, all over the graph, and that all is well again
// once it recovers.
func TestFaultMatrix(t *testing.T) {
	const q = `{
		orders(first: 5) { edges { node { number total { amount } customer { name } invoices { number } lines { product { name stock { onHand } } } } } }
		invoices(first: 3) { totalCount edges { node { number } } }
	}`
	// The whole customer, as every way to reach one shows it.
	const everywhere = `query($all: String!, $crmOnly: String!, $notInCRM: String!, $noEmail: ID!) {
		orders(first: 5) { edges { node { number customer { ...C } invoices { number } lines { product { name stock { onHand } } } } } }
		invoices(first: 3) { totalCount edges { node { number customer { name lifecycleStage sourceIds { crm shop erp } } } } }
		customers(first: 4) { totalCount edges { node { ...C } } }
		all: customerByEmail(email: $all) { ...C }
		crmOnly: customerByEmail(email: $crmOnly) { ...C }
		notInCRM: customerByEmail(email: $notInCRM) { ...C }
		noEmail: customer(id: $noEmail) { ...C }
		nodes(ids: [$noEmail]) { ... on Customer { name sourceIds { crm shop erp } } }
	}
	fragment C on Customer {
		id email name company phone lifecycleStage owner sourceIds { crm shop erp }
		lifetimeValue { amount } openBalance { amount } creditLimit { amount }
		orders(first: 2) { totalCount edges { node { number } } }
		invoices(first: 2) { totalCount edges { node { number } } }
	}`
	systems := []struct {
		system   model.System
		nullPath string // a path the failure nulls, * for any list index
		answered string // a part of the response that must still be there
	}{
		{model.SystemShop, "orders", `"invoices":{"totalCount"`},
		{model.SystemCRM, "orders.edges.*.node.customer.name", `"invoices":{"totalCount"`},
		{model.SystemERP, "invoices", `"customer":{"name":"`},
	}
	faults := []struct {
		name    string
		faults  sim.Faults
		code    string
		retried bool // whether a failed call is tried again
	}{
		{"down", sim.Faults{Down: true}, "UPSTREAM_UNAVAILABLE", true},
		{"slow past the timeout", sim.Faults{LatencyMS: 30_000}, "UPSTREAM_TIMEOUT", false},
		{"429 with Retry-After", sim.Faults{RateLimitRate: 1, RetryAfterS: 7}, "UPSTREAM_RATE_LIMITED", false},
		{"5xx", sim.Faults{ErrorRate: 1}, "UPSTREAM_UNAVAILABLE", true},
		{"malformed JSON", sim.Faults{MalformedRate: 1}, "UPSTREAM_BAD_RESPONSE", false},
		{"truncated body", sim.Faults{TruncateRate: 1}, "UPSTREAM_UNAVAILABLE", true},
		{"connection reset", sim.Faults{ResetRate: 1}, "UPSTREAM_UNAVAILABLE", true},
	}
	size := world.Options{Seed: 5, Size: world.Size{People: 60, Orders: 120, Products: 12}}
	fast := func(c *config.Config) {
		for _, src := range []*config.Source{&c.Sources.Shop, &c.Sources.CRM, &c.Sources.ERP} {
			src.Timeout = 300 * time.Millisecond
			src.Retry.Backoff = 5 * time.Millisecond
			src.Breaker.OpenFor = 300 * time.Millisecond
		}
	}
	// How many calls the query makes to each system on a cold cache, and
	// what the queries answer when every system is well: a null there is
	// no failure's doing.
	baseline := start(t, size, fast)
	vars := matrixCustomers(t, baseline.env.Sim.World)
	baseline.env.Sim.ResetCounters()
	healthy := baseline.query(t, q, nil, nil)
	noErrors(t, healthy)
	calls := map[model.System]int64{}
	for _, u := range baseline.env.Sim.Upstreams() {
		calls[u.System()] = u.Requests()
	}
	healthyEverywhere := baseline.query(t, everywhere, vars, nil)
	noErrors(t, healthyEverywhere)

	for _, fromStart := range []bool{false, true} {
		for _, sys := range systems {
			for _, f := range faults {
				name := fmt.Sprintf("%s %s", sys.system, f.name)
				if fromStart {
					name += " from start"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					// A gateway of its own, so the cache is cold. Its
					// directory reads the customer lists before the fault,
					// as it does at start, or, from start, while the
					// upstream fails.
					env := simtest.Start(t, size)
					u := env.Sim.Upstream(sys.system)
					if fromStart {
						u.SetFaults(f.faults)
					}
					g := startApp(t, env, quiet, fast)
					switch read := g.settle(t)["directory"]; {
					case fromStart && read == "ok":
						t.Fatalf("the directory read every customer list with %s failing", sys.system)
					case !fromStart && read != "ok":
						t.Fatalf("directory: %s", read)
					}
					u.ResetCounters()
					u.SetFaults(f.faults)
					began := time.Now()
					r := g.query(t, q, nil, nil)
					// Within one 300ms timeout when idle; the bound leaves a busy
					// machine room, and still catches waiting for a 30 s answer.
					if took := time.Since(began); took > 10*time.Second {
						t.Errorf("answered after %v, want within about one 300ms timeout", took)
					}
					checkFailure(t, r, sys.system, []string{f.code}, sys.nullPath)
					if !strings.Contains(string(r.Data), sys.answered) {
						t.Errorf("the rest was not answered: %s", r.Data)
					}
					// No retry storm: at most the query's calls, each tried at
					// most three times when the failure may pass. From start,
					// the directory knows no key of the failing system's, so
					// the query may have nothing to ask it.
					most := calls[sys.system]
					if f.retried {
						most *= 3
					}
					made := u.Requests()
					if made > most || made == 0 && !fromStart {
						t.Errorf("%d calls to the failing %s, want 1 to %d", made, sys.system, most)
					}

					// With five failures in a row the breaker is open: the next
					// query answers for the failing system without calling it.
					// A list the directory could not read at its sync is still
					// reported as it failed then.
					if f.code != "UPSTREAM_RATE_LIMITED" && made >= 5 {
						u.ResetCounters()
						r = g.query(t, q, nil, nil)
						codes := []string{"UPSTREAM_UNAVAILABLE"}
						if fromStart {
							codes = append(codes, f.code)
						}
						checkFailure(t, r, sys.system, codes, sys.nullPath)
						if n := u.Requests(); n != 0 {
							t.Errorf("%d calls to %s with its breaker open, want none", n, sys.system)
						}
						if !slices.ContainsFunc(r.Errors, func(e responseError) bool { return strings.Contains(e.Message, "circuit breaker") }) {
							t.Errorf("no error says the breaker is open: %+v", r.Errors)
						}
					}
					for _, p := range silentNulls(t, r, healthy.Data) {
						t.Errorf("%s is null without an error or a stale notice", p)
					}

					// No silent null anywhere a customer is shown.
					for _, p := range silentNulls(t, g.query(t, everywhere, vars, nil), healthyEverywhere.Data) {
						t.Errorf("%s is null or empty without an error or a stale notice", p)
					}

					// Once the upstream is back, the breaker lets a call
					// through (and a Retry-After has run out) and the
					// directory has read it again (asked to, as an
					// operator would, a few times on a busy machine), the
					// answer is whole.
					u.SetFaults(sim.Faults{})
					time.Sleep(max(350*time.Millisecond, time.Duration(f.faults.RetryAfterS)*time.Second))
					for try := 1; ; try++ {
						status, body := g.syncDirectory(t)
						if status == http.StatusOK {
							break
						}
						if try == 3 {
							t.Fatalf("directory sync: HTTP %d %s", status, body)
						}
						time.Sleep(350 * time.Millisecond)
					}
					noErrors(t, g.query(t, q, nil, nil))
					noErrors(t, g.query(t, everywhere, vars, nil))
				})
			}
		}
	}
}

// matrixCustomers picks the customers the fault matrix looks up: one known
// to all three systems, one known to the CRM alone, one the CRM does not
// know, and an ERP customer without an e-mail address.
func matrixCustomers(t *testing.T, w *world.World) map[string]any {
	t.Helper()
	vars := map[string]any{}
	for _, p := range w.People {
		switch {
		case p.CRM != nil && p.Shop != nil && p.ERP != nil && vars["all"] == nil:
			vars["all"] = p.Email
		case p.CRM != nil && p.Shop == nil && p.ERP == nil && vars["crmOnly"] == nil:
			vars["crmOnly"] = p.Email
		case p.CRM == nil && p.Shop != nil && vars["notInCRM"] == nil:
			vars["notInCRM"] = p.Email
		case p.Email == "" && vars["noEmail"] == nil:
			vars["noEmail"] = model.GlobalID("Customer", "erp:"+p.ERP.Name)
		}
	}
	if len(vars) != 4 {
		t.Fatalf("the data set lacks a kind of customer: %v", vars)
	}
	return vars
}

// checkFailure checks that a response carries a system's failure, with
// one of the codes (or the breaker's, once the failures opened it) and the
// source, at the path it nulls, and no upstream details.
func checkFailure(t *testing.T, r response, system model.System, codes []string, nullPath string) {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("no errors with %s failing: %s", system, r.Data)
	}
	var sawPath, sawCode bool
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		breaker := code == "UPSTREAM_UNAVAILABLE" && strings.Contains(e.Message, "circuit breaker")
		sawCode = sawCode || slices.Contains(codes, code)
		if !slices.Contains(codes, code) && !breaker || e.Extensions["source"] != string(system) {
			t.Errorf("error %q at %s has extensions %v, want code %v and source %s", e.Message, pathString(e.Path), e.Extensions, codes, system)
		}
		if len(e.Path) == 0 {
			t.Errorf("error %q has no path", e.Message)
		}
		if ok, _ := path.Match(nullPath, pathString(e.Path)); ok {
			sawPath = true
		}
		for _, leak := range []string{"127.0.0.1", "pat-demo", "ck_demo", "token demo", "<html>"} {
			if strings.Contains(e.Message, leak) {
				t.Errorf("error %q leaks %q", e.Message, leak)
			}
		}
		// A Retry-After the client holds calls back for counts down.
		if after, _ := e.Extensions["retryAfterSeconds"].(float64); code == "UPSTREAM_RATE_LIMITED" && (after < 1 || after > 7) {
			t.Errorf("retryAfterSeconds = %v, want 7 or what is left of it", e.Extensions["retryAfterSeconds"])
		}
	}
	if !sawCode {
		t.Errorf("no error has the code %v: %+v", codes, r.Errors)
	}
	if !sawPath {
		t.Errorf("no error at %s: %+v", nullPath, r.Errors)
	}
}

// silentNulls walks a response's data and returns the path of every null
// a failure caused (the healthy answer has a value there, or has no such
// path), and of every list a failure emptied, that is not explained: by an
// error with a code and a source at its path or a parent's, or by a stale
// notice naming its path or a parent's.
func silentNulls(t *testing.T, r response, healthy json.RawMessage) []string {
	t.Helper()
	decode := func(raw json.RawMessage) any {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("decode data: %v", err)
		}
		return v
	}
	want := decode(healthy)
	var explained [][]any
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		source, _ := e.Extensions["source"].(string)
		if code != "" && source != "" {
			explained = append(explained, e.Path)
		}
	}
	var stale []string
	for _, s := range r.Extensions.Stale {
		stale = append(stale, s.Paths...)
	}
	covered := func(p []any) bool {
		for _, ep := range explained {
			if len(ep) <= len(p) && pathString(ep) == pathString(p[:len(ep)]) {
				return true
			}
		}
		for i := 1; i <= len(p); i++ {
			if slices.Contains(stale, gqlPath(p[:i])) {
				return true
			}
		}
		return false
	}
	var silent []string
	var walk func(v any, p []any)
	walk = func(v any, p []any) {
		switch v := v.(type) {
		case nil:
			if w, ok := at(want, p); (!ok || w != nil) && !covered(p) {
				silent = append(silent, pathString(p))
			}
		case map[string]any:
			for k, child := range v {
				walk(child, append(slices.Clip(p), k))
			}
		case []any:
			if w, _ := at(want, p); len(v) == 0 && !covered(p) {
				if l, ok := w.([]any); ok && len(l) > 0 {
					silent = append(silent, pathString(p))
				}
			}
			for i, child := range v {
				walk(child, append(slices.Clip(p), float64(i)))
			}
		}
	}
	walk(decode(r.Data), nil)
	slices.Sort(silent)
	return silent
}

// at is the value at a path of decoded JSON, and whether there is one.
func at(v any, p []any) (any, bool) {
	for _, step := range p {
		switch s := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s]; !ok {
				return nil, false
			}
		case float64:
			l, ok := v.([]any)
			if !ok || int(s) >= len(l) {
				return nil, false
			}
			v = l[int(s)]
		}
	}
	return v, true
}

// gqlPath writes a response path as gqlgen does in field paths:
// orders.edges[0].node.
func gqlPath(p []any) string {
	var b strings.Builder
	for i, step := range p {
		switch s := step.(type) {
		case float64:
			fmt.Fprintf(&b, "[%d]", int(s))
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, s)
		}
	}
	return b.String()
}

func pathString(p []any) string {
	parts := make([]string, len(p))
	for i, v := range p {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ".")
}

func TestPagingAllOrdersOfACustomer(t *testing.T) {
	g := start(t, world.Options{Seed: 1})
	w := g.env.Sim.World
	// The account with the most orders.
	count := map[*world.Person]int{}
	var p *world.Person
	for _, o := range w.Orders {
		if !o.Guest {
			count[o.Person]++
			if p == nil || count[o.Person] > count[p] {
				p = o.Person
			}
		}
	}
	var id struct{ CustomerByEmail struct{ ID string } }
	noErrors(t, g.query(t, `query($e: String!) { customerByEmail(email: $e) { id } }`, map[string]any{"e": p.Email}, &id))

	seen := map[string]int{}
	var after *string
	for pages := 0; ; pages++ {
		var data struct {
			Orders struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   *string
				}
				Edges []struct{ Node struct{ Number string } }
			}
		}
		noErrors(t, g.query(t, `query($c: ID!, $after: String) { orders(filter: {customer: $c}, first: 3, after: $after) {
			totalCount pageInfo { hasNextPage endCursor } edges { node { number } } } }`,
			map[string]any{"c": id.CustomerByEmail.ID, "after": after}, &data))
		if data.Orders.TotalCount != count[p] {
			t.Fatalf("totalCount %d, want %d", data.Orders.TotalCount, count[p])
		}
		for _, e := range data.Orders.Edges {
			seen[e.Node.Number]++
		}
		if !data.Orders.PageInfo.HasNextPage {
			break
		}
		if pages > count[p] {
			t.Fatal("paging does not end")
		}
		after = data.Orders.PageInfo.EndCursor
	}
	for _, o := range w.Orders {
		if o.Person == p && !o.Guest {
			if seen[strconv.FormatInt(o.ID, 10)] != 1 {
				t.Errorf("order %d seen %d times", o.ID, seen[strconv.FormatInt(o.ID, 10)])
			}
			delete(seen, strconv.FormatInt(o.ID, 10))
		}
	}
	if len(seen) > 0 {
		t.Errorf("orders of others listed: %v", seen)
	}
}

func TestBadInput(t *testing.T) {
	g := start(t, world.Options{Seed: 6, Size: world.Size{People: 50, Orders: 100, Products: 10}})
	tests := []struct {
		name, query, code string
	}{
		{"not a global ID", `{ order(id: "nonsense!") { id } }`, "BAD_USER_INPUT"},
		{"wrong type of ID", `{ order(id: "` + model.GlobalID("Invoice", "X") + `") { id } }`, "BAD_USER_INPUT"},
		{"first too large", `{ orders(first: 1000) { totalCount } }`, "BAD_USER_INPUT"},
		{"not an e-mail", `{ customerByEmail(email: "nobody") { id } }`, "BAD_USER_INPUT"},
		{"unknown field", `{ orders { nonsense } }`, "GRAPHQL_VALIDATION_FAILED"},
		{"bad DateTime", `{ orders(filter: {createdAt: {from: "yesterday"}}) { totalCount } }`, "BAD_USER_INPUT"},
		{"bad Date", `{ invoices(filter: {dueBefore: "31.12.2026"}) { totalCount } }`, "BAD_USER_INPUT"},
		{"syntax", `{ orders {`, "GRAPHQL_PARSE_FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": tt.query})
			resp, err := http.Post(g.url+"/query", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var r response
			_ = json.NewDecoder(resp.Body).Decode(&r)
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != tt.code {
				t.Fatalf("errors %+v, want code %s", r.Errors, tt.code)
			}
		})
	}
}

func TestHealthzAndPlayground(t *testing.T) {
	g := start(t, world.Options{Seed: 6, Size: world.Size{People: 50, Orders: 100, Products: 10}})
	for path, want := range map[string]string{"/healthz": `"ok"`, "/": "<html"} {
		resp, err := http.Get(g.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(b)), want) {
			t.Errorf("GET %s: %d %.80s", path, resp.StatusCode, b)
		}
	}
}

func TestUpstreamTimeout(t *testing.T) {
	g := start(t, world.Options{Seed: 7, Size: world.Size{People: 50, Orders: 100, Products: 10}},
		func(c *config.Config) { c.Sources.ERP.Timeout = 50 * time.Millisecond })
	g.env.Sim.ERP.SetFaults(sim.Faults{LatencyMS: 30_000})
	start := time.Now()
	r := g.query(t, `{ orders(first: 2) { edges { node { number invoices { number } } } } }`, nil, nil)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("answered after %v: the 50ms timeout did not cut the ERP's 30s answer short", took)
	}
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "UPSTREAM_TIMEOUT" || r.Errors[0].Extensions["source"] != "erp" {
		t.Fatalf("errors %+v, want UPSTREAM_TIMEOUT from erp", r.Errors)
	}
	if !strings.Contains(string(r.Data), `"number":"`) {
		t.Errorf("the orders were not answered: %s", r.Data)
	}
}

func TestRequestTimeoutBoundsTheWholeQuery(t *testing.T) {
	g := start(t, world.Options{Seed: 7, Size: world.Size{People: 50, Orders: 100, Products: 10}},
		func(c *config.Config) { c.Sources.ERP.Timeout, c.RequestTimeout = 3*time.Second, 200*time.Millisecond })
	g.env.Sim.ERP.SetFaults(sim.Faults{LatencyMS: 30_000})
	start := time.Now()
	r := g.query(t, `{ orders(first: 2) { edges { node { number invoices { number } } } } }`, nil, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("answered after %v: the 200ms request timeout did not cut the ERP's 3s call short", took)
	}
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "UPSTREAM_TIMEOUT" || r.Errors[0].Extensions["source"] != "erp" {
		t.Fatalf("errors %+v, want UPSTREAM_TIMEOUT from erp", r.Errors)
	}
	if !strings.Contains(string(r.Data), `"number":"`) {
		t.Errorf("the orders were not answered: %s", r.Data)
	}
}

func TestStaleIfErrorIsServedAndSaidSo(t *testing.T) {
	g := start(t, world.Options{Seed: 7, Size: world.Size{People: 30, Orders: 60, Products: 10}}, staleInvoices)
	env := g.env
	const q = `{ orders(first: 3) { edges { node { number invoices { number } } } } }`
	var before, after struct {
		Orders struct {
			Edges []struct {
				Node struct{ Invoices []struct{ Number string } }
			}
		}
	}
	noErrors(t, g.query(t, q, nil, &before))

	time.Sleep(100 * time.Millisecond) // past the invoices' TTL
	env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	r := g.query(t, q, nil, &after)
	noErrors(t, r)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("served %v, want the invoices as last read: %v", after, before)
	}
	// Never stale silently: each invoice list served stale is named, with
	// its source, age, the failure and the fields that show it.
	stale := r.Extensions.Stale
	if len(stale) != 3 {
		t.Fatalf("extensions.stale %+v, want the 3 orders' invoices", stale)
	}
	for i, s := range stale {
		if s.Source != model.SystemERP || s.Kind != cache.Invoices || !strings.HasPrefix(s.Key, "order:") ||
			!strings.Contains(s.Cause, "unavailable (HTTP 503)") || len(s.Paths) != 1 || !strings.HasSuffix(s.Paths[0], ".node.invoices") {
			t.Errorf("stale[%d] = %+v", i, s)
		}
	}
}

// staleInvoices keeps invoices for 50ms, and serves them for a minute
// past that while the ERP fails.
func staleInvoices(c *config.Config) {
	c.Cache.TTL[string(cache.Invoices)] = 50 * time.Millisecond
	c.Cache.StaleIfError = time.Minute
}

func TestProductsAndStock(t *testing.T) {
	g := start(t, world.Options{Seed: 8, Size: world.Size{People: 50, Orders: 100, Products: 45}})
	w := g.env.Sim.World
	seen := map[string]bool{}
	var after *string
	for {
		var data struct {
			Products struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   *string
				}
				Edges []struct {
					Node struct {
						SKU       string `json:"sku"`
						Name      string
						Price     money
						Available string
						Stock     []struct{ Warehouse, OnHand string }
					}
				}
			}
		}
		noErrors(t, g.query(t, `query($after: String) { products(first: 10, after: $after) { totalCount pageInfo { hasNextPage endCursor }
			edges { node { sku name price { amount currency } available stock { warehouse onHand } } } } }`,
			map[string]any{"after": after}, &data))
		for _, e := range data.Products.Edges {
			p := w.ProductBySKU(e.Node.SKU)
			if p == nil || seen[p.SKU] || e.Node.Name != p.Name || !dec(t, e.Node.Price.Amount).Equal(p.Price()) {
				t.Fatalf("product %+v: unknown, repeated or wrong", e.Node)
			}
			seen[p.SKU] = true
			available := decimal.Zero
			for _, b := range p.Bins {
				a, _ := b.Actual.Sub(b.Reserved)
				available, _ = available.Add(a)
			}
			if !dec(t, e.Node.Available).Equal(available) || len(e.Node.Stock) != len(p.Bins) {
				t.Fatalf("%s: available %s in %d warehouses, want %s in %d", p.SKU, e.Node.Available, len(e.Node.Stock), available, len(p.Bins))
			}
		}
		if !data.Products.PageInfo.HasNextPage {
			if len(seen) != data.Products.TotalCount {
				t.Fatalf("listed %d of %d", len(seen), data.Products.TotalCount)
			}
			break
		}
		after = data.Products.PageInfo.EndCursor
	}

	skus := []string{w.Products[3].SKU, "NO-SUCH-SKU", w.Products[7].SKU}
	var data struct {
		Stock []struct {
			SKU               string `json:"sku"`
			Warehouse, OnHand string
		}
		Products struct {
			TotalCount int
			Edges      []struct{ Node struct{ SKU string } }
		}
	}
	noErrors(t, g.query(t, `query($skus: [String!]!) { stock(skus: $skus) { sku warehouse onHand }
		products(filter: {skus: $skus}) { totalCount edges { node { sku } } } }`, map[string]any{"skus": skus}, &data))
	if len(data.Stock) != 6 || len(data.Products.Edges) != 2 || data.Products.TotalCount != 3 {
		t.Fatalf("stock %d levels, products %+v", len(data.Stock), data.Products)
	}
}

func TestIdenticalConcurrentQueriesRunOnce(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 10, Size: world.Size{People: 60, Orders: 200, Products: 12}})
	for _, collapse := range []bool{true, false} {
		t.Run(fmt.Sprintf("collapse=%t", collapse), func(t *testing.T) {
			g := startApp(t, env, quiet, func(c *config.Config) { c.CollapseQueries = collapse })
			g.settle(t)
			env.Sim.Shop.SetFaults(sim.Faults{LatencyMS: 200})
			defer env.Sim.Shop.SetFaults(sim.Faults{})
			env.Sim.Shop.ResetCounters()

			const q = `query($n: Int) { orders(first: $n) { totalCount edges { node { number } } } }`
			bodies := make(chan string, 12)
			var wg sync.WaitGroup
			for i := range 12 {
				wg.Go(func() {
					n := 5
					if i == 11 {
						n = 6 // other variables: another operation
					}
					r := g.query(t, q, map[string]any{"n": n}, nil)
					if len(r.Errors) > 0 {
						t.Errorf("errors: %+v", r.Errors)
					}
					if n == 5 {
						bodies <- string(r.Data)
					}
				})
			}
			wg.Wait()
			close(bodies)
			first := ""
			for b := range bodies {
				if first == "" {
					first = b
				}
				if b != first {
					t.Fatalf("collapsed callers got different answers:\n%s\n%s", first, b)
				}
			}
			// Each execution asks the cache for its order page once: 2 with
			// collapsing (two distinct operations), 12 without. The cache's
			// in-flight dedupe sends 2 list calls upstream either way.
			executions := g.metric(t, `trestle_cache_misses_total{kind="orders"}`)
			if want := map[bool]float64{true: 2, false: 12}[collapse]; executions != want {
				t.Errorf("%v executions, want %v", executions, want)
			}
			if calls := env.Sim.Shop.Routes()["GET /wp-json/wc/v3/orders"]; calls != 2 {
				t.Errorf("%d order list calls, want 2", calls)
			}
		})
	}
}

func TestNodesAnswersEachIDAlone(t *testing.T) {
	g := start(t, world.Options{Seed: 6, Size: world.Size{People: 50, Orders: 100, Products: 10}})
	o := g.env.Sim.World.Orders[3]
	var data struct {
		Nodes []*struct{ Number string }
	}
	r := g.query(t, `query($ids: [ID!]!) { nodes(ids: $ids) { ... on Order { number } } }`,
		map[string]any{"ids": []string{model.GlobalID("Order", strconv.FormatInt(o.ID, 10)), "garbage", model.GlobalID("Order", "1")}}, &data)
	if len(data.Nodes) != 3 || data.Nodes[0] == nil || data.Nodes[0].Number != strconv.FormatInt(o.ID, 10) ||
		data.Nodes[1] != nil || data.Nodes[2] != nil {
		t.Fatalf("nodes %+v, want the order, then null, null", data.Nodes)
	}
	if len(r.Errors) != 1 || pathString(r.Errors[0].Path) != "nodes.1" || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Fatalf("errors %+v, want one BAD_USER_INPUT at nodes.1", r.Errors)
	}
}

func TestCustomersTheDirectoryHasNotSeen(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 12, Size: world.Size{People: 60, Orders: 150, Products: 10}})
	// The first read finds every system down: the directory is empty, and
	// each order's customer is known by its e-mail address alone.
	for _, u := range env.Sim.Upstreams() {
		u.SetFaults(sim.Faults{Down: true})
	}
	g := startApp(t, env, quiet)
	if read := g.settle(t)["directory"]; read == "ok" {
		t.Fatal("the directory read the customer lists with every system down")
	}
	for _, u := range env.Sim.Upstreams() {
		u.SetFaults(sim.Faults{})
	}

	var data struct {
		Orders struct {
			Edges []struct {
				Node struct {
					Number   string
					Customer struct{ ID, Email string }
				}
			}
		}
	}
	noErrors(t, g.query(t, `{ orders(first: 20) { edges { node { number customer { id email } } } } }`, nil, &data))
	ids := map[string]string{}
	for _, e := range data.Orders.Edges {
		c := e.Node.Customer
		if other, seen := ids[c.ID]; seen && other != c.Email {
			t.Fatalf("%s and %s share the id %s", other, c.Email, c.ID)
		}
		ids[c.ID] = c.Email
	}
	for id, email := range ids {
		var got struct {
			Node *struct {
				Email     string
				SourceIds struct{ Crm *string }
			}
		}
		noErrors(t, g.query(t, `query($id: ID!) { node(id: $id) { ... on Customer { email sourceIds { crm } } } }`, map[string]any{"id": id}, &got))
		if got.Node == nil || got.Node.Email != email {
			t.Fatalf("node(%s) = %+v, want the customer %s", id, got.Node, email)
		}
		p := personByEmail(env.Sim.World, email)
		if p != nil && p.CRM != nil && str(got.Node.SourceIds.Crm) != p.CRM.ID {
			t.Errorf("%s: CRM key %q, want %q: the systems were not asked once they were back", email, str(got.Node.SourceIds.Crm), p.CRM.ID)
		}
	}
}

func personByEmail(w *world.World, email string) *world.Person {
	for _, p := range w.People {
		if p.Email == email {
			return p
		}
	}
	return nil
}

func TestSignedWebhookServesTheNewValueRightAfter(t *testing.T) {
	g := startLive(t)
	p := g.env.Sim.World.Products[2]
	onHand := func() string {
		var data struct {
			Stock []struct{ Warehouse, OnHand string }
		}
		noErrors(t, g.query(t, `query($s: [String!]!) { stock(skus: $s) { warehouse onHand } }`, map[string]any{"s": []string{p.SKU}}, &data))
		for _, s := range data.Stock {
			if s.Warehouse == p.Bins[0].Warehouse {
				return s.OnHand
			}
		}
		t.Fatalf("no stock in %s", p.Bins[0].Warehouse)
		return ""
	}
	before := onHand()
	time.Sleep(10 * time.Millisecond) // the cache applies writes asynchronously

	g.env.Sim.World.Lock()
	p.Bins[0].Actual = decimal.MustNew(777, 0)
	g.env.Sim.World.Unlock()
	if got := onHand(); got != before {
		t.Fatalf("on hand %s before any webhook: the cache was not in play", got)
	}

	g.moveStock(t, p, 777) // the ERP's signed webhook for the change
	if got := onHand(); got != "777" {
		t.Fatalf("on hand %s right after the webhook, want 777", got)
	}
	if seq := g.app.ChangeSeq(); seq != 1 {
		t.Errorf("%d changes published, want 1", seq)
	}
}

func TestOrderListsReadLineItemsOnlyWhenShown(t *testing.T) {
	g, requests := recordingGateway(t, false)
	// orderLists counts the order list calls since the last count, by
	// whether they asked for line items.
	orderLists := func() (withLines, without int) {
		for _, r := range requests() {
			if r.URL.Path != "/shop/wp-json/wc/v3/orders" || r.URL.Query().Has("include") {
				continue
			}
			if strings.Contains(r.URL.Query().Get("_fields"), "line_items") {
				withLines++
			} else {
				without++
			}
		}
		return withLines, without
	}
	type lines struct{ Lines []struct{ SKU string } }

	var heads struct {
		Orders struct {
			Edges []struct{ Node struct{ ID, Number string } }
		}
	}
	noErrors(t, g.query(t, `{ orders(first: 5) { edges { node { id number } } } }`, nil, &heads))
	if with, without := orderLists(); with != 0 || without != 1 {
		t.Errorf("a listing without lines made %d list calls with line items and %d without, want one without", with, without)
	}

	// Orders listed without their lines never stand in for whole ones: read
	// by id, in another operation or beside the listing, they have lines.
	id := heads.Orders.Edges[0].Node.ID
	var alone struct{ Order lines }
	noErrors(t, g.query(t, `query($id: ID!) { order(id: $id) { lines { sku } } }`, map[string]any{"id": id}, &alone))
	var beside struct{ Order lines }
	noErrors(t, g.query(t, `query($id: ID!) { orders(first: 5) { edges { node { number } } } order(id: $id) { lines { sku } } }`,
		map[string]any{"id": id}, &beside))
	if len(alone.Order.Lines) == 0 || len(beside.Order.Lines) == 0 {
		t.Errorf("order %s read by id after a listing without lines: %d lines alone, %d beside a listing; want them all", id,
			len(alone.Order.Lines), len(beside.Order.Lines))
	}

	var shown struct {
		Orders struct{ Edges []struct{ Node lines } }
	}
	orderLists()
	noErrors(t, g.query(t, `{ orders(first: 5) { edges { node { lines { sku } } } } }`, nil, &shown))
	if with, _ := orderLists(); with != 1 || len(shown.Orders.Edges[0].Node.Lines) == 0 {
		t.Errorf("a listing showing lines made %d list calls with line items and got %d lines, want one call and lines", with,
			len(shown.Orders.Edges[0].Node.Lines))
	}
}
