package store

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/govalues/decimal"
)

// Amounts and decimal quantities are stored as INTEGER in units of 1/10000,
// so SQL sums them exactly (SQLite's sum() of integers is exact and fails on
// overflow rather than rounding) up to ±922 trillion units; an amount with
// more than four decimal places is refused rather than rounded.
const scale = 4

// ErrPrecision is returned for an amount the store cannot hold exactly.
var ErrPrecision = errors.New("amount has more than 4 decimal places or is too large")

func e4(d decimal.Decimal) (int64, error) {
	if d.MinScale() > scale {
		return 0, fmt.Errorf("%s: %w", d, ErrPrecision)
	}
	whole, frac, ok := d.Int64(scale)
	if !ok || whole > math.MaxInt64/10000 || whole < math.MinInt64/10000 {
		return 0, fmt.Errorf("%s: %w", d, ErrPrecision)
	}
	return whole*10000 + frac, nil
}

// optE4 is e4 for an amount that may be absent: NULL when it is.
func optE4(d *decimal.Decimal) (any, error) {
	if d == nil {
		return nil, nil
	}
	return e4(*d)
}

// money reads an amount back with at least two decimal places, as prices
// are written; quantity reads a quantity with as few as it needs.
func money(v int64) decimal.Decimal {
	return decimal.MustNew(v, scale).Trim(2)
}

func quantity(v int64) decimal.Decimal {
	return decimal.MustNew(v, scale).Trim(0)
}

func optMoney(v sql.NullInt64) *decimal.Decimal {
	if !v.Valid {
		return nil
	}
	d := money(v.Int64)
	return &d
}

// ns stores a time as UTC unix nanoseconds: integers compare and range
// fast, and bucketing by month in an IANA zone needs Go's zone data anyway
// (SQLite has none), so reports compute bucket bounds in Go. A zero time is
// NULL.
func ns(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func optNs(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ns(*t)
}

func timeOf(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64).UTC()
}

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := timeOf(v)
	return &t
}
