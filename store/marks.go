package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/trestlehq/trestle/graph/model"
)

// Mark is the sync's position for one system and kind: where a backfill
// resumes, how far it is, and up to which upstream time the store is
// complete.
type Mark struct {
	System     model.System
	Kind       Kind
	Checkpoint string    // the backfill's resume point, opaque to the store
	Done       int64     // records read by the backfill so far
	Total      int64     // records the upstream reported; 0 when unknown
	Watermark  time.Time // the newest upstream modification time read
	// CaughtUp is when a backfill last read to the end of the upstream's
	// list: every change the upstream made before it is in the store.
	CaughtUp  time.Time
	UpdatedAt time.Time
}

// Mark returns the mark of a system and kind; a zero Mark (with the system
// and kind set) when none was set.
func (s *Store) Mark(ctx context.Context, system model.System, kind Kind) (Mark, error) {
	m := Mark{System: system, Kind: kind}
	var watermark, caughtUp, updated sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT checkpoint, done, total, watermark, caught_up_at, updated_at FROM marks WHERE system = ? AND kind = ?`, system, kind).
		Scan(&m.Checkpoint, &m.Done, &m.Total, &watermark, &caughtUp, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read mark %s %s: %w", system, kind, err)
	}
	m.Watermark, m.CaughtUp, m.UpdatedAt = timeOf(watermark), timeOf(caughtUp), timeOf(updated)
	return m, nil
}

// SetMark stores a mark, replacing the one of its system and kind; its
// UpdatedAt is set to now.
func (s *Store) SetMark(ctx context.Context, m Mark) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO marks (system, kind, checkpoint, done, total, watermark, caught_up_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (system, kind) DO UPDATE SET checkpoint = excluded.checkpoint, done = excluded.done, total = excluded.total,
	watermark = excluded.watermark, caught_up_at = excluded.caught_up_at, updated_at = excluded.updated_at`,
		m.System, m.Kind, m.Checkpoint, m.Done, m.Total, ns(m.Watermark), ns(m.CaughtUp), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("set mark %s %s: %w", m.System, m.Kind, err)
	}
	return nil
}
