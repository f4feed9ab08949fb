package sim_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/sim"
)

func TestRunChangesSendsSignedWebhooks(t *testing.T) {
	s := sim.New(sim.Options{World: small})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	kinds := map[events.Kind]int{}
	// The gateway's own receivers: only what verifies reaches the sink.
	hooks := events.NewWebhooks(events.WebhookOptions{Secrets: config.WebhookSecrets{Shop: sim.DemoWebhookSecret, ERP: sim.DemoWebhookSecret},
		Sink: func(_ context.Context, cs []events.Change) error {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range cs {
				kinds[c.Kind]++
			}
			return nil
		}, Logger: quiet})
	srv := httptest.NewServer(hooks.Handler())
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.RunChanges(ctx, sim.Changes{Target: srv.URL, Secret: sim.DemoWebhookSecret, Every: 2 * time.Millisecond}, quiet)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		enough := kinds[events.KindStock] > 0 && kinds[events.KindOrder] > 0 && kinds[events.KindInvoice] > 0
		mu.Unlock()
		if enough || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if kinds[events.KindStock] == 0 || kinds[events.KindOrder] == 0 || kinds[events.KindInvoice] == 0 {
		t.Fatalf("verified changes by kind %v, want stock, order and invoice changes", kinds)
	}
}
