package woocommerce

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/govalues/decimal"
)

// enc appends JSON the way PHP's json_encode writes it with WordPress's
// defaults: slashes escaped as \/ and every non-ASCII character as \uXXXX.
// Writing by hand keeps a 100-order page well inside the latency budget.
type enc struct{ b []byte }

// sep writes the comma before a member or element unless one just opened.
func (e *enc) sep() {
	if n := len(e.b); n > 0 {
		switch e.b[n-1] {
		case '{', '[', ':':
		default:
			e.b = append(e.b, ',')
		}
	}
}

func (e *enc) begin()    { e.sep(); e.b = append(e.b, '{') }
func (e *enc) end()      { e.b = append(e.b, '}') }
func (e *enc) beginArr() { e.sep(); e.b = append(e.b, '[') }
func (e *enc) endArr()   { e.b = append(e.b, ']') }

// key writes a member name; names are ASCII constants and need no escaping.
func (e *enc) key(k string) {
	e.sep()
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *enc) str(k, v string) { e.key(k); e.quote(v) }

func (e *enc) int(k string, v int64) { e.key(k); e.b = strconv.AppendInt(e.b, v, 10) }

func (e *enc) bool(k string, v bool) { e.key(k); e.b = strconv.AppendBool(e.b, v) }

func (e *enc) null(k string) { e.key(k); e.b = append(e.b, "null"...) }

// raw writes a member whose value is already JSON.
func (e *enc) raw(k, v string) { e.key(k); e.b = append(e.b, v...) }

// money writes an amount as WooCommerce does: a string with two decimals.
func (e *enc) money(k string, d decimal.Decimal) {
	e.key(k)
	e.moneyValue(d)
}

func (e *enc) moneyValue(d decimal.Decimal) {
	e.b = append(e.b, '"')
	e.b, _ = d.Rescale(2).AppendText(e.b)
	e.b = append(e.b, '"')
}

// float writes a number as PHP 7.1+ encodes a float: shortest round trip,
// and a whole number keeps its ".0".
func (e *enc) float(k string, f float64) {
	e.key(k)
	start := len(e.b)
	e.b = strconv.AppendFloat(e.b, f, 'f', -1, 64)
	for _, c := range e.b[start:] {
		if c == '.' {
			return
		}
	}
	e.b = append(e.b, '.', '0')
}

// date writes t as WordPress writes dates: no zone, in loc.
func (e *enc) date(k string, t time.Time, loc *time.Location) {
	e.key(k)
	e.b = append(e.b, '"')
	e.b = t.In(loc).AppendFormat(e.b, "2006-01-02T15:04:05")
	e.b = append(e.b, '"')
}

// optDate writes a date that may be unset as null.
func (e *enc) optDate(k string, t *time.Time, loc *time.Location) {
	if t == nil {
		e.null(k)
		return
	}
	e.date(k, *t, loc)
}

// link writes an entry of _links: {"rel":[{"href":"base/wp-json/wc/v3path[/id]"}]}.
func (e *enc) link(rel, base, path string, id int64) {
	e.key(rel)
	e.b = append(e.b, `[{"href":"`...)
	e.escape(base)
	e.escape(Prefix)
	e.escape(path)
	if id != 0 {
		e.b = append(e.b, `\/`...)
		e.b = strconv.AppendInt(e.b, id, 10)
	}
	e.b = append(e.b, `"}]`...)
}

func (e *enc) quote(s string) {
	e.b = append(e.b, '"')
	e.escape(s)
	e.b = append(e.b, '"')
}

const hexDigits = "0123456789abcdef"

// escape writes s escaped as json_encode does by default. Runs of plain
// ASCII are copied whole.
func (e *enc) escape(s string) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '/' {
			i++
			continue
		}
		e.b = append(e.b, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\', '/':
				e.b = append(e.b, '\\', c)
			case '\n':
				e.b = append(e.b, '\\', 'n')
			case '\r':
				e.b = append(e.b, '\\', 'r')
			case '\t':
				e.b = append(e.b, '\\', 't')
			default:
				e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		start = i
		if r > 0xFFFF {
			r -= 0x10000
			e.u16(0xD800 + (r>>10)&0x3FF)
			e.u16(0xDC00 + r&0x3FF)
			continue
		}
		e.u16(r)
	}
	e.b = append(e.b, s[start:]...)
}

func (e *enc) u16(r rune) {
	e.b = append(e.b, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}
