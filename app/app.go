// Package app assembles one Trestle gateway from its config: the sources,
// the entity cache, the customer directory, the loaders, the change
// pipeline and its bus, the webhook receivers and pollers, the HTTP
// surface, the admin listener and, for a config that names no sources,
// the built-in simulators. main, the tests and the benchmarks all build
// their gateways here.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trestlehq/trestle/auth"
	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/events"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/loaders"
	"github.com/trestlehq/trestle/metrics"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources"
	"github.com/trestlehq/trestle/store"
	"github.com/trestlehq/trestle/tracing"
)

// Tunables that are not the config's: they shape the machinery, not what a
// deployment decides.
const (
	// adminDefault is where the admin listener goes unless the config
	// places it: loopback only, Prometheus's own default port.
	adminDefault = "127.0.0.1:9090"
	// directoryRefresh is how often the customer directory rereads the
	// three customer lists.
	directoryRefresh = 10 * time.Minute
	// loaderWait is how long a loader collects keys before calling upstream.
	loaderWait = time.Millisecond
	// subscriberBuffer is how many changes a subscriber may fall behind
	// before it is asked to resume.
	subscriberBuffer = 1024
	// dedupeRecords is how many records the de-duplication stage remembers.
	dedupeRecords = 100_000
	// sourceRecheck is how often a source that failed its check is
	// checked again.
	sourceRecheck = 10 * time.Second
	// demoChangeEvery is how often the demo's simulators change something.
	demoChangeEvery = 3 * time.Second
	// demoPollEvery is how often the demo gateway polls the simulated CRM.
	demoPollEvery = 5 * time.Second
	// shutdownGrace is how long requests in flight may take to finish when
	// Run ends.
	shutdownGrace = 10 * time.Second
)

// App is one gateway, built and ready to run.
type App struct {
	cfg    config.Config
	logger *slog.Logger

	// life ends the bus, client authentication and tracing: the parts
	// requests use until the last one is answered. looping ends the loops
	// before that.
	life, looping  context.Context
	end, stopLoops context.CancelFunc

	demo     *sim.Sim // the simulators, when the config names no sources
	sources  *sources.Set
	store    *store.Store  // nil when the config names none, or an optional one did not open
	sync     *store.Syncer // the store's, when there is one
	storeErr error         // why an optional store did not open
	checks   *sourceChecks
	dir      *consolidate.Directory
	pipeline *events.Pipeline
	metrics  *metrics.Metrics
	handler  *gateway.Gateway
	// listsRead is closed when the customer directory's first read of the
	// three lists has ended, well or not.
	listsRead chan struct{}

	url, adminURL, simURL string
	servers               []*server // the clients', the admin and the simulators', in the order they stop
	closers               []func()  // what New opened, closed in reverse

	loops    sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
	stopped  chan struct{} // closed by Shutdown
}

// server is one listener with its HTTP server.
type server struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

// New builds a gateway from cfg. It opens the listeners, the sources, the
// cache and the bus, so that what a config can get wrong (a taken port, an
// unreachable NATS) is reported here, and nothing is left open when it is.
// A config that names no sources (cfg.Demo) gets the built-in simulators.
func New(cfg config.Config, logger *slog.Logger) (_ *App, err error) {
	a := &App{cfg: cfg, logger: logger, metrics: metrics.New(), stopped: make(chan struct{}), listsRead: make(chan struct{})}
	a.life, a.end = context.WithCancel(context.Background())
	a.looping, a.stopLoops = context.WithCancel(a.life)
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if cfg.Demo {
		if err := a.startDemo(); err != nil {
			return nil, err
		}
	}
	if t := cfg.Tracing; t.Endpoint != "" {
		shutdown, err := tracing.Setup(a.life, tracing.Config{Endpoint: t.Endpoint, Headers: t.Headers,
			SampleRatio: t.SampleRatio, ServiceName: t.ServiceName}, logger.With("component", "tracing"))
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() {
			// The spans still queued are sent before the process ends.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdown(ctx); err != nil {
				logger.Warn("traces not flushed", "err", err)
			}
		})
		logger.Info("tracing to " + t.Endpoint)
	}
	if err := a.openSources(); err != nil {
		return nil, err
	}
	if err := a.openStore(); err != nil {
		return nil, err
	}
	if err := a.build(); err != nil {
		return nil, err
	}
	return a, a.listen()
}

// startDemo generates the demo's world and serves the simulators of the
// three systems on a loopback port, as the sources of the config.
func (a *App) startDemo() error {
	a.demo = sim.New(sim.Options{World: world.Options{Seed: 1, Disagreements: true}, AnchorToday: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	a.simURL = "http://" + ln.Addr().String()
	a.cfg.Sources = a.demo.Sources(a.simURL)
	// The simulators sign their webhooks with the demo secret; the CRM
	// sends none and is polled, and so is the shop, as a shop should be:
	// WooCommerce sends no webhook twice.
	a.cfg.Events.Webhooks.Secrets = config.WebhookSecrets{Shop: sim.DemoWebhookSecret, CRM: sim.DemoWebhookSecret, ERP: sim.DemoWebhookSecret}
	a.cfg.Sources.CRM.Poll.Every = demoPollEvery
	a.cfg.Sources.Shop.Poll.Every = demoPollEvery
	a.servers = append(a.servers, a.newServer("sim", ln, a.demo.Handler()))
	a.logger.Info("no sources configured: serving the built-in simulators of the shop, CRM and ERP", "url", a.simURL)
	return nil
}

// openStore opens the reporting store the config names; the demo keeps a
// store of its own in a temporary directory, removed when the gateway
// stops, as its world is made anew at each start. A store that cannot be
// opened fails the start, naming it, unless it is optional.
func (a *App) openStore() error {
	path, pg := a.cfg.Store.Path, a.cfg.Store.Postgres.URL
	if path == "" && pg == "" && a.cfg.Demo {
		dir, err := os.MkdirTemp("", "trestle-demo-")
		if err != nil {
			return fmt.Errorf("the demo's store: %w", err)
		}
		a.closers = append(a.closers, func() { _ = os.RemoveAll(dir) })
		path = filepath.Join(dir, "store.db")
	}
	if path == "" && pg == "" {
		return nil
	}
	st, err := store.Open(a.life, store.Options{Path: path, PostgresURL: pg, Join: consolidate.JoinKeys[a.cfg.Join.Key],
		Logger: a.logger.With("component", "store")})
	switch {
	case err == nil:
		a.store = st
		a.closers = append(a.closers, func() {
			if err := st.Close(); err != nil {
				a.logger.Error("the store did not close cleanly", "path", path, "err", err)
			}
		})
		a.cfg.Store.Path = path
	case a.cfg.Store.Optional:
		a.storeErr = err
		a.logger.Error("the store is not open: the live graph starts without it (store.optional)", "err", err)
	default:
		return fmt.Errorf("store: %w (store.optional: true starts the live graph without it)", err)
	}
	return nil
}

// openSources opens the three adapters, each call counted and each
// failure logged.
func (a *App) openSources() error {
	upstreamLog := a.logger.With("component", "upstream")
	set, err := sources.Open(a.cfg.Sources, func(system model.System, route, outcome string, took time.Duration) {
		a.metrics.UpstreamCall(string(system), route, outcome, took)
		if outcome != "ok" && outcome != "not_found" && outcome != "canceled" {
			upstreamLog.Warn("upstream call failed", "system", system, "route", route, "outcome", outcome, "took", took)
		}
	})
	if err != nil {
		return err
	}
	a.sources = set
	a.closers = append(a.closers, set.Close)
	a.checks = &sourceChecks{}
	for system, open := range set.Breakers() {
		a.metrics.Breaker(string(system), open)
	}
	return nil
}

// build assembles the read path, the change path and the HTTP surface.
func (a *App) build() error {
	cfg, set := a.cfg, a.sources
	entities, err := cache.New(cache.Config{MaxBytes: cfg.Cache.MaxMB << 20, TTL: cacheTTL(cfg.Cache.TTL),
		NegativeTTL: cfg.Cache.NegativeTTL, StaleIfError: cfg.Cache.StaleIfError,
		EntrySize: loaders.EntrySize, Disabled: cfg.Cache.Disabled,
		Responses: !cfg.Cache.Responses.Disabled, ResponseBytes: cfg.Cache.Responses.MaxMB << 20})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, entities.Close)
	a.metrics.Cache(func() map[string]metrics.CacheCounts {
		out := map[string]metrics.CacheCounts{}
		for kind, n := range entities.Stats() {
			out[string(kind)] = metrics.CacheCounts{Hits: n.Hits, Misses: n.Misses, Evictions: n.Evictions, Bytes: n.Bytes}
		}
		if r := entities.Responses(); r != nil {
			n := r.Stats()
			out["responses"] = metrics.CacheCounts{Hits: n.Hits, Misses: n.Misses, Evictions: n.Evictions, Bytes: n.Bytes}
		}
		return out
	})
	a.dir = consolidate.NewDirectory(set.CRM, set.Shop, set.ERP, consolidate.JoinKeys[cfg.Join.Key], a.logger.With("component", "directory"))
	factory := loaders.NewFactory(set.Shop, set.CRM, set.ERP, entities, loaderWait)
	factory.ObserveBatches(a.metrics.Batch)

	var follow []*events.Queue
	var reporting gateway.Store
	if a.store != nil {
		changes := store.Changes()
		follow = append(follow, changes)
		a.sync = store.NewSyncer(a.store, store.SyncOptions{Replica: replicaName(), Sources: store.Sources{Shop: set.Shop, CRM: set.CRM, ERP: set.ERP},
			Changes: changes, Sweep: cfg.Store.Sweep, Logger: a.logger.With("component", "store")})
		a.metrics.Register(a.sync)
		reporting = storeReader{a.store, a.sync}
	}
	a.pipeline, err = events.NewPipeline(events.PipelineOptions{
		OpenBus:    func(apply func(events.Change)) (events.Bus, error) { return a.openBus(apply) },
		Remember:   dedupeRecords,
		Invalidate: factory.Invalidate,
		Refresh:    a.dir.Update,
		Follow:     follow,
		Observe: func(c events.Change, stage string) {
			a.metrics.Change(string(c.System), string(c.Kind), stage, 1)
		},
		Logger: a.logger.With("component", "changes"),
	})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, a.pipeline.Close)
	webhooks := events.NewWebhooks(events.WebhookOptions{Secrets: cfg.Events.Webhooks.Secrets, PublicURL: cfg.Events.Webhooks.PublicURL,
		ERPZone: set.ERP.Zone(), Sink: a.pipeline.Sink(), Logger: a.logger.With("component", "webhooks")})
	if cfg.Events.Webhooks.Secrets.Shop != "" && cfg.Sources.Shop.Poll.Every == 0 {
		a.logger.Warn("WooCommerce does not send a webhook again when it is refused: poll the shop too " +
			"(sources.shop.poll.every), so that a change refused while the bus was down is still read")
	}

	trusted := gateway.TrustedDocuments{Only: cfg.TrustedDocuments.Only}
	if cfg.TrustedDocuments.File != "" {
		if trusted.Docs, err = gateway.LoadTrustedDocuments(cfg.TrustedDocuments.File); err != nil {
			return fmt.Errorf("trustedDocuments.file: %w", err)
		}
	}
	var proxies []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		prefix, _ := config.ParseProxy(p) // checked when the config was read
		proxies = append(proxies, prefix)
	}
	authn, err := auth.New(a.life, authConfig(cfg.Auth))
	if err != nil {
		return err
	}
	if cfg.Auth.Anonymous {
		a.logger.Warn("anonymous access is on: requests without credentials are answered", "roles", cfg.Auth.AnonymousRoles)
	}
	a.handler = gateway.New(gateway.Options{
		Auth: authn,
		Limits: gateway.Limits{Depth: cfg.Limits.Depth, Complexity: cfg.Limits.Complexity, Aliases: cfg.Limits.Aliases,
			RootFields: cfg.Limits.RootFields, Tokens: cfg.Limits.Tokens, BodyBytes: cfg.Limits.BodyBytes,
			RequestsPerMinute: cfg.Limits.RequestsPerMinute, ComplexityPerMinute: cfg.Limits.ComplexityPerMinute},
		Introspection: cfg.Introspection,
		Subgraph:      cfg.Subgraph,
		Trusted:       trusted,
		WebSocket: gateway.WebSocketOptions{InitTimeout: cfg.WebSocket.InitTimeout, KeepAlive: cfg.WebSocket.KeepAlive,
			WriteTimeout: cfg.WebSocket.WriteTimeout},
		Directory:       a.dir,
		Store:           reporting,
		Changes:         countedChanges{a.pipeline.Bus(), a.metrics},
		Loaders:         factory,
		Webhooks:        webhooks.Handler(),
		Origins:         cfg.Origins,
		Logger:          a.logger.With("component", "graph"),
		TrustedProxies:  proxies,
		CollapseQueries: cfg.CollapseQueries,
		Responses:       entities.Responses(),
		Invalidations:   entities.Invalidations,
		RequestTimeout:  cfg.RequestTimeout,
		Metrics:         a.metrics,
		DebugHeader:     cfg.DebugHeader,
		Ready:           a.ready,
	})
	a.closers = append(a.closers, a.handler.Close)
	return nil
}

// replicaName names this gateway among replicas: its host and process.
func replicaName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// storeReader is the store as the gateway reads it: its rows, and its
// sync's status.
type storeReader struct {
	*store.Store
	*store.Syncer
}

// countedChanges counts the bus subscriptions open: one for each running
// subscription execution, however many clients share it.
type countedChanges struct {
	bus     events.Bus
	metrics *metrics.Metrics
}

func (c countedChanges) Subscribe(ctx context.Context, after uint64) (*events.Subscription, error) {
	sub, err := c.bus.Subscribe(ctx, after)
	if err != nil {
		return nil, err
	}
	c.metrics.Executing(1)
	go func() {
		_ = sub.Err() // returns once the subscription has ended: its context, falling behind, or the bus closing
		c.metrics.Executing(-1)
	}()
	return sub, nil
}

// openBus is the in-process bus, or with events.nats.url the JetStream
// stream that replicas share.
func (a *App) openBus(apply func(events.Change)) (events.Bus, error) {
	cfg := a.cfg.Events
	if cfg.NATS.URL == "" {
		return events.NewMemory(cfg.Replay, subscriberBuffer, apply), nil
	}
	logger := a.logger.With("component", "bus")
	js, err := events.NewJetStream(a.life, events.JetStreamOptions{URL: cfg.NATS.URL, Stream: cfg.NATS.Stream,
		Replay: cfg.Replay, Buffer: subscriberBuffer, Apply: apply, Logger: logger})
	if err != nil {
		return nil, err
	}
	logger.Info("changes go through NATS JetStream", "stream", cfg.NATS.Stream)
	return js, nil
}

// ready reports whether the gateway can answer: every upstream checked
// and its breaker closed, every customer list read at least once, and the
// bus up.
func (a *App) ready() map[string]string {
	states := map[string]string{"bus": "ok", "directory": "ok"}
	if !a.pipeline.Bus().Connected() {
		states["bus"] = "not connected"
	}
	select {
	case <-a.listsRead:
		for _, g := range a.dir.Gaps() {
			if !g.Stale() {
				states["directory"] = fmt.Sprintf("the %s customer list has not been read: %v", g.System, g.Err)
			}
		}
	default:
		states["directory"] = "reading the customer lists"
		if reading := a.dir.Reading(); len(reading) > 0 {
			names := make([]string, len(reading))
			for i, s := range reading {
				names[i] = string(s)
			}
			states["directory"] += ": " + strings.Join(names, ", ")
		}
	}
	if s := a.storeState(); s != "" {
		states["store"] = s
	}
	for system, open := range a.sources.Breakers() {
		states[string(system)] = a.checks.state(system)
		if open() {
			states[string(system)] = "circuit breaker open"
		}
	}
	return states
}

// storeState is the store's part of the readiness: the live graph does not
// need the store, so a store that is behind or failing leaves the gateway
// ready, degraded. Empty when the config names no store.
func (a *App) storeState() string {
	switch {
	case a.storeErr != nil:
		return "degraded: not open: " + a.storeErr.Error()
	case a.sync == nil:
		return ""
	}
	st, err := a.sync.Freshness(a.life)
	switch {
	case err != nil:
		return "degraded: status unreadable: " + err.Error()
	case st.State == store.StateFailing:
		return fmt.Sprintf("degraded: sync stopped at %s: %s", st.FailedAt.Format(time.RFC3339), st.Error)
	case st.State == store.StateBackfilling:
		return "ok, backfilling"
	}
	return "ok"
}

// listen opens the clients' listener and the admin listener.
func (a *App) listen() error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (choose another address with -listen or the config's listen): %w", a.cfg.Listen, err)
	}
	a.url = "http://" + ln.Addr().String()
	// The clients' listener stops first, then the admin listener, the
	// simulators' last.
	a.servers = slices.Insert(a.servers, 0, a.newServer("http", ln, a.handler))
	adminLn, err := listenAdmin(a.cfg.AdminListen)
	if err != nil {
		return err
	}
	if adminLn != nil {
		a.adminURL = "http://" + adminLn.Addr().String()
		if a.cfg.AdminListen == "" && adminLn.Addr().String() != adminDefault {
			a.logger.Warn(adminDefault+" is taken by another program: the admin listener is on a free loopback port instead", "url", a.adminURL)
		}
		a.servers = slices.Insert(a.servers, 1, a.newServer("admin", adminLn, a.adminHandler()))
	}
	return nil
}

// listenAdmin opens the admin listener. An address the config gives must
// bind, or New fails saying so; "off" opens none. Unset, it binds
// adminDefault, or a free loopback port when another program holds that:
// the gateway never dies for a port nobody asked for, and never listens
// beyond loopback unless told to.
func listenAdmin(addr string) (net.Listener, error) {
	switch addr {
	case "":
		ln, err := net.Listen("tcp", adminDefault)
		if errors.Is(err, syscall.EADDRINUSE) {
			return net.Listen("tcp", "127.0.0.1:0")
		}
		return ln, err
	case "off":
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener %s: %w", addr, err)
	}
	return ln, nil
}

// adminHandler serves what operators look at and do, away from the
// clients' listener: metrics, liveness, readiness, pprof, and reading the
// customer directory again.
func (a *App) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.Handle("GET /healthz", gateway.Healthz())
	mux.Handle("GET /readyz", gateway.Readyz(a.ready))
	mux.HandleFunc("POST /directory/sync", a.syncDirectory)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// syncDirectory reads the three customer lists again now, rather than at
// the next refresh: for an operator who has just brought a system back, or
// changed its customers in bulk. It answers once the read has ended: 200,
// or 503 with what failed.
func (a *App) syncDirectory(w http.ResponseWriter, r *http.Request) {
	status, body := http.StatusOK, map[string]string{"status": "read"}
	if err := a.dir.Sync(r.Context()); err != nil {
		status, body = http.StatusServiceUnavailable, map[string]string{"status": "incomplete", "error": err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (a *App) newServer(name string, ln net.Listener, h http.Handler) *server {
	return &server{name: name, ln: ln, srv: httpServer(h, a.logger.With("component", name))}
}

// httpServer is an HTTP server with Trestle's timeouts, logging to logger.
func httpServer(h http.Handler, logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if c, ok := h.(interface{ Close() }); ok {
		srv.RegisterOnShutdown(c.Close) // WebSocket connections, which Shutdown does not wait for
	}
	return srv
}

// Serve serves h on ln as the gateway serves its listeners, until ctx
// ends; then it gives requests in flight shutdownGrace to finish.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := httpServer(h, logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// URL is the base URL of the clients' listener: the playground at /, the
// GraphQL endpoint at /query.
func (a *App) URL() string { return a.url }

// AdminURL is the base URL of the admin listener; empty when it is off.
func (a *App) AdminURL() string { return a.adminURL }

// Config is the config the gateway runs with: the demo's sources filled in.
func (a *App) Config() config.Config { return a.cfg }

// Sim is the demo's simulators; nil when the config names sources.
func (a *App) Sim() *sim.Sim { return a.demo }

// Handler is the clients' HTTP handler, which the clients' listener
// serves: for serving the gateway on a listener of the caller's own, or
// measuring it without one. What needs the customer directory waits for
// Run to read it.
func (a *App) Handler() http.Handler { return a.handler }

// ChangeSeq is the sequence number of the latest change the gateway's bus
// has numbered (with NATS, read here): the cursor a subscription resumes
// after to get every later change.
func (a *App) ChangeSeq() uint64 { return a.pipeline.Bus().Seq() }

// Run serves and runs the gateway's loops (the source checks, the customer
// directory, the change pipeline, the pollers, the demo's changes) until
// ctx ends, a listener fails or Shutdown is called; then it shuts down,
// giving requests in flight shutdownGrace to finish.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, len(a.servers))
	for _, s := range a.servers {
		go func() {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener: %w", s.name, err)
			}
		}()
	}
	a.loop(func(ctx context.Context) {
		a.checks.run(ctx, a.sources, sourceRecheck, a.logger.With("component", "sources"))
	})
	a.loop(func(ctx context.Context) { a.dir.Run(ctx, directoryRefresh) })
	a.loop(func(ctx context.Context) {
		if a.dir.Wait(ctx) == nil {
			close(a.listsRead)
		}
	})
	a.loop(a.pipeline.Run)
	if a.sync != nil {
		a.loop(a.sync.Run)
	}
	logger := a.logger.With("component", "poller")
	sink := a.pipeline.Sink()
	for _, p := range []struct {
		poll  config.Poll
		feeds []events.Feed
	}{
		{a.cfg.Sources.Shop.Poll, events.ShopFeeds(a.sources.Shop)},
		{a.cfg.Sources.CRM.Poll, events.CRMFeeds(a.sources.CRM)},
		{a.cfg.Sources.ERP.Poll, events.ERPFeeds(a.sources.ERP)},
	} {
		a.loop(func(ctx context.Context) { events.RunPoller(ctx, p.feeds, p.poll, sink, logger) })
	}
	if a.demo != nil {
		// The demo moves: the simulators change their data and tell the
		// gateway by webhook, so subscriptions show live events.
		a.loop(func(ctx context.Context) {
			a.demo.RunChanges(ctx, sim.Changes{Target: a.url, Secret: sim.DemoWebhookSecret, Every: demoChangeEvery}, a.logger.With("component", "sim"))
		})
	}

	var err error
	select {
	case <-ctx.Done():
	case <-a.stopped:
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return errors.Join(err, a.Shutdown(shutdownCtx))
}

// loop runs f until Shutdown.
func (a *App) loop(f func(context.Context)) {
	a.loops.Go(func() { f(a.looping) })
}

// Shutdown stops the gateway: the listeners stop accepting, requests in
// flight get until ctx ends to finish (WebSocket connections are closed,
// going away), the loops stop, and what New opened is closed. It may be
// called more than once, and without Run.
func (a *App) Shutdown(ctx context.Context) error {
	a.stopOnce.Do(func() {
		close(a.stopped)
		a.stopLoops()
		a.loops.Wait()
		// Connections dialled to an upstream and never used would hold up
		// the simulators' shutdown for seconds.
		a.sources.Close()
		var errs []error
		for _, s := range a.servers {
			if err := s.srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shut down the %s listener: %w", s.name, err))
			}
		}
		a.close()
		a.stopErr = errors.Join(errs...)
	})
	return a.stopErr
}

// close ends the loops and closes what New opened, in reverse, and the
// listeners.
func (a *App) close() {
	a.end()
	a.loops.Wait()
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	for _, s := range a.servers {
		s.ln.Close() // when it was never served
	}
}

// authConfig is the auth section of the config as package auth takes it.
func authConfig(c config.Auth) auth.Config {
	out := auth.Config{Anonymous: c.Anonymous, AnonymousRoles: c.AnonymousRoles}
	for _, k := range c.APIKeys {
		out.APIKeys = append(out.APIKeys, auth.APIKey{Name: k.Name, SHA256: k.SHA256, Roles: k.Roles})
	}
	if j := c.JWT; j != nil {
		out.JWT = &auth.JWT{JWKSURL: j.JWKSURL, PublicKey: j.PublicKey, Secret: j.Secret,
			Issuer: j.Issuer, Audience: j.Audience, RolesClaim: j.RolesClaim}
	}
	return out
}

func cacheTTL(byName map[string]time.Duration) map[cache.Kind]time.Duration {
	out := make(map[cache.Kind]time.Duration, len(byName))
	for k, d := range byName {
		out[cache.Kind(k)] = d
	}
	return out
}
