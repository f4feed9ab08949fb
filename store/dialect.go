package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// dialect is what differs between the store's two databases: the embedded
// SQLite file and a PostgreSQL server that replicas share. Statements are
// written once, with ? for their arguments, in the SQL both understand.
type dialect struct {
	name   string // "sqlite" or "postgres"
	driver string // the database/sql driver
	// migrations take a store from version i to i+1; each dialect has its
	// own list, as their column types differ.
	migrations []string
	// versionTable makes the table that holds the schema's version.
	versionTable string
	// otherTables counts the tables in the database that are not the
	// store's version table: any, in a database without a version, means
	// it belongs to another application.
	otherTables string
	// numbered rewrites ? to $1, $2, …, as PostgreSQL wants them.
	numbered bool
	// exclusive, when set, runs f holding a lock no other replica can
	// take at once (migrating, recreating the views).
	exclusive func(ctx context.Context, db *sql.DB, f func() error) error
}

// bind rewrites a statement's ? for the dialect; ? within quotes stays.
func (d *dialect) bind(q string) string {
	if !d.numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// db is the store's database, its statements bound for its dialect.
type db struct {
	*sql.DB
	d *dialect
}

func (db db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.DB.ExecContext(ctx, db.d.bind(q), args...)
}

func (db db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.DB.QueryContext(ctx, db.d.bind(q), args...)
}

func (db db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return db.DB.QueryRowContext(ctx, db.d.bind(q), args...)
}

func (db db) BeginTx(ctx context.Context) (tx, error) {
	t, err := db.DB.BeginTx(ctx, nil)
	return tx{t, db.d}, err
}

// tx is a transaction of the store's, its statements bound like db's.
type tx struct {
	*sql.Tx
	d *dialect
}

func (tx tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.d.bind(q), args...)
}

func (tx tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.d.bind(q), args...)
}

func (tx tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return tx.Tx.PrepareContext(ctx, tx.d.bind(q))
}

// argList is (?, ?, …) of n arguments, for IN.
func argList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// anys are vs as a statement's arguments.
func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}
