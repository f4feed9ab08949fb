// Package metrics is what Trestle tells Prometheus: operations, upstream
// calls, the cache, the breakers and subscriptions, on a registry of its
// own that the admin listener serves at /metrics. Every label value comes
// from a bounded set: no ids, no query text, and operation names only up
// to a fixed number of distinct ones.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxOperationNames is how many distinct operation names get a label of
// their own; later ones count as "other".
const maxOperationNames = 200

// Metrics holds Trestle's collectors.
type Metrics struct {
	registry *prometheus.Registry

	operations        *prometheus.CounterVec
	operationDuration *prometheus.HistogramVec
	collapsed         prometheus.Counter
	upstreamCalls     *prometheus.CounterVec
	upstreamDuration  *prometheus.HistogramVec
	subscriptions     prometheus.Gauge
	executions        prometheus.Gauge
	executionsStarted prometheus.Counter
	batchSizes        *prometheus.HistogramVec
	changes           *prometheus.CounterVec
	changeLag         *prometheus.HistogramVec

	mu    sync.Mutex
	names map[string]bool
}

// New makes the collectors, registered with the Go runtime's and the
// process's own.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trestle_operations_total", Help: "GraphQL operations by name, type and outcome (ok, or errors when the response has any).",
		}, []string{"name", "type", "outcome"}),
		operationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trestle_operation_duration_seconds", Help: "Time to answer a GraphQL operation (a subscription: each event).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"type", "outcome"}),
		collapsed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trestle_operations_collapsed_total", Help: "Queries answered by an identical query's execution in flight, making no calls of their own.",
		}),
		upstreamCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trestle_upstream_calls_total", Help: "Calls to the upstream systems by system, route and outcome.",
		}, []string{"system", "route", "outcome"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trestle_upstream_call_duration_seconds", Help: "Time an upstream call took, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"system", "route"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trestle_subscriptions_active", Help: "Subscriptions clients hold open.",
		}),
		executions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trestle_subscription_executions_active", Help: "Subscription executions running, each reading the change bus: clients with identical subscriptions (the same document, variables and roles) share one.",
		}),
		executionsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trestle_subscription_executions_total", Help: "Subscription executions started.",
		}),
		batchSizes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trestle_loader_batch_keys", Help: "Keys per loader batch, by loader.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
		}, []string{"loader"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trestle_changes_total", Help: "Upstream changes by system, kind and stage (received: by webhook or poll, published: past de-duplication, delivered: handed on as a subscription event, once per distinct subscription).",
		}, []string{"system", "kind", "stage"}),
		changeLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trestle_change_lag_seconds", Help: "From the upstream's change (its own timestamp) to the subscription event handed on, by system.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"system"}),
		names: map[string]bool{},
	}
	m.registry.MustRegister(m.operations, m.operationDuration, m.collapsed, m.upstreamCalls, m.upstreamDuration, m.subscriptions, m.executions, m.executionsStarted, m.changes, m.changeLag, m.batchSizes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Operation counts an answered operation; collapsed when another
// operation's execution answered it.
func (m *Metrics) Operation(name, typ, outcome string, collapsed bool, took time.Duration) {
	m.operations.WithLabelValues(m.bounded(name), typ, outcome).Inc()
	m.operationDuration.WithLabelValues(typ, outcome).Observe(took.Seconds())
	if collapsed {
		m.collapsed.Inc()
	}
}

// bounded is an operation name as a label: its own for the first
// maxOperationNames names seen, then "other".
func (m *Metrics) bounded(name string) string {
	if name == "" {
		return "anonymous"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] {
		return name
	}
	if len(m.names) >= maxOperationNames || len(name) > 100 {
		return "other"
	}
	m.names[name] = true
	return name
}

// UpstreamCall counts a call to an upstream.
func (m *Metrics) UpstreamCall(system, route, outcome string, took time.Duration) {
	m.upstreamCalls.WithLabelValues(system, route, outcome).Inc()
	m.upstreamDuration.WithLabelValues(system, route).Observe(took.Seconds())
}

// Batch counts a loader batch's keys.
func (m *Metrics) Batch(loader string, keys int) {
	m.batchSizes.WithLabelValues(loader).Observe(float64(keys))
}

// Subscribed counts a subscription opening (+1) or ending (-1).
func (m *Metrics) Subscribed(delta int) { m.subscriptions.Add(float64(delta)) }

// Executing counts a subscription execution starting (+1) or ending (-1).
func (m *Metrics) Executing(delta int) {
	if delta > 0 {
		m.executionsStarted.Add(float64(delta))
	}
	m.executions.Add(float64(delta))
}

// Change counts changes at a stage.
func (m *Metrics) Change(system, kind, stage string, n int) {
	m.changes.WithLabelValues(system, kind, stage).Add(float64(n))
}

// ChangeDelivered counts a change handed on as a subscription event, lag
// after the upstream made it.
func (m *Metrics) ChangeDelivered(system, kind string, lag time.Duration) {
	m.changes.WithLabelValues(system, kind, "delivered").Inc()
	m.changeLag.WithLabelValues(system).Observe(lag.Seconds())
}

// Breaker exports whether an upstream's circuit breaker is open (1) or not.
func (m *Metrics) Breaker(system string, open func() bool) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trestle_upstream_breaker_open", Help: "Whether the upstream's circuit breaker is open, failing calls fast.",
		ConstLabels: prometheus.Labels{"system": system},
	}, func() float64 {
		if open() {
			return 1
		}
		return 0
	}))
}

// CacheCounts are the counters of one kind of cached entity.
type CacheCounts struct{ Hits, Misses, Evictions, Bytes int64 }

// Cache exports a cache's counters by kind, read when scraped.
func (m *Metrics) Cache(stats func() map[string]CacheCounts) {
	m.registry.MustRegister(cacheCollector{stats})
}

var (
	cacheHits      = prometheus.NewDesc("trestle_cache_hits_total", "Entities answered from the cache, by kind.", []string{"kind"}, nil)
	cacheMisses    = prometheus.NewDesc("trestle_cache_misses_total", "Entities not in the cache or stale, by kind.", []string{"kind"}, nil)
	cacheEvictions = prometheus.NewDesc("trestle_cache_evictions_total", "Entities evicted to keep the cache within its memory bound, or expired, by kind.", []string{"kind"}, nil)
	cacheBytes     = prometheus.NewDesc("trestle_cache_bytes", "Estimated bytes the cached entities of a kind take (their cost against cache.maxMB).", []string{"kind"}, nil)
)

type cacheCollector struct{ stats func() map[string]CacheCounts }

func (cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheHits
	ch <- cacheMisses
	ch <- cacheEvictions
	ch <- cacheBytes
}

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for kind, n := range c.stats() {
		ch <- prometheus.MustNewConstMetric(cacheHits, prometheus.CounterValue, float64(n.Hits), kind)
		ch <- prometheus.MustNewConstMetric(cacheMisses, prometheus.CounterValue, float64(n.Misses), kind)
		ch <- prometheus.MustNewConstMetric(cacheEvictions, prometheus.CounterValue, float64(n.Evictions), kind)
		ch <- prometheus.MustNewConstMetric(cacheBytes, prometheus.GaugeValue, float64(n.Bytes), kind)
	}
}

// Register adds a collector of another part's figures, such as the
// reporting store's.
func (m *Metrics) Register(c prometheus.Collector) {
	m.registry.MustRegister(c)
}
