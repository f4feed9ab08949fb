package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// child is a program the table runs beside itself. Its stdout and stderr
// go to a log file; its stdout lines are also handed over as they come, so
// that the addresses it prints can be read. It is interrupted when its
// context ends or stop is called, and killed if it has not exited 10 s
// later.
type child struct {
	name   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	log    string
	lines  chan string   // stdout lines; closed when stdout is
	exited chan struct{} // closed once the program has exited
	copied chan struct{} // closed once its stdout is read to the end
}

// startChild starts argv as a child named name (as errors call it),
// logging to logPath.
func startChild(ctx context.Context, name, logPath string, argv ...string) (*child, error) {
	stderr, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer stderr.Close() // the child has its own copy
	stdout, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	defer w.Close()

	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = w, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		r.Close()
		stdout.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, cancel: cancel, log: logPath,
		lines: make(chan string, 16), exited: make(chan struct{}), copied: make(chan struct{})}
	go c.copyStdout(r, stdout)
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// copyStdout writes the child's stdout lines to its log and hands them
// over; lines nobody waits for are only logged.
func (c *child) copyStdout(r, log *os.File) {
	defer close(c.copied)
	defer r.Close()
	defer log.Close()
	defer close(c.lines)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fmt.Fprintln(log, sc.Text())
		select {
		case c.lines <- sc.Text():
		default:
		}
	}
	_, _ = io.Copy(log, r) // past a line too long to scan, so the child never blocks writing
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop interrupts the child, waits for it to exit and removes its log. It
// may be called more than once.
func (c *child) stop() {
	c.cancel()
	<-c.exited
	<-c.copied
	_ = os.Remove(c.log)
}

// banner reads the first n lines the child prints.
func (c *child) banner(ctx context.Context, n int, within time.Duration) ([]string, error) {
	timer := time.NewTimer(within)
	defer timer.Stop()
	var got []string
	for len(got) < n {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return nil, c.failed("exited before it printed its address")
			}
			got = append(got, line)
		case <-timer.C:
			return nil, c.failed(fmt.Sprintf("printed no address within %s", within))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return got, nil
}

// await tries check every 50 ms until it succeeds, the child exits or
// within has passed.
func (c *child) await(ctx context.Context, what string, within time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		tryCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(tryCtx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return c.failed(fmt.Sprintf("did not %s within %s (last: %v)", what, within, err))
		}
		select {
		case <-tick.C:
		case <-c.exited:
			return c.failed(fmt.Sprintf("exited before it could %s", what))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logged checks that the child's log holds a line with s.
func (c *child) logged(s string) func(context.Context) error {
	return func(context.Context) error {
		b, err := os.ReadFile(c.log)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte(s)) {
			return fmt.Errorf("no %q in its log yet", s)
		}
		return nil
	}
}

// failed is an error about the child, with the end of its log.
func (c *child) failed(what string) error {
	return fmt.Errorf("%s %s; the end of its log:\n%s", c.name, what, c.tail(20))
}

// tail is the last n lines of the child's log.
func (c *child) tail(n int) string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	return "  " + strings.Join(lines, "\n  ")
}

// clockTicks is the unit of the CPU times in /proc/PID/stat:
// sysconf(_SC_CLK_TCK), 100 on Linux.
const clockTicks = 100

// cpuTime is the CPU time, user and system, process pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time (the table needs Linux's /proc): %w", err)
	}
	return parseStat(string(b))
}

// parseStat reads utime plus stime from a /proc/PID/stat line. The
// command name in parentheses may hold spaces, so fields are counted from
// the last ')': after it come state (field 3) ... utime (14), stime (15).
func parseStat(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	f := strings.Fields(stat[i+1:])
	if i < 0 || len(f) < 13 {
		return 0, errors.New("/proc/PID/stat: unexpected format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/PID/stat: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// peakRSS is the most resident memory process pid has had, in bytes
// (VmHWM).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak RSS (the table needs Linux's /proc): %w", err)
	}
	return parseHWM(string(b))
}

// parseHWM reads VmHWM from /proc/PID/status, "VmHWM:	  81234 kB".
func parseHWM(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/PID/status VmHWM: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("/proc/PID/status: no VmHWM")
}
