package gateway

import (
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
)

// gqlgen validates a document before the limiter sees it, and validation
// (gqlparser's OverlappingFieldsCanBeMerged) compares every two fields
// that share a response name in a selection set, and every two fragments
// spread in one: 4,990 __typename, within the token limit, took 1.7 s.
// That work grows with what a document repeats and with the fragments a
// selection set spreads, so both are bounded before it is validated,
// from the document's tokens.
const (
	// maxRepeats bounds the selections a document repeats: a field whose
	// response name its selection set already has (an inline fragment's
	// selections being its set's, as gqlgen merges them), or a fragment
	// spread there again, each counted with everything under it, fragments
	// expanded. Validation then makes at most some thousands of
	// comparisons; a client loses nothing, as repeats are answered once.
	maxRepeats = 100
	// maxSpreads bounds the fragments one selection set spreads.
	maxSpreads = 50
)

// CodeTooManySelections refuses a document over maxRepeats or maxSpreads.
const CodeTooManySelections = "TOO_MANY_SELECTIONS"

// checkShape refuses a document that repeats too much, or spreads too many
// fragments in one selection set. One that does not parse is left to
// gqlgen's parser.
func checkShape(query string, tokenLimit int) *gqlerror.Error {
	if query == "" {
		return nil
	}
	o, ok := scanOutline(query, tokenLimit)
	if !ok {
		// Not a document the scan follows: the parser is the judge.
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, tokenLimit)
		if err != nil {
			return nil
		}
		o = outlineOf(doc)
	}
	repeats, spreads := o.shape()
	var err *gqlerror.Error
	switch {
	case repeats > maxRepeats:
		err = gqlerror.Errorf("the document repeats %d selections, more than the %d allowed: a field asked for again in the same "+
			"selection set, or a fragment spread there again, is answered once, so ask for it once", repeats, maxRepeats)
		err.Extensions = map[string]any{"code": CodeTooManySelections, "limit": maxRepeats, "repeats": repeats}
	case spreads > maxSpreads:
		err = gqlerror.Errorf("a selection set of the document spreads %d fragments, more than the %d allowed", spreads, maxSpreads)
		err.Extensions = map[string]any{"code": CodeTooManySelections, "limit": maxSpreads, "spreads": spreads}
	}
	return err
}

// outline is a document's selections as written: for each, the selection
// set it is in, an inline fragment's selections being in the set around
// it. Node 0 stands for the document; operations and fragment definitions
// are its children.
type outline struct {
	nodes     []outlineNode
	fragments map[string]int32 // fragment definitions' nodes by name
}

type outlineNode struct {
	key    string // a field's response name, a fragment's name
	spread bool   // a fragment spread, not a field
	// first and last child, next sibling; 0 for none
	first, last, next int32
}

func newOutline() *outline {
	return &outline{nodes: make([]outlineNode, 1, 64)}
}

// add appends a selection to parent's and returns it.
func (o *outline) add(parent int32, key string, spread bool) int32 {
	n := int32(len(o.nodes))
	o.nodes = append(o.nodes, outlineNode{key: key, spread: spread})
	p := &o.nodes[parent]
	if p.last == 0 {
		p.first = n
	} else {
		o.nodes[p.last].next = n
	}
	p.last = n
	return n
}

// fragment adds a fragment definition.
func (o *outline) fragment(name string) int32 {
	n := o.add(0, "", false)
	if o.fragments == nil {
		o.fragments = map[string]int32{}
	}
	if _, ok := o.fragments[name]; !ok { // a second one is a validation error
		o.fragments[name] = n
	}
	return n
}

// saturated is where sizes stop growing: a fragment spread twice at each
// of 50 levels would overflow.
const saturated = 1 << 40

// shape is how much the document repeats, and the most fragments one of
// its selection sets spreads.
func (o *outline) shape() (repeats, spreads int) {
	sizes := make([]int, len(o.nodes)) // 0 until known
	fragments := map[string]int{}      // -1 while measured: a cycle counts nothing
	var size func(n int32) int
	var fragmentSize func(name string) int
	children := func(n int32) int {
		total := 0
		for c := o.nodes[n].first; c != 0; c = o.nodes[c].next {
			total = min(total+size(c), saturated)
		}
		return total
	}
	size = func(n int32) int {
		if sizes[n] == 0 {
			s := 1 + children(n)
			if o.nodes[n].spread {
				s += fragmentSize(o.nodes[n].key)
			}
			sizes[n] = min(s, saturated)
		}
		return sizes[n]
	}
	fragmentSize = func(name string) int {
		if s, ok := fragments[name]; ok {
			return max(s, 0)
		}
		n, ok := o.fragments[name]
		if !ok {
			return 0
		}
		fragments[name] = -1
		s := children(n)
		fragments[name] = s
		return s
	}

	type sibling struct {
		parent int32
		spread bool
		key    string
	}
	var seen map[sibling]struct{}
	for p := range o.nodes {
		set := o.nodes[p]
		n, spread := 0, 0
		for c := set.first; c != 0; c = o.nodes[c].next {
			n++
		}
		for c := set.first; c != 0; c = o.nodes[c].next {
			node := o.nodes[c]
			if node.spread {
				spread++
			}
			if p == 0 {
				continue // operations and fragments
			}
			repeated := false
			if n <= 8 {
				for d := set.first; d != c && !repeated; d = o.nodes[d].next {
					repeated = o.nodes[d].key == node.key && o.nodes[d].spread == node.spread
				}
			} else {
				if seen == nil {
					seen = map[sibling]struct{}{}
				}
				k := sibling{int32(p), node.spread, node.key}
				_, repeated = seen[k]
				seen[k] = struct{}{}
			}
			if repeated {
				repeats = min(repeats+size(c), saturated)
			}
		}
		if p != 0 {
			spreads = max(spreads, spread)
		}
	}
	return repeats, spreads
}

// outlineOf outlines a parsed document.
func outlineOf(doc *ast.QueryDocument) *outline {
	o := newOutline()
	var add func(parent int32, set ast.SelectionSet)
	add = func(parent int32, set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				add(o.add(parent, s.Alias, false), s.SelectionSet)
			case *ast.FragmentSpread:
				o.add(parent, s.Name, true)
			case *ast.InlineFragment:
				add(parent, s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		add(o.add(0, "", false), op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		add(o.fragment(f.Name), f.SelectionSet)
	}
	return o
}

// scanOutline outlines a document from its tokens, as gqlparser reads an
// executable document but without building it: a sixth of parsing's
// time, and nothing allocated but the outline. It reports false for a
// document it does not follow, and for one over the token limit (which
// the parser refuses).
func scanOutline(query string, tokenLimit int) (*outline, bool) {
	s := &scanner{lx: lexer.New(&ast.Source{Input: query}), limit: tokenLimit, o: newOutline()}
	s.next()
	for s.tok.Kind != lexer.EOF && !s.failed {
		if s.tok.Kind == lexer.String || s.tok.Kind == lexer.BlockString {
			s.next() // a description
		}
		switch {
		case s.tok.Kind == lexer.BraceL:
			s.selectionSet(s.o.add(0, "", false))
		case s.keyword("query"), s.keyword("mutation"), s.keyword("subscription"):
			s.next()
			if s.tok.Kind == lexer.Name {
				s.next()
			}
			s.skipParens() // variable definitions
			s.directives()
			s.requiredSet(s.o.add(0, "", false))
		case s.keyword("fragment"):
			s.next()
			if s.tok.Kind != lexer.Name || s.tok.Value == "on" {
				s.fail()
				break
			}
			name := s.tok.Value
			s.next()
			s.skipParens() // variable definitions
			if !s.keyword("on") {
				s.fail()
				break
			}
			s.next()
			s.name()
			s.directives()
			s.requiredSet(s.o.fragment(name))
		default:
			s.fail()
		}
	}
	return s.o, !s.failed
}

// scanner reads a document's tokens for scanOutline.
type scanner struct {
	lx     lexer.Lexer
	tok    lexer.Token
	tokens int
	limit  int
	failed bool
	o      *outline
}

func (s *scanner) next() {
	for !s.failed {
		tok, err := s.lx.ReadToken()
		switch {
		case err != nil:
			s.fail()
		case tok.Kind == lexer.Comment:
			continue
		default:
			s.tok = tok
			if s.tokens++; s.limit > 0 && s.tokens > s.limit {
				s.fail()
			}
		}
		return
	}
}

func (s *scanner) fail() {
	s.failed = true
	s.tok = lexer.Token{Kind: lexer.EOF}
}

func (s *scanner) keyword(k string) bool { return s.tok.Kind == lexer.Name && s.tok.Value == k }

// name reads a name.
func (s *scanner) name() {
	if s.tok.Kind != lexer.Name {
		s.fail()
		return
	}
	s.next()
}

// skipParens reads past arguments or variable definitions, if there are
// any: no value holds a parenthesis.
func (s *scanner) skipParens() {
	if s.tok.Kind != lexer.ParenL {
		return
	}
	for depth := 0; !s.failed; s.next() {
		switch s.tok.Kind {
		case lexer.ParenL:
			depth++
		case lexer.ParenR:
			if depth--; depth == 0 {
				s.next()
				return
			}
		case lexer.EOF:
			s.fail()
		}
	}
}

func (s *scanner) directives() {
	for s.tok.Kind == lexer.At {
		s.next()
		s.name()
		s.skipParens()
	}
}

func (s *scanner) requiredSet(parent int32) {
	if s.tok.Kind != lexer.BraceL {
		s.fail()
		return
	}
	s.selectionSet(parent)
}

// selectionSet reads a selection set into parent's selections.
func (s *scanner) selectionSet(parent int32) {
	s.next() // {
	for !s.failed && s.tok.Kind != lexer.BraceR {
		switch s.tok.Kind {
		case lexer.Spread:
			s.next()
			if s.tok.Kind == lexer.Name && s.tok.Value != "on" {
				s.o.add(parent, s.tok.Value, true)
				s.next()
				s.directives()
				continue
			}
			if s.keyword("on") {
				s.next()
				s.name()
			}
			s.directives()
			s.requiredSet(parent) // an inline fragment's selections are its set's
		case lexer.Name:
			key := s.tok.Value
			s.next()
			if s.tok.Kind == lexer.Colon {
				s.next()
				s.name()
			}
			n := s.o.add(parent, key, false)
			s.skipParens()
			s.directives()
			if s.tok.Kind == lexer.BraceL {
				s.selectionSet(n)
			}
		default:
			s.fail()
		}
	}
	s.next() // }
}
