package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/govalues/decimal"

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

// setStock sets a bin's stock in the simulated ERP and sends the ERP's
// signed webhook for it to a gateway.
func (r *changeRig) setStock(t *testing.T, bin *world.Bin, onHand int64, gateway string) {
	t.Helper()
	r.world.Lock()
	bin.Actual = decimal.MustNew(onHand, 0)
	bin.Modified = time.Now().UTC()
	modified := bin.Modified
	r.world.Unlock()
	if err := r.webhook(gateway, bin, modified); err != nil {
		t.Fatal(err)
	}
}

func changeCursor(seq int) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "change:%d", seq))
}

func TestReplicasShareChangesThroughNATS(t *testing.T) {
	r := startChangeRig(t, 2)
	a, b := r.gateways[0], r.gateways[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	p := r.world.Products[3]
	bin := p.Bins[0]
	// A first change, so that the subscribers below resume after it and
	// cannot miss the second however long they take to subscribe.
	r.setStock(t, bin, 700, a)
	subA := subscribeStock(t, ctx, a, p.SKU, changeCursor(1))
	subB := subscribeStock(t, ctx, b, p.SKU, changeCursor(1))
	for name, base := range map[string]string{"a": a, "b": b} {
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
	r.setStock(t, bin, 777, a)
	wait, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	for name, s := range map[string]*stockSubscriber{"a": subA, "b": subB} {
		cursor, qty := s.onHand(t, wait, bin.Warehouse)
		if qty != "777" || cursor != changeCursor(2) {
			t.Errorf("replica %s: event %s at %s, want 777 at the stream's second change", name, qty, cursor)
		}
	}
	for name, base := range map[string]string{"a": a, "b": b} {
		if got := stockOnHand(t, base, p.SKU, bin.Warehouse); got != "777" {
			t.Errorf("replica %s serves %s after the change, want 777: its cache was not invalidated", name, got)
		}
	}
	// Each replica counts the event it handed on (its subscriber resumed
	// after the first change), and its lag.
	for i, admin := range r.admins {
		resp, err := http.Get(admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`trestle_changes_total{kind="stock",stage="delivered",system="erp"} 1`, `trestle_change_lag_seconds_count{system="erp"} 1`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("replica %d's /metrics has no %s", i, want)
			}
		}
	}
}
