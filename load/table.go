package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// runTable is `load table`: it builds Trestle, runs the simulators and a
// fresh gateway per row (so each row's peak memory is its own), drives each
// with the same load, drives a static server answering the same bytes as
// the ceiling, and prints it all as one Markdown table. Progress goes to
// stderr, the table to stdout.
//
// With -against REV it also builds Trestle as it is at REV and measures
// each row twice, REV's gateway then the working tree's: a before and
// after from one run, alternating, is not skewed by the machine's speed
// drifting between two runs. REV's gateway reads the config this table
// writes, so REV must know every key of it.
func runTable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load table", flag.ContinueOnError)
	p := loadFlags(fs)
	names := fs.String("queries", strings.Join(queryOrder, ","), "queries to measure, comma-separated")
	against := fs.String("against", "", "a git revision (HEAD~3, a hash) to measure too, row by row before the working tree")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := p.check(); err != nil {
		return err
	}
	picked, err := pickQueries(*names)
	if err != nil {
		return err
	}
	b := bench{load: *p, progress: stderr}
	if *against != "" {
		if b.against, err = compare(ctx, *against); err != nil {
			return err
		}
	}
	rep, err := b.run(ctx, tableRows(picked))
	if ctx.Err() != nil {
		return errors.New("interrupted; what it started is stopped")
	}
	if err != nil {
		return err
	}
	rep.print(stdout)
	return nil
}

// pickQueries reads the -queries list.
func pickQueries(list string) ([]string, error) {
	var picked []string
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if _, ok := queries[name]; !ok {
			return nil, fmt.Errorf("-queries: unknown query %q (want %s)", name, strings.Join(queryOrder, ", "))
		}
		if !slices.Contains(picked, name) {
			picked = append(picked, name)
		}
	}
	return picked, nil
}

// row is one configuration the table measures.
type row struct {
	query    string
	cache    bool          // a warm entity cache, or none at all
	latency  time.Duration // of every simulated upstream
	collapse bool          // identical queries in flight run once
	build    string        // with -against: "before" (REV's gateway) or "after" (the working tree's)
}

func (r row) String() string {
	s := fmt.Sprintf("%s, cache %s, upstream %s, collapsing %s", r.query, onOff(r.cache), latency(r.latency), onOff(r.collapse))
	if r.build != "" {
		s = r.build + ": " + s
	}
	return s
}

// tableRows are the rows for the queries, in the order they are printed:
// per query, the cache off and on at each upstream latency; for the two
// queries that fetch many records, orders and deep, also query collapsing
// off, with the cache off.
func tableRows(names []string) []row {
	latencies := []time.Duration{0, 5 * time.Millisecond}
	var rows []row
	for _, q := range names {
		for _, lat := range latencies {
			rows = append(rows, row{query: q, cache: false, latency: lat, collapse: true},
				row{query: q, cache: true, latency: lat, collapse: true})
		}
		if q == "orders" || q == "deep" {
			for _, lat := range latencies {
				rows = append(rows, row{query: q, cache: false, latency: lat, collapse: false})
			}
		}
	}
	return rows
}

// bench runs rows with one load each.
type bench struct {
	load     plan // without target and body, which each row sets
	progress io.Writer
	against  *comparison // with -against: the revision each row is measured at too
}

// measurement is what one load against one process gave.
type measurement struct {
	result
	cpu     time.Duration // the process's CPU time, user and system, over the measured part
	peakRSS int64         // the most resident memory the process had, in bytes
	counts  counts        // the gateway's counters over the measured part (gateways only)
}

// report is the whole table.
type report struct {
	machine  string
	load     plan
	builds   string // with -against: what the before and after builds are
	rows     []row
	measured []measurement // by row
	ceilings []measurement // by row: the static server right after it
}

// run measures the rows, grouped by upstream latency so the simulators
// restart only when it changes, each followed by its ceiling: a shared
// machine's speed drifts over minutes, so each row is compared with a
// ceiling measured right after it. With -against each row is measured
// twice, REV's gateway first.
func (b bench) run(ctx context.Context, rows []row) (report, error) {
	dir, bin, goVersion, err := workDir(ctx, "trestle-load-", b.progress)
	if err != nil {
		return report{}, err
	}
	defer os.RemoveAll(dir)
	s := &session{bench: b, bin: bin, dir: dir, rep: report{machine: machine(goVersion), load: b.load}}
	if b.against != nil {
		fmt.Fprintf(b.progress, "building trestle at %s (%s)\n", b.against.rev, b.against.short)
		s.before = filepath.Join(dir, "trestle-before")
		if err := b.against.build(ctx, dir, s.before); err != nil {
			return report{}, fmt.Errorf("-against %s: %w", b.against.rev, err)
		}
		rows, s.rep.builds = compared(rows), b.against.String()
	}
	s.rep.rows = rows
	s.rep.measured, s.rep.ceilings = make([]measurement, len(rows)), make([]measurement, len(rows))
	var latencies []time.Duration
	for _, r := range rows {
		if !slices.Contains(latencies, r.latency) {
			latencies = append(latencies, r.latency)
		}
	}
	for _, lat := range latencies {
		if err := s.runAt(ctx, lat); err != nil {
			return report{}, err
		}
	}
	return s.rep, nil
}

// session is one run of the table: the Trestles it built, its temp dir,
// and what it has measured so far.
type session struct {
	bench
	bin    string // the working tree's Trestle, which also runs the simulators
	before string // with -against, REV's Trestle
	dir    string
	rep    report
	done   int // rows measured
}

// runAt measures the rows at one upstream latency, against one run of the
// simulators.
func (s *session) runAt(ctx context.Context, latency time.Duration) error {
	sims, err := startSimulators(ctx, s.bin, s.dir, latency)
	if err != nil {
		return err
	}
	defer sims.stop()
	for i, r := range s.rep.rows {
		if r.latency != latency {
			continue
		}
		m, answer, err := s.measureRow(ctx, sims, r)
		if err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
		ceiling, err := s.measureCeiling(ctx, r.query, answer)
		if err != nil {
			return fmt.Errorf("%s, ceiling: %w", r, err)
		}
		s.rep.measured[i], s.rep.ceilings[i] = m, ceiling
		s.done++
		fmt.Fprintf(s.progress, "%2d/%d  %s: %.0f req/s, ceiling %.0f\n", s.done, len(s.rep.rows), r,
			m.rate(s.load.duration), ceiling.rate(s.load.duration))
	}
	return nil
}

// measureRow drives a fresh gateway configured as r has it, built as r
// says.
func (s *session) measureRow(ctx context.Context, sims *simulators, r row) (measurement, []byte, error) {
	bin := s.bin
	if r.build == "before" {
		bin = s.before
	}
	body := requestBody(queries[r.query])
	g, answer, err := startGateway(ctx, bin, s.dir, gatewayConfig(sims.sources, r), body)
	if err != nil {
		return measurement{}, nil, err
	}
	defer g.stop()
	p := s.load
	p.target, p.body = g.url, body
	m, err := measure(ctx, p, g.child, g.counts)
	return m, answer, err
}

// measureCeiling drives a static server answering the query's response.
func (s *session) measureCeiling(ctx context.Context, query string, answer []byte) (measurement, error) {
	c, base, err := startStatic(ctx, s.dir, query, answer)
	if err != nil {
		return measurement{}, err
	}
	defer c.stop()
	p := s.load
	p.target, p.body = base+"/query", requestBody(queries[query])
	return measure(ctx, p, c, nil)
}

// measure drives p against the child c and reads c's CPU time over the
// measured part, its peak memory, and with counters set the gateway's
// counters over the measured part.
func measure(ctx context.Context, p plan, c *child, counters func(context.Context) (counts, error)) (measurement, error) {
	read := func(m *measurement) error {
		var err error
		if m.cpu, err = cpuTime(c.pid()); err != nil {
			return err
		}
		if counters != nil {
			m.counts, err = counters(ctx)
		}
		return err
	}
	var (
		start    measurement
		startErr error
		started  bool
	)
	res := drive(ctx, p, func() { startErr, started = read(&start), true })
	if err := ctx.Err(); err != nil {
		return measurement{}, err
	}
	m := measurement{result: res}
	err := startErr
	if !started {
		err = errors.New("the measured part did not start")
	}
	if err == nil {
		err = read(&m)
	}
	if err == nil {
		m.peakRSS, err = peakRSS(c.pid())
	}
	if err != nil {
		select {
		case <-c.exited:
			return measurement{}, c.failed("exited while it was measured")
		default:
			return measurement{}, err
		}
	}
	m.cpu -= start.cpu
	m.counts = m.counts.minus(start.counts)
	return m, nil
}

// workDir makes a temporary directory and builds the working tree's
// Trestle into it; the caller removes it.
func workDir(ctx context.Context, prefix string, progress io.Writer) (dir, bin, goVersion string, err error) {
	mod, goVersion, err := module(ctx)
	if err != nil {
		return "", "", "", err
	}
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", "", "", err
	}
	fmt.Fprintln(progress, "building trestle")
	bin = filepath.Join(dir, "trestle")
	if err := build(ctx, mod, bin); err != nil {
		os.RemoveAll(dir)
		return "", "", "", err
	}
	return dir, bin, goVersion, nil
}

// module is the directory of the module this command is run in, and the
// Go that builds it.
func module(ctx context.Context) (dir, goVersion string, err error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD", "GOVERSION").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env: %w", err)
	}
	mod, goVersion, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if mod == "" || mod == os.DevNull {
		return "", "", fmt.Errorf("run load inside the Trestle module (go env GOMOD is %q)", mod)
	}
	return filepath.Dir(mod), goVersion, nil
}

// build compiles the Trestle module in src into bin.
func build(ctx context.Context, src, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build trestle in %s: %w\n%s", src, err, out)
	}
	return nil
}
