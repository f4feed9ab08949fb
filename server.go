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
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/trestlehq/trestle/app"
	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/world"
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
// simulators started in-process when it names none (or there is no config).
func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("trestle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "address to serve on (default: the config's listen, else 127.0.0.1:8080)")
	adminListen := fs.String("admin-listen", "", "address of the admin listener (/metrics, /healthz, /readyz, /debug/pprof/), or off\n(default: the config's adminListen, else 127.0.0.1:9090, or a free loopback port when that is taken)")
	configPath := fs.String("config", os.Getenv("TRESTLE_CONFIG"), "config file (or $TRESTLE_CONFIG); without one, built-in simulators stand in for the upstreams")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := config.Demo()
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			return err
		}
		logger = newLogger(cfg.Log, stderr)
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	var adminErr error
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "admin-listen" {
			return
		}
		if *adminListen != "off" && !config.IsHostPort(*adminListen) {
			adminErr = fmt.Errorf("-admin-listen: %q is not host:port (127.0.0.1:9090) or off", *adminListen)
		}
		cfg.AdminListen = *adminListen
	})
	if adminErr != nil {
		return adminErr
	}
	tuneGC(cfg.Cache.MaxMB)

	a, err := app.New(cfg, logger)
	if err != nil {
		return err
	}
	base := a.URL()
	fmt.Fprintf(stdout, "Trestle on %[1]s\n  playground  %[1]s/\n  GraphQL     %[1]s/query\n", base)
	if cfg.Introspection {
		fmt.Fprintf(stdout, "  schema      %s/schema.graphql\n", base)
	}
	if admin := a.AdminURL(); admin != "" {
		fmt.Fprintf(stdout, "  admin       %s/metrics, /readyz, /debug/pprof/\n", admin)
	} else {
		fmt.Fprintf(stdout, "  admin       off\n")
	}
	return a.Run(ctx)
}

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

// runSim serves the three simulated upstreams on one listener.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("trestle sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve the simulators on")
	seed := fs.Uint64("seed", 1, "seed of the generated data set")
	scale := fs.Int("scale", 1, "size of the data set, in multiples of the demo's (2,500 people, 20,000 orders, 500 products)")
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
	if *scale < 1 {
		return fmt.Errorf("-scale must be at least 1, not %d", *scale)
	}

	start := time.Now()
	s := sim.New(sim.Options{World: world.Options{Seed: *seed, Size: demoSize(*scale), Disagreements: true}})
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
A config for them (each url is the system's site root; the last two lines open
the gateway as the demo does: give real clients API keys instead):
sources:
  shop: { kind: %s, url: %s, consumerKey: %s, consumerSecret: %s }
  crm:  { kind: %s, url: %s, token: %s }
  erp:  { kind: %s, url: %s, apiKey: %s, apiSecret: %s, timeZone: %s }
auth: { anonymous: true, anonymousRoles: [FINANCE] }
introspection: true
`, src.Shop.Kind, src.Shop.URL, src.Shop.ConsumerKey, src.Shop.ConsumerSecret,
		src.CRM.Kind, src.CRM.URL, src.CRM.Token,
		src.ERP.Kind, src.ERP.URL, src.ERP.APIKey, src.ERP.APISecret, src.ERP.TimeZone)

	if *webhookTarget == "" {
		return app.Serve(ctx, ln, s.Handler(), logger)
	}
	fmt.Fprintf(stdout, "  changes every %s, as webhooks signed with %q, to %s/webhooks/\n", *changeEvery, sim.DemoWebhookSecret, *webhookTarget)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return app.Serve(ctx, ln, s.Handler(), logger) })
	g.Go(func() error {
		s.RunChanges(ctx, sim.Changes{Target: strings.TrimSuffix(*webhookTarget, "/"), Secret: sim.DemoWebhookSecret, Every: *changeEvery}, logger)
		return nil
	})
	return g.Wait()
}

// demoSize is the demo's data set, world's default size, times n.
func demoSize(n int) world.Size {
	return world.Size{People: 2_500 * n, Orders: 20_000 * n, Products: 500 * n}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
