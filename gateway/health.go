package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Healthz answers that the process lives.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

// Readyz answers whether the gateway can answer: 200 when every check
// says "ok" (or "ok, " and more), 200 with status "degraded" when one says
// "degraded: " and why (a part the live graph does without), else 503;
// the body names each check's state.
func Readyz(ready func() map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		checks := map[string]string{}
		if ready != nil {
			checks = ready()
		}
		status, code := "ready", http.StatusOK
		for _, state := range checks {
			switch {
			case state == "ok", strings.HasPrefix(state, "ok, "):
			case strings.HasPrefix(state, "degraded: "):
				if code == http.StatusOK {
					status = "degraded"
				}
			default:
				status, code = "unready", http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": checks})
	})
}
