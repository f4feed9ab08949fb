package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/trestlehq/trestle/config"
)

// Feed reads the changes to one kind of record that an upstream made at
// or after since, oldest first, up to limit.
type Feed struct {
	Name string // for logs: "shop orders"
	Read func(ctx context.Context, since time.Time, limit int) ([]Change, error)
}

// pollLimit is how many records one read of a feed takes; a full read is
// followed at once by the next. When more records than that changed
// within the overlap (a bulk update), reads take twice as many at a time,
// up to maxPollLimit, until they get past them.
const (
	pollLimit    = 500
	maxPollLimit = 16 * pollLimit
)

// RunPoller reads each feed every p.Every from its high-water mark (the
// newest upstream time read) less p.Overlap (default 5s) and hands what it
// reads to sink: the overlap reads again a record the upstream stamped a
// little out of order (its clock or a late commit), and the de-duplication
// stage drops what is read twice. The marks start at the time the poller
// starts, so that what changed before is not reported again after a
// restart. It runs until ctx ends.
func RunPoller(ctx context.Context, feeds []Feed, p config.Poll, sink Sink, logger *slog.Logger) {
	if p.Every <= 0 || len(feeds) == 0 {
		return
	}
	if p.Overlap == 0 {
		p.Overlap = config.DefaultSource("").Poll.Overlap
	}
	marks := make([]time.Time, len(feeds))
	for i := range marks {
		marks[i] = time.Now().UTC()
	}
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, f := range feeds {
			marks[i] = pollFeed(ctx, f, marks[i], p.Overlap, sink, logger)
		}
	}
}

// pollFeed reads one feed until it has caught up and returns its new mark.
// A read that fails leaves the mark where it was, to be read again.
func pollFeed(ctx context.Context, f Feed, mark time.Time, overlap time.Duration, sink Sink, logger *slog.Logger) time.Time {
	limit := pollLimit
	for ctx.Err() == nil {
		changes, err := f.Read(ctx, mark.Add(-overlap), limit)
		if err == nil && len(changes) > 0 {
			err = sink(ctx, changes)
		}
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("poll failed; read again next time", "feed", f.Name, "err", err)
			}
			return mark
		}
		newest := mark
		for _, c := range changes {
			if c.At.After(newest) {
				newest = c.At
			}
		}
		switch {
		case len(changes) < limit:
			return newest
		case newest.After(mark):
			mark, limit = newest, pollLimit
		case limit < maxPollLimit:
			// A full read that did not get past the mark would be the
			// same read again next time: take more at once.
			limit *= 2
		default:
			// Not even the largest read gets past them: go on after them,
			// so that at least what comes next is read.
			logger.Warn("more records changed at one time than a poll reads; going on past them", "feed", f.Name,
				"records", limit, "at", newest)
			return newest.Add(overlap + time.Second)
		}
	}
	return mark
}
