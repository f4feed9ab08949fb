package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/world"
)

// simSeed is the data set the simulators generate: the demo's.
const simSeed = 1

// readyWithin bounds how long a gateway or the simulators may take to
// start.
const readyWithin = 30 * time.Second

// simulators is `trestle sim` running in a child process.
type simulators struct {
	*child
	sources config.Sources // as a gateway's config names them
}

// startSimulators starts `trestle sim` in a child process on the demo's
// seed with every upstream answering after latency; flags add to that (the
// world's -scale, a -webhook-target and so on).
func startSimulators(ctx context.Context, bin, dir string, latency time.Duration, flags ...string) (*simulators, error) {
	argv := append([]string{bin, "sim", "-listen", "127.0.0.1:0"}, simFlags(latency, flags...)...)
	c, err := startChild(ctx, "simulators", filepath.Join(dir, "sim.log"), argv...)
	if err != nil {
		return nil, err
	}
	lines, err := c.banner(ctx, 1, readyWithin)
	if err != nil {
		c.stop()
		return nil, err
	}
	const banner = "Trestle upstream simulators on "
	base, ok := strings.CutPrefix(lines[0], banner)
	if err := loopbackOnly(base); !ok || err != nil {
		c.stop()
		return nil, c.failed(fmt.Sprintf("printed %q, not its address", lines[0]))
	}
	// The credentials and the currency depend on neither the seed nor the
	// world's size: a small world names them.
	s := sim.New(sim.Options{World: world.Options{Seed: simSeed, Size: world.Size{People: 1, Orders: 1, Products: 1}}})
	return &simulators{child: c, sources: s.Sources(base)}, nil
}

// simFlags are the flags startSimulators runs `trestle sim` with, its
// -listen aside.
func simFlags(latency time.Duration, flags ...string) []string {
	return append([]string{"-seed", strconv.Itoa(simSeed), "-latency", latency.String()}, flags...)
}

// gateway is Trestle running in a child process.
type gateway struct {
	*child
	url   string // the GraphQL endpoint
	admin string // the admin listener's base URL
}

// gatewayConfig is a row's config: the simulators as upstreams, anyone let
// in with every role, the cache and query collapsing as the row has them.
// Logging stays as in production: a line per operation, at info.
func gatewayConfig(sources config.Sources, r row) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Sources = sources
	cfg.Auth = config.Auth{Anonymous: true, AnonymousRoles: config.Roles}
	cfg.Cache.Disabled = !r.cache
	cfg.CollapseQueries = r.collapse
	return cfg
}

// writeConfig writes cfg where the gateway reads it and checks that it
// loads.
func writeConfig(path string, cfg config.Config) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	if _, err := config.Load(path); err != nil {
		return fmt.Errorf("the gateway's config: %w", err)
	}
	return nil
}

// startGateway starts a gateway with cfg and waits until it is ready, has
// read its customer directory and answers query.
func startGateway(ctx context.Context, bin, dir string, cfg config.Config, query []byte) (*gateway, []byte, error) {
	path := filepath.Join(dir, "gateway.yaml")
	if err := writeConfig(path, cfg); err != nil {
		return nil, nil, err
	}
	c, err := startChild(ctx, "gateway", filepath.Join(dir, "gateway.log"), bin, "-config", path, "-admin-listen", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	g, answer, err := readyGateway(ctx, c, query)
	if err != nil {
		c.stop()
		return nil, nil, err
	}
	return g, answer, nil
}

// readyGateway reads the gateway's addresses and waits until it answers.
// The customer directory's first sync is waited for too: it calls the
// upstreams, and those calls are not the load's.
func readyGateway(ctx context.Context, c *child, query []byte) (*gateway, []byte, error) {
	lines, err := c.banner(ctx, 4, readyWithin)
	if err != nil {
		return nil, nil, err
	}
	g := &gateway{child: c}
	if g.url, g.admin, err = parseGatewayBanner(lines); err != nil {
		return nil, nil, c.failed(err.Error())
	}
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	if err := c.await(ctx, "answer /readyz with 200", readyWithin, func(ctx context.Context) error {
		return get(ctx, client, g.admin+"/readyz")
	}); err != nil {
		return nil, nil, err
	}
	if err := c.await(ctx, "sync its customer directory", readyWithin, c.logged("customer directory synced")); err != nil {
		return nil, nil, err
	}
	var answer []byte
	if err := c.await(ctx, "answer the query without errors", readyWithin, func(ctx context.Context) error {
		b, err := send(ctx, client, g.url, query)
		answer = b
		return err
	}); err != nil {
		return nil, nil, err
	}
	return g, answer, nil
}

// parseGatewayBanner reads the GraphQL endpoint and the admin base URL
// from the lines a gateway prints as it starts:
//
//	Trestle on http://127.0.0.1:8080
//	  ...
//	  admin       http://127.0.0.1:9090/metrics, /readyz, /debug/pprof/
func parseGatewayBanner(lines []string) (endpoint, admin string, err error) {
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "Trestle" && f[1] == "on":
			endpoint = f[2] + "/query"
		case len(f) >= 2 && f[0] == "admin":
			if u, err := url.Parse(strings.TrimSuffix(f[1], ",")); err == nil {
				admin = u.Scheme + "://" + u.Host
			}
		}
	}
	if endpoint == "" || admin == "" {
		return "", "", fmt.Errorf("printed no GraphQL and admin addresses: %q", lines)
	}
	if err := loopbackOnly(endpoint); err != nil {
		return "", "", err
	}
	return endpoint, admin, loopbackOnly(admin)
}

// get checks that a GET of target answers 200.
func get(ctx context.Context, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// counts are the gateway's counters the table reads.
type counts struct {
	calls      float64 // upstream calls
	operations float64 // operations answered
	collapsed  float64 // of them, answered by an identical one's execution
	kept       float64 // of them, answered from the response cache
}

// executions are the operations that ran: neither collapsed nor answered
// from the response cache. A kept answer is looked up before queries
// collapse, so no operation is both.
func (c counts) executions() float64 { return c.operations - c.collapsed - c.kept }

func (c counts) minus(o counts) counts {
	return counts{c.calls - o.calls, c.operations - o.operations, c.collapsed - o.collapsed, c.kept - o.kept}
}

// counts reads the gateway's counters so far from /metrics, each summed
// over its labels (the response cache's hits over its own). A counter the
// gateway does not have, as an older one may not, is 0.
func (g *gateway) counts(ctx context.Context) (counts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.admin+"/metrics", nil)
	if err != nil {
		return counts{}, err
	}
	req.Close = true // leaves no idle connection behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return counts{}, fmt.Errorf("read the gateway's metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return counts{}, fmt.Errorf("read the gateway's metrics: HTTP %d %v", resp.StatusCode, err)
	}
	var c counts
	for _, m := range []struct {
		name, label string
		into        *float64
	}{
		{"trestle_upstream_calls_total", "", &c.calls},
		{"trestle_operations_total", "", &c.operations},
		{"trestle_operations_collapsed_total", "", &c.collapsed},
		{"trestle_cache_hits_total", `kind="responses"`, &c.kept},
	} {
		if *m.into, err = sumCounter(bufio.NewScanner(bytes.NewReader(body)), m.name, m.label); err != nil {
			return counts{}, err
		}
	}
	return c, nil
}

// sumCounter adds up the samples of one metric in Prometheus' text
// format; with label, `kind="responses"`, only those that have it.
func sumCounter(sc *bufio.Scanner, name, label string) (float64, error) {
	var sum float64
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue // another metric, or a comment
		}
		end := strings.LastIndexByte(rest, '}')
		if label != "" && (end < 0 || !slices.Contains(strings.Split(rest[1:end], ","), label)) {
			continue
		}
		f := strings.Fields(rest[end+1:])
		if len(f) == 0 {
			return 0, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}
