package app_test

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

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/world"
)

const shopSecret = "wc-secret"

// TestAnEventWhoseRecordCannotBeReadCarriesTheFailure: a change to an
// order arrives while the shop is down. Its subscribers get the event,
// the order null with the shop's failure on that path, not nothing.
func TestAnEventWhoseRecordCannotBeReadCarriesTheFailure(t *testing.T) {
	s := sim.New(sim.Options{World: world.Options{Seed: 4, Size: world.Size{People: 30, Orders: 60, Products: 8}}})
	upstreams := httptest.NewServer(s.Handler())
	defer upstreams.Close()
	cfg := config.Default()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "off"
	cfg.Sources = s.Sources(upstreams.URL)
	cfg.Sources.Shop.Breaker.Failures = 1000 // the failure itself, not the breaker's
	cfg.Events.Webhooks.Secrets.Shop = shopSecret
	cfg.Auth = config.Auth{Anonymous: true, AnonymousRoles: config.Roles}
	cfg.RequestTimeout = time.Second
	a := running(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	type message struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	send := func(m any) {
		if err := wsjson.Write(ctx, conn, m); err != nil {
			t.Fatal(err)
		}
	}
	next := func() message {
		for {
			var m message
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type != "ping" {
				return m
			}
		}
	}
	send(map[string]any{"type": "connection_init"})
	if m := next(); m.Type != "connection_ack" {
		t.Fatalf("got %s, want connection_ack", m.Type)
	}
	send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { orderChanged(status: [COMPLETED]) { cursor op order { number status } } }`}})

	// Idle for longer than an operation may take: a subscription waits for
	// its next event as long as it takes.
	time.Sleep(2 * cfg.RequestTimeout)
	s.Upstream(model.SystemShop).SetFaults(sim.Faults{Down: true})
	// The order changes until the subscriber has heard of it (the first
	// change may come before the subscription is in place).
	changed, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for at := time.Now().UTC(); changed.Err() == nil; at = at.Add(time.Second) {
			body := `{"id":` + strconv.FormatInt(s.World.Orders[0].ID, 10) + `,"status":"completed","customer_id":0,"date_modified_gmt":"` +
				at.Format("2006-01-02T15:04:05") + `"}`
			mac := hmac.New(sha256.New, []byte(shopSecret))
			mac.Write([]byte(body))
			req, _ := http.NewRequestWithContext(changed, http.MethodPost, a.URL()+"/webhooks/shop", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-WC-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
			req.Header.Set("X-WC-Webhook-Topic", "order.updated")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			select {
			case <-changed.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	m := next()
	stop()
	var event struct {
		Data struct {
			OrderChanged struct {
				Cursor string
				Op     string
				Order  json.RawMessage
			}
		}
		Errors []struct {
			Path       []any
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(m.Payload, &event); err != nil || m.Type != "next" {
		t.Fatalf("got %s %s, want the event", m.Type, m.Payload)
	}
	if string(event.Data.OrderChanged.Order) != "null" || event.Data.OrderChanged.Cursor == "" || len(event.Errors) != 1 ||
		event.Errors[0].Extensions["code"] != "UPSTREAM_UNAVAILABLE" || event.Errors[0].Extensions["source"] != "shop" ||
		len(event.Errors[0].Path) != 2 || event.Errors[0].Path[1] != "order" {
		t.Fatalf("event %s, want the order null with the shop's failure at orderChanged.order", m.Payload)
	}
}
