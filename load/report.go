package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// machine describes where the table was measured: CPU model and count,
// kernel, and the Go that built Trestle.
func machine(goVersion string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				cpu = strings.TrimSpace(value)
				break
			}
		}
	}
	kernel := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d CPUs, %s, %s", cpu, runtime.NumCPU(), kernel, goVersion)
}

// print writes the report as Markdown: the machine and settings, the
// table with each row's ceiling, and the failures. With -against a build
// column says which gateway each row measured, and a line under the table
// what each was built from.
func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "machine   %s\n", r.machine)
	fmt.Fprintf(w, "load      -c %d -d %s -warmup %s; a fresh gateway per row; simulators (seed %d), gateway and load on this machine\n\n",
		r.load.conns, r.load.duration, r.load.warmup, simSeed)
	head, align := "| query |", "|---|"
	if r.builds != "" {
		head, align = head+" build |", align+"---|"
	}
	fmt.Fprintln(w, head+" cache | upstream latency | collapsing | req/s | p50 ms | p99 ms | failed | upstream calls/op | calls/execution | CPU s/1k ops | CPU ms/execution | peak RSS MiB | ceiling req/s | % of ceiling |")
	fmt.Fprintln(w, align+"---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for i, row := range r.rows {
		m, ceiling := r.measured[i], r.ceilings[i]
		share := "–"
		if ceiling.ok > 0 {
			share = fmt.Sprintf("%.0f %%", 100*m.rate(r.load.duration)/ceiling.rate(r.load.duration))
		}
		query := row.query
		if r.builds != "" {
			query += " | " + row.build
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.0f | %s |\n", query, onOff(row.cache), latency(row.latency), onOff(row.collapse),
			r.figures(m), ceiling.rate(r.load.duration), share)
	}
	if r.builds != "" {
		fmt.Fprintf(w, "\n%s; each row measured before, then after, each followed by its ceiling.\n", r.builds)
	}
	fmt.Fprintln(w, "\nceiling: the gateway's response bytes for the query, written by a plain Go handler under the same load, right after the row.")
	fmt.Fprintln(w, "CPU is the process's user+system time over the measured part; peak RSS its VmHWM. Executions are the operations that ran,")
	fmt.Fprintln(w, "neither collapsed into an identical one in flight nor answered from the response cache; CPU ms/execution divides all the CPU by them;")
	fmt.Fprintln(w, "a dash: fewer than two per connection, too few to tell from the requests in flight as the measured part starts and ends.")
	for i, row := range r.rows {
		for what, m := range map[string]measurement{"": r.measured[i], ", ceiling": r.ceilings[i]} {
			if m.failed > 0 {
				fmt.Fprintf(w, "FAILED: %s%s: %d of %d requests; the first: %v\n", row, what, m.failed, m.ok+m.failed, m.firstErr)
			}
		}
	}
}

// figures are a gateway measurement's cells from req/s to peak RSS.
func (r report) figures(m measurement) string {
	calls, executions := m.counts.calls, int64(m.counts.executions())
	// The response cache counts a hit before its operation is counted, so
	// at each end of the measured part the executions may be off by a
	// request in flight per connection: fewer than two per connection are
	// taken as none.
	if executions < 2*int64(r.load.conns) {
		executions = 0
	}
	return fmt.Sprintf("%.0f | %s | %s | %d | %s | %s | %s | %s | %.0f", m.rate(r.load.duration), millis(m.percentile(0.50)),
		millis(m.percentile(0.99)), m.failed, perOp(calls, m.ok+m.failed, 1, "%.2f"), perOp(calls, executions, 1, "%.2f"),
		perOp(m.cpu.Seconds(), m.ok, 1000, "%.2f"), perOp(m.cpu.Seconds(), executions, 1000, "%.2f"), float64(m.peakRSS)/(1<<20))
}

// perOp is total per per operations out of ops, or a dash without any.
func perOp(total float64, ops int64, per float64, format string) string {
	if ops == 0 {
		return "–"
	}
	return fmt.Sprintf(format, total/float64(ops)*per)
}

// millis is d in milliseconds, to about three significant digits.
func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms == 0:
		return "0"
	case ms < 1:
		return fmt.Sprintf("%.3f", ms)
	case ms < 10:
		return fmt.Sprintf("%.2f", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f", ms)
	}
	return fmt.Sprintf("%.0f", ms)
}

// latency is an upstream latency as the table shows it, "5 ms".
func latency(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
