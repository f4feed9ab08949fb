package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/trestlehq/trestle/config"
)

// dialRaw opens a graphql-transport-ws socket without initialising it.
func dialRaw(t *testing.T, ctx context.Context, url string) *wsClient {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{conn: conn}
}

// closedWith reads until the server closes the socket and returns the
// close code and reason.
func (c *wsClient) closedWith(t *testing.T, ctx context.Context) (websocket.StatusCode, string) {
	t.Helper()
	for {
		_, _, err := c.conn.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read ended with %v, want a close frame", err)
		}
		return ce.Code, ce.Reason
	}
}

func TestWebSocketProtocolViolationsCloseTheSocket(t *testing.T) {
	g := startLive(t, func(c *config.Config) { c.WebSocket.InitTimeout = 100 * time.Millisecond })
	init := map[string]any{"type": "connection_init"}
	subscribe := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { stockChanged { cursor } }`}}
	for _, tc := range []struct {
		name string
		send []any
		code websocket.StatusCode
	}{
		{"no connection_init in time", nil, 4408},
		{"subscribe before connection_init", []any{subscribe}, 4401},
		{"two connection_inits", []any{init, init}, 4429},
		{"the same id twice", []any{init, subscribe, subscribe}, 4409},
		{"an unknown message type", []any{init, map[string]any{"type": "start", "id": "1"}}, 4400},
		{"a subscribe without an id", []any{init, map[string]any{"type": "subscribe", "payload": map[string]any{"query": "{ __typename }"}}}, 4400},
		{"not JSON", []any{"{type: connection_init"}, 4400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c := dialRaw(t, ctx, g.url)
			for _, m := range tc.send {
				if raw, ok := m.(string); ok {
					if err := c.conn.Write(ctx, websocket.MessageText, []byte(raw)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				c.send(t, ctx, m)
			}
			if code, reason := c.closedWith(t, ctx); code != tc.code {
				t.Fatalf("closed with %d %q, want %d", code, reason, tc.code)
			}
		})
	}
}

func TestWebSocketPingQueryErrorAndComplete(t *testing.T) {
	g := startLive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := dialWS(t, ctx, g.url)
	defer c.conn.Close(websocket.StatusNormalClosure, "")

	c.send(t, ctx, map[string]any{"type": "ping", "payload": map[string]any{"n": 7}})
	var m wsMessage
	if err := readJSON(ctx, c.conn, &m); err != nil || m.Type != "pong" || string(m.Payload) != `{"n":7}` {
		t.Fatalf("got %+v (%v), want a pong with the ping's payload", m, err)
	}

	// A query runs once: next, then complete.
	c.subscribe(t, ctx, "q", `{ __typename }`, nil)
	if m := c.next(t, ctx); m.ID != "q" || m.Type != "next" || string(m.Payload) != `{"data":{"__typename":"Query"}}` {
		t.Fatalf("got %+v, want the query's result", m)
	}
	if m := c.next(t, ctx); m.ID != "q" || m.Type != "complete" {
		t.Fatalf("got %+v, want complete", m)
	}

	// An operation that does not validate is an error message, not
	// followed by complete; the socket stays open.
	c.subscribe(t, ctx, "bad", `subscription { stockChanged { nope } }`, nil)
	m = c.next(t, ctx)
	var errs []struct{ Message string }
	if m.ID != "bad" || m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) == 0 ||
		!strings.Contains(errs[0].Message, "nope") {
		t.Fatalf("got %s %s, want an error naming the unknown field", m.Type, m.Payload)
	}

	// A subscription the client completes sends nothing more, and its id
	// can be used again.
	p := g.env.Sim.World.Products[0]
	c.subscribe(t, ctx, "s", `subscription { stockChanged { sku } }`, nil)
	eventually(t, "the subscription is in place", func() bool { return g.executions(t) == 1 })
	g.moveStock(t, p, 41)
	if m := c.next(t, ctx); m.ID != "s" || m.Type != "next" {
		t.Fatalf("got %+v, want an event", m)
	}
	c.send(t, ctx, map[string]any{"id": "s", "type": "complete"})
	eventually(t, "the subscription has ended", func() bool { return g.executions(t) == 0 })
	g.moveStock(t, p, 42)
	c.subscribe(t, ctx, "s", `{ __typename }`, nil)
	if m := c.next(t, ctx); m.ID != "s" || m.Type != "next" || !strings.Contains(string(m.Payload), "Query") {
		t.Fatalf("got %s %s, want the query's result and no event of the completed subscription", m.Type, m.Payload)
	}
}

func readJSON(ctx context.Context, conn *websocket.Conn, into any) error {
	_, data, err := conn.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, into)
}

// smallBuffers is a listener whose connections send through a small
// socket buffer, so that a client that stops reading is felt at once.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetWriteBuffer(4096)
	}
	return conn, err
}

func TestAClientThatStopsReadingIsDisconnected(t *testing.T) {
	g := start(t, liveWorld, func(c *config.Config) { c.WebSocket.WriteTimeout, c.Introspection = 200*time.Millisecond, true })
	// The gateway's handler, served on a listener of the test's own.
	srv := httptest.NewUnstartedServer(g.app.Handler())
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The client's receive buffer is small too.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/query", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	c := &wsClient{conn: conn}
	c.send(t, ctx, map[string]any{"type": "connection_init"})
	if m := c.next(t, ctx); m.Type != "connection_ack" {
		t.Fatalf("got %+v, want connection_ack", m)
	}
	// The client asks for far more than the buffers hold and reads none
	// of it: the server gives up on it.
	for i := range 20 {
		c.subscribe(t, ctx, strconv.Itoa(i), `{ __schema { types { name description fields { name description type { name } } } } }`, nil)
	}
	time.Sleep(time.Second)
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the connection is still open")
			}
			return
		}
	}
}
