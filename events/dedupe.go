package events

import (
	"context"
	"sync"
	"time"
)

// Dedupe is the one de-duplication stage that webhook deliveries and polled
// changes pass through, so that a change reported twice (a webhook retried,
// a HubSpot batch naming one contact twice, a poller reading a record a
// webhook already reported, or the poll overlap reading it again) is
// published once.
//
// A change is identified by its record (system, kind, key), its upstream
// modification time and its operation. It is new when it is the record's
// newest, or as new as the newest but with an operation not yet seen (an
// order created and updated in one second, which is all WooCommerce's
// timestamps resolve). An older change than one already published is
// dropped too: a subscriber reading the record after the newer change has
// seen the older one's effect as well.
//
// It remembers the latest size records; a record forgotten counts as new.
type Dedupe struct {
	mu    sync.Mutex
	marks map[string]mark
	order []string // records by when first seen, a ring
	next  int
}

// mark is what has been published for a record: its newest modification
// time and the operations seen at that time.
type mark struct {
	at   time.Time
	ops  uint8
	slot int // the record's place in order
}

// NewDedupe remembers up to size records.
func NewDedupe(size int) *Dedupe {
	return &Dedupe{marks: map[string]mark{}, order: make([]string, size)} // the map grows with the records seen, not ahead of them
}

// Sink passes the changes not seen before on to next. If next does not take
// them, they are forgotten again, so that the upstream's retry counts.
func (d *Dedupe) Sink(next Sink) Sink {
	return func(ctx context.Context, changes []Change) error {
		fresh, undo := d.admit(changes)
		if len(fresh) == 0 {
			return nil
		}
		if err := next(ctx, fresh); err != nil {
			d.restore(undo)
			return err
		}
		return nil
	}
}

// prior is a record's mark before a change was admitted, for undoing it.
type prior struct {
	record  string
	had     bool
	was, is mark
}

// admit marks the new changes and returns them, with how to undo it.
func (d *Dedupe) admit(changes []Change) ([]Change, []prior) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var fresh []Change
	var undo []prior
	for _, c := range changes {
		record, bit := c.record(), opBit(c.Op)
		m, had := d.marks[record]
		was := m
		switch {
		case !had:
			m = mark{at: c.At, ops: bit, slot: d.claim(record)}
		case c.At.After(m.at):
			m.at, m.ops = c.At, bit
		case c.At.Equal(m.at) && m.ops&bit == 0:
			m.ops |= bit
		default:
			continue // seen, or older than what was published
		}
		undo = append(undo, prior{record: record, had: had, was: was, is: m})
		d.marks[record] = m
		fresh = append(fresh, c)
	}
	return fresh, undo
}

// claim gives a new record a place in the ring, forgetting the oldest.
func (d *Dedupe) claim(record string) int {
	slot := d.next
	if old := d.order[slot]; old != "" && d.marks[old].slot == slot {
		delete(d.marks, old)
	}
	d.order[slot] = record
	d.next = (d.next + 1) % len(d.order)
	return slot
}

// restore puts back the marks admit set, unless they have moved on since.
func (d *Dedupe) restore(undo []prior) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		u := undo[i]
		if d.marks[u.record] != u.is {
			continue
		}
		if u.had {
			d.marks[u.record] = u.was
		} else {
			delete(d.marks, u.record)
		}
	}
}

func opBit(op Op) uint8 {
	switch op {
	case OpCreated:
		return 1
	case OpDeleted:
		return 4
	default:
		return 2
	}
}
