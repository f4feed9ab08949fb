package gateway

import (
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
