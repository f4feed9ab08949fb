package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The table runs its own binary again as the ceiling's static server;
	// under test, that binary is this one.
	if len(os.Args) > 1 && os.Args[1] == "static" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestTable runs the table end to end on two short rows: it builds
// Trestle, starts the simulators, a gateway per row and the static
// ceiling, and reads the printed table.
func TestTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows := []row{
		{query: "lookup", cache: false, latency: 0, collapse: true},
		{query: "lookup", cache: true, latency: 0, collapse: true},
	}
	b := bench{load: plan{conns: 4, duration: 300 * time.Millisecond, warmup: 200 * time.Millisecond}, progress: io.Discard}
	rep, err := b.run(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.print(&out)
	t.Log("\n" + out.String())

	cold := tableRow(t, out.String(), "| lookup | off | 0 ms | on |")
	warm := tableRow(t, out.String(), "| lookup | on | 0 ms | on |")
	for name, cells := range map[string]map[string]string{"cache off": cold, "cache on": warm} {
		if number(t, cells["req/s"]) <= 0 || cells["failed"] != "0" || number(t, cells["ceiling req/s"]) <= 0 {
			t.Errorf("%s: %v req/s, %v failed, ceiling %v req/s; want some, none failed, a ceiling", name, cells["req/s"], cells["failed"], cells["ceiling req/s"])
		}
		if number(t, cells["peak RSS MiB"]) <= 0 {
			t.Errorf("%s: peak RSS %v MiB", name, cells["peak RSS MiB"])
		}
	}
	coldCalls, warmCalls := number(t, cold["upstream calls/op"]), number(t, warm["upstream calls/op"])
	if coldCalls <= 0 || warmCalls >= coldCalls {
		t.Errorf("upstream calls per operation: %v with the cache off, %v warm; want some, then fewer", coldCalls, warmCalls)
	}
	if perExecution := number(t, cold["calls/execution"]); perExecution < coldCalls {
		t.Errorf("%v upstream calls per execution with the cache off, fewer than the %v per operation: executions cannot outnumber operations", perExecution, coldCalls)
	}
	if strings.Contains(out.String(), "FAILED") {
		t.Errorf("the table reports failures")
	}
	if left := children(t); len(left) > 0 {
		t.Errorf("child processes left running: %v", left)
	}
}

// tableRow is the printed table row starting with prefix, by column.
func tableRow(t *testing.T, table, prefix string) map[string]string {
	t.Helper()
	var header []string
	for line := range strings.Lines(table) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if strings.HasPrefix(line, "| query |") {
			header = cells
		}
		if strings.HasPrefix(line, prefix) && len(cells) == len(header) {
			row := map[string]string{}
			for i, name := range header {
				row[name] = cells[i]
			}
			return row
		}
	}
	t.Fatalf("no row %q in the table", prefix)
	return nil
}

func number(t *testing.T, cell string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(cell, 64)
	if err != nil {
		t.Fatalf("cell %q is not a number", cell)
	}
	return v
}

// children are the processes whose parent is this test.
func children(t *testing.T) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	parent := strconv.Itoa(os.Getpid())
	var found []string
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // gone since the listing
		}
		// After the command name in parentheses: state, then the parent.
		i := bytes.LastIndexByte(b, ')')
		if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == parent {
			found = append(found, strings.TrimSpace(string(b[:i+1])))
		}
	}
	return found
}

// TestParsers reads what the gateway and /proc print, as they print it.
func TestParsers(t *testing.T) {
	const metrics = `# HELP trestle_upstream_calls_total Calls to the upstream systems by system, route and outcome.
# TYPE trestle_upstream_calls_total counter
trestle_upstream_calls_total{outcome="ok",route="GET /products",system="shop"} 12
trestle_upstream_calls_total{outcome="ok",route="GET /api/resource/{doctype}",system="erp"} 3.5
trestle_upstream_calls_totals 1000
trestle_upstream_call_duration_seconds_count{route="GET /products",system="shop"} 12
trestle_cache_hits_total{kind="product"} 40
trestle_cache_hits_total{kind="responses"} 7
`
	banner := []string{"Trestle on http://127.0.0.1:41000", "  playground  http://127.0.0.1:41000/",
		"  GraphQL     http://127.0.0.1:41000/query", "  admin       http://127.0.0.1:41001/metrics, /readyz, /debug/pprof/"}
	for _, tc := range []struct {
		name  string
		parse func() (any, error)
		want  any
	}{
		{"upstream calls, summed over labels", func() (any, error) {
			return sumCounter(bufio.NewScanner(strings.NewReader(metrics)), "trestle_upstream_calls_total", "")
		}, 15.5},
		{"response cache hits, one label's", func() (any, error) {
			return sumCounter(bufio.NewScanner(strings.NewReader(metrics)), "trestle_cache_hits_total", `kind="responses"`)
		}, 7.0},
		{"a label no sample has", func() (any, error) {
			return sumCounter(bufio.NewScanner(strings.NewReader(metrics)), "trestle_upstream_calls_total", `kind="responses"`)
		}, 0.0},
		{"CPU time, command name with spaces and parentheses", func() (any, error) {
			return parseStat("4242 (trestle (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 9 0 100 0 0")
		}, 3250 * time.Millisecond},
		{"peak RSS", func() (any, error) {
			return parseHWM("Name:\ttrestle\nVmPeak:\t 2000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t 70000 kB\n")
		}, int64(81234 << 10)},
		{"gateway addresses", func() (any, error) {
			endpoint, admin, err := parseGatewayBanner(banner)
			return endpoint + " " + admin, err
		}, "http://127.0.0.1:41000/query http://127.0.0.1:41001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse()
			if err != nil || got != tc.want {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestReport prints a report filled by hand: the CPU per execution, the
// dash without executions, and the build column and the line naming the
// builds only with -against.
func TestReport(t *testing.T) {
	orders := row{query: "orders", cache: true, latency: 0, collapse: true}
	ran := measurement{result: result{ok: 1000}, cpu: 2 * time.Second,
		counts: counts{calls: 300, operations: 1000, collapsed: 100, kept: 400}}
	// A few more hits than operations: hits in flight as the measured part
	// ended, their operations not yet counted.
	allKept := measurement{result: result{ok: 1000}, cpu: time.Second,
		counts: counts{operations: 1000, kept: 1003}}
	ceiling := measurement{result: result{ok: 2000}}
	const builds = "before: 1234567 (HEAD~3); after: the working tree, 89abcde + changes"
	for _, tc := range []struct {
		name        string
		rep         report
		prefix      string // of the row with ran
		withBuilds  bool
		noExecution string // prefix of the row with allKept, when there is one
	}{
		{name: "one build", prefix: "| orders | on | 0 ms | on |",
			rep: report{rows: []row{orders}, measured: []measurement{ran}}},
		{name: "against a revision", prefix: "| orders | after | on | 0 ms | on |", withBuilds: true, noExecution: "| orders | before |",
			rep: report{builds: builds, rows: []row{withBuild(orders, "before"), withBuild(orders, "after")}, measured: []measurement{allKept, ran}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rep.load = plan{conns: 4, duration: time.Second}
			for range tc.rep.rows {
				tc.rep.ceilings = append(tc.rep.ceilings, ceiling)
			}
			var out bytes.Buffer
			tc.rep.print(&out)
			table := out.String()

			cells := tableRow(t, table, tc.prefix)
			// 2 s of CPU over 1000 operations, 500 of which ran: 100
			// collapsed and 400 came from the response cache.
			for column, want := range map[string]string{"CPU s/1k ops": "2.00", "CPU ms/execution": "4.00", "calls/execution": "0.60", "% of ceiling": "50 %"} {
				if cells[column] != want {
					t.Errorf("%s: %q, want %q\n%s", column, cells[column], want, table)
				}
			}
			if tc.noExecution != "" {
				if got := tableRow(t, table, tc.noExecution)["CPU ms/execution"]; got != "–" {
					t.Errorf("CPU ms/execution with every answer from the response cache: %q, want a dash", got)
				}
				if got := tableRow(t, table, tc.noExecution)["calls/execution"]; got != "–" {
					t.Errorf("calls/execution with every answer from the response cache: %q, want a dash", got)
				}
			}
			header := strings.HasPrefix(tableLine(table, "| query |"), "| query | build | cache |")
			named := strings.Contains(table, builds)
			if header != tc.withBuilds || named != tc.withBuilds {
				t.Errorf("build column %v, builds named %v; want both %v\n%s", header, named, tc.withBuilds, table)
			}
		})
	}
}

func withBuild(r row, build string) row {
	r.build = build
	return r
}

// tableLine is the first line of table starting with prefix.
func tableLine(table, prefix string) string {
	for line := range strings.Lines(table) {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// TestTableRows checks which configurations the table measures, and that
// with -against each is measured before, then after.
func TestTableRows(t *testing.T) {
	rows := tableRows([]string{"orders", "deep", "lookup"})
	collapsingOff := map[string]int{}
	for _, r := range rows {
		if !r.collapse {
			collapsingOff[r.query]++
			if r.cache {
				t.Errorf("%s: collapsing off with the cache on", r)
			}
		}
	}
	if want := map[string]int{"orders": 2, "deep": 2}; !maps.Equal(collapsingOff, want) {
		t.Errorf("rows with collapsing off by query: %v, want %v", collapsingOff, want)
	}
	pairs := compared(rows)
	if len(pairs) != 2*len(rows) {
		t.Fatalf("%d rows compared, want %d", len(pairs), 2*len(rows))
	}
	for i, r := range rows {
		if pairs[2*i] != withBuild(r, "before") || pairs[2*i+1] != withBuild(r, "after") {
			t.Errorf("rows %d and %d: %s and %s; want %s before, then after", 2*i, 2*i+1, pairs[2*i], pairs[2*i+1], r)
		}
	}
}

// TestAgainst checks -against before anything is built or started: a
// revision that is none is an error, and one that is names its commit.
func TestAgainst(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown revision", []string{"-against", "no-such-revision"}, `-against: "no-such-revision" is not a commit`},
		{"an option, not a revision", []string{"-against", "--upload-pack=x"}, `-against: "--upload-pack=x" is not a revision`},
		{"an argument after the flags", []string{"-against", "HEAD", "orders"}, `unexpected argument "orders"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runTable(ctx, tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
			if left := children(t); len(left) > 0 {
				t.Errorf("child processes started: %v", left)
			}
		})
	}
	t.Run("a revision", func(t *testing.T) {
		c, err := compare(ctx, "HEAD")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.commit) < 40 || !strings.HasPrefix(c.commit, c.short) || c.tree == "" {
			t.Errorf("HEAD resolved to %q, short %q, the working tree %q", c.commit, c.short, c.tree)
		}
		if _, err := os.Stat(filepath.Join(c.root, c.prefix, "go.mod")); err != nil {
			t.Errorf("the module is not at %s in %s: %v", c.prefix, c.root, err)
		}
	})
}
