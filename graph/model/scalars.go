package model

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/govalues/decimal"
)

// MarshalDecimal writes a Decimal as a JSON string, so no client parses
// money into a float by accident.
func MarshalDecimal(d decimal.Decimal) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var buf [48]byte
		b := append(buf[:0], '"')
		b, _ = d.AppendText(b)
		b = append(b, '"')
		_, _ = w.Write(b)
	})
}

// UnmarshalDecimal reads a Decimal from a string ("29.35") or an integer.
// Floats are refused: they may already have lost the exact value.
func UnmarshalDecimal(v any) (decimal.Decimal, error) {
	switch v := v.(type) {
	case string:
		d, err := decimal.Parse(v)
		if err != nil {
			return decimal.Decimal{}, inputErrorf("Decimal must be a decimal number in a string, such as \"29.35\": %q is not", v)
		}
		return d, nil
	case int:
		return decimal.New(int64(v), 0)
	case int64:
		return decimal.New(v, 0)
	default:
		return decimal.Decimal{}, inputErrorf("Decimal must be a string such as \"29.35\"")
	}
}

// MarshalDateTime writes a time as RFC 3339 in UTC.
func MarshalDateTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var buf [40]byte
		b := append(buf[:0], '"')
		b = t.UTC().AppendFormat(b, time.RFC3339)
		b = append(b, '"')
		_, _ = w.Write(b)
	})
}

// UnmarshalDateTime reads an RFC 3339 time.
func UnmarshalDateTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, inputErrorf("DateTime must be an RFC 3339 string such as \"2026-10-31T22:35:43Z\"")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, inputErrorf("DateTime must be RFC 3339, such as \"2026-10-31T22:35:43Z\": %q is not", s)
	}
	return t.UTC(), nil
}

// MarshalDate writes a calendar date as YYYY-MM-DD.
func MarshalDate(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var buf [16]byte
		b := append(buf[:0], '"')
		b = t.AppendFormat(b, time.DateOnly)
		b = append(b, '"')
		_, _ = w.Write(b)
	})
}

// UnmarshalDate reads a YYYY-MM-DD date as midnight UTC.
func UnmarshalDate(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, inputErrorf("Date must be a string such as \"2026-10-31\"")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, inputErrorf("Date must be YYYY-MM-DD: %q is not", s)
	}
	return t, nil
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// InputError is a problem with what a client sent: an argument, a variable
// or a scalar's value. Its message is meant for the client.
type InputError struct{ Msg string }

func (e InputError) Error() string { return e.Msg }

func inputErrorf(format string, args ...any) error { return InputError{fmt.Sprintf(format, args...)} }
