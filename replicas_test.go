package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/govalues/decimal"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

// stockSubscriber reads stockChanged events over graphql-transport-ws.
type stockSubscriber struct {
	conn *websocket.Conn
}

func subscribeStock(t *testing.T, ctx context.Context, base, sku, after string) *stockSubscriber {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	s := &stockSubscriber{conn: conn}
	s.send(t, ctx, map[string]any{"type": "connection_init"})
	if m := s.next(t, ctx); m.Type != "connection_ack" {
		t.Fatalf("got %s, want connection_ack", m.Type)
	}
	s.send(t, ctx, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($s: [String!], $a: String) { stockChanged(skus: $s, after: $a) { cursor sku stock { warehouse onHand } } }`,
		"variables": map[string]any{"s": []string{sku}, "a": after}}})
	return s
}

type message struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func (s *stockSubscriber) send(t *testing.T, ctx context.Context, m any) {
	t.Helper()
	if err := wsjson.Write(ctx, s.conn, m); err != nil {
		t.Fatal(err)
	}
}

func (s *stockSubscriber) next(t *testing.T, ctx context.Context) message {
	t.Helper()
	for {
		var m message
		if err := wsjson.Read(ctx, s.conn, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "ping" && m.Type != "pong" {
			return m
		}
	}
}

// onHand reads the next event's on-hand quantity in the warehouse.
func (s *stockSubscriber) onHand(t *testing.T, ctx context.Context, warehouse string) (cursor, qty string) {
	t.Helper()
	m := s.next(t, ctx)
	var e struct {
		Data struct {
			StockChanged struct {
				Cursor string
				Stock  []struct{ Warehouse, OnHand string }
			}
		}
	}
	if err := json.Unmarshal(m.Payload, &e); m.Type != "next" || err != nil {
		t.Fatalf("got %s %s, want an event", m.Type, m.Payload)
	}
	for _, st := range e.Data.StockChanged.Stock {
		if st.Warehouse == warehouse {
			return e.Data.StockChanged.Cursor, st.OnHand
		}
	}
	t.Fatalf("event %s has no stock in %s", m.Payload, warehouse)
	return "", ""
}

// stockOnHand queries a gateway for the SKU's on-hand quantity in the warehouse.
func stockOnHand(t *testing.T, base, sku, warehouse string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": `query($s: [String!]!) { stock(skus: $s) { warehouse onHand } }`,
		"variables": map[string]any{"s": []string{sku}}})
	resp, err := http.Post(base+"/query", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Stock []struct{ Warehouse, OnHand string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	for _, st := range r.Data.Stock {
		if st.Warehouse == warehouse {
			return st.OnHand
		}
	}
	t.Fatalf("no stock of %s in %s", sku, warehouse)
	return ""
}

// binWebhook sets a bin's stock in the simulated ERP and sends the ERP's
// signed webhook for it to a gateway.
func binWebhook(t *testing.T, w *world.World, b *world.Bin, onHand int64, secret, gateway string) {
	t.Helper()
	w.Lock()
	b.Actual = decimal.MustNew(onHand, 0)
	b.Modified = time.Now().UTC()
	body, _ := json.Marshal(map[string]string{"doctype": "Bin", "name": b.Name, "event": "on_update",
		"modified": b.Modified.In(erpnext.Location()).Format("2006-01-02 15:04:05.000000"), "item_code": b.SKU, "customer": "", "po_no": ""})
	w.Unlock()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, gateway+"/webhooks/erp", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Frappe-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: HTTP %d", resp.StatusCode)
	}
}

func startNATS(t testing.TB) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
}

func changeCursor(seq int) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "change:%d", seq))
}

func TestReplicasShareChangesThroughNATS(t *testing.T) {
	simulators := sim.New(sim.Options{World: world.Options{Seed: 4, Size: world.Size{People: 40, Orders: 80, Products: 10}}})
	srv := httptest.NewServer(simulators.Handler())
	defer srv.Close()
	const secret = "frappe-secret"
	path := filepath.Join(t.TempDir(), "trestle.yaml")
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
sources:
  shop: { kind: woocommerce, url: %[1]s/shop, consumerKey: ck_demo, consumerSecret: cs_demo }
  crm:  { kind: hubspot,     url: %[1]s/crm,  token: pat-demo }
  erp:  { kind: erpnext,     url: %[1]s/erp,  apiKey: demo, apiSecret: demo, timeZone: %[2]s }
events:
  webhooks: { secrets: { erp: %[3]s } }
  nats: { url: %[4]s }
`, srv.URL, erpnext.TimeZone, secret, startNATS(t))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := startRun(t, ctx, []string{"-config", path}, "GraphQL")
	defer a.stop(t, cancel)
	b := startRun(t, ctx, []string{"-config", path}, "GraphQL")

	w := simulators.World
	p := w.Products[3]
	bin := p.Bins[0]
	// A first change, so that the subscribers below resume after it and
	// cannot miss the second however long they take to subscribe.
	binWebhook(t, w, bin, 700, secret, a.base)
	subA := subscribeStock(t, ctx, a.base, p.SKU, changeCursor(1))
	subB := subscribeStock(t, ctx, b.base, p.SKU, changeCursor(1))
	for name, base := range map[string]string{"a": a.base, "b": b.base} {
		deadline := time.Now().Add(5 * time.Second)
		for stockOnHand(t, base, p.SKU, bin.Warehouse) != "700" { // and now cached
			if time.Now().After(deadline) {
				t.Fatalf("replica %s never served the first change", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The second change reaches replica a only; both replicas' subscribers
	// get it, with the fresh value, and both caches serve it.
	binWebhook(t, w, bin, 777, secret, a.base)
	wait, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	for name, s := range map[string]*stockSubscriber{"a": subA, "b": subB} {
		cursor, qty := s.onHand(t, wait, bin.Warehouse)
		if qty != "777" || cursor != changeCursor(2) {
			t.Errorf("replica %s: event %s at %s, want 777 at the stream's second change", name, qty, cursor)
		}
	}
	for name, base := range map[string]string{"a": a.base, "b": b.base} {
		if got := stockOnHand(t, base, p.SKU, bin.Warehouse); got != "777" {
			t.Errorf("replica %s serves %s after the change, want 777: its cache was not invalidated", name, got)
		}
	}
	b.stop(t, cancel)
}
