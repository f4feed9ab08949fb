package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/trestlehq/trestle/auth"
)

// authenticate lets a request to the GraphQL endpoint through with its
// principal, or answers 401. A WebSocket upgrade is let through as it is:
// its client authenticates in connection_init (or with the upgrade's own
// headers, when it can send them).
func authenticate(a *auth.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			// Authenticated in connection_init, which may name credentials
			// sent with the upgrade.
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), upgradeKey{}, r.Header)))
			return
		}
		p, err := a.Authenticate(r.Context(), auth.FromHeader(r.Header))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trestle"`)
			writeError(w, http.StatusUnauthorized, err.Error(), "UNAUTHENTICATED")
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.With(r.Context(), p)))
	})
}

// scope is what the client of ctx may see, for keys of work shared
// between clients.
func scope(ctx context.Context) string {
	if p := auth.From(ctx); p != nil {
		return p.Scope()
	}
	return ""
}

// writeError answers a request that is refused before it is executed, as
// a GraphQL response with one error.
func writeError(w http.ResponseWriter, status int, message, code string) {
	w.Header().Set("Content-Type", "application/json")
	writeErrorBody(w, status, message, code)
}

// writeErrorBody is writeError in the Content-Type already set.
func writeErrorBody(w http.ResponseWriter, status int, message, code string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": message, "extensions": map[string]any{"code": code}}}})
}

// initCredentials reads the credentials of a WebSocket's connection_init
// payload, in the shapes clients send them: apiKey or X-API-Key, and
// Authorization ("Bearer …"), at the top or under headers; the upgrade
// request's headers when the payload has none.
func initCredentials(payload map[string]any, upgrade http.Header) auth.Credentials {
	h := http.Header{}
	add := func(m map[string]any) {
		for k, v := range m {
			if s, ok := v.(string); ok {
				switch strings.ToLower(k) {
				case "apikey", "x-api-key", "api_key":
					h.Set("X-API-Key", s)
				case "authorization":
					h.Set("Authorization", s)
				case "token", "bearer":
					h.Set("Authorization", "Bearer "+s)
				}
			}
		}
	}
	add(payload)
	if headers, ok := payload["headers"].(map[string]any); ok {
		add(headers)
	}
	if c := auth.FromHeader(h); c != (auth.Credentials{}) {
		return c
	}
	return auth.FromHeader(upgrade)
}

// authenticateInit authenticates a WebSocket connection from its
// connection_init payload; nil a (no authentication) lets it in as it is.
type upgradeKey struct{}

// upgradeHeaders are the headers of the WebSocket upgrade ctx belongs to.
func upgradeHeaders(ctx context.Context) http.Header {
	h, _ := ctx.Value(upgradeKey{}).(http.Header)
	return h
}

func authenticateInit(ctx context.Context, a *auth.Authenticator, payload map[string]any, upgrade http.Header) (context.Context, error) {
	if a == nil {
		return ctx, nil
	}
	p, err := a.Authenticate(ctx, initCredentials(payload, upgrade))
	if err != nil {
		return nil, err
	}
	return auth.With(ctx, p), nil
}
