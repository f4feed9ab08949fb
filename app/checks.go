package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sources"
)

// sourceChecks probes each source once at start with a cheap
// authenticated call, so that a wrong URL, refused credentials or an
// unreachable host is logged (with the URL and the HTTP status) and shown
// in /readyz at once, not first met by a client's query. A source that
// failed is probed again every few seconds until it answers.
type sourceChecks struct {
	mu   sync.Mutex
	errs map[model.System]error // nil until the first round is done
}

func (c *sourceChecks) run(ctx context.Context, set *sources.Set, every time.Duration, logger *slog.Logger) {
	failing := map[model.System]bool{}
	for {
		errs := set.Probe(ctx)
		if ctx.Err() != nil {
			return
		}
		passed := true
		for system, err := range errs {
			switch {
			case err != nil && !failing[system]:
				logger.Error("source check failed: its fields are null until it answers", "system", system, "err", err)
			case err == nil && failing[system]:
				logger.Info("source check passed", "system", system)
			}
			failing[system] = err != nil
			passed = passed && err == nil
		}
		c.mu.Lock()
		c.errs = errs
		c.mu.Unlock()
		if passed {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// state is a source's check as /readyz shows it.
func (c *sourceChecks) state(system model.System) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch err, done := c.errs[system]; {
	case !done:
		return "checking"
	case err != nil:
		return err.Error()
	}
	return "ok"
}
