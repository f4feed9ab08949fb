// Package natstest runs a real NATS server with JetStream in-process, for
// tests of the bus that replicas share.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start serves NATS with JetStream on a loopback port until the test ends
// and returns its client URL.
func Start(tb testing.TB) string { return StartServer(tb).ClientURL() }

// StartServer is Start, returning the server, for a test that stops it.
func StartServer(tb testing.TB) *server.Server {
	tb.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}
