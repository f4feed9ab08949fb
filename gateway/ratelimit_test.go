package gateway_test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"github.com/trestlehq/trestle/config"
)

// postAs posts a query with an API key and returns the response's status
// and Retry-After.
func postAs(t *testing.T, url, key, query string) (int, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/query", bytes.NewReader(jsonQuery(query)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, after
}

func TestClientsAreRateLimitedByRequests(t *testing.T) {
	g := startLive(t, func(c *config.Config) { withKeys(c); c.Limits.RequestsPerMinute = 3 })
	for i := range 3 {
		if status, _ := postAs(t, g.url, "trk_sales", `{ __typename }`); status != http.StatusOK {
			t.Fatalf("request %d: HTTP %d, want it answered", i+1, status)
		}
	}
	// The fourth within the minute waits for a third of it.
	if status, after := postAs(t, g.url, "trk_sales", `{ __typename }`); status != http.StatusTooManyRequests || after < 19 || after > 20 {
		t.Fatalf("request 4: HTTP %d, Retry-After %d; want 429 after 20s", status, after)
	}
	// Another client has its own budget.
	if status, _ := postAs(t, g.url, "trk_finance", `{ __typename }`); status != http.StatusOK {
		t.Fatalf("another client: HTTP %d", status)
	}
}

func TestClientsAreRateLimitedByComplexity(t *testing.T) {
	g := startLive(t, func(c *config.Config) { withKeys(c); c.Limits.ComplexityPerMinute = 100 })
	const q = `{ orders(first: 20) { edges { node { number } } } }` // 1 + 20×3 = 61
	for i := range 2 {
		if status, _ := postAs(t, g.url, "trk_sales", q); status != http.StatusOK {
			t.Fatalf("query %d: HTTP %d, want it answered", i+1, status)
		}
	}
	// 122 spent of 100 a minute: the next waits out the 22 over.
	if status, after := postAs(t, g.url, "trk_sales", q); status != http.StatusTooManyRequests || after < 13 || after > 14 {
		t.Fatalf("query 3: HTTP %d, Retry-After %d; want 429 after about 13s", status, after)
	}
}
