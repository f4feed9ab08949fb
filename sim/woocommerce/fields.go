package woocommerce

import (
	"bytes"
	"strings"
)

// fieldTree is a parsed _fields parameter: a member maps to nil when it is
// wanted whole, or to the tree of its own wanted members ("billing.email").
type fieldTree map[string]fieldTree

// parseFields reads _fields as rest_filter_response_fields does; nil when
// the request does not limit the fields.
func parseFields(s string) fieldTree {
	var t fieldTree
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if t == nil {
			t = fieldTree{}
		}
		node := t
		parts := strings.Split(f, ".")
		for i, p := range parts {
			if i == len(parts)-1 {
				node[p] = nil
				break
			}
			sub, seen := node[p]
			if seen && sub == nil {
				break // the parent is already wanted whole
			}
			if sub == nil {
				sub = fieldTree{}
				node[p] = sub
			}
			node = sub
		}
	}
	return t
}

// filter appends the JSON object obj keeping only the members in t, as
// _rest_array_intersect_key_recursive does: a nested tree applied to a list
// leaves an empty list, and an object left with no members is written as
// PHP writes an empty array, []. obj is JSON this package wrote.
func (t fieldTree) filter(dst, obj []byte) []byte {
	start := len(dst)
	dst = append(dst, '{')
	empty := true
	for i := 1; i < len(obj); {
		if obj[i] == '}' {
			break
		}
		if obj[i] == ',' {
			i++
		}
		keyEnd := skipString(obj, i)
		valStart := keyEnd + 1 // past the colon
		valEnd := skipValue(obj, valStart)
		if sub, ok := t[string(obj[i+1:keyEnd-1])]; ok {
			if !empty {
				dst = append(dst, ',')
			}
			empty = false
			dst = append(dst, obj[i:valStart]...)
			switch {
			case sub == nil:
				dst = append(dst, obj[valStart:valEnd]...)
			case obj[valStart] == '{':
				dst = sub.filter(dst, obj[valStart:valEnd])
			case obj[valStart] == '[':
				dst = append(dst, '[', ']')
			default:
				dst = append(dst, obj[valStart:valEnd]...)
			}
		}
		i = valEnd
	}
	if empty {
		return append(dst[:start], '[', ']')
	}
	return append(dst, '}')
}

// skipString returns the index just past the JSON string starting at i.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		j += k
		// The quote ends the string unless an odd run of backslashes escapes it.
		n := 0
		for b[j-1-n] == '\\' {
			n++
		}
		j++
		if n%2 == 0 {
			return j
		}
	}
	return len(b)
}

// skipValue returns the index just past the JSON value starting at i.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	return j
}

// emit writes one record, through the field filter when the request has one.
func emit[T any](e, scratch *enc, fields fieldTree, rec T, render func(*enc, T)) {
	if fields == nil {
		render(e, rec)
		return
	}
	scratch.b = scratch.b[:0]
	render(scratch, rec)
	e.sep()
	e.b = fields.filter(e.b, scratch.b)
}
