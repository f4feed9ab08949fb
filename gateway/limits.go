package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/trestlehq/trestle/config"
)

// Limits bound what one request may ask for. A zero field takes the
// config's default.
type Limits struct {
	// Depth is how deeply fields may nest.
	Depth int
	// Complexity bounds the fields an operation may resolve, each list
	// counted as many times as it may be long: its first: argument, the
	// ids it is given, or listEstimate.
	Complexity int
	// Aliases bounds the aliased fields.
	Aliases int
	// RootFields bounds the fields at the top of an operation.
	RootFields int
	// Tokens bounds the lexical tokens of a document, checked while it is
	// parsed.
	Tokens int
	// BodyBytes bounds a request body; a larger one gets 413.
	BodyBytes int64
	// RequestsPerMinute and ComplexityPerMinute bound each client (see
	// clientLimits); 0 for no bound, the default.
	RequestsPerMinute, ComplexityPerMinute int
}

// withDefaults takes what l leaves out from the config's defaults.
func (l Limits) withDefaults() Limits {
	d := config.Default().Limits
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Depth, d.Depth)
	def(&l.Complexity, d.Complexity)
	def(&l.Aliases, d.Aliases)
	def(&l.RootFields, d.RootFields)
	def(&l.Tokens, d.Tokens)
	if l.BodyBytes <= 0 {
		l.BodyBytes = d.BodyBytes
	}
	return l
}

// listEstimate is how long a list with nothing bounding it (an order's
// lines, a product's stock levels) is taken to be.
const listEstimate = 5

// Codes of the limits, in extensions.code.
const (
	CodeTooDeep         = "QUERY_TOO_DEEP"
	CodeTooComplex      = "QUERY_TOO_COMPLEX"
	CodeTooManyAliases  = "TOO_MANY_ALIASES"
	CodeTooManyRoots    = "TOO_MANY_ROOT_FIELDS"
	CodeBatchNotAllowed = "BATCH_NOT_ACCEPTED"
	CodeNoSubscription  = "SUBSCRIPTION_NEEDS_STREAM"
)

// registerCodes tells gqlgen's transports (once, whatever the number of
// gateways) that an operation refused for these is refused before it
// runs, like one that does not validate: 400 with
// application/graphql-response+json.
var registerCodes = sync.OnceFunc(func() {
	for _, code := range []string{CodeTooDeep, CodeTooComplex, CodeTooManyAliases, CodeTooManyRoots, CodeTooManySelections,
		CodeNoSubscription, CodeTrustedDocumentRequired, CodeIntrospectionDisabled} {
		errcode.RegisterErrorType(code, errcode.KindProtocol)
	}
})

// limiter checks a document's shape (checkShape) and its Int variables
// before it is parsed and validated, and the operation against the limits
// once it has.
type limiter struct {
	limits Limits
	// shaped are documents checkShape passed: a dashboard's query, asked
	// again, is not scanned again.
	shaped *lru.LRU[struct{}]
}

func newLimiter(limits Limits) limiter {
	return limiter{limits: limits, shaped: lru.New[struct{}](1000)}
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = limiter{}

func (limiter) ExtensionName() string                          { return "Limits" }
func (limiter) Validate(schema graphql.ExecutableSchema) error { return nil }

func (l limiter) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if _, passed := l.shaped.Get(ctx, params.Query); !passed {
		if err := checkShape(params.Query, l.limits.Tokens); err != nil {
			return err
		}
		l.shaped.Add(ctx, params.Query, struct{}{})
	}
	return intVariables(params, l.limits.Tokens)
}

func (l limiter) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation.Operation == ast.Subscription && ctx.Value(plainHTTPKey{}) != nil {
		err := gqlerror.Errorf("a subscription is served over WebSocket (graphql-transport-ws) or server-sent events, not as one response")
		err.Extensions = map[string]any{"code": CodeNoSubscription}
		return err
	}
	if err := intLiterals(op.Operation); err != nil {
		return err
	}
	m := (&measurer{vars: op.Variables}).measure(op.Operation.SelectionSet, "")
	charge(ctx, m.complexity)
	lim := l.limits
	var err *gqlerror.Error
	switch {
	case m.roots > lim.RootFields:
		err = gqlerror.Errorf("the operation asks for %d fields at its top, more than the %d allowed", m.roots, lim.RootFields)
		err.Extensions = map[string]any{"code": CodeTooManyRoots, "limit": lim.RootFields}
	case m.depth > lim.Depth:
		err = gqlerror.Errorf("the operation nests %d fields deep, more than the %d allowed", m.depth, lim.Depth)
		err.Extensions = map[string]any{"code": CodeTooDeep, "limit": lim.Depth}
	case m.aliases > lim.Aliases:
		err = gqlerror.Errorf("the operation uses %d aliases, more than the %d allowed", m.aliases, lim.Aliases)
		err.Extensions = map[string]any{"code": CodeTooManyAliases, "limit": lim.Aliases}
	case m.complexity > lim.Complexity:
		err = gqlerror.Errorf("the operation's complexity is %d, more than the %d allowed: ask for fewer items (first:) or fewer fields", m.complexity, lim.Complexity)
		err.Extensions = map[string]any{"code": CodeTooComplex, "limit": lim.Complexity, "complexity": m.complexity}
	}
	return err
}

// measures of a selection.
type measures struct {
	depth, complexity, aliases, roots int
}

// measurer measures an operation's selections, every field counted
// (__typename and introspection too), fragments expanded where they are
// spread. A fragment is measured once for each type it is spread on: a
// fragment spread twice in one that is spread twice... expands
// exponentially, its measure does not.
type measurer struct {
	vars      map[string]any
	fragments map[fragmentOn]measures
}

type fragmentOn struct{ name, parent string }

// measure measures a selection set whose fields are parent's, its depth
// counted from the set's own fields, 1.
func (m *measurer) measure(set ast.SelectionSet, parent string) measures {
	var total measures
	for _, sel := range set {
		var sub measures
		switch s := sel.(type) {
		case *ast.Field:
			sub.roots = 1
			if s.Alias != "" && s.Alias != s.Name {
				sub.aliases = 1
			}
			child := m.measure(s.SelectionSet, typeName(s))
			sub.depth = 1 + child.depth
			if s.Name == "__schema" || s.Name == "__type" {
				// How deep introspection nests is gqlparser's
				// MaxIntrospectionDepth's to bound: an IDE's schema query
				// nests deeper than data should.
				sub.depth = 1
			}
			sub.aliases = capped(sub.aliases + child.aliases)
			sub.complexity = capped(1 + cappedProduct(multiplier(s, m.vars, parent), child.complexity))
		case *ast.InlineFragment:
			sub = m.measure(s.SelectionSet, parent)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				sub = m.fragment(s.Definition, parent)
			}
		}
		total.roots = capped(total.roots + sub.roots)
		total.depth = max(total.depth, sub.depth)
		total.aliases = capped(total.aliases + sub.aliases)
		total.complexity = capped(total.complexity + sub.complexity)
	}
	return total
}

func (m *measurer) fragment(def *ast.FragmentDefinition, parent string) measures {
	key := fragmentOn{def.Name, parent}
	if got, ok := m.fragments[key]; ok {
		return got // a cycle, which validation refuses, counts nothing
	}
	if m.fragments == nil {
		m.fragments = map[fragmentOn]measures{}
	}
	m.fragments[key] = measures{}
	got := m.measure(def.SelectionSet, parent)
	m.fragments[key] = got
	return got
}

// maxMeasure is where measures stop growing, far over any limit, before
// they could overflow: three lists of 2^21 items, nested, made the
// complexity wrap below zero.
const maxMeasure = 1 << 40

func capped(n int) int { return min(n, maxMeasure) }

// cappedProduct is a×b, for a and b from 0 to maxMeasure, no more than
// maxMeasure.
func cappedProduct(a, b int) int {
	if a != 0 && b > maxMeasure/a {
		return maxMeasure
	}
	return a * b
}

// multiplier is how many times a field's selections are resolved: a
// list's length as asked for (first:, or the ids given), listEstimate when
// nothing bounds it; 1 for an object, and for the edges of a connection,
// whose first: is already counted.
func multiplier(f *ast.Field, vars map[string]any, parent string) int {
	if f.Definition == nil {
		return 1
	}
	args := f.ArgumentMap(vars)
	if n, ok := intArg(args["first"]); ok {
		return max(n, 1)
	}
	if f.Definition.Type.Elem == nil {
		return 1
	}
	for _, name := range []string{"ids", "skus", "representations"} { // nodes, products, a router's _entities
		if list, ok := args[name].([]any); ok {
			return max(len(list), 1)
		}
	}
	if strings.HasSuffix(parent, "Connection") {
		return 1
	}
	return listEstimate
}

func intArg(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	case interface{ Int64() (int64, error) }: // json.Number
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}

func typeName(f *ast.Field) string {
	if f.Definition == nil {
		return ""
	}
	return f.Definition.Type.Name()
}

// limitBody answers 413 for a request body over the limit, 400 for one
// that is not UTF-8, and 400 for a batch (a JSON array of operations),
// which Trestle does not accept: one request, one operation, so that
// every limit holds per request.
func limitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is over the %d bytes allowed", limit), "REQUEST_TOO_LARGE")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		r.Body.Close()
		switch {
		case err != nil:
			writeError(w, http.StatusBadRequest, "the request body could not be read", CodeBadRequest)
			return
		case int64(len(body)) > limit:
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is over the %d bytes allowed", limit), "REQUEST_TOO_LARGE")
			return
		case !utf8.Valid(body):
			// JSON's decoder would make each bad byte U+FFFD: a query
			// that does not parse, or a string that is not what was sent.
			writeError(w, http.StatusBadRequest, "not a GraphQL request: the request body is not UTF-8", CodeBadRequest)
			return
		case bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")):
			writeError(w, http.StatusBadRequest, "batched operations are not accepted: send one operation per request", CodeBatchNotAllowed)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
