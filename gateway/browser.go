package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

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
func graphQLOverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r) // WebSocket and server-sent events answer in their own way
			return
		}
		sw := &specWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), plainHTTPKey{}, true)))
		sw.finish()
	})
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
		CodeTooManyRoots, CodeNoSubscription, CodeTrustedDocumentRequired, "PERSISTED_QUERY_NOT_FOUND":
		return true
	}
	return false
}
