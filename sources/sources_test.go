package sources_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources"
	"github.com/trestlehq/trestle/sources/rest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var small = world.Options{Seed: 1, Size: world.Size{People: 50, Orders: 200, Products: 20}}

// The probes' query strings, as url.Values encodes them.
const (
	shopProbe = "/wp-json/wc/v3/orders?_fields=id&per_page=1"
	crmProbe  = "/crm/v3/objects/contacts?limit=1"
	erpProbe  = "/api/resource/Customer?fields=%5B%22name%22%5D&limit_page_length=1"
)

func TestProbeSaysWhatIsWrong(t *testing.T) {
	env := simtest.Start(t, small)
	base := env.URL
	// A port nothing listens on: taken, then given back.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	// A web server that is not the API: every path is a page.
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Welcome to our shop</body></html>"))
	}))
	defer page.Close()

	refused := "dial tcp " + strings.TrimPrefix(closed, "http://") + ": connect: connection refused: the host does not answer"
	tests := []struct {
		name   string
		mod    func(*config.Sources)
		faults map[model.System]sim.Faults
		want   map[model.System]string // the error messages; a system left out answers
	}{
		{name: "the right config", mod: func(*config.Sources) {}},
		{
			name: "the shop's namespace in its url",
			mod:  func(s *config.Sources) { s.Shop.URL += "/wp-json/wc/v3" },
			want: map[model.System]string{model.SystemShop: "GET " + base + "/shop/wp-json/wc/v3" + shopProbe +
				": HTTP 404: not a WooCommerce REST API here; sources.shop.url must be the site root (without /wp-json/wc/v3)"},
		},
		{
			name: "the CRM's version in its url",
			mod:  func(s *config.Sources) { s.CRM.URL += "/crm/v3" },
			want: map[model.System]string{model.SystemCRM: "GET " + base + "/crm/crm/v3" + crmProbe +
				": HTTP 404: not the HubSpot API here; sources.crm.url must be the API root, such as https://api.hubapi.com (without /crm/v3)"},
		},
		{
			name: "the ERP's resource path in its url",
			mod:  func(s *config.Sources) { s.ERP.URL += "/api/resource" },
			want: map[model.System]string{model.SystemERP: "GET " + base + "/erp/api/resource" + erpProbe +
				": HTTP 404: not a Frappe REST API here; sources.erp.url must be the site root (without /api/resource)"},
		},
		{
			name: "wrong secrets",
			mod: func(s *config.Sources) {
				s.Shop.ConsumerSecret, s.CRM.Token, s.ERP.APISecret = "cs_wrong", "pat-wrong", "wrong"
			},
			want: map[model.System]string{
				model.SystemShop: "GET " + base + "/shop" + shopProbe + ": HTTP 401: the consumer key or secret is refused, " +
					"or ignored: a shop takes them over https only; check sources.shop.consumerKey and sources.shop.consumerSecret",
				model.SystemCRM: "GET " + base + "/crm" + crmProbe + ": HTTP 401: the private app token is refused; check sources.crm.token",
				model.SystemERP: "GET " + base + "/erp" + erpProbe + ": HTTP 401: the API key or secret is refused; check sources.erp.apiKey and sources.erp.apiSecret",
			},
		},
		{
			name: "an unknown shop key",
			mod:  func(s *config.Sources) { s.Shop.ConsumerKey = "ck_unknown" },
			want: map[model.System]string{model.SystemShop: "GET " + base + "/shop" + shopProbe + ": HTTP 401: the consumer key or secret is refused, " +
				"or ignored: a shop takes them over https only; check sources.shop.consumerKey and sources.shop.consumerSecret"},
		},
		{
			// "token de mo:demo" is not two words, so Frappe runs it as Guest.
			name: "an ERP key Frappe cannot read",
			mod:  func(s *config.Sources) { s.ERP.APIKey = "de mo" },
			want: map[model.System]string{model.SystemERP: "GET " + base + "/erp" + erpProbe +
				": HTTP 403: the API user may not read Customer, or the request ran as Guest; check sources.erp.apiKey and sources.erp.apiSecret"},
		},
		{
			name: "a closed port",
			mod: func(s *config.Sources) {
				s.Shop.URL, s.CRM.URL, s.ERP.URL = closed+"/shop", closed+"/crm", closed+"/erp"
			},
			want: map[model.System]string{
				model.SystemShop: "GET " + closed + "/shop" + shopProbe + ": " + refused + "; check the host and port in sources.shop.url",
				model.SystemCRM:  "GET " + closed + "/crm" + crmProbe + ": " + refused + "; check the host and port in sources.crm.url",
				model.SystemERP:  "GET " + closed + "/erp" + erpProbe + ": " + refused + "; check the host and port in sources.erp.url",
			},
		},
		{
			name: "a web site that is not the API",
			mod:  func(s *config.Sources) { s.Shop.URL, s.CRM.URL, s.ERP.URL = page.URL, page.URL, page.URL },
			want: map[model.System]string{
				model.SystemShop: "GET " + page.URL + shopProbe + ": HTTP 200: malformed JSON at byte 1: not a WooCommerce REST API here; sources.shop.url must be the site root (without /wp-json/wc/v3)",
				model.SystemCRM:  "GET " + page.URL + crmProbe + ": HTTP 200: malformed JSON at byte 1: not the HubSpot API here; sources.crm.url must be the API root, such as https://api.hubapi.com (without /crm/v3)",
				model.SystemERP:  "GET " + page.URL + erpProbe + ": HTTP 200: malformed JSON at byte 1: not a Frappe REST API here; sources.erp.url must be the site root (without /api/resource)",
			},
		},
		{
			name: "the wrong system's url",
			mod:  func(s *config.Sources) { s.CRM.URL = base + "/erp" },
			want: map[model.System]string{model.SystemCRM: "GET " + base + "/erp" + crmProbe +
				": HTTP 401: the private app token is refused; check sources.crm.token"},
		},
		{
			name:   "a system too slow for its timeout",
			mod:    func(s *config.Sources) { s.ERP.Timeout = 100 * time.Millisecond },
			faults: map[model.System]sim.Faults{model.SystemERP: {LatencyMS: 5000}},
			want: map[model.System]string{model.SystemERP: "GET " + base + "/erp" + erpProbe +
				": no answer within 100ms: the host is unreachable or too slow; check sources.erp.url, or raise sources.erp.timeout"},
		},
		{
			name:   "a system that is down",
			mod:    func(*config.Sources) {},
			faults: map[model.System]sim.Faults{model.SystemERP: {Down: true}},
			want:   map[model.System]string{model.SystemERP: "GET " + base + "/erp" + erpProbe + ": HTTP 503: the upstream fails with a server error"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for sys, f := range tc.faults {
				env.Sim.Upstream(sys).SetFaults(f)
				t.Cleanup(func() { env.Sim.Upstream(sys).SetFaults(sim.Faults{}) })
			}
			cfg := env.Sim.Sources(base)
			tc.mod(&cfg)
			set, err := sources.Open(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			got := set.Probe(context.Background())
			if len(got) != 3 {
				t.Fatalf("probed %d systems, want all 3: %v", len(got), got)
			}
			for _, sys := range []model.System{model.SystemShop, model.SystemCRM, model.SystemERP} {
				err, want := got[sys], tc.want[sys]
				if want == "" {
					if err != nil {
						t.Errorf("%s: %v, want no error", sys, err)
					}
					continue
				}
				var pe *rest.ProbeError
				if !errors.As(err, &pe) || pe.System != sys {
					t.Errorf("%s: %v (%T), want a *rest.ProbeError of %s", sys, err, err, sys)
					continue
				}
				if err.Error() != want {
					t.Errorf("%s:\n got %s\nwant %s", sys, err, want)
				}
				for _, secret := range []string{cfg.Shop.ConsumerSecret, cfg.CRM.Token, cfg.ERP.APISecret, "Welcome", "rest_no_route", "Exception", "Authentication credentials"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s: %q shows %q", sys, err, secret)
					}
				}
			}
		})
	}
}

func TestProbeClasses(t *testing.T) {
	env := simtest.Start(t, small, func(s *config.Sources) {
		s.Shop.ConsumerSecret, s.CRM.URL = "cs_wrong", s.CRM.URL+"/crm/v3"
	})
	got := env.Sources.Probe(context.Background())
	for sys, want := range map[model.System]error{model.SystemShop: rest.ErrUnauthorized, model.SystemCRM: rest.ErrNotFound} {
		var pe *rest.ProbeError
		if !errors.Is(got[sys], want) || !errors.As(got[sys], &pe) || pe.Status == 0 || pe.URL == "" || pe.Fix == "" {
			t.Errorf("%s: %#v, want %v with status, url and fix", sys, got[sys], want)
		}
	}
	if got[model.SystemERP] != nil {
		t.Errorf("erp: %v", got[model.SystemERP])
	}
}

func TestABreakerClosesOnItsOwnOnceTheUpstreamIsBack(t *testing.T) {
	env := simtest.Start(t, small, func(s *config.Sources) {
		for _, src := range []*config.Source{&s.Shop, &s.CRM, &s.ERP} {
			src.Retry.Attempts = 1
			src.Breaker.OpenFor = 200 * time.Millisecond
		}
	})
	tests := []struct {
		system model.System
		read   func(context.Context) error
		open   func() bool
	}{
		{model.SystemShop, func(ctx context.Context) error { _, err := env.Sources.Shop.Orders(ctx, []int64{1}); return err }, env.Sources.Shop.BreakerOpen},
		{model.SystemCRM, func(ctx context.Context) error { _, err := env.Sources.CRM.Contacts(ctx, []string{"1"}); return err }, env.Sources.CRM.BreakerOpen},
		{model.SystemERP, func(ctx context.Context) error { _, err := env.Sources.ERP.Customers(ctx, []string{"x"}); return err }, env.Sources.ERP.BreakerOpen},
	}
	for _, tt := range tests {
		t.Run(string(tt.system), func(t *testing.T) {
			up := env.Sim.Upstream(tt.system)
			up.SetFaults(sim.Faults{Down: true})
			for range 20 {
				if tt.open() {
					break
				}
				if err := tt.read(t.Context()); !errors.Is(err, rest.ErrUnavailable) {
					t.Fatalf("err = %v while down, want unavailable", err)
				}
			}
			if !tt.open() {
				t.Fatal("the breaker did not open")
			}
			// While the upstream stays down, the client's probes find it
			// so and the breaker stays open.
			for probed, deadline := up.Requests()+2, time.Now().Add(10*time.Second); up.Requests() < probed; time.Sleep(20 * time.Millisecond) {
				if !tt.open() {
					t.Fatal("the breaker closed while the upstream is down")
				}
				if time.Now().After(deadline) {
					t.Fatal("no probe reached the upstream in 10 s")
				}
			}
			up.SetFaults(sim.Faults{})
			// No call is made from here on: only the client's own probe
			// can find the upstream back.
			for deadline := time.Now().Add(10 * time.Second); tt.open(); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the breaker is still open 10 s after the upstream came back")
				}
			}
		})
	}
}
