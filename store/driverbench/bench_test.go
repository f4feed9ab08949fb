package driverbench

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
	_ "modernc.org/sqlite"
)

const (
	orders    = 20000
	linesEach = 3
	batch     = 500
)

// The tables as the store keeps them: amounts in 1/10000 units, times in
// UTC unix nanoseconds.
const schema = `
CREATE TABLE orders (
	id INTEGER PRIMARY KEY, number TEXT NOT NULL, status TEXT NOT NULL, currency TEXT NOT NULL,
	total_e4 INTEGER NOT NULL, total_tax_e4 INTEGER NOT NULL, customer_id INTEGER NOT NULL,
	billing_email TEXT NOT NULL, created_at INTEGER NOT NULL, modified_at INTEGER NOT NULL, read_at INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_created ON orders (created_at);
CREATE TABLE order_lines (
	order_id INTEGER NOT NULL, id INTEGER NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL,
	price_e4 INTEGER NOT NULL, total_e4 INTEGER NOT NULL,
	PRIMARY KEY (order_id, id)
) STRICT;`

const upsertOrder = `INSERT INTO orders AS t (id, number, status, currency, total_e4, total_tax_e4, customer_id, billing_email, created_at, modified_at, read_at)
VALUES (?, ?, ?, 'EUR', ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET number = excluded.number, status = excluded.status, total_e4 = excluded.total_e4,
	total_tax_e4 = excluded.total_tax_e4, customer_id = excluded.customer_id, billing_email = excluded.billing_email,
	created_at = excluded.created_at, modified_at = excluded.modified_at, read_at = excluded.read_at
WHERE excluded.modified_at >= t.modified_at`

const revenuePerMonth = `SELECT created_at / ? AS bucket, currency, SUM(total_e4), COUNT(*)
FROM orders WHERE status IN ('processing', 'completed') AND created_at >= ? AND created_at < ?
GROUP BY bucket, currency ORDER BY bucket`

var drivers = []struct{ name, driver, pragmas string }{
	{"modernc", "sqlite", "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_txlock=immediate"},
	{"ncruces", "sqlite3", "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_txlock=immediate"},
}

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func open(b *testing.B, driver, pragmas string) *sql.DB {
	db, err := sql.Open(driver, "file:"+filepath.Join(b.TempDir(), "bench.db")+pragmas)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schema); err != nil {
		b.Fatal(err)
	}
	return db
}

// put upserts the orders [from, to) with their lines, in transactions of
// batch orders; gen changes the amounts so a re-run is a real update.
func put(ctx context.Context, db *sql.DB, from, to, gen int) error {
	for lo := from; lo < to; lo += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ord, _ := tx.PrepareContext(ctx, upsertOrder)
		del, _ := tx.PrepareContext(ctx, `DELETE FROM order_lines WHERE order_id = ?`)
		line, _ := tx.PrepareContext(ctx, `INSERT INTO order_lines (order_id, id, sku, quantity, price_e4, total_e4) VALUES (?, ?, ?, ?, ?, ?)`)
		for i := lo; i < min(lo+batch, to); i++ {
			created := start.Add(time.Duration(i) * 23 * time.Minute)
			modified := created.Add(time.Duration(gen) * time.Hour)
			total := int64(i%997*10000 + 3500 + gen)
			res, err := ord.ExecContext(ctx, i+1, fmt.Sprint(i+1), []string{"processing", "completed", "cancelled"}[i%3],
				total, total/5, i%2500+1, fmt.Sprintf("c%d@example.com", i%2500), created.UnixNano(), modified.UnixNano(), time.Now().UnixNano())
			if err != nil {
				tx.Rollback()
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			if _, err := del.ExecContext(ctx, i+1); err != nil {
				tx.Rollback()
				return err
			}
			for l := range linesEach {
				if _, err := line.ExecContext(ctx, i+1, l+1, fmt.Sprintf("SKU-%04d", (i+l)%400), l+1, int64(12990+l), int64(12990+l)*int64(l+1)); err != nil {
					tx.Rollback()
					return err
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkBulkUpsert(b *testing.B) {
	for _, d := range drivers {
		b.Run(d.name, func(b *testing.B) {
			db := open(b, d.driver, d.pragmas)
			b.ReportAllocs()
			for n := 0; b.Loop(); n++ {
				if err := put(b.Context(), db, 0, orders, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*orders), "ns/order")
		})
	}
}

func BenchmarkRevenuePerMonth(b *testing.B) {
	for _, d := range drivers {
		b.Run(d.name, func(b *testing.B) {
			db := open(b, d.driver, d.pragmas)
			if err := put(b.Context(), db, 0, orders, 0); err != nil {
				b.Fatal(err)
			}
			month := int64(30 * 24 * time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				rows, err := db.QueryContext(b.Context(), revenuePerMonth, month, start.UnixNano(), start.AddDate(2, 0, 0).UnixNano())
				if err != nil {
					b.Fatal(err)
				}
				var buckets int
				for rows.Next() {
					var bucket, sum, count int64
					var cur string
					if err := rows.Scan(&bucket, &cur, &sum, &count); err != nil {
						b.Fatal(err)
					}
					buckets++
				}
				if err := rows.Close(); err != nil || buckets == 0 {
					b.Fatal(err, buckets)
				}
			}
		})
	}
}

func BenchmarkUpsertOne(b *testing.B) {
	for _, d := range drivers {
		b.Run(d.name, func(b *testing.B) {
			db := open(b, d.driver, d.pragmas)
			if err := put(b.Context(), db, 0, orders, 0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for n := 1; b.Loop(); n++ {
				if err := put(b.Context(), db, 4711, 4712, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
