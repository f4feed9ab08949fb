package config_test

import (
	"bytes"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trestlehq/trestle/config"
)

const valid = `
listen: 127.0.0.1:9000
sources:
  shop: { kind: woocommerce, url: http://127.0.0.1:8090/shop, consumerKey: ck_demo, consumerSecret: ${SHOP_SECRET} }
  crm:  { kind: hubspot,     url: http://127.0.0.1:8090/crm,  token: pat-demo, timeout: 3s, rateLimit: { requests: 190, per: 10s } }
  erp:  { kind: erpnext,     url: http://127.0.0.1:8090/erp,  apiKey: demo, apiSecret: demo, maxConns: 16,
          retry: { attempts: 2, budget: 0.1 }, breaker: { failures: 3, openFor: 30s } }
cache: { maxMB: 64, ttl: { stock: 2s, customers: 10m } }
auth: { anonymous: true }
websocket: { writeTimeout: 30s }
`

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseValid(t *testing.T) {
	// A secret with characters YAML would trip over stays intact.
	cfg, err := config.Parse(strings.NewReader(valid), env(map[string]string{"SHOP_SECRET": "cs_#: {x}, y"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || cfg.Sources.Shop.ConsumerSecret != "cs_#: {x}, y" ||
		cfg.Sources.CRM.Timeout != 3*time.Second || cfg.Sources.ERP.MaxConns != 16 ||
		cfg.Sources.CRM.RateLimit != (config.RateLimit{Requests: 190, Per: 10 * time.Second}) ||
		cfg.Sources.ERP.Retry.Attempts != 2 || cfg.Sources.ERP.Retry.Budget != 0.1 ||
		cfg.Sources.ERP.Breaker != (config.Breaker{Failures: 3, OpenFor: 30 * time.Second}) ||
		cfg.WebSocket.WriteTimeout != 30*time.Second ||
		cfg.Cache.MaxMB != 64 || cfg.Cache.TTL["customers"] != 10*time.Minute {
		t.Fatalf("parsed %+v", cfg)
	}
}

func TestParseDefaults(t *testing.T) {
	minimal := strings.Replace(valid, "listen: 127.0.0.1:9000\n", "", 1)
	minimal = minimal[:strings.Index(minimal, "cache:")] + "auth: { anonymous: true }\n"
	cfg, err := config.Parse(strings.NewReader(minimal), env(map[string]string{"SHOP_SECRET": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Cache.MaxMB != 256 || cfg.Join.Key != "email" || !cfg.CollapseQueries {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "not YAML",
			yaml: "listen: [",
			want: []string{"config:"},
		},
		{
			name: "unknown keys, with lines",
			yaml: "listen: 127.0.0.1:8080\nlisten_addr: x\ncache: { maxMB: 1, ttls: {} }\n",
			want: []string{"line 2: listen_addr is not a key here", "line 3: ttls is not a key here (did you mean ttl?)"},
		},
		{
			name: "typos of keys",
			yaml: "origin: [app.example.com]\nauth: { anonymus: true }\n",
			want: []string{"line 1: origin is not a key here (did you mean origins?)", "line 2: anonymus is not a key here (did you mean anonymous?)"},
		},
		{
			name: "variable in a number field",
			yaml: "cache: { maxMB: ${CACHE_MB} }\n",
			want: []string{"${CACHE_MB}"},
		},
		{
			name: "unknown keys and invalid values together",
			yaml: "listen: nowhere\nextra: 1\ncache: { maxMB: 0 }\n",
			want: []string{"extra is not a key here", `listen: "nowhere"`, "cache.maxMB: must be positive"},
		},
		{
			name: "no way in",
			yaml: strings.Replace(valid, "auth: { anonymous: true }", "", 1),
			want: []string{"auth: no client could get in"},
		},
		{
			name: "bad auth",
			yaml: strings.Replace(valid, "auth: { anonymous: true }", `auth:
  anonymousRoles: [ACCOUNTING]
  apiKeys: [ { name: bi, sha256: abc }, { name: bi, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, roles: [finance, sales] } ]
  jwt: { jwksURL: "ftp://idp", secret: s }`, 1),
			want: []string{`auth.anonymousRoles: "ACCOUNTING" is not a role`, "auth.apiKeys[0].sha256: want the key's SHA-256",
				`auth.apiKeys[1].name: want a name of its own, not "bi"`, `auth.apiKeys[1].roles: "sales" is not a role`,
				"auth.jwt: want exactly one of jwksURL, publicKey and secret", `auth.jwt.jwksURL: "ftp://idp" is not an http or https URL`,
				"auth.jwt: issuer and audience are required"},
		},
		{
			name: "wrong types",
			yaml: "cache: { maxMB: lots, ttl: { stock: soon } }\n",
			want: []string{"lots", "soon"},
		},
		{
			name: "unset variable names its key",
			yaml: strings.Replace(valid, "token: pat-demo", "token: ${CRM_TOKEN}", 1),
			want: []string{"sources.shop.consumerSecret: environment variable SHOP_SECRET is not set", "sources.crm.token: environment variable CRM_TOKEN is not set"},
		},
		{
			name: "invalid values, all at once",
			yaml: `
listen: nowhere
sources:
  shop: { kind: shopify, url: "ftp://x", consumerKey: k }
  crm:  { kind: hubspot, url: http://crm, apiKey: k, timeout: -1s, poll: { every: 10ms, overlap: -1s },
          retry: { attempts: 11, budget: 1.5, backoff: -1s }, breaker: { failures: -1 }, rateLimit: { requests: -1 } }
cache: { maxMB: 0, ttl: { stock: 0s, widgets: 1s } }
join: { key: customer_number }
log: { format: xml }
tracing: { endpoint: "collector:4318", sampleRatio: 2 }
events: { replay: 0, webhooks: { publicURL: "trestle.example.com" }, nats: { url: "http://nats:4222" } }
origins: ["https://app.example.com", "[a"]
trustedProxies: ["10.0.0.0/8", "fd00::/8", "10.0.0.7", "lb.example.com"]
`,
			want: []string{
				`listen: "nowhere" is not a host:port address`,
				`sources.shop.kind: "shopify" is not a shop dialect (want woocommerce)`,
				`sources.shop.url: "ftp://x" is not an http or https URL`,
				"sources.shop.consumerKey: does not apply to shopify",
				"sources.crm.token: required for hubspot",
				"sources.crm.apiKey: does not apply to hubspot",
				"sources.crm.timeout: must not be negative",
				"sources.erp: missing",
				"cache.maxMB: must be positive",
				"cache.ttl.stock: must be positive",
				"cache.ttl.widgets: unknown kind",
				`join.key: "customer_number" is not a join key (want email or phone)`,
				"events.replay: must be at least 1",
				`events.webhooks.publicURL: "trestle.example.com" is not an http or https URL`,
				"sources.crm.poll.every: must be at least 1s, not 10ms",
				"sources.crm.poll.overlap: must not be negative",
				"sources.crm.retry.attempts: 11 is not between 1 and 10",
				"sources.crm.retry.budget: 1.5 is not a share between 0 and 1",
				"sources.crm.retry.backoff: must not be negative",
				"sources.crm.breaker.failures: must not be negative",
				"sources.crm.rateLimit: want requests and per both set",
				`log.format: "xml" is not text or json`,
				`tracing.endpoint: "collector:4318" is not an http or https URL`,
				"tracing.sampleRatio: must be between 0 and 1, not 2",
				`events.nats.url: "http://nats:4222" is not a nats:// or tls:// URL`,
				`origins[0]: "https://app.example.com" is not a host pattern`,
				`origins[1]: "[a" is not a host pattern`,
				`trustedProxies[3]: "lb.example.com" is not an address or CIDR range`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(tt.yaml), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := config.Load("/nonexistent/trestle.yaml"); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestParseExpandsInsideStrings(t *testing.T) {
	y := strings.Replace(valid, "url: http://127.0.0.1:8090/erp", "url: http://${ERP_HOST}:8090/erp", 1)
	y = strings.Replace(y, "maxMB: 64", "maxMB: ${CACHE_MB}", 1)
	cfg, err := config.Parse(strings.NewReader(y), env(map[string]string{"SHOP_SECRET": "s", "ERP_HOST": "erp.internal", "CACHE_MB": "32"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sources.ERP.URL != "http://erp.internal:8090/erp" || cfg.Cache.MaxMB != 32 {
		t.Fatalf("got url %q, maxMB %d", cfg.Sources.ERP.URL, cfg.Cache.MaxMB)
	}
}

func TestParseProxy(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.7": "10.0.0.7/32", "10.0.0.0/8": "10.0.0.0/8", "::1": "::1/128", "fd00::/8": "fd00::/8"} {
		if got, err := config.ParseProxy(in); err != nil || got.String() != want {
			t.Errorf("%s: %v %v, want %s", in, got, err, want)
		}
	}
}

func TestAConfigWithoutSourcesChangesTheDemo(t *testing.T) {
	const key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct {
		name  string
		yaml  string
		check func(config.Config) bool
	}{
		{"empty", "", func(c config.Config) bool {
			return c.Auth.Anonymous && c.Introspection && slices.Equal(c.Origins, []string{"localhost:*", "127.0.0.1:*"})
		}},
		{"origins only", "origins: [app.example.com]\n", func(c config.Config) bool {
			return c.Auth.Anonymous && c.Introspection && slices.Equal(c.Origins, []string{"app.example.com"})
		}},
		{"its own auth", "auth: { apiKeys: [ { name: bi, sha256: " + key + " } ] }\n", func(c config.Config) bool {
			return !c.Auth.Anonymous && len(c.Auth.APIKeys) == 1 && c.Introspection
		}},
		{"introspection off", "introspection: false\ncache: { maxMB: 32 }\n", func(c config.Config) bool {
			return !c.Introspection && c.Auth.Anonymous && c.Cache.MaxMB == 32 && c.Cache.StaleIfError == 5*time.Minute
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse(strings.NewReader(tt.yaml), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Demo || !tt.check(cfg) {
				t.Errorf("parsed %+v", cfg)
			}
		})
	}
	// Sources named in part say which are missing.
	_, err := config.Parse(strings.NewReader("sources:\n  shop: { kind: woocommerce, url: http://shop, consumerKey: k, consumerSecret: s }\nauth: { anonymous: true }\n"), env(nil))
	for _, want := range []string{"sources.crm: missing (want kind hubspot, url and credentials)", "sources.erp: missing (want kind erpnext"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	if cfg, err := config.Parse(strings.NewReader(valid), env(map[string]string{"SHOP_SECRET": "s"})); err != nil || cfg.Demo || len(cfg.Origins) > 0 || cfg.Introspection {
		t.Errorf("a config with sources: demo %v, origins %v, introspection %v, err %v; want none of the demo's", cfg.Demo, cfg.Origins, cfg.Introspection, err)
	}
}

func TestProblemsComeInAStableOrder(t *testing.T) {
	const bad = `
websocket: { initTimeout: -1s, keepAlive: -1s, writeTimeout: -1s }
limits: { depth: -1, complexity: -1, aliases: -1, rootFields: -1, tokens: -1, bodyBytes: -1 }
sources:
  shop: { kind: woocommerce, url: http://shop, consumerKey: k, consumerSecret: s,
          retry: { backoff: -1s, maxBackoff: -1s, maxRetryAfter: -1s }, breaker: { openFor: -1s } }
`
	_, first := config.Parse(strings.NewReader(bad), env(nil))
	if first == nil {
		t.Fatal("no error")
	}
	for range 20 {
		if _, err := config.Parse(strings.NewReader(bad), env(nil)); err == nil || err.Error() != first.Error() {
			t.Fatalf("the problems came in another order:\n%v\nthen\n%v", first, err)
		}
	}
	if i, j := strings.Index(first.Error(), "websocket.initTimeout"), strings.Index(first.Error(), "websocket.writeTimeout"); i < 0 || j < i {
		t.Errorf("the websocket keys are not in the file's order:\n%v", first)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/defaults.yaml from the defaults in the code")

// TestDefaultsGolden keeps testdata/defaults.yaml, the effective defaults
// as a config file would spell them, in step with the code: a change of a
// default shows in review as a change of that file (go test ./config -update).
func TestDefaultsGolden(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("# Trestle's effective defaults, as a config file spells them (go test ./config -update writes this file).\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	defaults := config.Default()
	jwt := config.DefaultJWT()
	defaults.Auth.JWT = &jwt
	defaults.Sources = config.Sources{Shop: config.DefaultSource("woocommerce"), CRM: config.DefaultSource("hubspot"),
		ERP: config.DefaultSource("erpnext")}
	if err := enc.Encode(defaults); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/defaults.yaml"
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("the defaults differ from %s (go test ./config -update rewrites it):\n%s", golden, b.String())
	}
	// A config that leaves everything out gets exactly these.
	minimal := "sources:\n  shop: { kind: woocommerce, url: http://shop, consumerKey: k, consumerSecret: s }\n" +
		"  crm: { kind: hubspot, url: http://crm, token: t }\n  erp: { kind: erpnext, url: http://erp, apiKey: k, apiSecret: s }\n" +
		"auth: { anonymous: true, jwt: { secret: s, issuer: i, audience: a } }\n"
	cfg, err := config.Parse(strings.NewReader(minimal), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sources.CRM.RateLimit != defaults.Sources.CRM.RateLimit || cfg.Sources.ERP.Retry != defaults.Sources.ERP.Retry ||
		cfg.Sources.Shop.Poll.Overlap != defaults.Sources.Shop.Poll.Overlap || cfg.Limits != defaults.Limits ||
		cfg.Auth.JWT.RolesClaim != "roles" || cfg.Cache.TTL["stock"] != defaults.Cache.TTL["stock"] {
		t.Errorf("a minimal config did not get the defaults: %+v", cfg)
	}
}
