package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The store's PostgreSQL advisory locks ("trestle" and a number).
const (
	migrateLock int64 = 0x74726573746c6501
	syncLock    int64 = 0x74726573746c6502
)

// Replicas sharing a PostgreSQL store take turns to sync it.
const (
	// takeoverEvery is how often a replica that does not sync tries to.
	takeoverEvery = time.Second
	// leaseCheckEvery is how often the syncing replica checks that it
	// still holds its turn (its database session lives).
	leaseCheckEvery = time.Second
)

// lease is a replica's turn to sync the store, held until lost (its
// database session ended) or released.
type lease struct {
	lost    <-chan struct{}
	release func()
}

// acquire waits for this replica's turn to sync the store, emptying wait
// meanwhile (the changes another replica applies). An SQLite file's turn
// is always this replica's: another process writing the same file
// serialises with it, and the guarded writes keep the rows right. With
// PostgreSQL it is the replica's that holds the sync's advisory lock, a
// session lock: when the replica dies its session ends, and another takes
// the lock within takeoverEvery.
func (s *Store) acquire(ctx context.Context, wait func()) (lease, error) {
	if !s.shared() {
		return lease{lost: make(chan struct{}), release: func() {}}, nil
	}
	tick := time.NewTicker(takeoverEvery)
	defer tick.Stop()
	for {
		conn, ok, err := s.tryLock(ctx)
		if ok {
			return s.hold(conn), nil
		}
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("cannot reach the store to take a turn to sync it", "err", err)
		}
		select {
		case <-ctx.Done():
			return lease{}, ctx.Err()
		case <-tick.C:
			wait()
		}
	}
}

// shared reports whether replicas share the store (PostgreSQL).
func (s *Store) shared() bool { return s.db.d == postgres }

// tryLock takes the sync's advisory lock on a connection of its own, if
// no other session holds it.
func (s *Store) tryLock(ctx context.Context) (*sql.Conn, bool, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, syncLock).Scan(&ok); err != nil || !ok {
		conn.Close()
		if err != nil {
			err = fmt.Errorf("take the sync lock: %w", err)
		}
		return nil, false, err
	}
	return conn, true, nil
}

// hold watches the lock's session until it ends or the lease is released.
func (s *Store) hold(conn *sql.Conn) lease {
	lost, done := make(chan struct{}), make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(leaseCheckEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := conn.PingContext(ctx)
			cancel()
			if err != nil {
				s.logger.Warn("lost the store's sync lock: its database session ended", "err", err)
				close(lost)
				return
			}
		}
	}()
	return lease{lost: lost, release: func() {
		close(done)
		<-stopped
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, syncLock)
		conn.Close()
	}}
}
