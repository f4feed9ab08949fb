// Package store keeps the consolidated copy of the three systems that
// reports and exports read: orders with their lines, products, stock per
// warehouse, invoices and each system's customer records, in an embedded
// SQLite file. Amounts are exact (INTEGER in 1/10000 of the unit), times are
// UTC unix nanoseconds, and every row carries the upstream's modification
// time and when Trestle read it, so that writes are idempotent and an older
// row never overwrites a newer one.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	// The SQLite driver: pure Go, so the binary stays static and cgo-free.
	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/events"
)

// Kind is the kind of record a row holds, as the change path names it;
// with the system it names a record's table. A customer is a CRM contact,
// a shop customer or an ERP customer, by its system.
type Kind = events.Kind

var (
	// ErrNewerSchema is returned by Open for a file written by a newer
	// Trestle, whose schema this binary does not know.
	ErrNewerSchema = errors.New("store schema is newer than this binary's")
	// ErrNotStore is returned by Open for an SQLite file with tables of
	// another application.
	ErrNotStore = errors.New("file holds another application's tables")
	// ErrNotFound is returned for a record the store does not hold.
	ErrNotFound = errors.New("record not in the store")
	// ErrUnknownKind is returned for a system and kind the store keeps no
	// table for.
	ErrUnknownKind = errors.New("no such system and kind in the store")
)

// Store is the SQLite store. Its methods are safe for concurrent use; SQLite
// runs one write transaction at a time and reads beside it (WAL).
type Store struct {
	db     *sql.DB
	path   string
	join   consolidate.JoinKey
	logger *slog.Logger
}

// Open opens the store file at path, creating it when missing, and brings
// its schema up to this binary's version. An unwritable, corrupt or
// incompatible file gives an error naming it. Customer records are joined
// on join, as the customer directory joins them.
func Open(ctx context.Context, path string, join consolidate.JoinKey, logger *slog.Logger) (*Store, error) {
	return open(ctx, path, logger, join, len(migrations))
}

func open(ctx context.Context, path string, logger *slog.Logger, join consolidate.JoinKey, version int) (*Store, error) {
	// busy_timeout makes a second writer wait rather than fail; immediate
	// transactions take the write lock at BEGIN, so a read-then-write
	// transaction never fails half-way with SQLITE_BUSY.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, join: join, logger: logger}
	applied, err := migrate(ctx, db, version)
	if err == nil {
		err = createViews(ctx, db)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	logger.Info("store opened", "path", path, "schema_version", version, "migrations_applied", applied)
	return s, nil
}

// Close closes the file. It is safe to call more than once.
func (s *Store) Close() error {
	return s.db.Close()
}
