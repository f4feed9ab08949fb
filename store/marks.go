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
	// Began is when the running backfill of the kind began and DoneBefore
	// the Done it began from: its rate is the records read since over the
	// time since. Zero when none runs.
	Began      time.Time
	DoneBefore int64
	// CaughtUp is when a backfill last read to the end of the upstream's
	// list: every change the upstream made before it is in the store.
	CaughtUp  time.Time
	UpdatedAt time.Time
	// LastChange is the last change applied; nil when none was.
	LastChange *Applied
}

// Mark returns the mark of a system and kind; a zero Mark (with the system
// and kind set) when none was set.
func (s *Store) Mark(ctx context.Context, system model.System, kind Kind) (Mark, error) {
	m := Mark{System: system, Kind: kind}
	var watermark, caughtUp, updated, began, lastSeq, lastAt, appliedAt sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT checkpoint, done, total, watermark, caught_up_at, updated_at, began_at, done_before,
	last_seq, last_change_at, last_applied_at
FROM marks WHERE system = ? AND kind = ?`, system, kind).
		Scan(&m.Checkpoint, &m.Done, &m.Total, &watermark, &caughtUp, &updated, &began, &m.DoneBefore, &lastSeq, &lastAt, &appliedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read mark %s %s: %w", system, kind, err)
	}
	m.Watermark, m.CaughtUp, m.UpdatedAt, m.Began = timeOf(watermark), timeOf(caughtUp), timeOf(updated), timeOf(began)
	if lastSeq.Valid {
		m.LastChange = &Applied{Seq: uint64(lastSeq.Int64), At: timeOf(lastAt), AppliedAt: timeOf(appliedAt)}
	}
	return m, nil
}

// SetMark stores a mark, replacing the one of its system and kind but for
// its last change (setApplied's); its UpdatedAt is set to now.
func (s *Store) SetMark(ctx context.Context, m Mark) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO marks (system, kind, checkpoint, done, total, watermark, caught_up_at, updated_at, began_at, done_before)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (system, kind) DO UPDATE SET checkpoint = excluded.checkpoint, done = excluded.done, total = excluded.total,
	watermark = excluded.watermark, caught_up_at = excluded.caught_up_at, updated_at = excluded.updated_at,
	began_at = excluded.began_at, done_before = excluded.done_before`,
		m.System, m.Kind, m.Checkpoint, m.Done, m.Total, ns(m.Watermark), ns(m.CaughtUp), time.Now().UnixNano(), ns(m.Began), m.DoneBefore)
	if err != nil {
		return fmt.Errorf("set mark %s %s: %w", m.System, m.Kind, err)
	}
	return nil
}

// setApplied records the last change a system and kind had applied.
func (s *Store) setApplied(ctx context.Context, system model.System, kind Kind, a Applied) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO marks (system, kind, checkpoint, done, total, updated_at, last_seq, last_change_at, last_applied_at)
VALUES (?, ?, '', 0, 0, ?, ?, ?, ?)
ON CONFLICT (system, kind) DO UPDATE SET last_seq = excluded.last_seq, last_change_at = excluded.last_change_at, last_applied_at = excluded.last_applied_at`,
		system, kind, time.Now().UnixNano(), int64(a.Seq), ns(a.At), ns(a.AppliedAt))
	if err != nil {
		return fmt.Errorf("record the last change of %s %s: %w", system, kind, err)
	}
	return nil
}

// syncState is what the replica that syncs the store says of it.
type syncState struct {
	leader    string
	heartbeat time.Time
	failure   string
	failedAt  time.Time
}

// readSyncState reads the sync's state; a zero one before any replica
// synced.
func (s *Store) readSyncState(ctx context.Context) (syncState, error) {
	var st syncState
	var heartbeat int64
	var failedAt sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT leader, heartbeat_at, failure, failed_at FROM sync_state WHERE id = 1`).
		Scan(&st.leader, &heartbeat, &st.failure, &failedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read the sync's state: %w", err)
	}
	st.heartbeat, st.failedAt = time.Unix(0, heartbeat).UTC(), timeOf(failedAt)
	return st, nil
}

// writeSyncState records the syncing replica's state.
func (s *Store) writeSyncState(ctx context.Context, st syncState) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sync_state (id, leader, heartbeat_at, failure, failed_at) VALUES (1, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET leader = excluded.leader, heartbeat_at = excluded.heartbeat_at, failure = excluded.failure, failed_at = excluded.failed_at`,
		st.leader, st.heartbeat.UnixNano(), st.failure, ns(st.failedAt))
	if err != nil {
		return fmt.Errorf("record the sync's state: %w", err)
	}
	return nil
}
