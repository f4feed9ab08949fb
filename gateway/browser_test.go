package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/trestlehq/trestle/gateway"
)

func TestSimplePOSTsAreRefused(t *testing.T) {
	g := startLive(t)
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		status, r := postRaw(t, g.srv.URL, ct, jsonQuery(`{ __typename }`))
		if status != http.StatusUnsupportedMediaType || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "CSRF_REFUSED" {
			t.Errorf("Content-Type %q: HTTP %d %+v, want 415 CSRF_REFUSED", ct, status, r.Errors)
		}
	}
	if status, r := postRaw(t, g.srv.URL, "application/json; charset=utf-8", jsonQuery(`{ __typename }`)); status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("JSON: HTTP %d %+v", status, r.Errors)
	}
	// GET runs queries only.
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/query?query="+url.QueryEscape(`mutation { x }`), nil)
	req.Header.Set("Accept", "application/graphql-response+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("a mutation over GET: HTTP %d, want it refused", resp.StatusCode)
	}
}

func TestCORSAllowsOnlyTheConfiguredOrigins(t *testing.T) {
	g := startLive(t, func(o *gateway.Options) { o.Origins = []string{"app.example.com", "*.reports.example.com"} })
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, g.srv.URL+"/query", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, x-api-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for origin, allowed := range map[string]bool{
		"https://app.example.com":         true,
		"https://q3.reports.example.com":  true,
		"https://evil.example.net":        false,
		"https://app.example.com.evil.io": false,
	} {
		resp := preflight(origin)
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if allowed && (got != origin || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-api-key")) {
			t.Errorf("preflight from %s: Allow-Origin %q, Allow-Headers %q; want it allowed", origin, got, resp.Header.Get("Access-Control-Allow-Headers"))
		}
		if !allowed && got != "" {
			t.Errorf("preflight from %s: Allow-Origin %q, want none", origin, got)
		}
	}
}
