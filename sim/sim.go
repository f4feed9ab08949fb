// Package sim serves faithful simulators of the three upstream systems
// (WooCommerce, HubSpot CRM, ERPNext) over one seeded world, with knobs for
// latency and faults, per-system request counters and admin endpoints under
// /_sim/. The demo mode, the tests and the benchmarks run against it.
package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/erpnext"
	"github.com/trestlehq/trestle/sim/hubspot"
	"github.com/trestlehq/trestle/sim/woocommerce"
	"github.com/trestlehq/trestle/sim/world"
)

// Options configure New.
type Options struct {
	World  world.Options
	Faults map[model.System]Faults // knobs at start, by system
	// AnchorToday anchors the world on the clock's present day, 00:00 UTC,
	// instead of World.Anchor: the demo's data then reaches up to the day
	// it runs, with invoices due and overdue as of that day. Tests leave it
	// off, for data that is the same on any day.
	AnchorToday bool
	// Now is the clock of the simulated systems: the time of the changes
	// RunChanges makes and the day their daily jobs run for. Nil means
	// time.Now.
	Now func() time.Time
}

// Sim is the three simulated upstreams over one world.
type Sim struct {
	World *world.World
	Shop  *Upstream
	CRM   *Upstream
	ERP   *Upstream

	now func() time.Time

	dailyMu  sync.Mutex
	dailyDay time.Time // the ERP site's last day the daily jobs ran for
}

// New generates the world and builds the three simulators over it.
func New(opts Options) *Sim {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	wo := opts.World
	if opts.AnchorToday {
		wo.Anchor = world.Day(now())
	}
	w := world.New(wo)
	return &Sim{
		World: w,
		Shop:  NewUpstream(model.SystemShop, woocommerce.New(w), opts.Faults[model.SystemShop]),
		CRM:   NewUpstream(model.SystemCRM, hubspot.New(w), opts.Faults[model.SystemCRM]),
		ERP:   NewUpstream(model.SystemERP, erpnext.New(w), opts.Faults[model.SystemERP]),
		now:   now,
		// The generated statuses are those of the anchor's day.
		dailyDay: world.Day(w.Anchor),
	}
}

// RunDailyJobs runs the simulated systems' daily scheduled jobs if they have
// not yet run for the ERP site's present day, as Frappe's scheduler runs a
// daily job on the first tick of a new day: ERPNext's update_invoice_status,
// which marks Overdue the invoices that have fallen past due. It returns the
// names of the invoices it marked. RunChanges calls it on every tick.
func (s *Sim) RunDailyJobs() []string {
	today := erpnext.Today(s.now())
	s.dailyMu.Lock()
	defer s.dailyMu.Unlock()
	if !today.After(s.dailyDay) {
		return nil
	}
	s.dailyDay = today
	s.World.Lock()
	defer s.World.Unlock()
	var names []string
	for _, inv := range erpnext.UpdateInvoiceStatus(s.World, today) {
		names = append(names, inv.Name)
	}
	return names
}

// Upstreams lists the three simulators in a fixed order.
func (s *Sim) Upstreams() []*Upstream { return []*Upstream{s.Shop, s.CRM, s.ERP} }

// Upstream is the simulated system in a role.
func (s *Sim) Upstream(system model.System) *Upstream {
	switch system {
	case model.SystemShop:
		return s.Shop
	case model.SystemCRM:
		return s.CRM
	default:
		return s.ERP
	}
}

// ResetCounters zeroes every upstream's request counters.
func (s *Sim) ResetCounters() {
	for _, u := range s.Upstreams() {
		u.ResetCounters()
	}
}

// Handler serves all three on one listener, each under its prefix (/shop,
// /crm, /erp), and the admin endpoints under /_sim/.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, u := range s.Upstreams() {
		prefix := "/" + string(u.System())
		mux.Handle(prefix+"/", http.StripPrefix(prefix, u))
	}
	mux.HandleFunc("GET /_sim/stats", s.stats)
	mux.HandleFunc("POST /_sim/reset", s.reset)
	mux.HandleFunc("GET /_sim/faults", s.getFaults)
	mux.HandleFunc("POST /_sim/faults", s.setFaults)
	return mux
}

// Stats is the body of GET /_sim/stats.
type Stats struct {
	Shop   int64                             `json:"shop"`
	CRM    int64                             `json:"crm"`
	ERP    int64                             `json:"erp"`
	Routes map[model.System]map[string]int64 `json:"routes"`
}

// Stats returns the request counters of the three simulators.
func (s *Sim) Stats() Stats {
	st := Stats{Shop: s.Shop.Requests(), CRM: s.CRM.Requests(), ERP: s.ERP.Requests(), Routes: map[model.System]map[string]int64{}}
	for _, u := range s.Upstreams() {
		st.Routes[u.System()] = u.Routes()
	}
	return st
}

func (s *Sim) stats(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) }

func (s *Sim) reset(w http.ResponseWriter, _ *http.Request) {
	for _, u := range s.Upstreams() {
		u.ResetCounters()
	}
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Sim) currentFaults() map[model.System]Faults {
	out := map[model.System]Faults{}
	for _, u := range s.Upstreams() {
		out[u.System()] = u.Faults()
	}
	return out
}

func (s *Sim) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.currentFaults())
}

// setFaults changes the knobs of the systems named in the body; fields left
// out keep their values: {"crm": {"latency_ms": 5, "down": false}}.
func (s *Sim) setFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"errors": []string{"body over 64 KiB"}})
		return
	}
	if err := s.ApplyFaults(body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": strings.Split(err.Error(), "\n")})
		return
	}
	writeJSON(w, http.StatusOK, s.currentFaults())
}

// ApplyFaults changes the knobs of the systems named in a JSON object keyed
// by system, {"crm": {"latency_ms": 5}}; knobs left out keep their values.
// Nothing changes unless the whole object is valid; the error lists every
// problem.
func (s *Sim) ApplyFaults(body []byte) error {
	var raw map[model.System]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return fmt.Errorf("faults must be a JSON object keyed by shop, crm or erp: %w", err)
	}
	next := s.currentFaults()
	var errs []error
	for _, sys := range slices.Sorted(maps.Keys(raw)) {
		f, ok := next[sys]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown system %q (want shop, crm or erp)", sys))
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw[sys]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sys, err))
			continue
		}
		if err := f.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sys, err))
			continue
		}
		next[sys] = f
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, u := range s.Upstreams() {
		u.SetFaults(next[u.System()])
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Sources is the config that points the gateway at these simulators served
// at base (as Handler serves them), with the demo credentials and the
// defaults of everything else.
func (s *Sim) Sources(base string) config.Sources {
	return config.Sources{
		Shop: config.Source{Kind: "woocommerce", URL: base + "/shop", ConsumerKey: woocommerce.ConsumerKey,
			ConsumerSecret: woocommerce.ConsumerSecret, Currency: s.World.Currency}.WithDefaults(),
		// The simulated CRM announces HubSpot's ten-secondly limit but does
		// not enforce it, so the gateway need not hold back for it: load
		// runs measure the gateway, not the limit.
		CRM: config.Source{Kind: "hubspot", URL: base + "/crm", Token: hubspot.Token,
			RateLimit: config.RateLimit{Requests: 1_000_000, Per: 10 * time.Second}}.WithDefaults(),
		ERP: config.Source{Kind: "erpnext", URL: base + "/erp", APIKey: erpnext.APIKey, APISecret: erpnext.APISecret,
			TimeZone: erpnext.TimeZone, Currency: s.World.Currency}.WithDefaults(),
	}
}
