package events

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/events/natstest"
	"github.com/trestlehq/trestle/graph/model"
)

// stages records what a pipeline's apply stage did, and lets a test hold
// the directory refreshes up.
type stages struct {
	mu          sync.Mutex
	invalidated []string
	refreshed   []string
	hold        chan struct{} // refreshes wait for it while it is open
	entered     chan string   // told of each refresh as it starts, when set
}

func (s *stages) options(open func(func(Change)) (Bus, error)) PipelineOptions {
	return PipelineOptions{
		OpenBus:  open,
		Remember: 100,
		Invalidate: func(c Change) {
			s.mu.Lock()
			s.invalidated = append(s.invalidated, c.Key)
			s.mu.Unlock()
		},
		Refresh: func(ctx context.Context, _ model.System, key string) error {
			if s.entered != nil {
				s.entered <- key
			}
			select {
			case <-s.hold:
			case <-ctx.Done():
				return ctx.Err()
			}
			s.mu.Lock()
			s.refreshed = append(s.refreshed, key)
			s.mu.Unlock()
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func (s *stages) seen() (invalidated, refreshed []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.invalidated...), append([]string(nil), s.refreshed...)
}

func customerChange(key string, at int) Change {
	return Change{System: model.SystemCRM, Kind: KindCustomer, Key: key, Op: OpUpdated,
		At: time.Date(2026, 11, 24, 12, 0, at, 0, time.UTC)}
}

func TestPipelineStagesInOrder(t *testing.T) {
	s := &stages{hold: make(chan struct{}), entered: make(chan string, 10)}
	p, err := NewPipeline(s.options(func(apply func(Change)) (Bus, error) { return NewMemory(100, 100, apply), nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { p.Run(ctx) })
	defer func() { cancel(); running.Wait() }()
	sub, err := p.Bus().Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}

	// A customer's change is published while the directory refresh it
	// queues is held up: the bus does not wait for it.
	if err := p.Sink()(ctx, []Change{customerChange("a", 1)}); err != nil {
		t.Fatal(err)
	}
	if key := <-s.entered; key != "a" {
		t.Fatalf("refreshing %s, want a", key)
	}
	// A repeat is dropped; newer changes to a, and one to b, queue behind
	// the refresh that is held up.
	for _, batch := range [][]Change{
		{customerChange("a", 1)},
		{customerChange("a", 2), customerChange("b", 2)},
		{customerChange("a", 3)},
		{customerChange("a", 0)}, // older than one taken
	} {
		if err := p.Sink()(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if got := take(t, sub, 4); !equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("subscriber got %v, want the four new changes in order", got)
	}
	// Every change the subscriber saw had its cache entries dropped first.
	if invalidated, refreshed := s.seen(); strings.Join(invalidated, ",") != "a,a,b,a" || len(refreshed) != 0 {
		t.Fatalf("invalidated %v, refreshed %v; want a,a,b,a invalidated and no refresh done yet", invalidated, refreshed)
	}
	close(s.hold)
	// The first refresh of a, then the queue: a once for its two later
	// changes, and b.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, refreshed := s.seen()
		if strings.Join(refreshed, ",") == "a,a,b" {
			break
		}
		if time.Now().After(deadline) || len(refreshed) > 3 {
			t.Fatalf("refreshed %v, want a, then a and b merged from the queue", refreshed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// downBus is a bus that cannot store anything: disconnected, or
// connected and never acknowledging.
type downBus struct {
	Memory
	connected bool
}

func (b *downBus) Connected() bool { return b.connected }

func (b *downBus) Publish(ctx context.Context, _ []Change) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestPipelineRefusesWhatTheBusDoesNotStore(t *testing.T) {
	for _, connected := range []bool{false, true} {
		s := &stages{hold: make(chan struct{})}
		bus := &downBus{connected: connected}
		o := s.options(func(func(Change)) (Bus, error) { return bus, nil })
		o.PublishTimeout = 50 * time.Millisecond
		p, err := NewPipeline(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Sink()(context.Background(), []Change{customerChange("a", 1)}); !errors.Is(err, ErrNotDurable) {
			t.Fatalf("connected %v: err %v, want ErrNotDurable", connected, err)
		}
		// Not taken, so the retry counts: it reaches the bus again.
		bus.connected = false
		if err := p.Sink()(context.Background(), []Change{customerChange("a", 1)}); !errors.Is(err, ErrNotDurable) {
			t.Fatalf("connected %v: the retry was %v, want it to reach the bus (ErrNotDurable), not be dropped as a repeat", connected, err)
		}
	}
}

// TestWebhookWithNATSDownIsRefusedInTime stops the NATS server behind a
// JetStream bus: a webhook is then answered 503 with Retry-After, not held
// until NATS comes back.
func TestWebhookWithNATSDownIsRefusedInTime(t *testing.T) {
	nats := natstest.StartServer(t)
	s := &stages{hold: make(chan struct{})}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := NewPipeline(s.options(func(apply func(Change)) (Bus, error) {
		return NewJetStream(context.Background(), JetStreamOptions{URL: nats.ClientURL(), Replay: 100, Buffer: 100, Apply: apply, Logger: quiet})
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hooks := NewWebhooks(WebhookOptions{Secrets: secrets, Sink: p.Sink(), Logger: quiet})
	srv := httptest.NewServer(hooks.Handler())
	defer srv.Close()
	post := func(key string) (*http.Response, time.Duration) {
		body := `{"doctype": "Customer", "name": "` + key + `", "event": "on_update", "modified": "2026-11-24 13:00:00.000000"}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/erp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Frappe-Webhook-Signature", sign(secrets.ERP, body))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp, time.Since(start)
	}
	if resp, _ := post("CUST-1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("with NATS up: HTTP %d", resp.StatusCode)
	}
	nats.Shutdown()
	nats.WaitForShutdown()
	resp, took := post("CUST-2")
	// The bound is the publish timeout when idle; a busy machine gets
	// room, and a webhook held until NATS returns still fails.
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || took > 10*time.Second {
		t.Fatalf("with NATS down: HTTP %d, Retry-After %q, after %v; want 503 with Retry-After at once",
			resp.StatusCode, resp.Header.Get("Retry-After"), took)
	}
	t.Logf("with NATS down, a webhook was refused after %v", took)
}
