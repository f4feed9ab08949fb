// Package config reads Trestle's YAML config file: strict decoding (unknown
// keys are errors), ${VAR} expansion from the environment in string values,
// defaults, and validation that reports every problem at once, each with the
// path of its key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"go.yaml.in/yaml/v3"

	"github.com/trestlehq/trestle/cache"
	"github.com/trestlehq/trestle/consolidate"
)

// Config is the whole config file.
type Config struct {
	// Demo is set when the config names no sources: the built-in
	// simulators stand in for the three systems (see Demo).
	Demo   bool   `yaml:"-"`
	Listen string `yaml:"listen"`
	// AdminListen is the admin listener's address (metrics, readiness,
	// pprof), or "off". Unset, it is 127.0.0.1:9090, or a free loopback
	// port when another program holds that.
	AdminListen string  `yaml:"adminListen"`
	Sources     Sources `yaml:"sources"`
	Cache       Cache   `yaml:"cache"`
	// CollapseQueries runs identical queries in flight at the same time
	// once and shares the response.
	CollapseQueries bool `yaml:"collapseQueries"`
	// RequestTimeout bounds the whole of a query, however many upstream
	// calls and retries it makes. A subscription waits for its next
	// change as long as it takes.
	RequestTimeout time.Duration `yaml:"requestTimeout"`
	Join           Join          `yaml:"join"`
	Events         Events        `yaml:"events"`
	// Origins are the browser origins, besides the gateway's own, allowed
	// to call the gateway (CORS) and open WebSocket subscriptions: host
	// patterns (app.example.com, *.example.com).
	Origins []string `yaml:"origins"`
	// TrustedProxies are the load balancers and proxies in front of the
	// gateway (addresses or CIDR ranges): behind them a client is known by
	// the address they add to X-Forwarded-For, for per-client rate limits.
	TrustedProxies []string `yaml:"trustedProxies"`
	Auth           Auth     `yaml:"auth"`
	// Introspection answers __schema and __type queries, and suggests field
	// names in validation errors. Off unless set (the demo sets it).
	Introspection bool `yaml:"introspection"`
	// Subgraph serves _service and _entities, so that a federation router
	// (Apollo Router, Cosmo, Hive Gateway) can put Trestle's types in its
	// supergraph and resolve them by key. Off unless set: the plain gateway
	// refuses both.
	Subgraph bool   `yaml:"subgraph"`
	Limits   Limits `yaml:"limits"`
	Log      Log    `yaml:"log"`
	// DebugHeader lets clients ask with X-Trestle-Debug: 1 how an
	// operation was answered (extensions.trestle). Off unless set.
	DebugHeader bool `yaml:"debugHeader"`
	// WebSocket tunes graphql-transport-ws connections.
	WebSocket WebSocket `yaml:"websocket"`
	// TrustedDocuments are operations registered ahead, in a manifest
	// file; with only, nothing else runs.
	TrustedDocuments TrustedDocuments `yaml:"trustedDocuments"`
	// Tracing exports OpenTelemetry traces; off unless an endpoint is set.
	Tracing Tracing `yaml:"tracing"`
	// Store is the reporting store: a consolidated copy of the three
	// systems that reports read. Off unless a path is set (the demo keeps
	// one of its own).
	Store Store `yaml:"store"`
}

// Store configures the reporting store: an SQLite file (path), or a
// PostgreSQL database that replicas share (postgres.url).
type Store struct {
	// Path is the store's SQLite file, made when missing.
	Path string `yaml:"path"`
	// Postgres is a PostgreSQL database the replicas share: one syncs it
	// at a time, all read it.
	Postgres Postgres `yaml:"postgres"`
	// Optional starts the live graph even when the store cannot be opened
	// (the reports are then off, and say so).
	Optional bool `yaml:"optional"`
	// Sweep is how often the store reads what changed upstream since the
	// last sweep, to repair what the change path missed (WooCommerce sends
	// no webhook twice). The store is complete up to the last sweep.
	Sweep time.Duration `yaml:"sweep"`
}

// Postgres is a PostgreSQL database.
type Postgres struct {
	// URL is postgres://user:password@host:port/database?sslmode=…; use
	// ${VAR} for the password.
	URL string `yaml:"url"`
}

// Tracing sends a span per operation, loader batch and upstream call to an
// OTLP collector over HTTP.
type Tracing struct {
	Endpoint string            `yaml:"endpoint"` // OTLP/HTTP: http://collector:4318 (traces go to /v1/traces)
	Headers  map[string]string `yaml:"headers"`  // sent with every export, such as an API key
	// SampleRatio is the share of traces started here that are recorded;
	// a caller's sampling decision (traceparent) is followed. Default 1.
	SampleRatio float64 `yaml:"sampleRatio"`
	ServiceName string  `yaml:"serviceName"`
}

// Log says how the gateway logs: one line per operation and per upstream
// failure, among others.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn or error
}

// WebSocket tunes graphql-transport-ws connections.
type WebSocket struct {
	InitTimeout  time.Duration `yaml:"initTimeout"`  // to send connection_init
	KeepAlive    time.Duration `yaml:"keepAlive"`    // ping an idle client this often
	WriteTimeout time.Duration `yaml:"writeTimeout"` // a client not reading this long is disconnected
}

// TrustedDocuments names the manifest of registered operations.
type TrustedDocuments struct {
	File string `yaml:"file"`
	Only bool   `yaml:"only"`
}

// Limits bound what one request may ask for.
type Limits struct {
	Depth      int   `yaml:"depth"`
	Complexity int   `yaml:"complexity"`
	Aliases    int   `yaml:"aliases"`
	RootFields int   `yaml:"rootFields"`
	Tokens     int   `yaml:"tokens"`
	BodyBytes  int64 `yaml:"bodyBytes"`
	// Each client (API key, token subject, or address when anonymous)
	// may send this many requests, of this much complexity, a minute;
	// 0 for no bound.
	RequestsPerMinute   int `yaml:"requestsPerMinute"`
	ComplexityPerMinute int `yaml:"complexityPerMinute"`
}

// Auth says who may query the gateway, and with which roles.
type Auth struct {
	// Anonymous lets requests without credentials in, with
	// AnonymousRoles. Off unless set.
	Anonymous      bool     `yaml:"anonymous"`
	AnonymousRoles []string `yaml:"anonymousRoles"`
	APIKeys        []APIKey `yaml:"apiKeys"`
	JWT            *JWT     `yaml:"jwt"`
}

// APIKey is a client's key, kept as the hex SHA-256 of the key itself
// (`trestle apikey` makes one).
type APIKey struct {
	Name   string   `yaml:"name"`
	SHA256 string   `yaml:"sha256"`
	Roles  []string `yaml:"roles"`
}

// JWT configures bearer tokens: verified with the issuer's JWKS, a PEM
// public key or an HMAC secret, with issuer, audience and expiry checked.
type JWT struct {
	JWKSURL    string `yaml:"jwksURL"`
	PublicKey  string `yaml:"publicKey"`
	Secret     string `yaml:"secret"`
	Issuer     string `yaml:"issuer"`
	Audience   string `yaml:"audience"`
	RolesClaim string `yaml:"rolesClaim"`
}

// Roles are the roles the graph knows (its Role enum).
var Roles = []string{"FINANCE"}

// Events configures the change path: webhooks in, the bus out.
type Events struct {
	Webhooks Webhooks `yaml:"webhooks"`
	// Replay is how many of the latest changes are kept for subscribers
	// that resume.
	Replay int `yaml:"replay"`
	// NATS, when its url is set, carries the changes through a JetStream
	// stream that several replicas share, instead of the in-process bus.
	NATS NATS `yaml:"nats"`
}

// NATS configures the shared bus.
type NATS struct {
	URL    string `yaml:"url"` // nats://host:4222
	Stream string `yaml:"stream"`
}

// Poll configures reading an upstream's changes by modification time, for
// a system that sends no webhooks to the gateway.
type Poll struct {
	Every   time.Duration `yaml:"every"`   // how often; unset for no polling
	Overlap time.Duration `yaml:"overlap"` // read back this far for clock skew
}

// Webhooks configures the receivers at /webhooks/{shop,crm,erp}.
type Webhooks struct {
	// PublicURL is the gateway's address as the upstreams call it, when a
	// proxy stands in front of it (HubSpot signs the full URL).
	PublicURL string `yaml:"publicURL"`
	// Secrets each system signs with; a system without one has no receiver.
	Secrets WebhookSecrets `yaml:"secrets"`
}

// WebhookSecrets are the systems' webhook signing secrets.
type WebhookSecrets struct {
	Shop string `yaml:"shop"` // the WooCommerce webhook's secret
	CRM  string `yaml:"crm"`  // the HubSpot app's client secret
	ERP  string `yaml:"erp"`  // the ERPNext webhook's secret
}

// Join says how one customer's records are recognised across systems.
type Join struct {
	// Key is the field the records are joined by: "email" (compared
	// trimmed and lower-cased) or "phone" (compared by its digits).
	Key string `yaml:"key"`
}

// Sources are the three upstream systems, by role.
type Sources struct {
	Shop Source `yaml:"shop"`
	CRM  Source `yaml:"crm"`
	ERP  Source `yaml:"erp"`
}

// Source is one upstream system. Which credential fields apply depends on
// the kind: woocommerce takes consumerKey and consumerSecret, hubspot a
// token, erpnext apiKey and apiSecret.
type Source struct {
	Kind           string `yaml:"kind"`
	URL            string `yaml:"url"`
	ConsumerKey    string `yaml:"consumerKey"`
	ConsumerSecret string `yaml:"consumerSecret"`
	Token          string `yaml:"token"`
	APIKey         string `yaml:"apiKey"`
	APISecret      string `yaml:"apiSecret"`
	// TimeZone is an ERPNext site's system time zone (IANA name), which its
	// timestamps are in. Default UTC.
	TimeZone string `yaml:"timeZone"`
	// Currency is the shop's or the ERP company's currency; read from the
	// shop when empty.
	Currency string `yaml:"currency"`
	// Timeout bounds each call; MaxConns the connections, and the calls
	// in flight.
	Timeout  time.Duration `yaml:"timeout"`
	MaxConns int           `yaml:"maxConns"`
	Poll     Poll          `yaml:"poll"`
	// Retry, Breaker and RateLimit cope with an upstream that fails or
	// limits its callers.
	Retry     Retry     `yaml:"retry"`
	Breaker   Breaker   `yaml:"breaker"`
	RateLimit RateLimit `yaml:"rateLimit"`
}

// Retry configures retrying an idempotent read that failed in a way that
// may pass: unavailable, or rate limited with a short Retry-After.
type Retry struct {
	Attempts      int           `yaml:"attempts"` // tries, the first included
	Backoff       time.Duration `yaml:"backoff"`  // before the first retry, doubling
	MaxBackoff    time.Duration `yaml:"maxBackoff"`
	Budget        float64       `yaml:"budget"`        // share of calls in flight that may be retries
	MaxRetryAfter time.Duration `yaml:"maxRetryAfter"` // longest Retry-After waited for
}

// Breaker configures the circuit breaker in front of an upstream.
type Breaker struct {
	Failures int           `yaml:"failures"` // failures in a row that open it
	OpenFor  time.Duration `yaml:"openFor"`  // failing fast before trying again
}

// RateLimit is a client-side limit on the calls to an upstream.
type RateLimit struct {
	Requests int           `yaml:"requests"` // at most this many calls
	Per      time.Duration `yaml:"per"`      // in any window this long
}

// Cache configures the entity cache.
type Cache struct {
	MaxMB       int64                    `yaml:"maxMB"`
	TTL         map[string]time.Duration `yaml:"ttl"`
	NegativeTTL time.Duration            `yaml:"negativeTTL"`
	// StaleIfError is how long past its TTL an entity may still be
	// served, marked stale in the response, while its upstream fails;
	// 0s for never.
	StaleIfError time.Duration `yaml:"staleIfError"`
	// Disabled keeps no entities: every read goes upstream (concurrent
	// reads of one entity still share one call), and no answers.
	Disabled bool `yaml:"disabled"`
	// Responses keeps whole answers to queries until a change to what
	// they read drops them.
	Responses ResponseCache `yaml:"responses"`
}

// ResponseCache configures the cache of whole answers.
type ResponseCache struct {
	Disabled bool  `yaml:"disabled"`
	MaxMB    int64 `yaml:"maxMB"`
}

// Kinds of source each role accepts.
var sourceKinds = map[string][]string{
	"shop": {"woocommerce"},
	"crm":  {"hubspot"},
	"erp":  {"erpnext"},
}

// Default is the config with nothing set: every default, no sources
// (DefaultSource has a source's). This is the one place Trestle's defaults
// are written; testdata/defaults.yaml shows them, and the packages a
// setting goes to take their fallbacks from here.
func Default() Config {
	ttl := map[string]time.Duration{}
	for kind, d := range cache.DefaultTTL() {
		ttl[string(kind)] = d
	}
	return Config{
		Listen: "127.0.0.1:8080",
		Cache: Cache{MaxMB: cache.DefaultMaxBytes >> 20, TTL: ttl, NegativeTTL: cache.DefaultNegativeTTL,
			StaleIfError: 5 * time.Minute, Responses: ResponseCache{MaxMB: cache.DefaultResponseBytes >> 20}},
		CollapseQueries: true,
		RequestTimeout:  30 * time.Second,
		Join:            Join{Key: "email"},
		Events:          Events{Replay: 10_000, NATS: NATS{Stream: "TRESTLE_CHANGES"}},
		Limits:          Limits{Depth: 10, Complexity: 50_000, Aliases: 15, RootFields: 20, Tokens: 5_000, BodyBytes: 1 << 20},
		Log:             Log{Format: "text", Level: "info"},
		WebSocket:       WebSocket{InitTimeout: 10 * time.Second, KeepAlive: 10 * time.Second, WriteTimeout: 10 * time.Second},
		Tracing:         Tracing{SampleRatio: 1, ServiceName: "trestle"},
		Store:           Store{Sweep: 24 * time.Hour},
	}
}

// DefaultSource is what a source of the kind takes for what its config
// leaves out.
func DefaultSource(kind string) Source {
	s := Source{
		Timeout:  10 * time.Second,
		MaxConns: 64,
		Poll:     Poll{Overlap: 5 * time.Second},
		Retry: Retry{Attempts: 3, Backoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second, Budget: 0.2,
			MaxRetryAfter: 2 * time.Second},
		Breaker: Breaker{Failures: 5, OpenFor: 10 * time.Second},
	}
	if kind == "hubspot" {
		// A private app's ten-secondly limit on HubSpot's free and starter
		// tiers; professional and enterprise accounts allow 190.
		s.RateLimit = RateLimit{Requests: 100, Per: 10 * time.Second}
	}
	return s
}

// DefaultJWT is what a JWT section takes for what it leaves out.
func DefaultJWT() JWT { return JWT{RolesClaim: "roles"} }

// WithDefaults is the source with what it leaves out taken from
// DefaultSource.
func (s Source) WithDefaults() Source {
	return fill(s, DefaultSource(s.Kind))
}

// fill sets every zero field of v, deeply, to def's.
func fill[T any](v, def T) T {
	fillValue(reflect.ValueOf(&v).Elem(), reflect.ValueOf(def))
	return v
}

func fillValue(v, def reflect.Value) {
	if v.Kind() == reflect.Struct {
		for i := range v.NumField() {
			fillValue(v.Field(i), def.Field(i))
		}
		return
	}
	if v.IsZero() {
		v.Set(def)
	}
}

// Demo is the config of a gateway whose config names no sources, the
// first thing a newcomer runs: the built-in simulators stand in for the
// three systems (the caller fills in Sources), anyone may query with every
// role, the schema may be explored, and a frontend's dev server on this
// machine (any port) may call it from the browser.
func Demo() Config {
	c := Default()
	c.Demo = true
	c.Auth = Auth{Anonymous: true, AnonymousRoles: Roles}
	c.Introspection = true
	c.DebugHeader = true
	c.Origins = []string{"localhost:*", "127.0.0.1:*"}
	// The demo's world changes every few seconds: its store catches up
	// often, so that its watermark stays near the present.
	c.Store.Sweep = time.Minute
	return c
}

// Load reads and validates a config file.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	return Parse(f, os.LookupEnv)
}

// Parse decodes a config from r, expands ${VAR} from lookup, applies
// defaults and validates. The error lists every problem. A config that
// names no sources changes the demo: its settings go on top of Demo's, an
// auth section of its own replacing the demo's open door.
func Parse(r io.Reader, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	data, err := io.ReadAll(r)
	if err != nil {
		return cfg, err
	}
	data, env := substitute(data, lookup)
	var sections map[string]any
	_ = yaml.Unmarshal(data, &sections) // what does not parse is reported below
	if _, ok := sections["sources"]; !ok {
		cfg = Demo()
		if _, ok := sections["auth"]; ok {
			cfg.Auth = Auth{}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs []error
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return cfg, fmt.Errorf("config: %s", env.restore(err.Error()))
		}
		// The decoder went on past these; what it could decode is checked
		// too, so every problem is reported at once.
		for _, e := range te.Errors {
			errs = append(errs, errors.New(env.restore(unknownKey(strings.TrimPrefix(e, "yaml: ")))))
		}
	}
	errs = append(errs, env.expand(reflect.ValueOf(&cfg).Elem(), "")...)
	for _, src := range []*Source{&cfg.Sources.Shop, &cfg.Sources.CRM, &cfg.Sources.ERP} {
		if src.Kind != "" || src.URL != "" {
			*src = src.WithDefaults()
		}
	}
	if cfg.Auth.JWT != nil {
		*cfg.Auth.JWT = fill(*cfg.Auth.JWT, DefaultJWT())
	}
	errs = append(errs, cfg.validate()...)
	if len(errs) > 0 {
		return cfg, Problems(errs)
	}
	return cfg, nil
}

// notFound is how the YAML decoder reports a key the config does not have.
var notFound = regexp.MustCompile(`^(line \d+): field (\S+) not found in type config\.(\w+)$`)

// unknownKey says of a key the config does not have just that, with the
// key it most likely means, rather than the decoder's Go type names.
func unknownKey(msg string) string {
	m := notFound.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	out := fmt.Sprintf("%s: %s is not a key here", m[1], m[2])
	if t, ok := sectionTypes[m[3]]; ok {
		best, bestDist := "", 3 // at most two edits away
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if d := levenshtein.ComputeDistance(strings.ToLower(name), strings.ToLower(m[2])); name != "-" && d < bestDist {
				best, bestDist = name, d
			}
		}
		if best != "" {
			out += " (did you mean " + best + "?)"
		}
	}
	return out
}

// sectionTypes are the config's sections by their Go type name, as the
// YAML decoder names them.
var sectionTypes = func() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeFor[Config]().PkgPath() || out[t.Name()] != nil {
			return
		}
		out[t.Name()] = t
		for i := range t.NumField() {
			walk(t.Field(i).Type)
		}
	}
	walk(reflect.TypeFor[Config]())
	return out
}()

// Problems is every problem found in a config, each naming its key.
type Problems []error

func (p Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config has %d problem(s):", len(p))
	for _, err := range p {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (p Problems) Unwrap() []error { return p }

var (
	envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	envTok = regexp.MustCompile(`zenv[0-9]+z`) // short: the parser quotes at most 10 characters
	// plain is what may stand in a YAML plain scalar anywhere, flow mappings
	// included, without changing the document's structure.
	plain = regexp.MustCompile(`^[A-Za-z0-9._~/+=@-]*$`)
)

// envRefs maps the placeholder tokens put in the YAML text to the variables
// they stand for.
type envRefs struct {
	names  map[string]string
	lookup func(string) (string, bool)
}

// substitute expands ${VAR} before the YAML is parsed, as the example
// configs write references unquoted inside flow mappings. A value that could
// change the YAML's structure (a secret with ':', '#', '{' or quotes) or a
// variable that is unset goes in as a placeholder token instead, restored in
// the decoded strings, so values never go through the YAML parser.
func substitute(data []byte, lookup func(string) (string, bool)) ([]byte, envRefs) {
	env := envRefs{names: map[string]string{}, lookup: lookup}
	out := envRef.ReplaceAllFunc(data, func(ref []byte) []byte {
		name := string(ref[2 : len(ref)-1])
		if v, ok := lookup(name); ok && plain.MatchString(v) {
			return []byte(v)
		}
		tok := fmt.Sprintf("zenv%dz", len(env.names))
		env.names[tok] = name
		return []byte(tok)
	})
	return out, env
}

// restore puts the ${VAR} references back into a parser message.
func (e envRefs) restore(msg string) string {
	return envTok.ReplaceAllStringFunc(msg, func(tok string) string {
		if name, ok := e.names[tok]; ok {
			return "${" + name + "}"
		}
		return tok
	})
}

// expand replaces placeholder tokens in every string field with their
// variables' values, reporting unset variables with the path of their key.
func (e envRefs) expand(v reflect.Value, path string) []error {
	var errs []error
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			errs = append(errs, e.expand(v.Field(i), join(path, name))...)
		}
	case reflect.String:
		if len(e.names) == 0 {
			return nil
		}
		v.SetString(envTok.ReplaceAllStringFunc(v.String(), func(tok string) string {
			name, ok := e.names[tok]
			if !ok {
				return tok
			}
			val, set := e.lookup(name)
			if !set {
				errs = append(errs, fmt.Errorf("%s: environment variable %s is not set", path, name))
			}
			return val
		}))
	}
	return errs
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (c *Config) validate() []error {
	var errs []error
	if !IsHostPort(c.Listen) {
		errs = append(errs, fmt.Errorf("listen: %q is not a host:port address", c.Listen))
	}
	if c.AdminListen != "" && c.AdminListen != "off" && !IsHostPort(c.AdminListen) {
		errs = append(errs, fmt.Errorf("adminListen: %q is not a host:port address or off", c.AdminListen))
	}
	for _, s := range []struct {
		role string
		src  *Source
	}{{"shop", &c.Sources.Shop}, {"crm", &c.Sources.CRM}, {"erp", &c.Sources.ERP}} {
		if !c.Demo { // in the demo the simulators stand in
			errs = append(errs, s.src.validate("sources."+s.role, s.role)...)
		}
	}
	if c.Cache.MaxMB <= 0 {
		errs = append(errs, fmt.Errorf("cache.maxMB: must be positive, not %d", c.Cache.MaxMB))
	}
	if c.Cache.Responses.MaxMB <= 0 {
		errs = append(errs, fmt.Errorf("cache.responses.maxMB: must be positive, not %d", c.Cache.Responses.MaxMB))
	}
	for _, kind := range slices.Sorted(maps.Keys(c.Cache.TTL)) {
		ttl := c.Cache.TTL[kind]
		if _, ok := cache.DefaultTTL()[cache.Kind(kind)]; !ok {
			var kinds []string
			for k := range cache.DefaultTTL() {
				kinds = append(kinds, string(k))
			}
			slices.Sort(kinds)
			errs = append(errs, fmt.Errorf("cache.ttl.%s: unknown kind (want one of %s)", kind, strings.Join(kinds, ", ")))
		} else if ttl <= 0 {
			errs = append(errs, fmt.Errorf("cache.ttl.%s: must be positive, not %v", kind, ttl))
		}
	}
	if _, ok := consolidate.JoinKeys[c.Join.Key]; !ok {
		names := slices.Sorted(maps.Keys(consolidate.JoinKeys))
		errs = append(errs, fmt.Errorf("join.key: %q is not a join key (want %s)", c.Join.Key, strings.Join(names, " or ")))
	}
	if c.Events.Replay < 1 {
		errs = append(errs, fmt.Errorf("events.replay: must be at least 1, not %d", c.Events.Replay))
	}
	if u := c.Events.Webhooks.PublicURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("events.webhooks.publicURL: %q is not an http or https URL", u))
		}
	}
	if u := c.Events.NATS.URL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
			errs = append(errs, fmt.Errorf("events.nats.url: %q is not a nats:// or tls:// URL", u))
		}
	} else if c.Events.NATS.Stream != Default().Events.NATS.Stream {
		errs = append(errs, fmt.Errorf("events.nats.stream: needs events.nats.url"))
	}
	for i, o := range c.Origins {
		if _, err := path.Match(o, ""); err != nil || o == "" || strings.Contains(o, "://") {
			errs = append(errs, fmt.Errorf("origins[%d]: %q is not a host pattern (app.example.com, *.example.com)", i, o))
		}
	}
	for i, p := range c.TrustedProxies {
		if _, err := ParseProxy(p); err != nil {
			errs = append(errs, fmt.Errorf("trustedProxies[%d]: %q is not an address or CIDR range", i, p))
		}
	}
	errs = append(errs, c.Auth.validate()...)
	errs = append(errs, negative("websocket", []named[time.Duration]{{"initTimeout", c.WebSocket.InitTimeout},
		{"keepAlive", c.WebSocket.KeepAlive}, {"writeTimeout", c.WebSocket.WriteTimeout}})...)
	if !slices.Contains([]string{"", "text", "json"}, c.Log.Format) {
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if !slices.Contains([]string{"", "debug", "info", "warn", "error"}, c.Log.Level) {
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	if t := c.Tracing; t.Endpoint != "" {
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("tracing.endpoint: %q is not an http or https URL", t.Endpoint))
		}
	}
	if r := c.Tracing.SampleRatio; r < 0 || r > 1 {
		errs = append(errs, fmt.Errorf("tracing.sampleRatio: must be between 0 and 1, not %v", r))
	}
	if c.TrustedDocuments.Only && c.TrustedDocuments.File == "" {
		errs = append(errs, errors.New("trustedDocuments.file: required when only trusted documents run"))
	}
	l := c.Limits
	errs = append(errs, negative("limits", []named[int64]{{"depth", int64(l.Depth)}, {"complexity", int64(l.Complexity)},
		{"aliases", int64(l.Aliases)}, {"rootFields", int64(l.RootFields)}, {"tokens", int64(l.Tokens)}, {"bodyBytes", l.BodyBytes},
		{"requestsPerMinute", int64(l.RequestsPerMinute)}, {"complexityPerMinute", int64(l.ComplexityPerMinute)}})...)
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("requestTimeout: must be positive"))
	}
	if c.Store.Path != "" && c.Store.Postgres.URL != "" {
		errs = append(errs, errors.New("store: path and postgres.url both set: the store is one or the other"))
	}
	if u := c.Store.Postgres.URL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		errs = append(errs, errors.New("store.postgres.url: want postgres://user:password@host:port/database"))
	}
	if c.Store.Sweep < time.Second {
		errs = append(errs, fmt.Errorf("store.sweep: must be at least 1s, not %v", c.Store.Sweep))
	}
	if c.Cache.StaleIfError < 0 {
		errs = append(errs, fmt.Errorf("cache.staleIfError: must not be negative"))
	}
	if c.Cache.NegativeTTL < 0 {
		errs = append(errs, fmt.Errorf("cache.negativeTTL: must not be negative"))
	}
	return errs
}

func (a *Auth) validate() []error {
	var errs []error
	if !a.Anonymous && len(a.APIKeys) == 0 && a.JWT == nil {
		errs = append(errs, errors.New("auth: no client could get in: add apiKeys or jwt, or set anonymous: true"))
	}
	roles := func(path string, rs []string) {
		for _, r := range rs {
			if !slices.Contains(Roles, strings.ToUpper(r)) {
				errs = append(errs, fmt.Errorf("%s: %q is not a role (want %s)", path, r, strings.Join(Roles, ", ")))
			}
		}
	}
	roles("auth.anonymousRoles", a.AnonymousRoles)
	names := map[string]bool{}
	for i, k := range a.APIKeys {
		path := fmt.Sprintf("auth.apiKeys[%d]", i)
		if k.Name == "" || names[k.Name] {
			errs = append(errs, fmt.Errorf("%s.name: want a name of its own, not %q", path, k.Name))
		}
		names[k.Name] = true
		if !sha256Hex.MatchString(strings.TrimPrefix(k.SHA256, "sha256:")) {
			errs = append(errs, fmt.Errorf("%s.sha256: want the key's SHA-256 as 64 hex digits (trestle apikey makes a key and its hash)", path))
		}
		roles(path+".roles", k.Roles)
	}
	if j := a.JWT; j != nil {
		set := 0
		for _, v := range []string{j.JWKSURL, j.PublicKey, j.Secret} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			errs = append(errs, errors.New("auth.jwt: want exactly one of jwksURL, publicKey and secret"))
		}
		if u, err := url.Parse(j.JWKSURL); j.JWKSURL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			errs = append(errs, fmt.Errorf("auth.jwt.jwksURL: %q is not an http or https URL", j.JWKSURL))
		}
		if j.Issuer == "" || j.Audience == "" {
			errs = append(errs, errors.New("auth.jwt: issuer and audience are required, so that a token meant for another service is refused"))
		}
	}
	return errs
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (s *Source) validate(path, role string) []error {
	kinds := sourceKinds[role]
	if s.Kind == "" && s.URL == "" {
		return []error{fmt.Errorf("%s: missing (want kind %s, url and credentials)", path, strings.Join(kinds, " or "))}
	}
	var errs []error
	if !slices.Contains(kinds, s.Kind) {
		errs = append(errs, fmt.Errorf("%s.kind: %q is not a %s dialect (want %s)", path, s.Kind, role, strings.Join(kinds, " or ")))
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("%s.url: %q is not an http or https URL", path, s.URL))
	}
	for _, f := range []struct{ kind, name, value string }{
		{"woocommerce", "consumerKey", s.ConsumerKey}, {"woocommerce", "consumerSecret", s.ConsumerSecret},
		{"hubspot", "token", s.Token},
		{"erpnext", "apiKey", s.APIKey}, {"erpnext", "apiSecret", s.APISecret},
	} {
		switch {
		case f.kind == s.Kind && f.value == "":
			errs = append(errs, fmt.Errorf("%s.%s: required for %s", path, f.name, s.Kind))
		case f.kind != s.Kind && f.value != "":
			errs = append(errs, fmt.Errorf("%s.%s: does not apply to %s", path, f.name, s.Kind))
		}
	}
	if s.TimeZone != "" {
		if s.Kind != "erpnext" {
			errs = append(errs, fmt.Errorf("%s.timeZone: does not apply to %s", path, s.Kind))
		} else if _, err := time.LoadLocation(s.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("%s.timeZone: %q is not an IANA time zone", path, s.TimeZone))
		}
	}
	if s.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must not be negative", path))
	}
	if s.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("%s.maxConns: must not be negative", path))
	}
	if s.Poll.Every < 0 || (s.Poll.Every > 0 && s.Poll.Every < time.Second) {
		errs = append(errs, fmt.Errorf("%s.poll.every: must be at least 1s, not %v", path, s.Poll.Every))
	}
	if s.Poll.Overlap < 0 {
		errs = append(errs, fmt.Errorf("%s.poll.overlap: must not be negative", path))
	}
	r := s.Retry
	if r.Attempts < 0 || r.Attempts > 10 {
		errs = append(errs, fmt.Errorf("%s.retry.attempts: %d is not between 1 and 10", path, r.Attempts))
	}
	if r.Budget < 0 || r.Budget > 1 {
		errs = append(errs, fmt.Errorf("%s.retry.budget: %v is not a share between 0 and 1", path, r.Budget))
	}
	errs = append(errs, negative(path, []named[time.Duration]{{"retry.backoff", r.Backoff}, {"retry.maxBackoff", r.MaxBackoff},
		{"retry.maxRetryAfter", r.MaxRetryAfter}, {"breaker.openFor", s.Breaker.OpenFor}})...)
	if s.Breaker.Failures < 0 {
		errs = append(errs, fmt.Errorf("%s.breaker.failures: must not be negative", path))
	}
	if rl := s.RateLimit; rl.Requests < 0 || (rl.Requests > 0) != (rl.Per > 0) {
		errs = append(errs, fmt.Errorf("%s.rateLimit: want requests and per both set (100 per 10s), not %d per %v", path, rl.Requests, rl.Per))
	}
	return errs
}

// named is a value with the name of its key.
type named[T int64 | time.Duration] struct {
	name  string
	value T
}

// negative reports, in order, each value under path that is below zero.
func negative[T int64 | time.Duration](path string, values []named[T]) []error {
	var errs []error
	for _, v := range values {
		if v.value < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: must not be negative", path, v.name))
		}
	}
	return errs
}

// IsHostPort reports whether addr is a listen address, host:port (the host
// may be empty, for every interface).
func IsHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != ""
}

// ParseProxy reads a trusted proxy: an address (10.0.0.7) or a CIDR range
// (10.0.0.0/8).
func ParseProxy(s string) (netip.Prefix, error) {
	if addr, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}
