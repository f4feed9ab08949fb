package main

// Benchmarks of the change path, end to end over real HTTP and WebSocket:
// signed ERPNext webhooks into gateways started as the command starts them,
// stockChanged subscribers reading the events, and with NATS a real
// JetStream server in-process. Each runs its workload once:
//
//	go test -run '^$' -bench Change -benchtime 1x .

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/trestlehq/trestle/events/natstest"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/world"
)

const benchSecret = "frappe-secret"

// fanOutRate is the changes a second BenchmarkChangeThousandSubscribers sends.
var fanOutRate = flag.Int("fanout-rate", 100, "changes a second in BenchmarkChangeThousandSubscribers")

// fanOutWatch is how many of the rig's SKUs each subscriber of
// BenchmarkChangeThousandSubscribers watches; 0 for every change.
var fanOutWatch = flag.Int("fanout-watch", 0, "SKUs each subscriber watches in BenchmarkChangeThousandSubscribers (0: all changes)")

// changeRig is simulators and one or more gateways sharing a bus.
type changeRig struct {
	world    *world.World
	bins     []*world.Bin
	gateways []string
	admins   []string // each gateway's admin listener
	client   *http.Client
	start    time.Time // upstream modification times count up from here
}

func startChangeRig(b testing.TB, replicas int) *changeRig {
	b.Helper()
	simulators := sim.New(sim.Options{World: world.Options{Seed: 6, Size: world.Size{People: 40, Orders: 80, Products: 16}}})
	srv := httptest.NewServer(simulators.Handler())
	b.Cleanup(srv.Close)
	bus := ""
	if replicas > 1 {
		bus = "  nats: { url: " + natstest.Start(b) + " }\n"
	}
	path := filepath.Join(b.TempDir(), "trestle.yaml")
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
sources:
  shop: { kind: woocommerce, url: %[1]s/shop, consumerKey: ck_demo, consumerSecret: cs_demo }
  crm:  { kind: hubspot,     url: %[1]s/crm,  token: pat-demo }
  erp:  { kind: erpnext,     url: %[1]s/erp,  apiKey: demo, apiSecret: demo, timeZone: %[2]s }
auth: { anonymous: true, anonymousRoles: [FINANCE] }
events:
  replay: 20000
  webhooks: { secrets: { erp: %[3]s } }
%[4]s`, srv.URL, erpnext.TimeZone, benchSecret, bus)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &changeRig{world: simulators.World, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, start: time.Now().UTC()}
	var runs []*started
	for range replicas {
		s := startRun(b, ctx, []string{"-config", path}, "admin")
		runs = append(runs, s)
		r.gateways = append(r.gateways, s.base)
		r.admins = append(r.admins, s.admin)
	}
	b.Cleanup(func() {
		for _, s := range runs {
			s.stop(b, cancel)
		}
	})
	for _, p := range simulators.World.Products {
		r.bins = append(r.bins, p.Bins...)
	}
	return r
}

// skus are the SKUs the changes of send touch, in turn.
func (r *changeRig) skus() []string {
	out := make([]string, len(r.bins)/3)
	for i := range out {
		out[i] = r.bins[i*3].SKU
	}
	return out
}

// send posts the i-th change of a lane as the ERP's signed Bin webhook. A
// lane's changes touch its own SKUs with rising upstream times, so that
// none is a duplicate of another.
func (r *changeRig) send(gateway string, lane, lanes, i int) error {
	skus := len(r.bins) / 3
	bin := r.bins[((i*lanes+lane)%skus)*3]
	return r.webhook(gateway, bin, r.start.Add(time.Duration(i)*time.Millisecond))
}

// webhook posts the ERP's signed webhook of a bin modified at the time.
func (r *changeRig) webhook(gateway string, bin *world.Bin, modified time.Time) error {
	body, _ := json.Marshal(map[string]string{"doctype": "Bin", "name": bin.Name, "event": "on_update",
		"modified": erpnext.SiteTime(modified), "item_code": bin.SKU, "customer": "", "po_no": ""})
	mac := hmac.New(sha256.New, []byte(benchSecret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, gateway+"/webhooks/erp", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Frappe-Webhook-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
	}
	return nil
}

// subscriber follows stockChanged over graphql-transport-ws, resuming
// with its last cursor whenever its subscription or connection ends.
type subscriber struct {
	gateway string
	skus    []string          // the SKUs it watches; none for all
	wants   func(uint64) bool // whether it is to get a change; nil for all
	mu      sync.Mutex
	seen    map[uint64]time.Time // sequence -> when it first arrived
	last    uint64
	events  int // every event received, repeats after a resume included
	resumes int
	drop    chan struct{} // a send disconnects the subscriber
}

func newSubscriber(gateway string) *subscriber {
	return &subscriber{gateway: gateway, seen: map[uint64]time.Time{}, drop: make(chan struct{}, 1)}
}

const stockSubscription = `subscription($a: String, $s: [String!]) { stockChanged(skus: $s, after: $a) { cursor sku stock { warehouse onHand } } }`

// run connects and reads until ctx ends; ready is closed once the first
// subscription is sent.
func (s *subscriber) run(ctx context.Context, ready chan<- struct{}) {
	for ctx.Err() == nil {
		if err := s.session(ctx, ready); err != nil && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		ready = nil
		s.mu.Lock()
		s.resumes++
		s.mu.Unlock()
	}
}

func (s *subscriber) session(ctx context.Context, ready chan<- struct{}) error {
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.gateway, "http")+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return err
	}
	conn.SetReadLimit(1 << 20)
	defer conn.CloseNow()
	if err := wsjson.Write(ctx, conn, map[string]any{"type": "connection_init"}); err != nil {
		return err
	}
	s.mu.Lock()
	var after any
	if s.last > 0 {
		after = base64.RawURLEncoding.EncodeToString([]byte("change:" + strconv.FormatUint(s.last, 10)))
	}
	s.mu.Unlock()
	if err := wsjson.Write(ctx, conn, map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": stockSubscription, "variables": map[string]any{"a": after, "s": s.skus}}}); err != nil {
		return err
	}
	if ready != nil {
		close(ready)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.drop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// Only the type and the cursor are read, without decoding the whole
	// message, so that the clients sharing the machine with the gateway
	// take as little of it as they can.
	var msg bytes.Buffer
	for {
		_, r, err := conn.Reader(ctx)
		if err != nil {
			return err
		}
		msg.Reset()
		if _, err := msg.ReadFrom(r); err != nil {
			return err
		}
		switch m := msg.Bytes(); {
		case bytes.Contains(m, []byte(`"type":"next"`)):
			_, cursor, _ := bytes.Cut(m, []byte(`"cursor":"`))
			cursor, _, _ = bytes.Cut(cursor, []byte(`"`))
			raw, _ := base64.RawURLEncoding.DecodeString(string(cursor))
			seq, err := strconv.ParseUint(strings.TrimPrefix(string(raw), "change:"), 10, 64)
			if err != nil {
				return fmt.Errorf("cursor %q", cursor)
			}
			now := time.Now()
			s.mu.Lock()
			s.events++
			if _, ok := s.seen[seq]; !ok {
				s.seen[seq] = now
			}
			s.last = max(s.last, seq)
			s.mu.Unlock()
		case bytes.Contains(m, []byte(`"type":"complete"`)), bytes.Contains(m, []byte(`"type":"error"`)):
			return nil // fell behind or refused: resume
		}
	}
}

// startSubscribers connects n subscribers, each set up by watch (nil
// for every change), and returns once each has sent its subscription.
func startSubscribers(b *testing.B, ctx context.Context, gateway string, n int, watch func(i int, s *subscriber)) []*subscriber {
	b.Helper()
	subs := make([]*subscriber, n)
	var wg sync.WaitGroup
	for i := range subs {
		subs[i] = newSubscriber(gateway)
		if watch != nil {
			watch(i, subs[i])
		}
		ready := make(chan struct{})
		wg.Go(func() { subs[i].run(ctx, ready) })
		b.Cleanup(wg.Wait)
		<-ready
	}
	time.Sleep(200 * time.Millisecond) // the last subscriptions reach the bus
	return subs
}

// expects is how many of the sequences up to n a subscriber is to get.
func (s *subscriber) expects(n int) int {
	if s.wants == nil {
		return n
	}
	want := 0
	for seq := range uint64(n) {
		if s.wants(seq + 1) {
			want++
		}
	}
	return want
}

// waitAll waits until every subscriber has every sequence up to n it
// watches.
func waitAll(b *testing.B, subs []*subscriber, n int, within time.Duration) {
	b.Helper()
	deadline := time.Now().Add(within)
	for _, s := range subs {
		want := s.expects(n)
		for {
			s.mu.Lock()
			got := len(s.seen)
			s.mu.Unlock()
			if got >= want {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("a subscriber has %d of %d changes", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// latencies are each subscriber's delay from a change's webhook being sent
// to its event arriving, for the changes it watches; sent[i] is when the
// change numbered i+1 was sent.
func latencies(b *testing.B, subs []*subscriber, sent []time.Time) []time.Duration {
	b.Helper()
	var out []time.Duration
	for _, s := range subs {
		s.mu.Lock()
		for i, at := range sent {
			if s.wants != nil && !s.wants(uint64(i+1)) {
				continue
			}
			got, ok := s.seen[uint64(i+1)]
			if !ok {
				s.mu.Unlock()
				b.Fatalf("change %d lost", i+1)
			}
			out = append(out, got.Sub(at))
		}
		if want := s.expects(len(sent)); len(s.seen) != want {
			b.Fatalf("%d changes received, %d watched", len(s.seen), want)
		}
		s.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

func reportLatency(b *testing.B, lat []time.Duration) {
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
}

// paced sends n changes with send at rate a second, one after another,
// and returns when each was due: a sender held up by a busy gateway does
// not hide the delay from the latencies.
func paced(b *testing.B, n, rate int, send func(i int) error) []time.Time {
	b.Helper()
	sent := make([]time.Time, n)
	t0 := time.Now()
	for i := range n {
		sent[i] = t0.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if d := time.Until(sent[i]); d > 0 {
			time.Sleep(d)
		}
		if err := send(i); err != nil {
			b.Fatal(err)
		}
	}
	return sent
}

// BenchmarkChangeWebhookToSubscriber: 1,000 changes at 100 a second, one
// subscriber; on one replica, and across two through NATS (webhooks to
// the first, the subscriber on the second).
func BenchmarkChangeWebhookToSubscriber(b *testing.B) {
	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			r := startChangeRig(b, replicas)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			subs := startSubscribers(b, ctx, r.gateways[replicas-1], 1, nil)
			b.ResetTimer()
			sent := paced(b, 1000, 100, func(i int) error { return r.send(r.gateways[0], 0, 1, i) })
			waitAll(b, subs, len(sent), 10*time.Second)
			b.StopTimer()
			reportLatency(b, latencies(b, subs, sent))
		})
	}
}

// BenchmarkChangeThousandSubscribers: 1,000 subscribers on one replica,
// 100 changes a second (-fanout-rate) for 10 seconds; every subscriber
// must get every change it watches: all of them, or with -fanout-watch N
// those of N of the 16 SKUs the changes touch in turn (subscriber i
// watches SKUs i to i+N-1). Peak heap is the whole test process: gateway,
// simulators and the 1,000 clients.
func BenchmarkChangeThousandSubscribers(b *testing.B) {
	r := startChangeRig(b, 1)
	var watch func(int, *subscriber)
	if n := *fanOutWatch; n > 0 {
		skus := r.skus()
		watch = func(i int, s *subscriber) {
			watched := map[uint64]bool{}
			for k := range n {
				watched[uint64((i+k)%len(skus))] = true
				s.skus = append(s.skus, skus[(i+k)%len(skus)])
			}
			// The change numbered seq touches SKU (seq-1) mod 16 (see send).
			s.wants = func(seq uint64) bool { return watched[(seq-1)%uint64(len(skus))] }
		}
	}
	gateway := r.gateways[0]
	fanOut(b, gateway, watch, func(i int) error { return r.send(gateway, 0, 1, i) })
}

// BenchmarkChangeFanOutCeiling is BenchmarkChangeThousandSubscribers with
// the gateway replaced by the least a server can do: the ceiling this
// machine puts on delivering events to 1,000 WebSocket clients in the
// same process.
func BenchmarkChangeFanOutCeiling(b *testing.B) {
	c := &ceiling{done: make(chan struct{})}
	srv := httptest.NewServer(c)
	b.Cleanup(srv.Close)
	b.Cleanup(func() { close(c.done) })
	fanOut(b, srv.URL, nil, c.broadcast)
}

// ceiling speaks just enough graphql-transport-ws to push a stock event,
// encoded once per change and the size of the gateway's, to every
// subscriber: no GraphQL, no bus, no upstream.
type ceiling struct {
	mu      sync.Mutex
	clients []chan []byte
	done    chan struct{}
}

func (c *ceiling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	for range 2 { // connection_init, subscribe
		if _, _, err := conn.Read(r.Context()); err != nil {
			return
		}
	}
	events := make(chan []byte, 1024)
	c.mu.Lock()
	c.clients = append(c.clients, events)
	c.mu.Unlock()
	for {
		select {
		case e := <-events:
			if conn.Write(r.Context(), websocket.MessageText, e) != nil {
				return
			}
		case <-c.done:
			return
		}
	}
}

// broadcast sends the change numbered i+1 to every subscriber.
func (c *ceiling) broadcast(i int) error {
	cursor := base64.RawURLEncoding.EncodeToString([]byte("change:" + strconv.Itoa(i+1)))
	e := fmt.Appendf(nil, `{"payload":{"data":{"stockChanged":{"cursor":%q,"sku":"SKU-%04d","stock":[`+
		`{"warehouse":"Stores - TD","onHand":"17"},{"warehouse":"Finished Goods - TD","onHand":"4"},`+
		`{"warehouse":"Work In Progress - TD","onHand":"0"}]}}},"id":"1","type":"next"}`, cursor, i%16)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, events := range c.clients {
		events <- e
	}
	return nil
}

// fanOut connects 1,000 subscribers to url, each set up by watch, sends
// 10 seconds of changes at -fanout-rate with send, and reports the
// latencies and the peak heap.
func fanOut(b *testing.B, url string, watch func(int, *subscriber), send func(i int) error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subs := startSubscribers(b, ctx, url, 1000, watch)
	var peak uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
	}()
	b.ResetTimer()
	sent := paced(b, 10**fanOutRate, *fanOutRate, send)
	waitAll(b, subs, len(sent), 60*time.Second)
	b.StopTimer()
	close(stopSampling)
	<-sampled
	reportLatency(b, latencies(b, subs, sent))
	resumes := 0
	for _, s := range subs {
		resumes += s.resumes
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(resumes), "resumes")
}

// BenchmarkChangeResumeUnderDisconnects: 10,000 changes through webhooks,
// four senders at once, while 50 subscribers drop their connection at
// random and resume with their last cursor; each must end with every
// change, once after de-duplication by sequence.
func BenchmarkChangeResumeUnderDisconnects(b *testing.B) {
	const changes, lanes = 10_000, 4
	r := startChangeRig(b, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subs := startSubscribers(b, ctx, r.gateways[0], 50, nil)
	chaos, stopChaos := context.WithCancel(ctx)
	var chaosDone sync.WaitGroup
	for _, s := range subs {
		chaosDone.Go(func() {
			for {
				select {
				case <-chaos.Done():
					return
				case <-time.After(time.Duration(50+rand.IntN(450)) * time.Millisecond):
				}
				select {
				case s.drop <- struct{}{}:
				default:
				}
			}
		})
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for lane := range lanes {
		wg.Go(func() {
			for i := range changes / lanes {
				if err := r.send(r.gateways[0], lane, lanes, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	stopChaos()
	chaosDone.Wait()
	waitAll(b, subs, changes, 30*time.Second)
	b.StopTimer()
	resumes, events := 0, 0
	for _, s := range subs {
		s.mu.Lock()
		for seq := range uint64(changes) {
			if _, ok := s.seen[seq+1]; !ok {
				b.Fatalf("change %d lost", seq+1)
			}
		}
		if len(s.seen) != changes {
			b.Fatalf("%d distinct changes, want %d", len(s.seen), changes)
		}
		resumes += s.resumes
		events += s.events
		s.mu.Unlock()
	}
	b.ReportMetric(float64(resumes)/float64(len(subs)), "resumes/sub")
	b.ReportMetric(float64(events-changes*len(subs)), "repeats")
}
