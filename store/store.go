// Package store keeps the consolidated copy of the three systems that
// reports and exports read: orders with their lines, products, stock per
// warehouse, invoices and each system's customer records, in an embedded
// SQLite file or a PostgreSQL database that replicas share. Amounts are exact (INTEGER in 1/10000 of the unit), times are
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
	"net/url"

	// The database/sql drivers: pgx for PostgreSQL, and for SQLite one in
	// pure Go, so that the binary stays static and cgo-free.
	_ "github.com/jackc/pgx/v5/stdlib"
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

// Store is the store: an SQLite file, or a PostgreSQL database that
// replicas share. Its methods are safe for concurrent use.
type Store struct {
	db     db
	where  string // the file, or the database's host and name, for messages
	join   consolidate.JoinKey
	logger *slog.Logger
}

// Options say where a store is; exactly one of Path and PostgresURL.
type Options struct {
	// Path is an SQLite file, made when missing.
	Path string
	// PostgresURL is a PostgreSQL database (postgres://user:password@host/db).
	PostgresURL string
	// Join is the key customer records are joined on, as the customer
	// directory joins them.
	Join   consolidate.JoinKey
	Logger *slog.Logger
}

// Open opens the store and brings its schema up to this binary's version.
// An unreachable database, or an unwritable, corrupt or incompatible file,
// gives an error naming it.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.PostgresURL != "" {
		return open(ctx, o, postgres, o.PostgresURL, redact(o.PostgresURL), len(pgMigrations))
	}
	return openSQLite(ctx, o, len(migrations))
}

// openSQLite opens an SQLite store at a schema version.
func openSQLite(ctx context.Context, o Options, version int) (*Store, error) {
	// busy_timeout makes a second writer wait rather than fail; immediate
	// transactions take the write lock at BEGIN, so a read-then-write
	// transaction never fails half-way with SQLITE_BUSY.
	dsn := "file:" + o.Path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	return open(ctx, o, sqlite, dsn, o.Path, version)
}

func open(ctx context.Context, o Options, d *dialect, dsn, where string, version int) (*Store, error) {
	sdb, err := sql.Open(d.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	s := &Store{db: db{sdb, d}, where: where, join: o.Join, logger: o.Logger}
	var applied int
	prepare := func() error {
		// The views are the code's, made again after migrating: one of an
		// older binary's would stand in the way of a migration changing
		// the tables under it.
		if err := dropViews(ctx, s.db); err != nil {
			return err
		}
		var err error
		if applied, err = migrate(ctx, s.db, version); err != nil {
			return err
		}
		return createViews(ctx, s.db)
	}
	if d.exclusive != nil {
		err = d.exclusive(ctx, sdb, prepare)
	} else {
		err = prepare()
	}
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	o.Logger.Info("store opened", "store", where, "database", d.name, "schema_version", version, "migrations_applied", applied)
	return s, nil
}

// redact is a database URL without its password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the PostgreSQL database (its URL does not parse)"
	}
	return u.Redacted()
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	return s.db.Close()
}
