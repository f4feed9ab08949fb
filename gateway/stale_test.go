package gateway_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/world"
)

// TestStalePathsAreResponsePaths pins the form of extensions.stale's
// paths, which the README shows: the response names from the top, joined
// by dots, list indexes in brackets, as gqlparser writes a path.
func TestStalePathsAreResponsePaths(t *testing.T) {
	g := start(t, world.Options{Seed: 7, Size: world.Size{People: 30, Orders: 60, Products: 10}}, staleInvoices)
	const q = `{ orders(first: 2) { edges { node { number bills: invoices { number } } } } }`
	if status, r := postRaw(t, g.url, "application/json", jsonQuery(q)); status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("HTTP %d %+v", status, r.Errors)
	}
	time.Sleep(100 * time.Millisecond) // past the invoices' TTL
	g.env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	_, raw, _ := exchange(t, http.MethodPost, g.url+"/query", map[string]string{"Content-Type": "application/json"}, string(jsonQuery(q)))
	var r struct {
		Extensions struct {
			Stale []map[string]json.RawMessage `json:"stale"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Extensions.Stale) != 2 {
		t.Fatalf("%s: want two stale invoice lists", raw)
	}
	for i, s := range r.Extensions.Stale {
		want := `["orders.edges[` + strconv.Itoa(i) + `].node.bills"]`
		if string(s["paths"]) != want {
			t.Errorf("stale[%d].paths = %s, want %s", i, s["paths"], want)
		}
		for _, field := range []string{"source", "kind", "key", "ageSeconds", "cause"} {
			if s[field] == nil {
				t.Errorf("stale[%d] has no %s", i, field)
			}
		}
	}
}
