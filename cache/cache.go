// Package cache is Trestle's entity cache: upstream records kept by (system,
// kind, key) in a memory-bounded ristretto cache, with a TTL per kind, short
// negative caching of keys the upstream does not have, and one upstream fetch
// for concurrent misses of the same key across requests.
//
// The cache holds entities, not responses, so overlapping queries share work.
// Values handed out are shared: callers must never mutate them.
package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/trestlehq/trestle/graph/model"
)

// Kind is a kind of entity; each kind has its own TTL.
type Kind string

// The kinds of entity the gateway caches.
const (
	Customers Kind = "customers"
	Orders    Kind = "orders"
	Products  Kind = "products"
	Stock     Kind = "stock"
	Invoices  Kind = "invoices"
)

// DefaultTTL is how long an entity of each kind stays fresh unless the config
// says otherwise.
func DefaultTTL() map[Kind]time.Duration {
	return map[Kind]time.Duration{
		Stock:     5 * time.Second,
		Orders:    30 * time.Second,
		Products:  60 * time.Second,
		Invoices:  60 * time.Second,
		Customers: 5 * time.Minute,
	}
}

// The cache's bound and how long a not-found is remembered, unless
// configured.
const (
	DefaultMaxBytes    = 256 << 20
	DefaultNegativeTTL = 5 * time.Second
)

// ErrNotFound is the result for a key the upstream does not have.
var ErrNotFound = errors.New("not found")

// Config configures New.
type Config struct {
	MaxBytes    int64                  // memory bound; default 256 MiB
	TTL         map[Kind]time.Duration // missing kinds take DefaultTTL, then one minute
	NegativeTTL time.Duration          // how long a not-found is remembered; default 5 s
	// StaleIfError is how long past its TTL an entity is kept to be
	// served, marked stale, when the upstream fails to give it again.
	// 0 for never.
	StaleIfError time.Duration
	// EntrySize estimates the bytes an entity takes, for the memory bound.
	// Default 1 KiB per entity.
	EntrySize func(v any) int64
	// Disabled keeps nothing: every read goes upstream, though concurrent
	// reads of one key still share one load.
	Disabled bool
	// Responses keeps whole answers too (Entities.Responses), within
	// ResponseBytes (default 64 MiB); not when Disabled.
	Responses     bool
	ResponseBytes int64
}

// Entities is the entity cache. It is safe for concurrent use.
type Entities struct {
	store        *ristretto.Cache[string, *entry]
	ttl          map[Kind]time.Duration
	negativeTTL  time.Duration
	staleIfError time.Duration
	disabled     bool
	size         func(any) int64
	now          func() time.Time

	mu       sync.Mutex
	inflight map[string]*flight
	epochs   sync.Map // scope (system/kind) -> *atomic.Uint64, bumped by invalidation
	// invalidations counts Invalidate's calls, of any scope.
	invalidations atomic.Uint64
	// responses, when kept, are answers made from the entities.
	responses *Responses

	counters sync.Map // Kind -> *kindCounters
}

type entry struct {
	kind      Kind
	cost      int64 // the estimated bytes it takes
	value     any
	missing   bool // a remembered not-found
	fetchedAt time.Time
}

// flight is one id being loaded; done is closed when value or err is set.
type flight struct {
	done      chan struct{}
	value     any
	err       error
	stale     error // the load failed with it and value is the entity kept past its TTL
	fetchedAt time.Time
}

type kindCounters struct{ hits, misses, evictions, bytes atomic.Int64 }

// New builds an entity cache.
func New(cfg Config) (*Entities, error) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.StaleIfError < 0 {
		return nil, fmt.Errorf("cache: stale-if-error grace must not be negative, not %v", cfg.StaleIfError)
	}
	if cfg.EntrySize == nil {
		cfg.EntrySize = func(any) int64 { return 1 << 10 }
	}
	ttl := DefaultTTL()
	for k, d := range cfg.TTL {
		if d <= 0 {
			return nil, fmt.Errorf("cache: ttl of %s must be positive, not %v", k, d)
		}
		ttl[k] = d
	}
	c := &Entities{
		ttl:          ttl,
		negativeTTL:  cfg.NegativeTTL,
		staleIfError: cfg.StaleIfError,
		disabled:     cfg.Disabled,
		size:         cfg.EntrySize,
		now:          time.Now,
		inflight:     map[string]*flight{},
	}
	store, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
		// About ten counters per entity that fits, at the assumed 1 KiB each.
		NumCounters: max(cfg.MaxBytes/1024*10, 1000),
		MaxCost:     cfg.MaxBytes,
		BufferItems: 64,
		OnEvict: func(item *ristretto.Item[*entry]) {
			// Close hands pending deletions here too, without a value.
			if item.Value != nil {
				c.countersFor(item.Value.kind).evictions.Add(1)
			}
		},
		// Whenever an entry leaves (evicted, expired, rejected, replaced or
		// deleted), its bytes are no longer held.
		OnExit: func(e *entry) {
			if e != nil {
				c.countersFor(e.kind).bytes.Add(-e.cost)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.store = store
	if cfg.Responses && !cfg.Disabled {
		c.responses = newResponses(cfg.ResponseBytes, c.ttlOf, func() time.Time { return c.now() })
	}
	return c, nil
}

// Invalidations counts the invalidations so far: what was read while it
// stayed the same is as current as the changes told.
func (c *Entities) Invalidations() uint64 { return c.invalidations.Load() }

// Responses is the cache of whole answers, which every invalidation of
// entities also drops answers from; nil when it is off.
func (c *Entities) Responses() *Responses { return c.responses }

// Close stops the cache's background work.
func (c *Entities) Close() { c.store.Close() }

// Result is one key's answer from Fetch.
type Result[V any] struct {
	Value     V
	Err       error     // ErrNotFound, or the load's error
	Hit       bool      // served from the cache
	FetchedAt time.Time // when the value left the upstream
	// Stale is the load's error when Value is the entity kept past its TTL
	// (see Config.StaleIfError), served because the upstream failed.
	Stale error
}

// Fetch answers each id from the cache where fresh and loads the rest with
// one call of load, except ids another caller is loading right now, which it
// waits for instead. Results come in the order of ids. load returns the
// values it found by id; ids it leaves out are not found. Its error fails
// only the ids it was asked for, and is not cached.
func Fetch[V any](ctx context.Context, c *Entities, system model.System, kind Kind, ids []string,
	load func(ctx context.Context, ids []string) (map[string]V, error)) []Result[V] {
	results := make([]Result[V], len(ids))
	scope := string(system) + "/" + string(kind) + "/"
	counters := c.countersFor(kind)
	now := c.now()
	ttl := c.ttlOf(kind)

	type wait struct {
		i int
		f *flight
	}
	var misses []int
	for i, id := range ids {
		if e, ok := c.store.Get(scope + id); ok && now.Sub(e.fetchedAt) < c.freshFor(e, ttl) {
			counters.hits.Add(1)
			results[i] = resultOf[V](e.value, e.missing, true, e.fetchedAt)
			continue
		}
		counters.misses.Add(1)
		misses = append(misses, i)
	}
	if len(misses) == 0 {
		return results
	}

	waits := make([]wait, 0, len(misses))
	var mine []string
	owned := map[string]*flight{}
	c.mu.Lock()
	for _, i := range misses {
		key := scope + ids[i]
		f, ok := c.inflight[key]
		if !ok {
			f = &flight{done: make(chan struct{})}
			c.inflight[key] = f
			owned[ids[i]] = f
			mine = append(mine, ids[i])
		}
		waits = append(waits, wait{i, f})
	}
	c.mu.Unlock()

	if len(mine) > 0 {
		// Others may wait on this load: it runs on its own, and this caller
		// waits for it like they do, giving up when its own context ends.
		go c.load(ctx, scope, kind, mine, owned, func(ctx context.Context, ids []string) (map[string]any, error) {
			found, err := load(ctx, ids)
			out := make(map[string]any, len(found))
			for k, v := range found {
				out[k] = v
			}
			return out, err
		})
	}
	for _, w := range waits {
		select {
		case <-w.f.done:
		default:
			// Not loaded yet: wait, unless the caller gives up first.
			select {
			case <-w.f.done:
			case <-ctx.Done():
				results[w.i].Err = ctx.Err()
				continue
			}
		}
		if w.f.err != nil {
			results[w.i].Err = w.f.err
			continue
		}
		results[w.i] = resultOf[V](w.f.value, w.f.value == nil, false, w.f.fetchedAt)
		results[w.i].Stale = w.f.stale
	}
	return results
}

// load runs one upstream fetch for the ids a caller owns, stores what it
// returns and releases everybody waiting on those ids. The fetch is detached
// from the caller's cancellation and deadline: others may be waiting on it,
// and the upstream client bounds each call.
func (c *Entities) load(ctx context.Context, scope string, kind Kind, ids []string, owned map[string]*flight,
	fetch func(context.Context, []string) (map[string]any, error)) {
	epoch := c.epoch(scope).Load()
	var found map[string]any
	var err error
	defer func() {
		// A panicking fetch fails its ids rather than the process.
		if p := recover(); p != nil {
			found, err = nil, fmt.Errorf("%w: %v", errLoadPanicked, p)
		}
		c.release(scope, kind, ids, owned, found, err, epoch)
	}()
	found, err = fetch(context.WithoutCancel(ctx), ids)
}

var errLoadPanicked = errors.New("cache: load panicked")

// release stores a fetch's results and wakes everybody waiting on its ids.
func (c *Entities) release(scope string, kind Kind, ids []string, owned map[string]*flight, found map[string]any, err error, epoch uint64) {
	fetchedAt := c.now()
	ttl := c.ttlOf(kind)

	// Invalidate takes the same lock, so no invalidation falls between
	// this check and the writes below.
	c.mu.Lock()
	defer c.mu.Unlock()
	// An invalidation that raced this fetch makes its results suspect: hand
	// them out, but do not cache them.
	store := err == nil && !c.disabled && c.epoch(scope).Load() == epoch
	for _, id := range ids {
		f := owned[id]
		key := scope + id
		f.fetchedAt = fetchedAt
		switch {
		case err == nil:
			f.value = found[id]
		case c.staleIfError > 0:
			// The entity as last read, if it is within its grace, rather
			// than the failure.
			if e, ok := c.store.Get(key); ok && !e.missing && fetchedAt.Sub(e.fetchedAt) < ttl+c.staleIfError {
				f.value, f.stale, f.fetchedAt = e.value, err, e.fetchedAt
				break
			}
			f.err = err
		default:
			f.err = err
		}
		if store {
			e := &entry{kind: kind, value: f.value, missing: f.value == nil, fetchedAt: fetchedAt}
			if e.missing {
				c.set(key, e, 64, c.negativeTTL)
			} else {
				c.set(key, e, c.size(f.value), ttl+c.staleIfError)
			}
		}
		if c.inflight[key] == f { // not if an invalidation let a new load start
			delete(c.inflight, key)
		}
		close(f.done)
	}
}

// set stores an entry and counts its bytes as held until it leaves.
func (c *Entities) set(key string, e *entry, cost int64, ttl time.Duration) {
	e.cost = cost
	if c.store.SetWithTTL(key, e, cost, ttl) {
		c.countersFor(e.kind).bytes.Add(cost)
	}
}

func resultOf[V any](v any, missing, hit bool, fetchedAt time.Time) Result[V] {
	if missing {
		return Result[V]{Err: ErrNotFound, Hit: hit, FetchedAt: fetchedAt}
	}
	return Result[V]{Value: v.(V), Hit: hit, FetchedAt: fetchedAt}
}

func (c *Entities) freshFor(e *entry, ttl time.Duration) time.Duration {
	if e.missing {
		return c.negativeTTL
	}
	return ttl
}

func (c *Entities) ttlOf(kind Kind) time.Duration {
	if d, ok := c.ttl[kind]; ok {
		return d
	}
	return time.Minute
}

// Invalidate drops the entries of the given ids, so the next read goes
// upstream (not joining a load of them already under way), and the answers
// kept that read them or a list of their kind. A fetch of that kind
// already in flight is not cached.
func (c *Entities) Invalidate(system model.System, kind Kind, ids ...string) {
	scope := scopeOf(system, kind)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch(scope).Add(1)
	c.invalidations.Add(1)
	for _, id := range ids {
		c.store.Del(scope + id)
		// A load under way may have read the entity before it changed:
		// those waiting for it get what it read, a read from now on
		// loads anew.
		delete(c.inflight, scope+id)
	}
	if c.responses != nil {
		c.responses.invalidate(system, kind, ids)
	}
}

func (c *Entities) epoch(scope string) *atomic.Uint64 {
	if e, ok := c.epochs.Load(scope); ok {
		return e.(*atomic.Uint64)
	}
	e, _ := c.epochs.LoadOrStore(scope, new(atomic.Uint64))
	return e.(*atomic.Uint64)
}

// Counts are a kind's cache counters since start.
type Counts struct {
	Hits, Misses, Evictions int64
	Bytes                   int64 // estimated bytes held now
}

// Stats returns the counters by kind.
func (c *Entities) Stats() map[Kind]Counts {
	out := map[Kind]Counts{}
	c.counters.Range(func(k, v any) bool {
		kc := v.(*kindCounters)
		out[k.(Kind)] = Counts{Hits: kc.hits.Load(), Misses: kc.misses.Load(), Evictions: kc.evictions.Load(), Bytes: kc.bytes.Load()}
		return true
	})
	return out
}

func (c *Entities) countersFor(kind Kind) *kindCounters {
	if v, ok := c.counters.Load(kind); ok {
		return v.(*kindCounters)
	}
	v, _ := c.counters.LoadOrStore(kind, new(kindCounters))
	return v.(*kindCounters)
}

// Put stores a value read outside Fetch, such as the records a list call
// returned, so later reads by key find it. It is not stored if an
// invalidation of its kind comes between epoch (taken before the read, with
// Epoch) and now.
func Put[V any](c *Entities, system model.System, kind Kind, epoch uint64, values map[string]V) {
	scope := string(system) + "/" + string(kind) + "/"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disabled || c.epoch(scope).Load() != epoch {
		return
	}
	now := c.now()
	ttl := c.ttlOf(kind)
	for id, v := range values {
		c.set(scope+id, &entry{kind: kind, value: v, fetchedAt: now}, c.size(v), ttl+c.staleIfError)
	}
}

// Epoch returns the invalidation count of a kind, to hand to Put after a
// read.
func (c *Entities) Epoch(system model.System, kind Kind) uint64 {
	return c.epoch(string(system) + "/" + string(kind) + "/").Load()
}

// Peek answers an id from the cache without loading it: cached is false
// when the id is not cached or no longer fresh. A remembered not-found comes
// back as ErrNotFound.
func Peek[V any](c *Entities, system model.System, kind Kind, id string) (v V, cached bool, err error) {
	e, found := c.store.Get(string(system) + "/" + string(kind) + "/" + id)
	if !found || c.now().Sub(e.fetchedAt) >= c.freshFor(e, c.ttlOf(kind)) {
		return v, false, nil
	}
	c.countersFor(kind).hits.Add(1)
	r := resultOf[V](e.value, e.missing, true, e.fetchedAt)
	return r.Value, true, r.Err
}
