package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/sim/simtest"
)

// postRaw posts a body as it is and returns the status and the decoded
// answer.
func postRaw(t *testing.T, url, contentType string, body []byte) (int, response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/graphql-response+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("HTTP %d, body %q: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, r
}

// answeredOrRefused posts query and checks that it is answered without
// errors when code is "", else refused with 400 and that one code.
func answeredOrRefused(t *testing.T, url, query, code string) {
	t.Helper()
	status, r := postRaw(t, url, "application/json", jsonQuery(query))
	if code == "" {
		if status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("HTTP %d %+v, want it answered", status, r.Errors)
		}
		return
	}
	if status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != code {
		t.Fatalf("HTTP %d %+v, want 400 with %s", status, r.Errors, code)
	}
}

func jsonQuery(q string) []byte {
	b, _ := json.Marshal(map[string]string{"query": q})
	return b
}

func TestLimitsOneUnderAndOneOver(t *testing.T) {
	g := startLive(t, func(c *config.Config) {
		c.Limits = config.Limits{Depth: 5, Complexity: 300, Aliases: 2, RootFields: 3, Tokens: 60, BodyBytes: 4000}
	})
	// orders(first: n) { edges { node { number } } } costs 1 + n×(edges 1 + node 1 + number 1).
	for _, tc := range []struct {
		name  string
		query string
		code  string // "" when it is answered
	}{
		{"depth at the limit", `{ orders(first: 1) { edges { node { customer { name } } } } }`, ""},
		{"depth one over", `{ orders(first: 1) { edges { node { lines { product { name } } } } } }`, "QUERY_TOO_DEEP"},
		{"depth counted through fragments", `{ orders(first: 1) { ...o } } fragment o on OrderConnection { edges { node { lines { product { name } } } } }`, "QUERY_TOO_DEEP"},
		{"complexity under", `{ orders(first: 99) { edges { node { number } } } }`, ""},                  // 1 + 99×(1+1+1) = 298
		{"complexity over", `{ orders(first: 100) { edges { node { number } } } }`, "QUERY_TOO_COMPLEX"}, // 301
		{"complexity from a variable's first", `query($n: Int) { orders(first: $n) { edges { node { number } } } }`, ""},
		{"two aliases", `{ a: orders(first: 1) { totalCount } b: orders(first: 2) { totalCount } }`, ""},
		{"three aliases", `{ a: orders(first: 1) { totalCount } b: orders(first: 2) { totalCount } c: orders(first: 3) { totalCount } }`, "TOO_MANY_ALIASES"},
		{"three root fields", `{ orders(first: 1) { totalCount } products(first: 1) { totalCount } customers(first: 1) { totalCount } }`, ""},
		{"four root fields", `{ orders(first: 1) { totalCount } products(first: 1) { totalCount } customers(first: 1) { totalCount } __typename nodes(ids: []) { id } }`, "TOO_MANY_ROOT_FIELDS"},
		{"tokens under", `{ orders(first: 1) { totalCount } }`, ""},
		{"tokens over", `{ orders(first: 1) { totalCount` + strings.Repeat(" totalCount", 60) + ` } }`, "GRAPHQL_PARSE_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) { answeredOrRefused(t, g.url, tc.query, tc.code) })
	}

	// The body: at the limit it is read, one byte over it is 413.
	pad := func(n int) []byte {
		b := jsonQuery(`{ __typename }`)
		return append(b[:len(b)-1], []byte(`, "extensions": {"pad": "`+strings.Repeat("x", n)+`"}}`)...)
	}
	under := pad(0)
	under = pad(4000 - len(under))
	if len(under) != 4000 {
		t.Fatalf("padded to %d bytes", len(under))
	}
	if status, r := postRaw(t, g.url, "application/json", under); status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("a body of 4000 bytes: HTTP %d %+v, want it answered", status, r.Errors)
	}
	if status, r := postRaw(t, g.url, "application/json", pad(4001-len(pad(0)))); status != http.StatusRequestEntityTooLarge || r.Errors[0].Extensions["code"] != "REQUEST_TOO_LARGE" {
		t.Fatalf("a body of 4001 bytes: HTTP %d %+v, want 413", status, r.Errors)
	}
	// A batch is refused, whatever is in it.
	if status, r := postRaw(t, g.url, "application/json", []byte(` [{"query":"{ __typename }"}]`)); status != http.StatusBadRequest || r.Errors[0].Extensions["code"] != "BATCH_NOT_ACCEPTED" {
		t.Fatalf("a batch: HTTP %d %+v, want 400", status, r.Errors)
	}
}

func TestTheDeepQueryIsWithinTheDefaultLimits(t *testing.T) {
	g := startLive(t)
	if status, r := postRaw(t, g.url, "application/json", jsonQuery(deepQuery)); status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("HTTP %d %+v", status, r.Errors)
	}
}

func TestIntrospectionAndSuggestionsAreOffUnlessEnabled(t *testing.T) {
	const typo = `{ ordrs(first: 1) { totalCount } }`
	var logged syncBuffer
	off := startApp(t, simtest.Start(t, liveWorld), slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	off.settle(t)
	for _, introspect := range []string{
		`{ __schema { queryType { name } } }`,
		`{ __type(name: "Order") { name } }`,
		`query Q { ...F } fragment F on Query { __schema { types { name } } }`,
	} {
		status, r := postRaw(t, off.url, "application/json", jsonQuery(introspect))
		if status != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != gateway.CodeIntrospectionDisabled ||
			!strings.Contains(r.Errors[0].Message, "introspection: true") || r.Data != nil {
			t.Errorf("%s while off: HTTP %d %s %+v, want 400 INTROSPECTION_DISABLED saying how to turn it on", introspect, status, r.Data, r.Errors)
		}
	}
	if status, r := postRaw(t, off.url, "application/json", jsonQuery(`{ __typename }`)); status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("__typename while introspection is off: HTTP %d %+v", status, r.Errors)
	}
	// The handler's own lines: the rest of the gateway has its say at start.
	var graph strings.Builder
	for line := range strings.Lines(logged.String()) {
		if strings.Contains(line, " component=graph") {
			graph.WriteString(line)
		}
	}
	if strings.Contains(graph.String(), "level=ERROR") || strings.Contains(graph.String(), "level=WARN") ||
		!strings.Contains(graph.String(), "level=DEBUG") {
		t.Errorf("a refused introspection is logged at debug level at most, and is:\n%s", graph.String())
	}
	if _, r := postRaw(t, off.url, "application/json", jsonQuery(typo)); len(r.Errors) == 0 || strings.Contains(r.Errors[0].Message, "Did you mean") {
		t.Errorf("errors %+v, want the unknown field without a suggestion", r.Errors)
	}
	on := startLive(t, func(c *config.Config) { c.Introspection = true })
	if _, r := postRaw(t, on.url, "application/json", jsonQuery(`{ __schema { queryType { name } } }`)); len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"Query"`) {
		t.Errorf("introspection: %s %+v", r.Data, r.Errors)
	}
	if _, r := postRaw(t, on.url, "application/json", jsonQuery(typo)); len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, `Did you mean "orders"`) {
		t.Errorf("errors %+v, want a suggestion", r.Errors)
	}
}

func TestSchemaSDLIsServedToClientsThatMayIntrospect(t *testing.T) {
	get := func(url, key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+"/schema.graphql", nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	on := startLive(t, func(c *config.Config) { withKeys(c); c.Introspection = true })
	status, sdl := get(on.url, "trk_sales")
	if status != http.StatusOK {
		t.Fatalf("HTTP %d %s", status, sdl)
	}
	// The SDL is the schema the gateway runs: it parses, and has its types
	// and directives.
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		t.Fatalf("the served SDL does not load: %v", err)
	}
	for _, name := range []string{"Query", "Subscription", "Customer", "Order", "Invoice", "Money", "Decimal"} {
		if schema.Types[name] == nil {
			t.Errorf("the SDL has no type %s", name)
		}
	}
	if schema.Directives["auth"] == nil || !strings.Contains(sdl, "@auth(requires: FINANCE)") {
		t.Errorf("the SDL does not show which fields need a role")
	}
	if status, _ := get(on.url, ""); status != http.StatusUnauthorized {
		t.Errorf("without a key: HTTP %d, want 401", status)
	}
	off := startLive(t)
	if status, body := get(off.url, ""); status != http.StatusForbidden || !strings.Contains(body, gateway.CodeIntrospectionDisabled) {
		t.Errorf("introspection off: HTTP %d %s, want 403 INTROSPECTION_DISABLED", status, body)
	}
}

func TestTypenameAndIntrospectionCountTowardTheLimits(t *testing.T) {
	g := startLive(t, func(c *config.Config) {
		c.Introspection = true
		c.Limits = config.Limits{Depth: 5, Complexity: 300, Aliases: 2, RootFields: 3}
	})
	const schema = `__schema { queryType { name } }`
	for _, tc := range []struct {
		name, query string
		code        string // "" when it is answered
	}{
		{"aliased __typename", `{ a: __typename b: __typename c: __typename }`, "TOO_MANY_ALIASES"},
		{"aliased __schema", `{ a: ` + schema + ` b: ` + schema + ` c: ` + schema + ` }`, "TOO_MANY_ALIASES"},
		{"__typename at the top", `{ orders(first: 1) { totalCount } products(first: 1) { totalCount } customers(first: 1) { totalCount } __typename }`, "TOO_MANY_ROOT_FIELDS"},
		{"__schema at the top", `{ orders(first: 1) { totalCount } products(first: 1) { totalCount } customers(first: 1) { totalCount } ` + schema + ` }`, "TOO_MANY_ROOT_FIELDS"},
		{"__typename in a list", `{ orders(first: 99) { edges { node { number __typename } } } }`, "QUERY_TOO_COMPLEX"}, // 1 + 99×4 = 397
		{"__typename through a fragment", `{ orders(first: 99) { edges { node { ...n } } } } fragment n on Order { number __typename }`, "QUERY_TOO_COMPLEX"},
		{"introspection within the limits", `{ __schema { types { name } } }`, ""},
		// How deep introspection nests is gqlparser's MaxIntrospectionDepth
		// rule's to bound: an IDE's introspection query nests deeper than
		// any data query should.
		{"introspection deeper than data may nest", `{ __type(name: "Order") { fields { type { ofType { ofType { ofType { name } } } } } } }`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { answeredOrRefused(t, g.url, tc.query, tc.code) })
	}
}

// hostileDocument is a document built to cost the most before a limit
// refuses it, and the code that refuses it.
type hostileDocument struct {
	name, query, code string
}

// hostileDocuments are the documents the default limits must refuse
// cheaply: each cost seconds of CPU, or megabytes of answer, before.
func hostileDocuments() []hostileDocument {
	repeat := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(f(i))
		}
		return b.String()
	}
	// A fragment spread twice a level, through aliases: 2^24 expansions.
	bomb := `{ customers(first: 1) { edges { node { ...b0 } } } }` + repeat(24, func(i int) string {
		return fmt.Sprintf(` fragment b%d on Customer { orders(first: 1) { edges { node { customer { ...b%d } } } } o: orders(first: 2) { edges { node { customer { ...b%d } } } } }`, i, i+1, i+1)
	}) + ` fragment b24 on Customer { name }`
	return []hostileDocument{
		// 4,992 tokens, under the 5,000 allowed; validation compares every
		// pair of the fields with one response name: 12 million pairs.
		{"4990 __typename", "{" + strings.Repeat(" __typename", 4990) + " }", "TOO_MANY_SELECTIONS"},
		// With introspection on: 200 schemas in one answer, 2 MB.
		{"200 aliased __schema", "{" + repeat(200, func(i int) string {
			return fmt.Sprintf(" s%d: __schema { types { name fields { name type { name } } } }", i)
		}) + " }", "TOO_MANY_ROOT_FIELDS"},
		{"50 copies of a list of 20 copies", `{ customers(first: 1) { edges { node {` +
			strings.Repeat(` orders(first: 1) { edges { node {`+strings.Repeat(" id", 20)+` } } }`, 50) + ` } } } }`, "TOO_MANY_SELECTIONS"},
		{"800 inline fragments", "{" + strings.Repeat(" ... on Query { __typename }", 800) + " }", "TOO_MANY_SELECTIONS"},
		{"400 fragments spread together", "{" + repeat(400, func(i int) string { return fmt.Sprintf(" ...f%d", i) }) + " }" +
			repeat(400, func(i int) string { return fmt.Sprintf(" fragment f%d on Query { x%d: __typename }", i, i) }), "TOO_MANY_SELECTIONS"},
		{"a fragment bomb", bomb, "QUERY_TOO_DEEP"},
		// 2^21 × 2^21 × 2^21 overflows: the complexity must not wrap.
		{"lists whose product overflows", `{ orders(first: 2097152) { edges { node { customer { orders(first: 2097152) { edges { node { customer { orders(first: 2097152) { totalCount } } } } } } } } } }`, "QUERY_TOO_COMPLEX"},
	}
}

func TestHostileDocumentsAreRefused(t *testing.T) {
	g := startLive(t, func(c *config.Config) { c.Introspection = true })
	client := &http.Client{Timeout: 20 * time.Second} // only so that a document that hangs the gateway fails the test
	for _, doc := range hostileDocuments() {
		t.Run(doc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, g.url+"/query", bytes.NewReader(jsonQuery(doc.query)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/graphql-response+json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var r response
			_ = json.Unmarshal(raw, &r)
			if resp.StatusCode != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != doc.code {
				t.Fatalf("HTTP %d, %d bytes, errors %.500v; want 400 with %s", resp.StatusCode, len(raw), r.Errors, doc.code)
			}
		})
	}
}

func TestDocumentsThatMergeFieldsAreAnswered(t *testing.T) {
	g := startLive(t)
	for _, q := range []string{
		// The same fields on each type a node may be.
		`{ nodes(ids: []) { id ... on Order { id number } ... on Customer { id name } ... on Product { id name } ... on Invoice { id number } } }`,
		// Fragments that ask for the same fields, as components' fragments do.
		`{ orders(first: 2) { edges { node { id ...a ...b ...c } } } } fragment a on Order { id number customer { name } } ` +
			`fragment b on Order { id status customer { name email } } fragment c on Order { number total { amount } }`,
		deepQuery,
	} {
		if status, r := postRaw(t, g.url, "application/json", jsonQuery(q)); status != http.StatusOK || len(r.Errors) > 0 {
			t.Errorf("%.80s: HTTP %d %+v, want it answered", q, status, r.Errors)
		}
	}
}
