package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/trestlehq/trestle/resolvers"
)

// transportWS is the graphql-transport-ws subprotocol.
const transportWS = "graphql-transport-ws"

// graphql-transport-ws close codes.
const (
	closeBadRequest   websocket.StatusCode = 4400
	closeUnauthorized websocket.StatusCode = 4401
	closeForbidden    websocket.StatusCode = 4403
	closeInitTimeout  websocket.StatusCode = 4408
	closeDuplicateID  websocket.StatusCode = 4409
	closeTooManyInits websocket.StatusCode = 4429
)

// webSocket serves GraphQL over WebSocket in the graphql-transport-ws
// protocol: subscriptions, and queries and mutations too. Each event's
// response is written as it is, without encoding it again per client,
// which is what lets one replica deliver a change to thousands of
// subscribers; a client that stops reading is disconnected instead of
// holding its writers.
type webSocket struct {
	// Origins are the allowed browser origins besides the gateway's own.
	Origins []string
	// InitTimeout is how long a client has to send connection_init.
	InitTimeout time.Duration
	// KeepAlive is how often the server pings an idle client.
	KeepAlive time.Duration
	// WriteTimeout is how long one write may wait for a client to read.
	WriteTimeout time.Duration
	// ReadLimit is the largest message a client may send.
	ReadLimit int64
	// closing ends when the gateway closes (Gateway.Close).
	closing context.Context
	// Init accepts a connection_init payload (with the upgrade request's
	// headers) and returns the context the connection's operations run
	// in, or an error to refuse it (4403).
	Init func(ctx context.Context, payload map[string]any, upgrade http.Header) (context.Context, error)
}

// Supports takes the WebSocket upgrades asking for graphql-transport-ws;
// others (the older graphql-ws) are left to the next transport.
func (t *webSocket) Supports(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(p) == transportWS {
				return true
			}
		}
	}
	return false
}

// wsMessage is a graphql-transport-ws message from a client.
type wsMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// wsConn is one client connection.
type wsConn struct {
	t       *webSocket
	conn    *websocket.Conn
	exec    graphql.GraphExecutor
	headers http.Header

	writeMu sync.Mutex
	writing atomic.Int64 // when the write in progress began (UnixNano); 0 when none

	mu     sync.Mutex
	active map[string]*wsOperation // the running operations by id
	ops    sync.WaitGroup
}

// wsOperation is a running operation.
type wsOperation struct {
	cancel context.CancelFunc
}

func (t *webSocket) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{transportWS}, OriginPatterns: t.Origins})
	if err != nil {
		return // Accept has answered (403 for a foreign origin)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(t.ReadLimit)
	c := &wsConn{t: t, conn: conn, exec: exec, headers: r.Header, active: map[string]*wsOperation{}}
	ctx, cancel := context.WithCancel(r.Context())
	// Shutdown does not wait for hijacked connections: they end, going
	// away, when the gateway closes.
	stop := context.AfterFunc(t.closing, func() { _ = conn.Close(websocket.StatusGoingAway, "the server is shutting down") })
	defer stop()
	defer func() {
		cancel()
		_ = conn.CloseNow() // a write stalled on the client ends too
		c.ops.Wait()
	}()
	go c.watch(ctx)
	code, reason := c.serve(ctx)
	if code != 0 {
		_ = conn.Close(code, reason)
	}
}

// serve reads the client's messages until the connection ends, and
// returns the close code a protocol violation calls for (0 for none).
func (c *wsConn) serve(ctx context.Context) (websocket.StatusCode, string) {
	initTimer := time.AfterFunc(c.t.InitTimeout, func() {
		_ = c.conn.Close(closeInitTimeout, "Connection initialisation timeout")
	})
	defer initTimer.Stop()
	acked := false
	for {
		typ, data, err := c.conn.Read(ctx)
		if err != nil {
			return 0, "" // closed, by the client or by this side, or over the read limit (closed as too big)
		}
		var m wsMessage
		if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil || m.Type == "" {
			return closeBadRequest, "Invalid message received"
		}
		switch m.Type {
		case "connection_init":
			if !initTimer.Stop() || acked {
				return closeTooManyInits, "Too many initialisation requests"
			}
			var payload map[string]any
			if len(m.Payload) > 0 && string(m.Payload) != "null" && json.Unmarshal(m.Payload, &payload) != nil {
				return closeBadRequest, "The connection_init payload is not an object"
			}
			opCtx, err := c.t.Init(ctx, payload, c.headers)
			if err != nil {
				return closeForbidden, clip(err.Error())
			}
			ctx = opCtx
			acked = true
			c.write([]byte(`{"type":"connection_ack"}`))
		case "ping":
			c.write(pong(m.Payload))
		case "pong":
		case "subscribe":
			if !acked {
				return closeUnauthorized, "Unauthorized"
			}
			if m.ID == "" {
				return closeBadRequest, "Subscribe without an id"
			}
			if !c.start(ctx, m) {
				return closeDuplicateID, clip("Subscriber for " + m.ID + " already exists")
			}
		case "complete":
			c.mu.Lock()
			if op, ok := c.active[m.ID]; ok {
				op.cancel()
				delete(c.active, m.ID) // no complete is sent back
			}
			c.mu.Unlock()
		default:
			return closeBadRequest, clip("Unknown message type " + m.Type)
		}
	}
}

// start runs an operation; false when its id is already running.
func (c *wsConn) start(ctx context.Context, m wsMessage) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.active[m.ID]; ok {
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	op := &wsOperation{cancel: cancel}
	c.active[m.ID] = op
	c.ops.Go(func() {
		defer cancel()
		c.operation(ctx, m)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.active[m.ID] == op { // not completed by the client and its id reused
			delete(c.active, m.ID)
		}
	})
	return true
}

// operation runs one operation and writes its responses: next for each,
// then complete, or error when it could not run or ended in one.
func (c *wsConn) operation(ctx context.Context, m wsMessage) {
	ctx = graphql.StartOperationTrace(ctx)
	start := graphql.Now()
	params := &graphql.RawParams{Headers: c.headers}
	if err := json.Unmarshal(m.Payload, params); err != nil {
		c.sendErrors(m.ID, gqlerror.List{{Message: "the subscribe payload is not a GraphQL request: " + err.Error()}})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	op, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		c.sendErrors(m.ID, c.exec.DispatchError(graphql.WithOperationContext(ctx, op), errs).Errors)
		return
	}
	var ended *gqlerror.Error
	ctx = resolvers.ReportEndTo(graphql.WithOperationContext(ctx, op), func(err *gqlerror.Error) { ended = err })
	defer func() {
		if r := recover(); r != nil {
			c.sendErrors(m.ID, gqlerror.List{gqlerror.WrapIfUnwrapped(op.Recover(ctx, r))})
		}
	}()
	responses, opCtx := c.exec.DispatchOperation(ctx, op)
	next := `{"id":` + quote(m.ID) + `,"type":"next","payload":`
	var msg []byte // reused: a write has copied it when it returns
	for {
		r := responses(opCtx)
		if r == nil {
			break
		}
		var err error
		if msg, err = appendResponse(append(msg[:0], next...), r); err != nil {
			c.sendErrors(m.ID, gqlerror.List{{Message: "the response could not be encoded"}})
			return
		}
		if !c.write(append(msg, '}')) {
			return
		}
	}
	switch {
	case ended != nil:
		c.sendErrors(m.ID, gqlerror.List{ended})
	case ctx.Err() == nil:
		c.write([]byte(`{"id":` + quote(m.ID) + `,"type":"complete"}`))
	}
}

// appendResponse appends a response's JSON to b.
func appendResponse(b []byte, r *graphql.Response) ([]byte, error) {
	head, data, tail, err := responseParts(r)
	if err != nil {
		return nil, err
	}
	return append(append(append(b, head...), data...), tail...), nil
}

// responseParts are a response's JSON in three parts, to be written one
// after another: what comes before its data, its data, and the rest. The
// data, the bulk of it, is the executor's own bytes, never copied.
func responseParts(r *graphql.Response) (head, data, tail []byte, err error) {
	head = append(head, '{')
	if len(r.Errors) > 0 {
		errs, err := json.Marshal(r.Errors)
		if err != nil {
			return nil, nil, nil, err
		}
		head = append(append(append(head, `"errors":`...), errs...), ',')
	}
	head = append(head, `"data":`...)
	data = r.Data
	if len(data) == 0 {
		data = []byte("null")
	}
	for _, f := range []struct {
		name string
		v    any
		set  bool
	}{
		{"label", r.Label, r.Label != ""},
		{"path", r.Path, r.Path != nil},
		{"hasNext", r.HasNext, r.HasNext != nil},
		{"extensions", r.Extensions, len(r.Extensions) > 0},
	} {
		if !f.set {
			continue
		}
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, nil, nil, err
		}
		tail = append(append(tail, `,"`+f.name+`":`...), v...)
	}
	return head, data, append(tail, '}'), nil
}

func (c *wsConn) sendErrors(id string, errs gqlerror.List) {
	payload, err := json.Marshal(errs)
	if err != nil {
		payload = []byte(`[{"message":"internal error"}]`)
	}
	c.write(slices.Concat([]byte(`{"id":`+quote(id)+`,"type":"error","payload":`), payload, []byte("}")))
}

// write sends a message; false once the connection is gone.
func (c *wsConn) write(msg []byte) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.writing.Store(time.Now().UnixNano())
	err := c.conn.Write(context.Background(), websocket.MessageText, msg)
	c.writing.Store(0)
	return err == nil
}

// watch pings an idle client now and then, and closes the connection of
// one that has stopped reading: a write waiting longer than WriteTimeout.
func (c *wsConn) watch(ctx context.Context) {
	tick := time.NewTicker(min(c.t.KeepAlive, c.t.WriteTimeout/2))
	defer tick.Stop()
	lastPing := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if began := c.writing.Load(); began != 0 && now.Sub(time.Unix(0, began)) > c.t.WriteTimeout {
				_ = c.conn.CloseNow()
				return
			}
			if now.Sub(lastPing) >= c.t.KeepAlive && c.writeMu.TryLock() {
				c.writeMu.Unlock()
				lastPing = now
				c.write([]byte(`{"type":"ping"}`))
			}
		}
	}
}

// pong answers a ping, with its payload.
func pong(payload json.RawMessage) []byte {
	if len(payload) == 0 {
		return []byte(`{"type":"pong"}`)
	}
	return slices.Concat([]byte(`{"type":"pong","payload":`), payload, []byte("}"))
}

// quote is s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// clip keeps a close reason within the 123 bytes a close frame allows.
func clip(reason string) string {
	if len(reason) > 123 {
		return reason[:120] + "..."
	}
	return reason
}
