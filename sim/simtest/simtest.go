// Package simtest starts the upstream simulators over real HTTP for tests,
// with the gateway's source adapters pointed at them.
package simtest

import (
	"net/http/httptest"
	"testing"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources"
)

// Env is a running set of simulators and the adapters that talk to them.
type Env struct {
	Sim     *sim.Sim
	URL     string // where the simulators are served, as the sim command serves them
	Sources *sources.Set
}

// Start serves simulators over a world built from opts on a loopback port and
// opens the adapters against them, after mods change their config (say, a
// shorter timeout). Everything stops when the test ends.
func Start(tb testing.TB, opts world.Options, mods ...func(*config.Sources)) *Env {
	tb.Helper()
	return StartSim(tb, sim.Options{World: opts}, mods...)
}

// StartSim is Start with the simulators' options (their clock, faults).
func StartSim(tb testing.TB, opts sim.Options, mods ...func(*config.Sources)) *Env {
	tb.Helper()
	s := sim.New(opts)
	srv := httptest.NewServer(s.Handler())
	tb.Cleanup(srv.Close)
	cfg := s.Sources(srv.URL)
	for _, mod := range mods {
		mod(&cfg)
	}
	set, err := sources.Open(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(set.Close)
	return &Env{Sim: s, URL: srv.URL, Sources: set}
}
