package gateway

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func TestShapeCountsRepeatsAndSpreads(t *testing.T) {
	for _, tc := range []struct {
		doc              string
		repeats, spreads int
	}{
		{`{ a b c }`, 0, 0},
		{`{ a a a }`, 2, 0},
		{`{ a: b a: c b }`, 1, 0}, // by response name
		{`{ a { x y } a { x } }`, 2, 0},
		{`{ a ... on T { a } ... @include(if: true) { a b } }`, 2, 0},
		{`{ ...f ...f ...g } fragment f on T { x y } fragment g on T { x }`, 3, 3},
		{`{ a { ...f } a { ...f } } fragment f on T { x { y } }`, 4, 1},
		{`query Q($v: [Int] = [1, 2], $o: I = {a: {b: "}"}}) @d(a: 1) { a(x: {y: [1]}) @skip(if: $v) { b } }`, 0, 0},
		{`"described" query { a a } fragment f($x: Int) on T @d { a # a comment
		  a }`, 2, 0},
	} {
		o, ok := scanOutline(tc.doc, 0)
		if !ok {
			t.Errorf("%s: not scanned", tc.doc)
			continue
		}
		if repeats, spreads := o.shape(); repeats != tc.repeats || spreads != tc.spreads {
			t.Errorf("%s: %d repeats, at most %d spreads; want %d and %d", tc.doc, repeats, spreads, tc.repeats, tc.spreads)
		}
	}
	// A cycle, which validation refuses, is measured all the same.
	if o, ok := scanOutline(`{ ...f } fragment f on T { ...g ...g } fragment g on T { ...f }`, 0); ok {
		o.shape()
	}
	// A fragment spread twice at each of 200 levels: its size stops at
	// saturated instead of overflowing.
	var b strings.Builder
	b.WriteString(`{ ...f0 }`)
	for i := range 200 {
		fmt.Fprintf(&b, ` fragment f%d on T { ...f%d ...f%d }`, i, i+1, i+1)
	}
	b.WriteString(` fragment f200 on T { x }`)
	o, _ := scanOutline(b.String(), 0)
	if repeats, _ := o.shape(); repeats != saturated {
		t.Errorf("the fragment bomb repeats %d selections, want %d", repeats, saturated)
	}
}

// String shows an outline: each operation and fragment with its
// selections, in order.
func (o *outline) String() string {
	var show func(n int32) string
	show = func(n int32) string {
		node := o.nodes[n]
		out := node.key
		if node.spread {
			out = "..." + out
		}
		if node.first != 0 {
			out += "{"
			for c := node.first; c != 0; c = o.nodes[c].next {
				out += " " + show(c)
			}
			out += " }"
		}
		return out
	}
	names := map[int32]string{}
	for name, n := range o.fragments {
		names[n] = name
	}
	var defs []string
	for c := o.nodes[0].first; c != 0; c = o.nodes[c].next {
		defs = append(defs, names[c]+show(c))
	}
	slices.Sort(defs) // the parsed document has its operations first
	return strings.Join(defs, "\n")
}

// FuzzScanOutline checks the scan against gqlparser: every document the
// parser reads, the scan follows, to the same outline; so the fallback to
// parsing is for documents that do not parse.
func FuzzScanOutline(f *testing.F) {
	for _, seed := range []string{
		`{ a b: c(x: 1) { d ...e ... on T { f } ... @skip(if: true) { g } } }`,
		`query Q($v: [Int!]! = [1], $o: I = {a: "(" b: [{c: 2}]}) @d { a(o: $o) @e(x: ")") }`,
		`mutation { a } subscription S { b } fragment e on T @d(x: 1) { f }`,
		`fragment f($x: Int = 1) on T { a } { ...f }`,
		`"""described""" query { on: a ... on on { on } }`,
		`{ a # comment
		}`,
		`{ a(x: """block""") { b } }`,
		`{ ... { a } ...on }`,
		`{`,
		`query`,
		`{ a } extend type T { b: Int }`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		o, ok := scanOutline(doc, 0)
		parsed, err := parser.ParseQuery(&ast.Source{Input: doc})
		if err != nil {
			return
		}
		if !ok {
			t.Fatalf("%q parses, and the scan does not follow it", doc)
		}
		if got, want := o.String(), outlineOf(parsed).String(); got != want {
			t.Fatalf("%q: scanned\n%s\nparsed\n%s", doc, got, want)
		}
	})
}

// BenchmarkCheckShape measures what the check adds to every request, on
// the README's deep query.
//
//	go test -run '^$' -bench CheckShape ./gateway/
func BenchmarkCheckShape(b *testing.B) {
	const deep = `{ orders(first: 100) { totalCount edges { node {
	id number status total { amount currency }
	customer { name email }
	lines { sku quantity unitPrice { amount currency } product { name price { amount } stock { warehouse onHand reserved available } } }
	invoices { number status total { amount } outstanding { amount } dueDate }
} } } }`
	for b.Loop() {
		if err := checkShape(deep, 5000); err != nil {
			b.Fatal(err)
		}
	}
}
