package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

const erpSecret = "erp-webhook-secret"

// stockAnswer is the answer to a stock query with how it was answered.
type stockAnswer struct {
	Data struct {
		Stock []struct{ SKU, Warehouse, OnHand string }
	}
	Errors     []struct{ Message string }
	Extensions struct {
		Trestle struct{ ResponseCache string }
	}
}

// askStock asks the stock of skus.
func askStock(t *testing.T, client *http.Client, a *app.App, skus []string) stockAnswer {
	t.Helper()
	list, _ := json.Marshal(skus)
	body, _ := json.Marshal(map[string]string{"query": `{ stock(skus: ` + string(list) + `) { sku warehouse onHand } }`})
	resp, err := client.Post(a.URL()+"/query", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return stockAnswer{}
	}
	defer resp.Body.Close()
	var out stockAnswer
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
		t.Errorf("stock: %v %+v", err, out.Errors)
	}
	return out
}

// changeStock sets a bin's stock in the ERP and sends the ERP's webhook,
// returning when the gateway has answered it.
func changeStock(t *testing.T, client *http.Client, a *app.App, s *sim.Sim, b *world.Bin, actual decimal.Decimal) {
	t.Helper()
	path, body, header := s.SetStock(b, actual, erpSecret)
	req, _ := http.NewRequest(http.MethodPost, a.URL()+path, bytes.NewReader(body))
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: HTTP %d", resp.StatusCode)
	}
}

// caching is a gateway over env's simulators that takes the ERP's
// webhooks.
func caching(t *testing.T, env *simtest.Env) *app.App {
	cfg := simulated(env)
	cfg.Events.Webhooks.Secrets.ERP = erpSecret
	return running(t, cfg)
}

func TestARepeatedQueryIsAnsweredFromTheCacheUntilAChange(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 21, Size: world.Size{People: 20, Orders: 40, Products: 5}})
	a := caching(t, env)
	client := &http.Client{Timeout: time.Minute}
	w := env.Sim.World
	b := w.Products[0].Bins[0]
	skus := []string{b.SKU}

	// The ERP's reads of stock (its other calls, the directory's, go on
	// meanwhile).
	stockReads := func() int64 { return env.Sim.Stats().Routes[model.SystemERP]["GET /api/resource/Bin"] }
	first := askStock(t, client, a, skus)
	calls := stockReads()
	second := askStock(t, client, a, skus)
	if first.Extensions.Trestle.ResponseCache != "" || second.Extensions.Trestle.ResponseCache != "hit" || stockReads() != calls || calls == 0 {
		t.Fatalf("asked twice: %q then %q, %d stock reads for the first, %d for the second; want the second from the cache, without a read",
			first.Extensions.Trestle.ResponseCache, second.Extensions.Trestle.ResponseCache, calls, stockReads()-calls)
	}

	changeStock(t, client, a, env.Sim, b, decimal.MustNew(4321, 0))
	after := askStock(t, client, a, skus)
	if after.Extensions.Trestle.ResponseCache == "hit" || !hasStock(after, b, "4321") {
		t.Fatalf("after the change: %+v, want the new stock, read again", after)
	}
	if again := askStock(t, client, a, skus); again.Extensions.Trestle.ResponseCache != "hit" || !hasStock(again, b, "4321") {
		t.Errorf("asked again: %+v, want the new answer from the cache", again)
	}
}

func hasStock(a stockAnswer, b *world.Bin, onHand string) bool {
	for _, s := range a.Data.Stock {
		if s.SKU == b.SKU && s.Warehouse == b.Warehouse {
			return s.OnHand == onHand
		}
	}
	return false
}

// TestNoReaderSeesAnAnswerFromBeforeAChange: while the stock of a few SKUs
// changes by webhook, readers repeat a query of it. A reader that starts
// after a change's webhook was answered must see that change or a later
// one, whether its answer came from the cache or not.
func TestNoReaderSeesAnAnswerFromBeforeAChange(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 22, Size: world.Size{People: 20, Orders: 40, Products: 4}})
	a := caching(t, env)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	w := env.Sim.World
	var bins []*world.Bin
	var skus []string
	for _, p := range w.Products {
		bins, skus = append(bins, p.Bins...), append(skus, p.SKU)
	}
	key := func(sku, warehouse string) string { return sku + "|" + warehouse }

	// The stock of every bin goes up by one a change, so that a value
	// tells which change it is of.
	var mu sync.Mutex
	acked := map[string]int64{} // a bin's value whose webhook was answered last
	var seq atomic.Int64
	seq.Store(1000)
	const reads = 10_000
	var done atomic.Int64
	stop := make(chan struct{})
	writer := make(chan int)
	go func() {
		changes := 0
		defer func() { writer <- changes }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := bins[i%len(bins)]
			v := seq.Add(1)
			changeStock(t, client, a, env.Sim, b, decimal.MustNew(v, 0))
			mu.Lock()
			acked[key(b.SKU, b.Warehouse)] = v
			mu.Unlock()
			changes++
			time.Sleep(2 * time.Millisecond)
		}
	}()

	var violations, hits atomic.Int64
	var first sync.Once
	var readers sync.WaitGroup
	for range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for done.Add(1) <= reads {
				mu.Lock()
				before := make(map[string]int64, len(acked))
				for k, v := range acked {
					before[k] = v
				}
				mu.Unlock()
				got := askStock(t, client, a, skus)
				if got.Extensions.Trestle.ResponseCache == "hit" {
					hits.Add(1)
				}
				for _, s := range got.Data.Stock {
					onHand, err := decimal.Parse(s.OnHand)
					n, _, _ := onHand.Int64(0)
					if want, ok := before[key(s.SKU, s.Warehouse)]; ok && (err != nil || n < want) {
						violations.Add(1)
						first.Do(func() {
							t.Errorf("%s in %s: %s, after the webhook of %d was answered (cache: %q)", s.SKU, s.Warehouse, s.OnHand, want,
								got.Extensions.Trestle.ResponseCache)
						})
					}
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	changes := <-writer
	if violations.Load() > 0 || changes < 100 || hits.Load() == 0 {
		t.Errorf("%d reads, %d changes: %d answers from before a change answered, %d from the cache; want none from before, some from the cache",
			reads, changes, violations.Load(), hits.Load())
	}
	t.Log(fmt.Sprintf("%d reads, %d changes, %d answers from the cache", reads, changes, hits.Load()))
}
