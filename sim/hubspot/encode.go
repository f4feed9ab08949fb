package hubspot

import (
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// writeResults answers with envelope, a response body without its results,
// and the contacts spliced in as its first field, "results". The contacts
// are written by hand: a batch read is the hot path, and encoding/json would
// spend most of its budget reflecting over them and then re-validating the
// output of a Marshaler byte by byte.
func writeResults(w http.ResponseWriter, status int, envelope any, sel selection, recs []record) {
	rest, err := json.Marshal(envelope)
	if err != nil || len(rest) < 2 || rest[0] != '{' {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	b := make([]byte, 0, len(rest)+16+len(recs)*(96+48*len(sel.names)))
	b = append(b, `{"results":[`...)
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = sel.appendObject(b, &recs[i])
	}
	b = append(b, ']')
	if len(rest) > 2 { // more fields than {}
		b = append(b, ',')
	}
	b = append(b, rest[1:]...)
	writeRaw(w, status, b)
}

// appendObject appends one SimplePublicObject: the selected properties (null
// where the contact has no value), their histories when asked for, and the
// object's timestamps.
func (s selection) appendObject(b []byte, r *record) []byte {
	b = append(b, `{"id":"`...)
	b = strconv.AppendInt(b, r.id, 10)
	b = append(b, `","properties":{`...)
	for i, name := range s.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
		b = r.appendValue(b, name)
	}
	b = append(b, '}')
	if len(s.history) > 0 {
		// The world keeps no history: the current value is the only entry.
		b = append(b, `,"propertiesWithHistory":{`...)
		for i, name := range s.history {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, name)
			b = append(b, ":["...)
			if _, ok := r.value(name); ok {
				b = append(b, `{"value":`...)
				b = r.appendValue(b, name)
				b = append(b, `,"timestamp":"`...)
				b = r.modified.UTC().AppendFormat(b, isoMillis)
				b = append(b, `","sourceType":"CRM_UI"}`...)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `,"createdAt":"`...)
	b = r.created.UTC().AppendFormat(b, isoMillis)
	b = append(b, `","updatedAt":"`...)
	b = r.modified.UTC().AppendFormat(b, isoMillis)
	return append(b, `","archived":false}`...)
}

// appendValue appends the property's value as a JSON string, or null.
func (r *record) appendValue(b []byte, name string) []byte {
	switch name {
	case "createdate":
		b = append(b, '"')
		return append(r.created.UTC().AppendFormat(b, isoMillis), '"')
	case "lastmodifieddate":
		b = append(b, '"')
		return append(r.modified.UTC().AppendFormat(b, isoMillis), '"')
	case "hs_object_id":
		b = append(b, '"')
		return append(strconv.AppendInt(b, r.id, 10), '"')
	}
	if v, ok := r.value(name); ok {
		return appendString(b, v)
	}
	return append(b, "null"...)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
