package rest

import (
	"errors"
	"fmt"
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

// The classes every upstream failure falls into. Test with errors.Is; the
// GraphQL error presenter maps them to extension codes.
var (
	ErrNotFound     = errors.New("not found")
	ErrUnauthorized = errors.New("unauthorized")
	ErrRateLimited  = errors.New("rate limited")
	ErrUnavailable  = errors.New("unavailable")
	ErrBadResponse  = errors.New("bad response")
)

// Error is a failed upstream call. Its message names the system, the route
// and the class, never a URL, a credential or the upstream's body.
type Error struct {
	System     model.System
	Route      string
	Class      error         // one of the Err* classes above
	Status     int           // HTTP status, 0 when there was no response
	RetryAfter time.Duration // the upstream's hint on a rate limit, 0 when none
	Timeout    bool          // the call ran out of time (class ErrUnavailable)
	Local      bool          // refused by this client (breaker open, too busy, rate limit), not by the upstream
	Detail     string        // a short description safe to show

	cause error // the network's own error when no answer came, for probes
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.System, e.Route, e.Class)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Unwrap() error { return e.Class }
