// Trestle puts one GraphQL schema over an ERP, a CRM and an online shop.
//
//	trestle [-config FILE] [-listen ADDR]   run the gateway; with no config, against built-in simulators
//	trestle sim [flags]                     serve only the simulators of the three upstreams
//	trestle apikey [-roles R,...] NAME      make a client API key and the config entry that admits it
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

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
	"github.com/trestlehq/trestle/tracing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "trestle:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if len(args) > 0 && args[0] == "sim" {
		return runSim(ctx, args[1:], stdout, stderr, logger.With("component", "sim"))
	}
	if len(args) > 0 && args[0] == "apikey" {
		return newAPIKey(args[1:], stdout, stderr)
	}
	return runGateway(ctx, args, stdout, stderr, logger)
}

// runGateway serves the graph over the upstreams the config names, or over
// simulators started in-process when there is no config.
func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("trestle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "address to serve on (default: the config's listen, else 127.0.0.1:8080)")
	adminListen := fs.String("admin-listen", adminDefault, "address of the admin listener (/metrics, /healthz, /readyz, /debug/pprof/), or off;\nby default a free loopback port when "+adminDefault+" is taken")
	configPath := fs.String("config", os.Getenv("TRESTLE_CONFIG"), "config file (or $TRESTLE_CONFIG); without one, built-in simulators stand in for the upstreams")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	adminExplicit := false
	fs.Visit(func(f *flag.Flag) { adminExplicit = adminExplicit || f.Name == "admin-listen" })

	// Whatever fails below, the servers and loops started so far stop and
	// are waited for before run returns.
	ctx, cancel := context.WithCancel(ctx)
	g, ctx := errgroup.WithContext(ctx)
	defer func() {
		cancel()
		_ = g.Wait()
	}()
	cfg := config.Demo()
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			return err
		}
		logger = newLogger(cfg.Log, stderr)
	}
	var demo *sim.Sim // the simulators, when the config names no sources
	if cfg.Demo {
		demo = sim.New(sim.Options{World: world.Options{Seed: 1}, AnchorToday: true})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		cfg.Sources = demo.Sources("http://" + ln.Addr().String())
		// The simulators sign their webhooks with the demo secret; the CRM
		// sends none and is polled.
		cfg.Events.Webhooks.Secrets = config.WebhookSecrets{Shop: sim.DemoWebhookSecret, CRM: sim.DemoWebhookSecret, ERP: sim.DemoWebhookSecret}
		cfg.Sources.CRM.Poll = config.Poll{Every: demoPollEvery}
		g.Go(func() error { return serve(ctx, ln, demo.Handler(), logger.With("component", "sim")) })
		logger.Info("no sources configured: serving the built-in simulators of the shop, CRM and ERP", "url", "http://"+ln.Addr().String())
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	tuneGC(cfg.Cache.MaxMB)

	if t := cfg.Tracing; t.Endpoint != "" {
		shutdown, err := tracing.Setup(ctx, tracing.Config{Endpoint: t.Endpoint, Headers: t.Headers, SampleRatio: t.SampleRatio,
			ServiceName: t.ServiceName}, logger.With("component", "tracing"))
		if err != nil {
			return err
		}
		defer func() {
			// The spans still queued are sent before the process ends.
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdown(flushCtx); err != nil {
				logger.Warn("traces not flushed", "err", err)
			}
		}()
		logger.Info("tracing to " + t.Endpoint)
	}
	m := metrics.New()
	upstreamLog := logger.With("component", "upstream")
	set, err := sources.Open(cfg.Sources, func(system model.System, route, outcome string, took time.Duration) {
		m.UpstreamCall(string(system), route, outcome, took)
		if outcome != "ok" && outcome != "not_found" && outcome != "canceled" {
			upstreamLog.Warn("upstream call failed", "system", system, "route", route, "outcome", outcome, "took", took)
		}
	})
	if err != nil {
		return err
	}
	// Connections dialled to an upstream and never used would hold up the
	// in-process simulators' shutdown for seconds: closed once ctx ends.
	context.AfterFunc(ctx, set.Close)
	checks := &sourceChecks{}
	g.Go(func() error {
		checks.run(ctx, set, sourceRecheck, logger.With("component", "sources"))
		return nil
	})
	entities, err := cache.New(cache.Config{MaxBytes: cfg.Cache.MaxMB << 20, TTL: cacheTTL(cfg.Cache.TTL),
		NegativeTTL: cfg.Cache.NegativeTTL, StaleIfError: cfg.Cache.StaleIfError,
		EntrySize: loaders.EntrySize, Disabled: cfg.Cache.Disabled})
	if err != nil {
		return err
	}
	defer entities.Close()
	directory := consolidate.NewDirectory(set.CRM, set.Shop, set.ERP, consolidate.JoinKeys[cfg.Join.Key], logger.With("component", "directory"))
	g.Go(func() error {
		directory.Run(ctx, directoryRefresh)
		return nil
	})
	factory := loaders.NewFactory(set.Shop, set.CRM, set.ERP, entities, loaderWait)
	factory.ObserveBatches(m.Batch)
	// A change drops what it makes stale from the cache and, for a
	// customer, rejoins them in the directory, before subscribers see it.
	apply := func(c events.Change) {
		factory.Invalidate(c)
		if c.Kind == events.KindCustomer {
			if err := directory.Update(ctx, c.System, c.Key); err != nil {
				logger.Warn("customer directory not updated after a change", "system", c.System, "err", err)
			}
		}
	}
	bus, err := openBus(ctx, cfg.Events, apply, logger.With("component", "bus"))
	if err != nil {
		return err
	}
	defer bus.Close()
	// Webhooks and pollers feed one de-duplication stage.
	sink := countChanges(m, "received", events.NewDedupe(dedupeRecords).Sink(countChanges(m, "published", bus.Publish)))
	webhooks := events.NewWebhooks(events.WebhookOptions{Secrets: cfg.Events.Webhooks.Secrets, PublicURL: cfg.Events.Webhooks.PublicURL,
		ERPZone: set.ERP.Zone(), Sink: sink, Logger: logger.With("component", "webhooks")})
	for _, p := range []struct {
		poll  config.Poll
		feeds []events.Feed
	}{
		{cfg.Sources.Shop.Poll, events.ShopFeeds(set.Shop)},
		{cfg.Sources.CRM.Poll, events.CRMFeeds(set.CRM)},
		{cfg.Sources.ERP.Poll, events.ERPFeeds(set.ERP)},
	} {
		g.Go(func() error {
			events.RunPoller(ctx, p.feeds, p.poll, sink, logger.With("component", "poller"))
			return nil
		})
	}
	trusted := gateway.TrustedDocuments{Only: cfg.TrustedDocuments.Only}
	if cfg.TrustedDocuments.File != "" {
		if trusted.Docs, err = gateway.LoadTrustedDocuments(cfg.TrustedDocuments.File); err != nil {
			return fmt.Errorf("trustedDocuments.file: %w", err)
		}
	}
	// Ready when every upstream has answered its check and its breaker is
	// closed, and the bus is up (the config is loaded by now).
	ready := func() map[string]string {
		states := map[string]string{"bus": "ok"}
		if !bus.Connected() {
			states["bus"] = "not connected"
		}
		for system, open := range map[model.System]bool{model.SystemShop: set.Shop.BreakerOpen(),
			model.SystemCRM: set.CRM.BreakerOpen(), model.SystemERP: set.ERP.BreakerOpen()} {
			states[string(system)] = checks.state(system)
			if open {
				states[string(system)] = "circuit breaker open"
			}
		}
		return states
	}
	var proxies []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		prefix, _ := config.ParseProxy(p) // checked when the config was read
		proxies = append(proxies, prefix)
	}
	authn, err := auth.New(ctx, authConfig(cfg.Auth))
	if err != nil {
		return err
	}
	if cfg.Auth.Anonymous {
		logger.Warn("anonymous access is on: requests without credentials are answered", "roles", cfg.Auth.AnonymousRoles)
	}
	h := gateway.New(gateway.Options{
		Auth: authn,
		Limits: gateway.Limits{Depth: cfg.Limits.Depth, Complexity: cfg.Limits.Complexity, Aliases: cfg.Limits.Aliases,
			RootFields: cfg.Limits.RootFields, Tokens: cfg.Limits.Tokens, BodyBytes: cfg.Limits.BodyBytes,
			RequestsPerMinute: cfg.Limits.RequestsPerMinute, ComplexityPerMinute: cfg.Limits.ComplexityPerMinute},
		Introspection: cfg.Introspection,
		Trusted:       trusted,
		WebSocket: gateway.WebSocketOptions{InitTimeout: cfg.WebSocket.InitTimeout, KeepAlive: cfg.WebSocket.KeepAlive,
			WriteTimeout: cfg.WebSocket.WriteTimeout},
		Directory: directory,
		Changes:   bus,
		Loaders:   factory,
		Webhooks:  webhooks.Handler(),
		Origins:   cfg.Origins,
		Logger:    logger.With("component", "graph"),

		TrustedProxies: proxies,

		CollapseQueries: cfg.CollapseQueries,
		RequestTimeout:  cfg.RequestTimeout,
		Metrics:         m,
		DebugHeader:     cfg.DebugHeader,
		Ready:           ready,
	})
	defer h.Close()
	m.Cache(func() map[string]metrics.CacheCounts {
		out := map[string]metrics.CacheCounts{}
		for kind, n := range entities.Stats() {
			out[string(kind)] = metrics.CacheCounts{Hits: n.Hits, Misses: n.Misses, Evictions: n.Evictions, Bytes: n.Bytes}
		}
		return out
	})
	for system, open := range map[model.System]func() bool{model.SystemShop: set.Shop.BreakerOpen,
		model.SystemCRM: set.CRM.BreakerOpen, model.SystemERP: set.ERP.BreakerOpen} {
		m.Breaker(string(system), open)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (choose another address with -listen or the config's listen): %w", cfg.Listen, err)
	}
	base := "http://" + ln.Addr().String()
	adminLn, err := listenAdmin(*adminListen, adminExplicit)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, "Trestle on %[1]s\n  playground  %[1]s/\n  GraphQL     %[1]s/query\n", base)
	if cfg.Introspection {
		fmt.Fprintf(stdout, "  schema      %s/schema.graphql\n", base)
	}
	if adminLn == nil {
		fmt.Fprintf(stdout, "  admin       off\n")
	} else {
		admin := "http://" + adminLn.Addr().String()
		if !adminExplicit && adminLn.Addr().String() != adminDefault {
			logger.Warn(adminDefault+" is taken by another program: the admin listener is on a free loopback port instead", "url", admin)
		}
		fmt.Fprintf(stdout, "  admin       %s/metrics, /readyz, /debug/pprof/\n", admin)
		g.Go(func() error { return serve(ctx, adminLn, adminHandler(m, ready), logger.With("component", "admin")) })
	}
	g.Go(func() error { return serve(ctx, ln, h, logger.With("component", "http")) })
	if demo != nil {
		// The demo moves: the simulators change their data and tell the
		// gateway by webhook, so subscriptions show live events.
		g.Go(func() error {
			demo.RunChanges(ctx, sim.Changes{Target: base, Secret: sim.DemoWebhookSecret, Every: demoChangeEvery}, logger.With("component", "sim"))
			return nil
		})
	}
	return g.Wait()
}

const (
	// adminDefault is where the admin listener goes unless -admin-listen
	// says otherwise: loopback only, Prometheus's own default port.
	adminDefault = "127.0.0.1:9090"
	// directoryRefresh is how often the customer directory rereads the
	// three customer lists.
	directoryRefresh = 10 * time.Minute
	// loaderWait is how long a loader collects keys before calling upstream.
	loaderWait = time.Millisecond
	// sourceRecheck is how often a source that failed its check is
	// checked again.
	sourceRecheck = 10 * time.Second
	// demoChangeEvery is how often the demo's simulators change something.
	demoChangeEvery = 3 * time.Second
	// demoPollEvery is how often the demo gateway polls the simulated CRM.
	demoPollEvery = 5 * time.Second
	// subscriberBuffer is how many changes a subscriber may fall behind
	// before it is asked to resume.
	subscriberBuffer = 1024
	// dedupeRecords is how many records the de-duplication stage remembers.
	dedupeRecords = 100_000
)

// newLogger is the logger the config asks for.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cmp.Or(c.Level, "info")))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// sourceChecks probes each source once at start with a cheap
// authenticated call, so that a wrong URL, refused credentials or an
// unreachable host is logged (with the URL and the HTTP status) and shown
// in /readyz at once, not first met by a client's query. A source that
// failed is probed again every few seconds until it answers.
type sourceChecks struct {
	mu   sync.Mutex
	errs map[model.System]error // nil until the first round is done
}

func (c *sourceChecks) run(ctx context.Context, set *sources.Set, every time.Duration, logger *slog.Logger) {
	failing := map[model.System]bool{}
	for {
		errs := set.Probe(ctx)
		if ctx.Err() != nil {
			return
		}
		passed := true
		for system, err := range errs {
			switch {
			case err != nil && !failing[system]:
				logger.Error("source check failed: its fields are null until it answers", "system", system, "err", err)
			case err == nil && failing[system]:
				logger.Info("source check passed", "system", system)
			}
			failing[system] = err != nil
			passed = passed && err == nil
		}
		c.mu.Lock()
		c.errs = errs
		c.mu.Unlock()
		if passed {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// state is a source's check as /readyz shows it.
func (c *sourceChecks) state(system model.System) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch err, done := c.errs[system]; {
	case !done:
		return "checking"
	case err != nil:
		return err.Error()
	}
	return "ok"
}

// listenAdmin opens the admin listener. An address the user gave must
// bind, or start-up fails saying so; "off" opens none. By default it binds
// adminDefault, or a free loopback port when another program holds that:
// the gateway never dies for a port nobody asked for, and never listens
// beyond loopback unless told to.
func listenAdmin(addr string, explicit bool) (net.Listener, error) {
	if !explicit {
		ln, err := net.Listen("tcp", adminDefault)
		if errors.Is(err, syscall.EADDRINUSE) {
			return net.Listen("tcp", "127.0.0.1:0")
		}
		return ln, err
	}
	if addr == "off" {
		return nil, nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return nil, fmt.Errorf("-admin-listen: %q is not host:port (127.0.0.1:9090) or off", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-admin-listen %s: %w", addr, err)
	}
	return ln, nil
}

// adminHandler serves what operators look at, away from the clients'
// listener: metrics, liveness, readiness and pprof.
func adminHandler(m *metrics.Metrics, ready func() map[string]string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /healthz", gateway.Healthz())
	mux.Handle("GET /readyz", gateway.Readyz(ready))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// countChanges counts the changes a stage of the change path is handed.
func countChanges(m *metrics.Metrics, stage string, next func(context.Context, []events.Change) error) func(context.Context, []events.Change) error {
	return func(ctx context.Context, changes []events.Change) error {
		for _, c := range changes {
			m.Change(string(c.System), string(c.Kind), stage, 1)
		}
		return next(ctx, changes)
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

// newAPIKey makes a random client key and prints it with the config entry
// that admits it: the key goes to the client, only its hash to the config.
// Flags may stand before or after the name.
func newAPIKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trestle apikey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	roles := fs.String("roles", "", "the client's roles, comma-separated: "+strings.Join(config.Roles, ", ")+" (default none)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: trestle apikey [-roles ROLE,...] NAME\n\n"+
			"Makes a key for the client NAME and prints it, with the config entry that admits it\n"+
			"(the config keeps only the key's SHA-256).\n\n")
		fs.PrintDefaults()
	}
	var names []string
	for rest := args; ; rest = fs.Args()[1:] {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
	}
	if len(names) != 1 {
		fs.Usage()
		return fmt.Errorf("apikey: want one client name, not %d", len(names))
	}
	name := names[0]
	if !keyName.MatchString(name) {
		return fmt.Errorf("apikey: %q is not a client name: letters, digits, '.', '_' and '-', starting with a letter or digit (flags go before the name: trestle apikey -h)", name)
	}
	var granted []string
	for r := range strings.SplitSeq(*roles, ",") {
		if r = strings.ToUpper(strings.TrimSpace(r)); r == "" {
			continue
		}
		if !slices.Contains(config.Roles, r) {
			return fmt.Errorf("apikey: -roles: %q is not a role (want %s)", r, strings.Join(config.Roles, ", "))
		}
		granted = append(granted, r)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	key := "trk_" + base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(key))
	fmt.Fprintf(stdout, "key (give it to the client, sent as X-API-Key): %s\n\nconfig:\nauth:\n  apiKeys:\n    - { name: %s, sha256: %x, roles: [%s] }\n",
		key, name, sum, strings.Join(granted, ", "))
	return nil
}

// keyName is what a client's name may be: one YAML word, never a flag.
var keyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// openBus is the in-process bus, or with events.nats.url the JetStream
// stream that replicas share.
func openBus(ctx context.Context, cfg config.Events, apply func(events.Change), logger *slog.Logger) (events.Bus, error) {
	if cfg.NATS.URL == "" {
		return events.NewMemory(cfg.Replay, subscriberBuffer, apply), nil
	}
	js, err := events.NewJetStream(ctx, events.JetStreamOptions{URL: cfg.NATS.URL, Stream: cfg.NATS.Stream,
		Replay: cfg.Replay, Buffer: subscriberBuffer, Apply: apply, Logger: logger})
	if err != nil {
		return nil, err
	}
	logger.Info("changes go through NATS JetStream", "stream", cfg.NATS.Stream)
	return js, nil
}

// tuneGC lets the heap grow to five times what is live before it is
// collected (GOGC=400), within a soft limit of twice the cache's bound plus
// 512 MiB. An operation allocates much that dies young; collecting less
// often makes a cold 100-order query about 12 % faster under load.
// GOGC and GOMEMLIMIT, when set, win.
func tuneGC(cacheMB int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit((2*cacheMB + 512) << 20)
	}
}

func cacheTTL(byName map[string]time.Duration) map[cache.Kind]time.Duration {
	out := make(map[cache.Kind]time.Duration, len(byName))
	for k, d := range byName {
		out[cache.Kind(k)] = d
	}
	return out
}

// runSim serves the three simulated upstreams on one listener.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("trestle sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve the simulators on")
	seed := fs.Uint64("seed", 1, "seed of the generated data set")
	latency := fs.Duration("latency", 0, "fixed latency of every upstream")
	jitter := fs.Duration("jitter", 0, "random extra latency of every upstream, up to this")
	faults := fs.String("faults", "", `knobs per system as JSON, as POST /_sim/faults takes them: '{"crm":{"rate_limit_rate":0.1}}'`)
	webhookTarget := fs.String("webhook-target", "", "base URL of a gateway to send signed change webhooks to (its /webhooks/shop and /webhooks/erp)")
	changeEvery := fs.Duration("change-every", 3*time.Second, "how often to make a change when -webhook-target is set")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *changeEvery <= 0 {
		return fmt.Errorf("-change-every must be positive, not %v", *changeEvery)
	}

	start := time.Now()
	s := sim.New(sim.Options{World: world.Options{Seed: *seed}})
	all := sim.Faults{LatencyMS: ms(*latency), JitterMS: ms(*jitter)}
	for _, u := range s.Upstreams() {
		u.SetFaults(all)
	}
	if *faults != "" {
		if err := s.ApplyFaults([]byte(*faults)); err != nil {
			return fmt.Errorf("-faults: %w", err)
		}
	}
	logger.Info("data set generated", "seed", *seed, "people", len(s.World.People), "orders", len(s.World.Orders),
		"invoices", len(s.World.Invoices), "products", len(s.World.Products), "took", time.Since(start).Round(time.Millisecond))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	src := s.Sources(base)
	fmt.Fprintf(stdout, `Trestle upstream simulators on %s
  shop (WooCommerce wc/v3)  %-28s API under /wp-json/wc/v3, HTTP Basic %s:%s
  crm  (HubSpot CRM v3)     %-28s API under /crm/v3, Authorization: Bearer %s
  erp  (ERPNext / Frappe)   %-28s API under /api/resource, Authorization: token %s:%s
`, base, src.Shop.URL, src.Shop.ConsumerKey, src.Shop.ConsumerSecret, src.CRM.URL, src.CRM.Token,
		src.ERP.URL, src.ERP.APIKey, src.ERP.APISecret)
	fmt.Fprintf(stdout, "  admin                     %[1]s/_sim/stats  POST %[1]s/_sim/reset  POST %[1]s/_sim/faults\n", base)
	fmt.Fprintf(stdout, `
The sources of a config for them (each url is the system's site root):
sources:
  shop: { kind: %s, url: %s, consumerKey: %s, consumerSecret: %s }
  crm:  { kind: %s, url: %s, token: %s }
  erp:  { kind: %s, url: %s, apiKey: %s, apiSecret: %s, timeZone: %s }
`, src.Shop.Kind, src.Shop.URL, src.Shop.ConsumerKey, src.Shop.ConsumerSecret,
		src.CRM.Kind, src.CRM.URL, src.CRM.Token,
		src.ERP.Kind, src.ERP.URL, src.ERP.APIKey, src.ERP.APISecret, src.ERP.TimeZone)

	if *webhookTarget == "" {
		return serve(ctx, ln, s.Handler(), logger)
	}
	fmt.Fprintf(stdout, "  changes every %s, as webhooks signed with %q, to %s/webhooks/\n", *changeEvery, sim.DemoWebhookSecret, *webhookTarget)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(ctx, ln, s.Handler(), logger) })
	g.Go(func() error {
		s.RunChanges(ctx, sim.Changes{Target: strings.TrimSuffix(*webhookTarget, "/"), Secret: sim.DemoWebhookSecret, Every: *changeEvery}, logger)
		return nil
	})
	return g.Wait()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// serve runs an HTTP server until ctx ends, then shuts it down with a fresh
// timeout so requests in flight can finish.
func serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if c, ok := h.(interface{ Close() }); ok {
		srv.RegisterOnShutdown(c.Close) // WebSocket connections, which Shutdown does not wait for
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
