package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// exchange sends a request to /query and returns the answer, its errors
// decoded if it has any.
func exchange(t *testing.T, method, target string, header map[string]string, body string) (*http.Response, []byte, response) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	_ = json.Unmarshal(raw, &r)
	return resp, raw, r
}

func TestEveryRefusalHasACode(t *testing.T) {
	g := startLive(t)
	q := g.url + "/query"
	typename := `{"query":"{ __typename }"}`
	jsonType := map[string]string{"Content-Type": "application/json"}
	sse := map[string]string{"Content-Type": "application/json", "Accept": "text/event-stream"}
	for _, tc := range []struct {
		name, method, url string
		header            map[string]string
		body              string
		status            int
		code              string
	}{
		{"a POST of XML", http.MethodPost, q, map[string]string{"Content-Type": "application/xml"}, typename, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"},
		{"a POST of application/graphql", http.MethodPost, q, map[string]string{"Content-Type": "application/graphql"}, `{ __typename }`, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"},
		{"a POST of plain text", http.MethodPost, q, map[string]string{"Content-Type": "text/plain"}, typename, http.StatusUnsupportedMediaType, "CSRF_REFUSED"},
		{"a PUT", http.MethodPut, q, jsonType, typename, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"a DELETE", http.MethodDelete, q, nil, "", http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"a GET without a query", http.MethodGet, q, nil, "", http.StatusBadRequest, "BAD_REQUEST"},
		{"a GET whose variables are not JSON", http.MethodGet, q + "?query=%7B__typename%7D&variables=nope", nil, "", http.StatusBadRequest, "BAD_REQUEST"},
		{"a GET whose extensions are not JSON", http.MethodGet, q + "?query=%7B__typename%7D&extensions=nope", nil, "", http.StatusBadRequest, "BAD_REQUEST"},
		{"a GET whose query string is not URL-encoded", http.MethodGet, q + "?query=%zz", nil, "", http.StatusBadRequest, "BAD_REQUEST"},
		{"server-sent events for a body that is not JSON", http.MethodPost, q, sse, `nonsense`, http.StatusBadRequest, "BAD_REQUEST"},
		{"server-sent events for a query that is not a string", http.MethodPost, q, sse, `{"query": 1}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"server-sent events without a query", http.MethodPost, q, sse, `{}`, http.StatusBadRequest, "BAD_REQUEST"},
		{"a WebSocket upgrade without a handshake", http.MethodGet, q, map[string]string{"Upgrade": "websocket"}, "", http.StatusBadRequest, "BAD_REQUEST"},
		{"a WebSocket upgrade by POST", http.MethodPost, q, map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Content-Type": "application/json",
			"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, typename, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"a batch", http.MethodPost, q, jsonType, `[` + typename + `]`, http.StatusBadRequest, "BATCH_NOT_ACCEPTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, accept := range []string{"", "application/json", "application/graphql-response+json"} {
				header := map[string]string{}
				for k, v := range tc.header {
					header[k] = v
				}
				if accept != "" && header["Accept"] == "" {
					header["Accept"] = accept
				}
				resp, raw, r := exchange(t, tc.method, tc.url, header, tc.body)
				if resp.StatusCode != tc.status || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != tc.code ||
					!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/") || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
					t.Fatalf("Accept %q: HTTP %d %q %.300s; want %d with %s", accept, resp.StatusCode, resp.Header.Get("Content-Type"), raw, tc.status, tc.code)
				}
				if tc.status == http.StatusMethodNotAllowed && !strings.Contains(resp.Header.Get("Allow"), "GET") {
					t.Fatalf("Allow %q, want the methods allowed", resp.Header.Get("Allow"))
				}
			}
		})
	}
	// An Upgrade to anything but a WebSocket is ignored (RFC 9110 allows
	// it), as curl --http2 sends one to a server without TLS.
	h2c := map[string]string{"Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings", "HTTP2-Settings": "AAMAAABkAAQCAAAAAAIAAAAA"}
	if resp, raw, r := exchange(t, http.MethodGet, q+"?query=%7B__typename%7D", h2c, ""); resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("a GET with Upgrade: h2c: HTTP %d %.300s, want it answered", resp.StatusCode, raw)
	}
	h2c["Content-Type"] = "application/json"
	if resp, raw, r := exchange(t, http.MethodPost, q, h2c, typename); resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("a POST with Upgrade: h2c: HTTP %d %.300s, want it answered", resp.StatusCode, raw)
	}
}

func TestInvalidUTF8IsRefused(t *testing.T) {
	g := startLive(t)
	q := g.url + "/query"
	for _, tc := range []struct {
		name, method, url string
		header            map[string]string
		body              string
	}{
		{"in a POST's query", http.MethodPost, q, map[string]string{"Content-Type": "application/json"}, "{\"query\":\"{ __typename \xff }\"}"},
		{"in a POST's string", http.MethodPost, q, map[string]string{"Content-Type": "application/json"},
			"{\"query\":\"query($e: String!) { customerByEmail(email: $e) { id } }\",\"variables\":{\"e\":\"a\xc0@example.com\"}}"},
		{"in server-sent events' body", http.MethodPost, q, map[string]string{"Content-Type": "application/json", "Accept": "text/event-stream"},
			"{\"query\":\"{ __typename \xff }\"}"},
		{"in a GET's query", http.MethodGet, q + "?query=%7B__typename%20%ff%7D", nil, ""},
		{"in a GET's variables", http.MethodGet, q + "?query=" + url.QueryEscape(`query($e: String!) { customerByEmail(email: $e) { id } }`) +
			"&variables=%7B%22e%22%3A%22a%c0%40example.com%22%7D", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw, r := exchange(t, tc.method, tc.url, tc.header, tc.body)
			if resp.StatusCode != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_REQUEST" ||
				!strings.Contains(r.Errors[0].Message, "UTF-8") {
				t.Fatalf("HTTP %d %.300s; want 400 BAD_REQUEST saying it is not UTF-8", resp.StatusCode, raw)
			}
		})
	}
}

func TestIntsOutsideTheInt32RangeAreNamed(t *testing.T) {
	g := startLive(t)
	const first = `query($n: Int) { orders(first: $n) { totalCount } }`
	graphQLResponse := map[string]string{"Content-Type": "application/json", "Accept": "application/graphql-response+json"}
	post := func(query string, vars string) string {
		b, _ := json.Marshal(map[string]any{"query": query, "variables": json.RawMessage(vars)})
		return string(b)
	}
	for _, tc := range []struct {
		name, method, url, body string
		want                    []string // in the message
	}{
		{"2^40", http.MethodPost, "", post(first, `{"n": 1099511627776}`), []string{"$n", "1099511627776", "32-bit"}},
		{"2^31", http.MethodPost, "", post(first, `{"n": 2147483648}`), []string{"$n", "2147483648", "32-bit"}},
		{"-2^31-1", http.MethodPost, "", post(first, `{"n": -2147483649}`), []string{"$n", "-2147483649", "32-bit"}},
		{"2^64", http.MethodPost, "", post(first, `{"n": 18446744073709551616}`), []string{"$n", "18446744073709551616", "32-bit"}},
		{"a fraction", http.MethodPost, "", post(first, `{"n": 1.5}`), []string{"$n", "1.5", "whole number"}},
		{"over GET", http.MethodGet, "?query=" + url.QueryEscape(first) + "&variables=" + url.QueryEscape(`{"n": 1099511627776}`), "", []string{"$n", "1099511627776", "32-bit"}},
		{"written in the document", http.MethodPost, "", post(`{ orders(first: 1099511627776) { totalCount } }`, `{}`), []string{"first", "1099511627776", "32-bit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw, r := exchange(t, tc.method, g.url+"/query"+tc.url, graphQLResponse, tc.body)
			if resp.StatusCode != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("HTTP %d %.300s; want 400 GRAPHQL_VALIDATION_FAILED", resp.StatusCode, raw)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Errors[0].Message, w) {
					t.Fatalf("message %q does not say %q", r.Errors[0].Message, w)
				}
			}
		})
	}
	// The largest Int is one, and goes on to the limits.
	resp, raw, r := exchange(t, http.MethodPost, g.url+"/query", graphQLResponse, post(first, `{"n": 2147483647}`))
	if resp.StatusCode != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "QUERY_TOO_COMPLEX" {
		t.Fatalf("first: 2147483647: HTTP %d %.300s; want QUERY_TOO_COMPLEX", resp.StatusCode, raw)
	}
}
