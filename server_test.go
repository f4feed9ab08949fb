package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSimCommandServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sim", "-listen", "127.0.0.1:0", "-seed", "3", "-faults", `{"erp":{"latency_ms":1}}`}, w, io.Discard)
		w.Close()
	}()

	base := ""
	lines := bufio.NewScanner(out)
	var printed strings.Builder
	for lines.Scan() {
		printed.WriteString(lines.Text() + "\n")
		if m := regexp.MustCompile(`on (http://\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
		}
		if strings.Contains(lines.Text(), "admin") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	for _, want := range []string{"/shop/wp-json/wc/v3", "ck_demo:cs_demo", "Bearer pat-demo", "token demo:demo"} {
		if !strings.Contains(printed.String(), want) {
			t.Errorf("banner does not show %q:\n%s", want, printed.String())
		}
	}
	if base == "" {
		t.Fatalf("no base URL in:\n%s", printed.String())
	}

	req, _ := http.NewRequest("GET", base+"/shop/wp-json/wc/v3/products?per_page=1", nil)
	req.SetBasicAuth("ck_demo", "cs_demo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("shop answered %d", resp.StatusCode)
	}
	resp, err = http.Get(base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestSimCommandRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sim", "-faults", `{"crm":{"error_rate":3}}`}, "error_rate"},
		{[]string{"sim", "-faults", `{"billing":{}}`}, "unknown system"},
		{[]string{"sim", "extra"}, "unexpected argument"},
		{[]string{"sim", "-listen", "nonsense"}, "nonsense"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if err := run(context.Background(), []string{"sim", "-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}
