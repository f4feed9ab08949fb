package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

const erpSecret = "frappe-secret"

// liveGateway is a gateway whose ERP webhooks reach a bus that its
// subscriptions read.
type liveGateway struct {
	env *simtest.Env
	srv *httptest.Server
	bus *events.Memory
}

func startLive(t *testing.T) *liveGateway {
	t.Helper()
	env := simtest.Start(t, world.Options{Seed: 15, Size: world.Size{People: 40, Orders: 80, Products: 10}})
	entities := newCache(t)
	t.Cleanup(entities.Close)
	factory := loaders.NewFactory(env.Sources.Shop, env.Sources.CRM, env.Sources.ERP, entities, time.Millisecond)
	bus := events.NewMemory(100, 100)
	hooks := events.NewWebhooks(events.WebhookSecrets{ERP: erpSecret}, "", events.Apply(factory.Invalidate, bus), quiet)
	srv := httptest.NewServer(gateway.New(gateway.Options{Directory: syncedDirectory(t, env), Changes: bus, Loaders: factory,
		Logger: quiet, Webhooks: hooks.Handler()}))
	t.Cleanup(srv.Close)
	return &liveGateway{env: env, srv: srv, bus: bus}
}

// moveStock changes a bin in the ERP and sends the ERP's signed webhook.
func (g *liveGateway) moveStock(t *testing.T, p *world.Product, onHand int64) {
	t.Helper()
	g.env.Sim.World.Lock()
	p.Bins[0].Actual = decimal.MustNew(onHand, 0)
	g.env.Sim.World.Unlock()
	body := `{"doctype": "Bin", "name": "` + p.Bins[0].Name + `", "event": "on_update", "modified": "` +
		time.Now().UTC().Format("2006-01-02 15:04:05.000000") + `", "item_code": "` + p.SKU + `", "customer": "", "po_no": ""}`
	mac := hmac.New(sha256.New, []byte(erpSecret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/webhooks/erp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Frappe-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// wsClient speaks graphql-transport-ws.
type wsClient struct {
	conn *websocket.Conn
}

func dialWS(t *testing.T, ctx context.Context, url string) *wsClient {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Subprotocol() != "graphql-transport-ws" {
		t.Fatalf("subprotocol %q", conn.Subprotocol())
	}
	c := &wsClient{conn: conn}
	c.send(t, ctx, map[string]any{"type": "connection_init"})
	if m := c.next(t, ctx); m.Type != "connection_ack" {
		t.Fatalf("got %+v, want connection_ack", m)
	}
	return c
}

type wsMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func (c *wsClient) send(t *testing.T, ctx context.Context, m any) {
	t.Helper()
	if err := wsjson.Write(ctx, c.conn, m); err != nil {
		t.Fatal(err)
	}
}

// next reads the next message that is not a keep-alive ping.
func (c *wsClient) next(t *testing.T, ctx context.Context) wsMessage {
	t.Helper()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, c.conn, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "ping" && m.Type != "pong" {
			return m
		}
	}
}

type stockEvent struct {
	Data struct {
		StockChanged struct {
			Cursor, SKU string
			Stock       []struct{ Warehouse, OnHand string }
		} `json:"stockChanged"`
	}
	Errors []struct{ Message string }
}

func (c *wsClient) stockEvent(t *testing.T, ctx context.Context) stockEvent {
	t.Helper()
	m := c.next(t, ctx)
	if m.Type != "next" {
		t.Fatalf("got %s %s, want next", m.Type, m.Payload)
	}
	var e stockEvent
	if err := json.Unmarshal(m.Payload, &e); err != nil || len(e.Errors) > 0 {
		t.Fatalf("event %s: %v", m.Payload, err)
	}
	return e
}

const stockSubscription = `subscription($skus: [String!], $after: String) { stockChanged(skus: $skus, after: $after) { cursor sku stock { warehouse onHand } } }`

func onHandIn(e stockEvent, warehouse string) string {
	for _, s := range e.Data.StockChanged.Stock {
		if s.Warehouse == warehouse {
			return s.OnHand
		}
	}
	return ""
}

func TestStockChangeReachesAWebSocketSubscriberFresh(t *testing.T) {
	g := startLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := g.env.Sim.World.Products[1]
	wh := p.Bins[0].Warehouse

	// A first change gives a cursor to subscribe behind, so the test does not
	// race the subscription's start.
	g.moveStock(t, p, 100)
	first := changeCursorOf(t, g.bus.Seq())

	c := dialWS(t, ctx, g.srv.URL)
	c.send(t, ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": stockSubscription, "variables": map[string]any{"skus": []string{p.SKU}, "after": first}}})

	start := time.Now()
	g.moveStock(t, p, 777)
	e := c.stockEvent(t, ctx)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the change took %v to arrive, want under 1 s", took)
	}
	if e.Data.StockChanged.SKU != p.SKU || onHandIn(e, wh) != "777" {
		t.Fatalf("event %+v, want %s with 777 on hand in %s (fresh, not cached)", e.Data.StockChanged, p.SKU, wh)
	}

	// Disconnect; two changes happen meanwhile; resume behind the last one seen.
	last := e.Data.StockChanged.Cursor
	c.conn.Close(websocket.StatusNormalClosure, "")
	g.moveStock(t, p, 801)
	g.moveStock(t, p, 802)
	c = dialWS(t, ctx, g.srv.URL)
	c.send(t, ctx, map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{
		"query": stockSubscription, "variables": map[string]any{"skus": []string{p.SKU}, "after": last}}})
	seen := map[string]bool{}
	for range 2 {
		e := c.stockEvent(t, ctx)
		if seen[e.Data.StockChanged.Cursor] || e.Data.StockChanged.Cursor == last {
			t.Fatalf("event %s delivered twice", e.Data.StockChanged.Cursor)
		}
		seen[e.Data.StockChanged.Cursor] = true
	}
	if len(seen) != 2 {
		t.Fatalf("resumed with %d of the 2 missed changes", len(seen))
	}
	c.send(t, ctx, map[string]any{"id": "2", "type": "complete"})
	c.conn.Close(websocket.StatusNormalClosure, "")
}

func TestSubscribingBehindTheWindowIsAnError(t *testing.T) {
	g := startLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := g.env.Sim.World.Products[0]
	for i := range 105 { // the window keeps the latest 100: 6 to 105
		g.moveStock(t, p, int64(i))
	}
	c := dialWS(t, ctx, g.srv.URL)
	defer c.conn.Close(websocket.StatusNormalClosure, "")
	c.send(t, ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": stockSubscription, "variables": map[string]any{"after": changeCursorOf(t, 2)}}})
	m := c.next(t, ctx)
	if m.Type != "error" && m.Type != "next" || !strings.Contains(string(m.Payload), "older than the replay window") {
		t.Fatalf("got %s %s, want an error naming the replay window", m.Type, m.Payload)
	}
}

// changeCursorOf is the cursor a subscription event carries for seq.
func changeCursorOf(t *testing.T, seq uint64) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte("change:" + strconv.FormatUint(seq, 10)))
}
