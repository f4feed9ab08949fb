package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/rs/cors"
)

// corsFor allows cross-origin requests from the browser origins the config
// names (host patterns, as for WebSockets), and from no other: preflights
// from anywhere else get no CORS headers, so browsers refuse the call.
func corsFor(origins []string, next http.Handler) http.Handler {
	return cors.New(cors.Options{
		AllowOriginFunc: func(origin string) bool {
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" {
				return false
			}
			for _, p := range origins {
				if ok, _ := path.Match(p, u.Host); ok {
					return true
				}
			}
			return false
		},
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Content-Type", "Accept", "Authorization", "X-API-Key"},
		MaxAge:         600,
	}).Handler(next)
}

// noCSRF refuses a POST a browser could send across sites without asking
// first: one whose Content-Type is a "simple" one (form encodings, plain
// text) or missing. GraphQL over HTTP is JSON; such a request is either a
// mistake or a forgery. (A GET runs queries only.)
func noCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && simpleContentType(r.Header.Get("Content-Type")) {
			writeError(w, http.StatusUnsupportedMediaType, "a POST must be Content-Type: application/json; "+
				"a form or plain-text body is what a cross-site forgery would send", "CSRF_REFUSED")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// simpleContentType reports whether a content type is one a cross-site
// form or fetch may send without a preflight.
func simpleContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	media, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return true
	}
	switch media {
	case "text/plain", "application/x-www-form-urlencoded", "multipart/form-data":
		return true
	}
	return false
}

// graphQLOverHTTP brings gqlgen's answers to a request that fails before
// it runs in line with the GraphQL over HTTP spec. With application/json a
// document that does not parse or validate (variables that do not coerce
// included) is answered 200, not 422, and a request that is not a GraphQL
// request at all (no query, a query that is not a string) 400; with
// application/graphql-response+json such an answer is 400 and has no data
// entry.
//
// Before any of that, it refuses with a code what no transport takes, or
// what gqlgen's would refuse in its own words: see admit.
func graphQLOverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, refused := admit(r)
		if refused != nil {
			for k, v := range refused.header {
				w.Header().Set(k, v)
			}
			writeError(w, refused.status, refused.message, refused.code)
			return
		}
		if r.Header.Get("Upgrade") != "" || r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r) // WebSocket and server-sent events answer in their own way
			return
		}
		sw := &specWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), plainHTTPKey{}, true)))
		sw.finish()
	})
}

// Codes of requests that are not GraphQL requests, in extensions.code.
const (
	CodeBadRequest           = "BAD_REQUEST"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
)

// refusal is the answer to a request refused before a transport has it.
type refusal struct {
	status        int
	message, code string
	header        map[string]string
}

func notGraphQL(why string) *refusal {
	return &refusal{status: http.StatusBadRequest, message: "not a GraphQL request: " + why, code: CodeBadRequest}
}

// admit refuses a request that no transport of gqlgen's takes, which it
// answers 400 "transport not supported", in plain text and without a
// code; and one a transport would refuse without a code, or fail on:
// gqlgen's GET takes a query string that is not UTF-8, its server-sent
// events answer a body that is not JSON with an internal error, and a
// WebSocket handshake that is not one gets a WebSocket library's text.
// An Upgrade to anything but a WebSocket (curl --http2 asks for h2c) is
// dropped, as a server may.
func admit(r *http.Request) (*http.Request, *refusal) {
	if up := r.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
		r = r.Clone(r.Context())
		r.Header.Del("Upgrade")
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodOptions:
		return r, &refusal{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed,
			message: "GraphQL is sent by POST, or by GET for a query, not by " + r.Method,
			header:  map[string]string{"Allow": "GET, POST, OPTIONS"}}
	case r.Header.Get("Upgrade") != "":
		return r, webSocketHandshake(r)
	case r.Method == http.MethodPost:
		if media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || media != "application/json" {
			return r, &refusal{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
				message: "a POST must be Content-Type: application/json, not " + r.Header.Get("Content-Type")}
		}
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			body, err := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if err == nil {
				_, err = readParams(body)
			}
			if err != nil {
				return r, notGraphQL(err.Error())
			}
		}
	case r.Method == http.MethodGet:
		return r, queryString(r.URL.RawQuery)
	}
	return r, nil
}

// queryString refuses a GET whose parameters are not a GraphQL request's.
func queryString(raw string) *refusal {
	params, err := url.ParseQuery(raw)
	if err != nil {
		return notGraphQL("the query string is not URL-encoded")
	}
	for name, values := range params {
		for _, v := range values {
			if !utf8.ValidString(name) || !utf8.ValidString(v) {
				return notGraphQL("the query string is not UTF-8")
			}
		}
	}
	object := func(name string, into *map[string]any) bool {
		v := params.Get(name)
		return v == "" || json.Unmarshal([]byte(v), into) == nil
	}
	var variables, extensions map[string]any
	switch {
	case !object("variables", &variables):
		return notGraphQL("variables is not a JSON object")
	case !object("extensions", &extensions):
		return notGraphQL("extensions is not a JSON object")
	case params.Get("query") == "" && extensions["persistedQuery"] == nil:
		return notGraphQL("query is missing")
	}
	return nil
}

// webSocketHandshake refuses an Upgrade: websocket request that is not a
// WebSocket handshake (RFC 6455).
func webSocketHandshake(r *http.Request) *refusal {
	upgrade := false
	for _, v := range r.Header.Values("Connection") {
		for token := range strings.SplitSeq(v, ",") {
			upgrade = upgrade || strings.EqualFold(strings.TrimSpace(token), "upgrade")
		}
	}
	switch {
	case r.Method != http.MethodGet:
		return &refusal{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed,
			message: "a WebSocket handshake is a GET", header: map[string]string{"Allow": "GET"}}
	case !upgrade:
		return notGraphQL("an Upgrade: websocket without Connection: Upgrade")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return &refusal{status: http.StatusBadRequest, code: CodeBadRequest,
			message: "not a GraphQL request: the WebSocket version must be 13", header: map[string]string{"Sec-WebSocket-Version": "13"}}
	case r.Header.Get("Sec-WebSocket-Key") == "":
		return notGraphQL("a WebSocket handshake without Sec-WebSocket-Key")
	}
	return nil
}

// plainHTTPKey marks a request answered with one response: no
// subscription.
type plainHTTPKey struct{}

// specWriter holds the body of an answer refused before execution, to
// settle its status and shape once it is written.
type specWriter struct {
	http.ResponseWriter
	held   *bytes.Buffer
	status int
}

func (w *specWriter) WriteHeader(code int) {
	ct := w.Header().Get("Content-Type")
	if code == http.StatusUnprocessableEntity && strings.HasPrefix(ct, "application/json") ||
		code == http.StatusBadRequest && strings.HasPrefix(ct, "application/graphql-response+json") {
		w.held, w.status = &bytes.Buffer{}, code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *specWriter) Write(b []byte) (int, error) {
	if w.held != nil {
		return w.held.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *specWriter) finish() {
	if w.held == nil {
		return
	}
	body := w.held.Bytes()
	var resp struct {
		Errors []struct {
			Extensions struct{ Code string } `json:"extensions"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(body, &resp)
	status := w.status
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest // not a GraphQL request
		if len(resp.Errors) > 0 && documentError(resp.Errors[0].Extensions.Code) {
			status = http.StatusOK
		}
	} else {
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil && string(fields["data"]) == "null" {
			delete(fields, "data")
			body, _ = json.Marshal(fields)
		}
	}
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(status)
	_, _ = w.ResponseWriter.Write(body)
}

// documentError reports whether an error code says the document itself
// (its text, its validity, its variables, a limit) is wrong.
func documentError(code string) bool {
	switch code {
	case "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", CodeTooDeep, CodeTooComplex, CodeTooManyAliases,
		CodeTooManyRoots, CodeTooManySelections, CodeNoSubscription, CodeTrustedDocumentRequired, "PERSISTED_QUERY_NOT_FOUND":
		return true
	}
	return false
}
