package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
)

// withKeys admits two clients, and no request without a key: trk_finance
// with the FINANCE role, trk_sales without.
func withKeys(c *config.Config) {
	c.Auth = config.Auth{APIKeys: []config.APIKey{
		{Name: "finance", SHA256: sha256Hex("trk_finance"), Roles: []string{"FINANCE"}},
		{Name: "sales", SHA256: sha256Hex("trk_sales")},
	}}
}

// sha256Hex is a key as a config holds it.
func sha256Hex(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// post sends a query with an API key and decodes the answer.
func post(t *testing.T, url, key, query string) (int, response) {
	t.Helper()
	return postTo(t, url+"/query", key, map[string]any{"query": query})
}

// postTo sends a GraphQL request (query, variables) to an endpoint, with
// an API key unless it is "", and decodes the answer.
func postTo(t *testing.T, endpoint, key string, request map[string]any) (int, response) {
	t.Helper()
	body, _ := json.Marshal(request)
	req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: HTTP %d: %v", endpoint, resp.StatusCode, err)
	}
	return resp.StatusCode, r
}

func TestFieldsNeedTheirRole(t *testing.T) {
	g := startLive(t, withKeys)
	inv := g.env.Sim.World.Invoices[0]
	q := `{
		orders(first: 2) { edges { node { number invoices { number } } } }
		customers(first: 2) { edges { node { name openBalance { amount } creditLimit { amount } } } }
		invoices(first: 1) { totalCount }
		node(id: "` + model.GlobalID("Invoice", inv.Name) + `") { id }
	}`

	for _, key := range []string{"", "trk_guess"} {
		if status, r := post(t, g.url, key, q); status != http.StatusUnauthorized || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
			t.Errorf("key %q: HTTP %d %+v, want 401 UNAUTHENTICATED", key, status, r.Errors)
		}
	}

	status, r := post(t, g.url, "trk_finance", q)
	if status != http.StatusOK {
		t.Fatalf("HTTP %d", status)
	}
	noErrors(t, r)

	// Without the role the guarded fields are null, each with FORBIDDEN,
	// and the rest is answered.
	status, r = post(t, g.url, "trk_sales", q)
	if status != http.StatusOK {
		t.Fatalf("HTTP %d", status)
	}
	forbidden := map[string]bool{}
	for _, e := range r.Errors {
		if e.Extensions["code"] != "FORBIDDEN" {
			t.Errorf("error %q with %v, want FORBIDDEN", e.Message, e.Extensions)
		}
		forbidden[pathString(e.Path)] = true
	}
	for _, p := range []string{"orders.edges.0.node.invoices", "orders.edges.1.node.invoices", "customers.edges.0.node.openBalance",
		"customers.edges.1.node.creditLimit", "invoices", "node"} {
		if !forbidden[p] {
			t.Errorf("no FORBIDDEN at %s: %+v", p, r.Errors)
		}
	}
	var data struct {
		Orders struct {
			Edges []struct {
				Node struct {
					Number   string
					Invoices []any
				}
			}
		}
		Customers struct {
			Edges []struct{ Node struct{ Name *string } }
		}
		Invoices any
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Orders.Edges) != 2 || data.Orders.Edges[0].Node.Number == "" || data.Orders.Edges[0].Node.Invoices != nil ||
		len(data.Customers.Edges) != 2 || data.Customers.Edges[0].Node.Name == nil || data.Invoices != nil {
		t.Errorf("data %s, want orders and customers answered, the guarded fields null", r.Data)
	}
}

func TestWebSocketsAuthenticateInConnectionInit(t *testing.T) {
	g := startLive(t, withKeys)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, payload := range []map[string]any{nil, {"apiKey": "trk_guess"}} {
		c := dialRaw(t, ctx, g.url)
		c.send(t, ctx, map[string]any{"type": "connection_init", "payload": payload})
		if code, reason := c.closedWith(t, ctx); code != 4403 {
			t.Errorf("init with %v: closed with %d %q, want 4403", payload, code, reason)
		}
	}

	connect := func(init map[string]any) *wsClient {
		c := dialRaw(t, ctx, g.url)
		c.send(t, ctx, map[string]any{"type": "connection_init", "payload": init})
		if m := c.next(t, ctx); m.Type != "connection_ack" {
			t.Fatalf("init %v: got %+v, want connection_ack", init, m)
		}
		return c
	}
	fin := connect(map[string]any{"headers": map[string]any{"Authorization": "Bearer trk_finance"}})
	sales := connect(map[string]any{"apiKey": "trk_sales"})

	// A subscription the role does not allow is refused.
	sales.subscribe(t, ctx, "inv", `subscription { invoiceChanged { cursor } }`, nil)
	m := sales.next(t, ctx)
	if m.Type == "next" && !strings.Contains(string(m.Payload), "FORBIDDEN") || m.Type != "next" && m.Type != "error" {
		t.Fatalf("got %s %s, want invoiceChanged refused as FORBIDDEN", m.Type, m.Payload)
	}

	// The same subscription by clients of different roles runs once per
	// role, each seeing what its role allows.
	const orderSub = `subscription { orderChanged { cursor order { number invoices { number } } } }`
	fin.subscribe(t, ctx, "o", orderSub, nil)
	sales.subscribe(t, ctx, "o", orderSub, nil)
	eventually(t, "one execution per role", func() bool { return g.executions(t) == 2 })
	o := g.env.Sim.World.Orders[0]
	g.setOrderStatus(t, o, "completed")
	finEvent, salesEvent := fin.nextOf(t, ctx, "o"), sales.nextOf(t, ctx, "o")
	if strings.Contains(string(finEvent.Payload), "FORBIDDEN") || !strings.Contains(string(finEvent.Payload), `"invoices":[`) {
		t.Errorf("finance got %s, want the order with its invoices", finEvent.Payload)
	}
	if !strings.Contains(string(salesEvent.Payload), "FORBIDDEN") || !strings.Contains(string(salesEvent.Payload), `"invoices":null`) {
		t.Errorf("sales got %s, want the order with invoices null and FORBIDDEN", salesEvent.Payload)
	}
	fin.conn.Close(websocket.StatusNormalClosure, "")
	sales.conn.Close(websocket.StatusNormalClosure, "")
}

// nextOf reads up to the next message of the subscription id.
func (c *wsClient) nextOf(t *testing.T, ctx context.Context, id string) wsMessage {
	t.Helper()
	for {
		if m := c.next(t, ctx); m.ID == id {
			return m
		}
	}
}

func TestLegacyWebSocketsAuthenticateWithUpgradeHeaders(t *testing.T) {
	g := startLive(t, withKeys)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for key, want := range map[string]string{"trk_sales": "connection_ack", "trk_guess": "connection_error"} {
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.url, "http")+"/query",
			&websocket.DialOptions{Subprotocols: []string{"graphql-ws"}, HTTPHeader: http.Header{"X-Api-Key": {key}}})
		if err != nil {
			t.Fatal(err)
		}
		c := &wsClient{conn: conn}
		c.send(t, ctx, map[string]any{"type": "connection_init", "payload": map[string]any{}})
		if m := c.next(t, ctx); m.Type != want {
			t.Errorf("upgrade with key %s: got %s %s, want %s", key, m.Type, m.Payload, want)
		}
		if want == "connection_error" {
			// Refused, the connection is closed as graphql-transport-ws's are.
			if code, reason := c.closedWith(t, ctx); code != 4403 {
				t.Errorf("refused connection ended with %d %q, want 4403", code, reason)
			}
		}
		conn.CloseNow()
	}
}
