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

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/graph/model"
	simerp "github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

const (
	erpSecret  = "frappe-secret"
	shopSecret = "wc-secret"
	crmSecret  = "hs-client-secret"
)

// liveWorld is the world of the tests that watch changes.
var liveWorld = world.Options{Seed: 15, Size: world.Size{People: 40, Orders: 80, Products: 10}}

// live takes the upstreams' signed webhooks and keeps the latest 100
// changes for subscribers that resume.
func live(c *config.Config) {
	c.Events.Webhooks.Secrets = config.WebhookSecrets{Shop: shopSecret, CRM: crmSecret, ERP: erpSecret}
	c.Events.Replay = 100
}

// startLive is a settled gateway whose webhooks reach the subscriptions,
// over new simulators.
func startLive(t *testing.T, mods ...func(*config.Config)) *gw {
	t.Helper()
	return start(t, liveWorld, append([]func(*config.Config){live}, mods...)...)
}

// executions is how many subscription executions the gateway runs, each
// with a bus subscription of its own.
func (g *gw) executions(t *testing.T) float64 {
	t.Helper()
	return g.metric(t, "trestle_subscription_executions_active")
}

// moveStock changes a bin in the ERP and sends the ERP's signed webhook.
func (g *gw) moveStock(t *testing.T, p *world.Product, onHand int64) {
	t.Helper()
	g.env.Sim.World.Lock()
	p.Bins[0].Actual = decimal.MustNew(onHand, 0)
	p.Bins[0].Modified = time.Now().UTC()
	modified := simerp.SiteTime(p.Bins[0].Modified)
	g.env.Sim.World.Unlock()
	body := `{"doctype": "Bin", "name": "` + p.Bins[0].Name + `", "event": "on_update", "modified": "` +
		modified + `", "item_code": "` + p.SKU + `", "customer": "", "po_no": ""}`
	g.webhook(t, "/webhooks/erp", body, map[string]string{"X-Frappe-Webhook-Signature": hmacB64(erpSecret, body)})
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
	first := changeCursorOf(t, g.app.ChangeSeq())

	c := dialWS(t, ctx, g.url)
	c.send(t, ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": stockSubscription, "variables": map[string]any{"skus": []string{p.SKU}, "after": first}}})

	start := time.Now()
	g.moveStock(t, p, 777)
	e := c.stockEvent(t, ctx)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the change took %v to arrive, want it at once", took)
	}
	if e.Data.StockChanged.SKU != p.SKU || onHandIn(e, wh) != "777" {
		t.Fatalf("event %+v, want %s with 777 on hand in %s (fresh, not cached)", e.Data.StockChanged, p.SKU, wh)
	}

	// Disconnect; two changes happen meanwhile; resume behind the last one seen.
	last := e.Data.StockChanged.Cursor
	c.conn.Close(websocket.StatusNormalClosure, "")
	g.moveStock(t, p, 801)
	g.moveStock(t, p, 802)
	c = dialWS(t, ctx, g.url)
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
	c := dialWS(t, ctx, g.url)
	defer c.conn.Close(websocket.StatusNormalClosure, "")
	c.send(t, ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": stockSubscription, "variables": map[string]any{"after": changeCursorOf(t, 2)}}})
	m := c.next(t, ctx)
	if m.Type != "error" && m.Type != "next" || !strings.Contains(string(m.Payload), "older than the replay window") {
		t.Fatalf("got %s %s, want an error naming the replay window", m.Type, m.Payload)
	}
	// A cursor ahead of the latest change (from before a restart) is told
	// so, not called old.
	c.send(t, ctx, map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{
		"query": stockSubscription, "variables": map[string]any{"after": changeCursorOf(t, 1000)}}})
	m = c.nextOf(t, ctx, "2")
	if m.Type != "error" && m.Type != "next" || !strings.Contains(string(m.Payload), "cursor is ahead of the latest change: cursor 1000, latest 105") ||
		strings.Contains(string(m.Payload), "older") || !strings.Contains(string(m.Payload), "subscribe without after") {
		t.Fatalf("got %s %s, want an error saying the cursor is ahead", m.Type, m.Payload)
	}
}

// changeCursorOf is the cursor a subscription event carries for seq.
func changeCursorOf(t *testing.T, seq uint64) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte("change:" + strconv.FormatUint(seq, 10)))
}

// webhook posts a body with its signature headers to the gateway.
func (g *gw) webhook(t *testing.T, path, body string, header map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook %s answered %d", path, resp.StatusCode)
	}
}

func hmacB64(secret string, parts ...string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		mac.Write([]byte(p))
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// setOrderStatus changes an order in the shop and sends WooCommerce's webhook.
func (g *gw) setOrderStatus(t *testing.T, o *world.Order, status string) {
	t.Helper()
	g.env.Sim.World.Lock()
	o.Status = status
	g.env.Sim.World.Unlock()
	customer := int64(0)
	if o.Person.Shop != nil && !o.Guest {
		customer = o.Person.Shop.ID
	}
	body := `{"id":` + strconv.FormatInt(o.ID, 10) + `,"customer_id":` + strconv.FormatInt(customer, 10) + `,"status":"` + status + `"}`
	g.webhook(t, "/webhooks/shop", body, map[string]string{"X-WC-Webhook-Signature": hmacB64(shopSecret, body),
		"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": status + strconv.FormatInt(o.ID, 10)})
}

// payInvoice marks an invoice paid in the ERP and sends its webhook.
func (g *gw) payInvoice(t *testing.T, inv *world.Invoice) {
	t.Helper()
	g.env.Sim.World.Lock()
	inv.Status, inv.Outstanding = "Paid", decimal.Zero
	g.env.Sim.World.Unlock()
	body := `{"doctype": "Sales Invoice", "name": "` + inv.Name + `", "event": "on_update", "modified": "` + inv.Name + `-paid", "item_code": "", "customer": "` + inv.Customer.ERP.Name + `", "po_no": ""}`
	g.webhook(t, "/webhooks/erp", body, map[string]string{"X-Frappe-Webhook-Signature": hmacB64(erpSecret, body)})
}

func (c *wsClient) subscribe(t *testing.T, ctx context.Context, id, query string, vars map[string]any) {
	t.Helper()
	c.send(t, ctx, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
}

// event reads the next event and decodes its data.
func (c *wsClient) event(t *testing.T, ctx context.Context, into any) string {
	t.Helper()
	m := c.next(t, ctx)
	var e struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if m.Type != "next" || json.Unmarshal(m.Payload, &e) != nil || len(e.Errors) > 0 {
		t.Fatalf("got %s %s, want an event", m.Type, m.Payload)
	}
	if err := json.Unmarshal(e.Data, into); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func TestOrderInvoiceAndCustomerSubscriptions(t *testing.T) {
	g := startLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := g.env.Sim.World

	// Orders of one customer that became completed.
	var buyer *world.Person
	var mine, others []*world.Order
	for _, o := range w.Orders {
		if buyer == nil && !o.Guest && o.Status != "completed" {
			buyer = o.Person
		}
	}
	for _, o := range w.Orders {
		if o.Person == buyer && !o.Guest {
			mine = append(mine, o)
		} else if !o.Guest && o.Person.Shop != nil {
			others = append(others, o)
		}
	}
	g.moveStock(t, w.Products[0], 1) // a change to subscribe behind
	from := changeCursorOf(t, g.app.ChangeSeq())
	buyerID := model.GlobalID("Customer", buyer.Email)

	c := dialWS(t, ctx, g.url)
	defer c.conn.Close(websocket.StatusNormalClosure, "")
	c.subscribe(t, ctx, "orders", `subscription($c: ID, $after: String) { orderChanged(customerId: $c, status: [COMPLETED], after: $after) {
		cursor op order { number status customer { email } } } }`, map[string]any{"c": buyerID, "after": from})
	g.setOrderStatus(t, others[0], "completed") // another customer's: filtered out
	g.setOrderStatus(t, mine[0], "on-hold")     // not completed: filtered out
	g.setOrderStatus(t, mine[0], "completed")
	var oe struct {
		OrderChanged struct {
			Op    string
			Order struct {
				Number, Status string
				Customer       struct{ Email string }
			}
		}
	}
	c.event(t, ctx, &oe)
	if oe.OrderChanged.Order.Number != strconv.FormatInt(mine[0].ID, 10) || oe.OrderChanged.Order.Status != "COMPLETED" ||
		oe.OrderChanged.Order.Customer.Email != buyer.Email || oe.OrderChanged.Op != "UPDATED" {
		t.Fatalf("order event %+v, want order %d completed by %s", oe.OrderChanged, mine[0].ID, buyer.Email)
	}

	// Invoices of one customer.
	var payer *world.Person
	var theirs, notTheirs *world.Invoice
	for _, inv := range w.Invoices {
		if inv.Status != "Paid" && inv.Customer.Email != "" {
			if payer == nil {
				payer, theirs = inv.Customer, inv
			} else if inv.Customer != payer && notTheirs == nil {
				notTheirs = inv
			}
		}
	}
	c.subscribe(t, ctx, "invoices", `subscription($c: ID, $after: String) { invoiceChanged(customerId: $c, after: $after) {
		invoice { number status outstanding { amount } } } }`, map[string]any{"c": model.GlobalID("Customer", payer.Email), "after": changeCursorOf(t, g.app.ChangeSeq())})
	g.payInvoice(t, notTheirs)
	g.payInvoice(t, theirs)
	var ie struct {
		InvoiceChanged struct {
			Invoice struct {
				Number, Status string
				Outstanding    struct{ Amount string }
			}
		}
	}
	for id := ""; id != "invoices"; {
		id = c.event(t, ctx, &ie) // the order subscription may see nothing more; skip anything else
	}
	if ie.InvoiceChanged.Invoice.Number != theirs.Name || ie.InvoiceChanged.Invoice.Status != "PAID" || ie.InvoiceChanged.Invoice.Outstanding.Amount != "0" && ie.InvoiceChanged.Invoice.Outstanding.Amount != "0.00" {
		t.Fatalf("invoice event %+v, want %s paid", ie.InvoiceChanged, theirs.Name)
	}

	// A contact's change in the CRM, as the consolidated customer.
	var lead *world.Person
	for _, p := range w.People {
		if p.CRM != nil && p.Email != "" {
			lead = p
			break
		}
	}
	c.subscribe(t, ctx, "customers", `subscription($id: ID, $after: String) { customerChanged(id: $id, after: $after) {
		source customer { email name } } }`, map[string]any{"id": model.GlobalID("Customer", lead.Email), "after": changeCursorOf(t, g.app.ChangeSeq())})
	w.Lock()
	lead.FirstName = "Renamed"
	w.Unlock()
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	body := `[{"eventId":7,"subscriptionType":"contact.propertyChange","objectId":` + lead.CRM.ID + `,"occurredAt":` + ts + `}]`
	g.webhook(t, "/webhooks/crm", body, map[string]string{"X-HubSpot-Request-Timestamp": ts,
		"X-HubSpot-Signature-v3": hmacB64(crmSecret, "POST", g.url+"/webhooks/crm", body, ts)})
	var ce struct {
		CustomerChanged struct {
			Source   string
			Customer struct{ Email, Name string }
		}
	}
	for id := ""; id != "customers"; {
		id = c.event(t, ctx, &ce)
	}
	if ce.CustomerChanged.Source != "CRM" || ce.CustomerChanged.Customer.Email != lead.Email ||
		!strings.HasPrefix(ce.CustomerChanged.Customer.Name, "Renamed ") {
		t.Fatalf("customer event %+v, want %s renamed, from the CRM", ce.CustomerChanged, lead.Email)
	}
}

func TestWebSocketOrigins(t *testing.T) {
	g := start(t, world.Options{Seed: 15, Size: world.Size{People: 10, Orders: 10, Products: 5}},
		func(c *config.Config) { c.Origins = []string{"*.example.com"} })
	host := strings.TrimPrefix(g.url, "http://")
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},               // not a browser
		{"http://" + host, true}, // the gateway's own page
		{"https://app.example.com", true},
		{"https://app.example.org", false},
		{"https://example.com.evil.net", false},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		conn, resp, err := websocket.Dial(ctx, "ws://"+host+"/query",
			&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: h})
		cancel()
		if tt.ok != (err == nil) {
			t.Errorf("origin %q: err %v, want allowed %v", tt.origin, err, tt.ok)
		}
		if err == nil {
			conn.CloseNow()
		} else if resp != nil && resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: HTTP %d, want 403", tt.origin, resp.StatusCode)
		}
	}
}

func TestManySubscribersReadAChangeOnce(t *testing.T) {
	g := startLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := g.env.Sim.World.Products[2]
	g.moveStock(t, p, 10)
	first := changeCursorOf(t, g.app.ChangeSeq())
	clients := make([]*wsClient, 20)
	for i := range clients {
		clients[i] = dialWS(t, ctx, g.url)
		defer clients[i].conn.Close(websocket.StatusNormalClosure, "")
		clients[i].send(t, ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query": stockSubscription, "variables": map[string]any{"skus": []string{p.SKU}, "after": first}}})
	}
	// Each resumes behind the first change, so runs alone.
	eventually(t, "the 20 subscriptions in place", func() bool { return g.executions(t) == 20 })
	g.env.Sim.ERP.ResetCounters()
	g.moveStock(t, p, 20)
	for _, c := range clients {
		if e := c.stockEvent(t, ctx); onHandIn(e, p.Bins[0].Warehouse) != "20" {
			t.Fatalf("event %+v, want 20 on hand", e.Data.StockChanged)
		}
	}
	if n := g.env.Sim.ERP.Requests(); n != 1 {
		t.Errorf("%d ERP calls for one change read by 20 subscribers, want 1", n)
	}
}

// gateway.New: the test needs a bus with no room for a subscriber to fall
// behind in, which no config sets.
func TestASubscriberThatFallsBehindIsToldWhereToResume(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 15, Size: world.Size{People: 10, Orders: 10, Products: 5}})
	opts := options(t, env, newCache(t, nil))
	bus := events.NewMemory(1000, 0, func(events.Change) {}) // no room: a subscriber not waiting falls behind
	opts.Changes = bus
	srv := httptest.NewServer(gateway.New(opts))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sku := env.Sim.World.Products[0].SKU
	publish := func(n int) {
		for range n {
			_ = bus.Publish(ctx, []events.Change{{System: model.SystemERP, Kind: events.KindStock, Key: sku, Op: events.OpUpdated}})
		}
	}
	publish(1)
	c := dialWS(t, ctx, srv.URL)
	defer c.conn.Close(websocket.StatusNormalClosure, "")
	c.subscribe(t, ctx, "1", `subscription($a: String) { stockChanged(after: $a) { cursor } }`, map[string]any{"a": changeCursorOf(t, 1)})
	// Changes keep coming faster than one at a time can be delivered.
	go func() {
		for ctx.Err() == nil {
			publish(10)
			time.Sleep(time.Millisecond)
		}
	}()
	got := map[string]bool{}
	for {
		m := c.next(t, ctx)
		if m.Type == "next" {
			var e struct {
				Data struct{ StockChanged struct{ Cursor string } }
			}
			_ = json.Unmarshal(m.Payload, &e)
			got[e.Data.StockChanged.Cursor] = true
			continue
		}
		if m.Type != "error" {
			t.Fatalf("got %s %s after %d events, want an error saying the subscriber fell behind", m.Type, m.Payload, len(got))
		}
		var errs []struct {
			Message    string
			Extensions struct{ Code, ResumeAfter string }
		}
		if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) != 1 || errs[0].Extensions.Code != "FELL_BEHIND" {
			t.Fatalf("error %s, want one FELL_BEHIND", m.Payload)
		}
		if len(got) > 0 && !got[errs[0].Extensions.ResumeAfter] {
			t.Fatalf("resume after %q, which was not delivered", errs[0].Extensions.ResumeAfter)
		}
		return
	}
}

// eventually waits until cond holds, for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 5s: %s", what)
		}
	}
}

func TestIdenticalSubscriptionsRunOnce(t *testing.T) {
	g := startLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, other := g.env.Sim.World.Products[3], g.env.Sim.World.Products[4]
	same := make([]*wsClient, 5)
	for i := range same {
		same[i] = dialWS(t, ctx, g.url)
		defer same[i].conn.Close(websocket.StatusNormalClosure, "")
		same[i].subscribe(t, ctx, "1", stockSubscription, map[string]any{"skus": []string{p.SKU}})
	}
	apart := dialWS(t, ctx, g.url)
	defer apart.conn.Close(websocket.StatusNormalClosure, "")
	apart.subscribe(t, ctx, "1", stockSubscription, map[string]any{"skus": []string{p.SKU, other.SKU}})
	eventually(t, "two bus subscriptions, one per distinct subscription", func() bool { return g.executions(t) == 2 })

	g.env.Sim.ERP.ResetCounters()
	g.moveStock(t, p, 31)
	for _, c := range append(same, apart) {
		if e := c.stockEvent(t, ctx); onHandIn(e, p.Bins[0].Warehouse) != "31" {
			t.Fatalf("event %+v, want 31 on hand", e.Data.StockChanged)
		}
	}
	if n := g.env.Sim.ERP.Requests(); n != 1 {
		t.Errorf("%d ERP calls for one change, want 1", n)
	}

	// Clients leaving do not end the subscription the others share; the
	// last one leaving does.
	for _, c := range same[1:] {
		c.conn.Close(websocket.StatusNormalClosure, "")
	}
	g.moveStock(t, p, 32)
	if e := same[0].stockEvent(t, ctx); onHandIn(e, p.Bins[0].Warehouse) != "32" {
		t.Fatalf("event %+v, want 32 on hand", e.Data.StockChanged)
	}
	if e := apart.stockEvent(t, ctx); onHandIn(e, p.Bins[0].Warehouse) != "32" {
		t.Fatalf("event %+v, want 32 on hand", e.Data.StockChanged)
	}
	same[0].send(t, ctx, map[string]any{"id": "1", "type": "complete"})
	eventually(t, "one bus subscription left", func() bool { return g.executions(t) == 1 })

	// A client subscribing again after all left starts a new one.
	same[0].subscribe(t, ctx, "2", stockSubscription, map[string]any{"skus": []string{p.SKU}})
	eventually(t, "two bus subscriptions again", func() bool { return g.executions(t) == 2 })
	if made := g.metric(t, "trestle_subscription_executions_total"); made != 3 {
		t.Errorf("%v bus subscriptions made, want 3", made)
	}
}
