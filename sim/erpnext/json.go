package erpnext

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/govalues/decimal"
)

// Frappe answers with Python's json.dumps: compact separators, non-ASCII
// escaped as \uXXXX, floats always with a decimal point (119.0). The writers
// below reproduce that byte for byte, and keep the field order a request
// asked for, which encoding/json's maps would not.

// pyFloat is a Float or Currency column as Python's json renders a float:
// 119.0, 29.35, 0.0. The decimal is exact, so no binary rounding creeps in.
type pyFloat struct{ d decimal.Decimal }

// MarshalJSON renders the number with a decimal point and no trailing zeros
// beyond the first.
func (f pyFloat) MarshalJSON() ([]byte, error) { return f.appendJSON(nil), nil }

func (f pyFloat) appendJSON(b []byte) []byte {
	t := f.d.Trim(0)
	start := len(b)
	b = append(b, t.String()...)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, '.', '0')
}

// appendString appends s as a JSON string the way Python's json.dumps does
// with ensure_ascii: everything outside printable ASCII is escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			hi, lo := 0xd800+(r>>10), 0xdc00+(r&0x3ff)
			b = appendU(b, hi)
			b = appendU(b, lo)
			continue
		}
		b = appendU(b, r)
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

// Frappe's wire formats for Date and Datetime columns.
const (
	dateLayout     = "2006-01-02"
	datetimeLayout = "2006-01-02 15:04:05.000000"
)

// appendValue renders one column value.
func appendValue(b []byte, v value) []byte {
	if v.null {
		return append(b, "null"...)
	}
	switch v.kind {
	case kindFloat:
		return pyFloat{v.num}.appendJSON(b)
	case kindInt:
		return strconv.AppendInt(b, v.n, 10)
	case kindDate:
		b = append(b, '"')
		b = v.t.AppendFormat(b, dateLayout)
		return append(b, '"')
	case kindDatetime:
		b = append(b, '"')
		b = v.t.AppendFormat(b, datetimeLayout)
		return append(b, '"')
	default:
		return appendString(b, v.s)
	}
}

// wallClock is t as the site's system time zone shows it, stored as a naive
// value in a UTC container: Frappe keeps datetimes without a zone, so the
// simulator compares and sorts them the way MariaDB does, by wall clock.
func wallClock(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}
