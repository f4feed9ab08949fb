package gateway_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/gateway"
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
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to compose a supergraph: %v", tool, err)
		}
	}
	install := exec.Command("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts")
	install.Dir = "../federation"
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	g := start(t, world.Options{Seed: 1}, func(c *config.Config) { c.Subgraph = true })
	var data struct {
		Service struct{ SDL string } `json:"_service"`
	}
	noErrors(t, g.query(t, `{ _service { sdl } }`, nil, &data))
	sdl := filepath.Join(t.TempDir(), "trestle.graphql")
	if err := os.WriteFile(sdl, []byte(data.Service.SDL), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "../federation/compose.mjs", "trestle", g.url+"/query", sdl,
		"tickets", "http://127.0.0.1:4001/graphql", "../federation/tickets.graphql")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	supergraph, err := cmd.Output()
	if err != nil {
		t.Fatalf("composition failed: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{`type Ticket @join__type(graph: TICKETS)`, `@join__type(graph: TRESTLE, key: "id")`,
		`@join__type(graph: TRESTLE, key: "email")`, `@join__type(graph: TICKETS, key: "id")`, `tickets: [Ticket!]! @join__field(graph: TICKETS)`} {
		if !strings.Contains(string(supergraph), want) {
			t.Errorf("the supergraph has no %s", want)
		}
	}
}
