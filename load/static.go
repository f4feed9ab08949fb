package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trestlehq/trestle/app"
)

// runStatic is the hidden `load static` subcommand: a plain HTTP server
// that answers every request with one file's bytes. The table drives it as
// the ceiling: what this machine serves when nothing is computed.
func runStatic(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("load static", flag.ContinueOnError)
	file := fs.String("file", "", "the response body to serve")
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on (loopback only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	if err := loopbackOnly("http://" + *listen); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%shttp://%s\n", staticBanner, ln.Addr())
	// Served as the gateway serves, so the ceiling differs from it only in
	// what is computed.
	return app.Serve(ctx, ln, staticHandler(body), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// staticBanner starts the line `load static` prints its address on.
const staticBanner = "static response on "

// staticHandler reads the request, as any handler would, and writes body
// as JSON.
func staticHandler(body []byte) http.Handler {
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", length)
		_, _ = w.Write(body)
	})
}

// startStatic runs `load static` serving body in a child process: this
// very binary, run again.
func startStatic(ctx context.Context, dir, query string, body []byte) (*child, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	file := filepath.Join(dir, query+".json")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return nil, "", err
	}
	c, err := startChild(ctx, "static server", filepath.Join(dir, "static-"+query+".log"), exe, "static", "-file", file)
	if err != nil {
		return nil, "", err
	}
	lines, err := c.banner(ctx, 1, 10*time.Second)
	if err != nil {
		c.stop()
		return nil, "", err
	}
	base, ok := strings.CutPrefix(lines[0], staticBanner)
	if !ok {
		c.stop()
		return nil, "", c.failed(fmt.Sprintf("printed %q, not its address", lines[0]))
	}
	return c, base, nil
}
