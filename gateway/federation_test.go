package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/world"
)

// entityQuery asks for customers and orders by key, as a federation
// router does.
const entityQuery = `query($r: [_Any!]!) { _entities(representations: $r) {
	... on Customer { id email name }
	... on Order { id number customer { name } }
} }`

type entity struct {
	ID, Email, Number string
	Name              *string
	Customer          *struct{ Name *string }
}

// TestEntitiesOfATypeLoadInOneBatchPerUpstream asks for 100 customers (half
// by id, half by e-mail) and 100 orders by key: each comes back as the
// graph's own query gives it, and each upstream is asked once per route,
// never once per entity.
func TestEntitiesOfATypeLoadInOneBatchPerUpstream(t *testing.T) {
	// Without the cache every entity is read upstream.
	g := start(t, world.Options{Seed: 1}, func(c *config.Config) { c.Cache.Disabled = true; c.Subgraph = true })
	var lists struct {
		Customers struct{ Edges []struct{ Node entity } }
		Orders    struct{ Edges []struct{ Node entity } }
	}
	noErrors(t, g.query(t, `{ customers(first: 100) { edges { node { id email name } } }
		orders(first: 100) { edges { node { id number customer { name } } } } }`, nil, &lists))
	if len(lists.Customers.Edges) != 100 || len(lists.Orders.Edges) != 100 {
		t.Fatalf("%d customers and %d orders to ask for, want 100 each", len(lists.Customers.Edges), len(lists.Orders.Edges))
	}
	var customers, orders []map[string]any
	var wantCustomers, wantOrders []entity
	for i, e := range lists.Customers.Edges {
		rep := map[string]any{"__typename": "Customer", "id": e.Node.ID}
		if i%2 == 1 && e.Node.Email != "" {
			rep = map[string]any{"__typename": "Customer", "email": e.Node.Email}
		}
		customers, wantCustomers = append(customers, rep), append(wantCustomers, e.Node)
	}
	for _, e := range lists.Orders.Edges {
		orders, wantOrders = append(orders, map[string]any{"__typename": "Order", "id": e.Node.ID}), append(wantOrders, e.Node)
	}
	for _, c := range []struct {
		reps []map[string]any
		want []entity
	}{{customers, wantCustomers}, {orders, wantOrders}} {
		for _, u := range g.env.Sim.Upstreams() {
			u.ResetCounters()
		}
		var data struct {
			Entities []entity `json:"_entities"`
		}
		noErrors(t, g.query(t, entityQuery, map[string]any{"r": c.reps}, &data))
		if len(data.Entities) != len(c.want) {
			t.Fatalf("%d entities, want %d", len(data.Entities), len(c.want))
		}
		for i, got := range data.Entities {
			w := c.want[i]
			if got.ID != w.ID || got.Email != w.Email || got.Number != w.Number || str(got.Name) != str(w.Name) ||
				(w.Customer != nil) != (got.Customer != nil) || w.Customer != nil && str(got.Customer.Name) != str(w.Customer.Name) {
				t.Errorf("entity %d (%v): %+v, want %+v", i, c.reps[i], got, w)
			}
		}
		for _, u := range g.env.Sim.Upstreams() {
			for route, n := range u.Routes() {
				if n != 1 {
					t.Errorf("%s %s: %d calls for %d entities, want one batch", u.System(), route, n, len(c.reps))
				}
			}
		}
	}
}

// TestOnlyASubgraphServesARouter: a plain gateway refuses _service and
// _entities with its own code; a subgraph serves its SDL, with the keys,
// even with introspection off.
func TestOnlyASubgraphServesARouter(t *testing.T) {
	plain := start(t, world.Options{Seed: 1})
	r := plain.query(t, `{ _service { sdl } }`, nil, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != gateway.CodeNotASubgraph {
		t.Errorf("a plain gateway answered _service with %+v, want %s", r.Errors, gateway.CodeNotASubgraph)
	}
	r = plain.query(t, entityQuery, map[string]any{"r": []any{}}, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != gateway.CodeNotASubgraph {
		t.Errorf("a plain gateway answered _entities with %+v, want %s", r.Errors, gateway.CodeNotASubgraph)
	}

	sub := start(t, world.Options{Seed: 1}, func(c *config.Config) { c.Subgraph = true; c.Introspection = false })
	var data struct {
		Service struct{ SDL string } `json:"_service"`
	}
	noErrors(t, sub.query(t, `{ _service { sdl } }`, nil, &data))
	for _, want := range []string{`@link(url: "https://specs.apollo.dev/federation/v2.7"`, `type Customer implements Node @key(fields: "id") @key(fields: "email")`,
		`type Order implements Node @key(fields: "id")`, `type Product implements Node @key(fields: "sku")`, `type Invoice implements Node @key(fields: "id")`} {
		if !strings.Contains(data.Service.SDL, want) {
			t.Errorf("the subgraph's SDL has no %s", want)
		}
	}
}

// TestTheSubgraphComposesWithAnother composes Trestle's subgraph SDL, as
// its _service serves it, with a second subgraph that extends Customer by
// key (federation/tickets.graphql), using the npm package
// @theguild/federation-composition: the supergraph has both subgraphs'
// types, and Customer joined from both.
func TestTheSubgraphComposesWithAnother(t *testing.T) {
	npmCI(t)
	g := start(t, world.Options{Seed: 1}, func(c *config.Config) { c.Subgraph = true })
	supergraph := compose(t, g, "", g.url+"/query", "http://127.0.0.1:4001/graphql")
	for _, want := range []string{`type Ticket @join__type(graph: TICKETS)`, `@join__type(graph: TRESTLE, key: "id")`,
		`@join__type(graph: TRESTLE, key: "email")`, `@join__type(graph: TICKETS, key: "id")`, `tickets: [Ticket!]! @join__field(graph: TICKETS)`} {
		if !strings.Contains(supergraph, want) {
			t.Errorf("the supergraph has no %s", want)
		}
	}
}

// npmCI installs federation/'s npm packages as its lock file pins them,
// once for the tests that need them.
func npmCI(t *testing.T) {
	t.Helper()
	if err := installFederation(); err != nil {
		t.Fatal(err)
	}
}

var installFederation = sync.OnceValue(func() error {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed for a federated graph: %w", tool, err)
		}
	}
	install := exec.Command("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts")
	install.Dir = "../federation"
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci: %w\n%s", err, out)
	}
	return nil
})

// compose composes Trestle's subgraph SDL (g's _service, asked with key),
// served at trestle, with the tickets subgraph at tickets, and returns the
// supergraph SDL.
func compose(t *testing.T, g *gw, key, trestle, tickets string) string {
	t.Helper()
	var data struct {
		Service struct{ SDL string } `json:"_service"`
	}
	ask(t, g.url+"/query", key, `{ _service { sdl } }`, &data)
	sdl := filepath.Join(t.TempDir(), "trestle.graphql")
	if err := os.WriteFile(sdl, []byte(data.Service.SDL), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "../federation/compose.mjs", "trestle", trestle, sdl, "tickets", tickets, "../federation/tickets.graphql")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	supergraph, err := cmd.Output()
	if err != nil {
		t.Fatalf("composition failed: %v\n%s", err, stderr.String())
	}
	return string(supergraph)
}

// TestARouterJoinsTicketsWithTrestlesCustomers runs a real federation
// gateway (Hive Gateway's runtime) over Trestle and a ticket subgraph
// whose 100 tickets are about 100 of Trestle's customers: a query for the
// tickets with their customers' names, e-mails and orders is answered as
// Trestle answers for those customers, the router fetches the 100
// customers from Trestle in one _entities request with the client's API
// key, and Trestle reads them in one batch per upstream.
func TestARouterJoinsTicketsWithTrestlesCustomers(t *testing.T) {
	npmCI(t)
	g := start(t, world.Options{Seed: 1}, func(c *config.Config) { c.Subgraph = true; c.Cache.Disabled = true; withKeys(c) })
	type customer struct {
		ID, Email string
		Name      *string
		Orders    *struct {
			Edges []struct{ Node struct{ Number string } }
		}
	}
	var direct struct {
		Customers struct{ Edges []struct{ Node customer } }
	}
	ask(t, g.url+"/query", "trk_sales", `{ customers(first: 100) { edges { node { id email name orders(first: 1) { edges { node { number } } } } } } }`, &direct)
	if len(direct.Customers.Edges) != 100 {
		t.Fatalf("%d customers, want 100", len(direct.Customers.Edges))
	}
	ids := make([]string, 100)
	for i, e := range direct.Customers.Edges {
		ids[i] = e.Node.ID
	}
	idsFile := filepath.Join(t.TempDir(), "ids.json")
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(idsFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	// Trestle behind a proxy that notes the router's entity fetches.
	type fetch struct {
		representations int
		key             string
	}
	var mu sync.Mutex
	var fetches []fetch
	target, _ := url.Parse(g.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req struct {
			Query     string
			Variables struct{ Representations []json.RawMessage }
		}
		if json.Unmarshal(body, &req) == nil && strings.Contains(req.Query, "_entities") {
			mu.Lock()
			fetches = append(fetches, fetch{len(req.Variables.Representations), r.Header.Get("X-API-Key")})
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	tickets := startNode(t, "tickets.mjs", "0", idsFile)
	supergraph := filepath.Join(t.TempDir(), "supergraph.graphql")
	if err := os.WriteFile(supergraph, []byte(compose(t, g, "trk_sales", front.URL+"/query", tickets)), 0o600); err != nil {
		t.Fatal(err)
	}
	router := startNode(t, "gateway.mjs", supergraph, "0")

	// The entity fetch: 100 customers in one request, one batch per
	// upstream.
	for _, u := range g.env.Sim.Upstreams() {
		u.ResetCounters()
	}
	var joined struct {
		Tickets []struct {
			ID       string
			Customer customer
		}
	}
	ask(t, router, "trk_sales", `{ tickets(first: 100) { id customer { id email name } } }`, &joined)
	if len(joined.Tickets) != 100 {
		t.Fatalf("%d tickets, want 100", len(joined.Tickets))
	}
	for i, tk := range joined.Tickets {
		want := direct.Customers.Edges[i].Node
		if got := tk.Customer; got.ID != want.ID || got.Email != want.Email || str(got.Name) != str(want.Name) {
			t.Errorf("ticket %s: customer %+v, want %+v", tk.ID, got, want)
		}
	}
	mu.Lock()
	if len(fetches) != 1 || fetches[0].representations != 100 || fetches[0].key != "trk_sales" {
		t.Errorf("the router's entity fetches: %+v, want one of 100 customers with the client's key", fetches)
	}
	mu.Unlock()
	for _, u := range g.env.Sim.Upstreams() {
		for route, n := range u.Routes() {
			if n != 1 {
				t.Errorf("%s %s: %d calls for 100 customers, want one batch", u.System(), route, n)
			}
		}
	}

	// And their orders, as Trestle gives them.
	ask(t, router, "trk_sales", `{ tickets(first: 100) { id customer { id email name orders(first: 1) { edges { node { number } } } } } }`, &joined)
	for i, tk := range joined.Tickets {
		got, _ := json.Marshal(tk.Customer)
		want, _ := json.Marshal(direct.Customers.Edges[i].Node)
		if string(got) != string(want) {
			t.Errorf("ticket %s: customer %s, want %s", tk.ID, got, want)
		}
	}
}

// ask posts a query, with an API key unless it is "", to a GraphQL
// endpoint and decodes its data into into, failing on any error.
func ask(t *testing.T, endpoint, key, query string, into any) {
	t.Helper()
	_, r := postTo(t, endpoint, key, map[string]any{"query": query})
	noErrors(t, r)
	if err := json.Unmarshal(r.Data, into); err != nil {
		t.Fatal(err)
	}
}

// startNode runs one of federation/'s scripts until the test ends and
// returns the URL it prints once ready.
func startNode(t *testing.T, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = "../federation"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		for lines := bufio.NewScanner(out); lines.Scan(); {
			if u, ok := strings.CutPrefix(lines.Text(), "ready "); ok {
				ready <- u
			}
		}
	}()
	select {
	case u := <-ready:
		return u
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start: %s", script, stderr.String())
		return ""
	}
}

// TestEntitiesNeedTheRolesTheirFieldsNeed: invoices by key need the
// FINANCE role, as the invoice fields do; without it each is null with
// the error saying so.
func TestEntitiesNeedTheRolesTheirFieldsNeed(t *testing.T) {
	g := start(t, world.Options{Seed: 1}, func(c *config.Config) { c.Subgraph = true; withKeys(c) })
	inv := g.env.Sim.World.Invoices[0]
	reps := []map[string]any{{"__typename": "Invoice", "id": model.GlobalID("Invoice", inv.Name)}}
	request := map[string]any{"query": `query($r: [_Any!]!) { _entities(representations: $r) { ... on Invoice { number } } }`,
		"variables": map[string]any{"r": reps}}
	for key, want := range map[string]string{"trk_finance": inv.Name, "trk_sales": ""} {
		_, resp := postTo(t, g.url+"/query", key, request)
		var r struct {
			Entities []*struct{ Number string } `json:"_entities"`
		}
		if err := json.Unmarshal(resp.Data, &r); err != nil || len(r.Entities) != 1 {
			t.Fatalf("%s: %v, %s", key, err, resp.Data)
		}
		switch got := r.Entities[0]; {
		case want != "" && (got == nil || got.Number != want || len(resp.Errors) > 0):
			t.Errorf("%s: %+v %+v, want invoice %s", key, got, resp.Errors, want)
		case want == "" && (got != nil || len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "FORBIDDEN"):
			t.Errorf("%s: %+v %+v, want null and FORBIDDEN", key, got, resp.Errors)
		}
	}
}

// TestEntitiesCountTowardsTheComplexityLimit: _entities is measured by
// its representations, as nodes is by its ids.
func TestEntitiesCountTowardsTheComplexityLimit(t *testing.T) {
	g := start(t, world.Options{Seed: 1}, func(c *config.Config) { c.Subgraph = true; c.Limits.Complexity = 200 })
	reps := make([]map[string]any, 100)
	for i := range reps {
		reps[i] = map[string]any{"__typename": "Product", "sku": g.env.Sim.World.Products[i].SKU}
	}
	q := `query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { sku name price { amount } } } }`
	if r := g.query(t, q, map[string]any{"r": reps[:10]}, nil); len(r.Errors) > 0 {
		t.Errorf("10 products: %+v", r.Errors)
	}
	_, r := postTo(t, g.url+"/query", "", map[string]any{"query": q, "variables": map[string]any{"r": reps}})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != gateway.CodeTooComplex {
		t.Errorf("100 products under a complexity of 200: %+v, want %s", r.Errors, gateway.CodeTooComplex)
	}
}
