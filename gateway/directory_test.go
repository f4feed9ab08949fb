package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// A customer list the directory read once and failed to read again is
// served as read, with a stale notice wherever it answers for the failing
// system: a customer that system gained since may be missing.
func TestAListReadBeforeIsServedStaleAndSaidSo(t *testing.T) {
	g := start(t, world.Options{Seed: 19, Size: world.Size{People: 60, Orders: 120, Products: 10}})
	env := g.env
	var p *world.Person // in the shop, not in the CRM
	for _, q := range env.Sim.World.People {
		if q.CRM == nil && q.Shop != nil {
			p = q
			break
		}
	}
	const q = `query($e: String!) {
		customerByEmail(email: $e) { name lifecycleStage sourceIds { crm shop } }
		customers(first: 3) { totalCount edges { node { lifecycleStage } } }
	}`
	vars := map[string]any{"e": p.Email}
	healthy := g.query(t, q, vars, nil)
	noErrors(t, healthy)

	env.Sim.CRM.SetFaults(sim.Faults{ErrorRate: 1})
	if status, body := g.syncDirectory(t); status == http.StatusOK {
		t.Fatalf("the directory read the customer lists with the CRM failing: %s", body)
	}
	var data struct {
		CustomerByEmail struct{ Name *string }
	}
	r := g.query(t, q, vars, &data)
	noErrors(t, r) // the CRM has no record of theirs to read
	if str(data.CustomerByEmail.Name) != p.FirstName+" "+p.LastName {
		t.Errorf("name %q, want the shop's", str(data.CustomerByEmail.Name))
	}
	if len(r.Extensions.Stale) != 1 {
		t.Fatalf("extensions.stale %+v, want the CRM's customer list", r.Extensions.Stale)
	}
	s := r.Extensions.Stale[0]
	if s.Source != model.SystemCRM || s.Kind != cache.Customers || s.Key != "*" || !strings.Contains(s.Cause, "unavailable (HTTP 500)") {
		t.Errorf("stale %+v, want the CRM's customers (*) and the failure", s)
	}
	for _, path := range []string{"customerByEmail.name", "customerByEmail.lifecycleStage", "customerByEmail.sourceIds.crm", "customers"} {
		if !slices.Contains(s.Paths, path) {
			t.Errorf("stale paths %v lack %s", s.Paths, path)
		}
	}
	for _, path := range silentNulls(t, r, healthy.Data) {
		t.Errorf("%s is null without an error or a stale notice", path)
	}
}

// A query that runs out of time waiting for the directory's first sync
// says which system's customer list it was waiting for.
func TestAQueryWaitingForTheFirstSyncNamesTheListItWaitsFor(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 20, Size: world.Size{People: 40, Orders: 80, Products: 10}})
	env.Sim.CRM.SetFaults(sim.Faults{LatencyMS: 30_000})
	g := startApp(t, env, quiet, func(c *config.Config) {
		c.Sources.CRM.Timeout, c.RequestTimeout = time.Second, 100*time.Millisecond
	})
	g.await(t, "the first read waiting for the CRM's list alone", func(checks map[string]string) bool {
		if !strings.HasPrefix(checks["directory"], "reading the customer lists") {
			t.Fatalf("the first read ended before the CRM's list was read: %s", checks["directory"])
		}
		return checks["directory"] == "reading the customer lists: crm"
	})

	r := g.query(t, `{ orders(first: 2) { edges { node { number customer { name } } } } }`, nil, nil)
	if len(r.Errors) != 2 {
		t.Fatalf("errors %+v, want one for each order's customer", r.Errors)
	}
	for _, e := range r.Errors {
		if e.Extensions["code"] != "UPSTREAM_TIMEOUT" || e.Extensions["source"] != "crm" || !strings.HasSuffix(pathString(e.Path), ".node.customer") {
			t.Errorf("error %q at %s with %v, want UPSTREAM_TIMEOUT from crm at the customer", e.Message, pathString(e.Path), e.Extensions)
		}
	}
	if !strings.Contains(string(r.Data), `"number":"`) {
		t.Errorf("the orders were not answered: %s", r.Data)
	}
}

// A subscription to a customer's changes that the directory cannot join
// to a system (its list could not be read) is refused with that failure,
// not left to miss that system's changes.
func TestSubscribingToACustomerTheDirectoryCannotJoinIsAnError(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 21, Size: world.Size{People: 40, Orders: 80, Products: 10}})
	env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	g := startApp(t, env, quiet)
	if read := g.settle(t)["directory"]; read == "ok" {
		t.Fatal("the directory read the customer lists with the ERP down")
	}
	env.Sim.ERP.SetFaults(sim.Faults{})
	var p *world.Person // known to the ERP too, which the directory cannot tell
	for _, q := range env.Sim.World.People {
		if q.CRM != nil && q.ERP != nil {
			p = q
			break
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, g.url)
	defer c.conn.Close(websocket.StatusNormalClosure, "")
	c.send(t, ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($c: ID) { invoiceChanged(customerId: $c) { cursor } }`,
		"variables": map[string]any{"c": model.GlobalID("Customer", p.Email)}}})
	errs := wsErrors(t, ctx, c)
	if errs[0].Extensions["code"] != "UPSTREAM_UNAVAILABLE" || errs[0].Extensions["source"] != "erp" {
		t.Errorf("errors %+v, want UPSTREAM_UNAVAILABLE from the erp", errs)
	}
}

// wsError reads the first message of a subscription and returns the
// errors it was refused with.
func wsErrors(t *testing.T, ctx context.Context, c *wsClient) []responseError {
	t.Helper()
	m := c.next(t, ctx)
	var errs []responseError
	switch m.Type {
	case "error":
		_ = json.Unmarshal(m.Payload, &errs)
	case "next":
		var r response
		_ = json.Unmarshal(m.Payload, &r)
		errs = r.Errors
	}
	if len(errs) == 0 {
		t.Fatalf("got %s %s, want errors", m.Type, m.Payload)
	}
	return errs
}
