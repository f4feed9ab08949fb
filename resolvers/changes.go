package resolvers

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/trestlehq/trestle/events"
)

// Changes is the bus the subscriptions read.
type Changes interface {
	Subscribe(ctx context.Context, after uint64) (*events.Subscription, error)
}

// changeCursor is the opaque cursor of a change: its sequence number.
func changeCursor(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("change:" + strconv.FormatUint(seq, 10)))
}

// changeSeq reads a change cursor; no cursor is 0, only new changes.
func changeSeq(cursor *string) (uint64, error) {
	if cursor == nil || *cursor == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*cursor)
	seq, ok := strings.CutPrefix(string(raw), "change:")
	n, convErr := strconv.ParseUint(seq, 10, 64)
	if err != nil || !ok || convErr != nil {
		return 0, badInput("after is not a change cursor")
	}
	return n, nil
}

// subscribe streams the changes after the cursor that event makes into a
// subscription event, until ctx ends. The records an event's fields read are
// loaded by that event's own loaders, after the change invalidated the
// cache, so each event carries the fresh value. A subscriber that falls
// behind is ended; it resumes with the cursor of the last event it got.
func subscribe[E any](ctx context.Context, bus Changes, after *string, event func(events.Change) (E, bool)) (<-chan E, error) {
	from, err := changeSeq(after)
	if err != nil {
		return nil, err
	}
	sub, err := bus.Subscribe(ctx, from)
	if errors.Is(err, events.ErrCursorTooOld) {
		return nil, badInput("%v; subscribe without after: to start from now", err)
	}
	if err != nil {
		return nil, err
	}
	out := make(chan E, 1)
	go func() {
		defer close(out)
		for c := range sub.C {
			e, ok := event(c)
			if !ok {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
