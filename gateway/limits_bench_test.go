package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/sim/world"
)

// BenchmarkRefusal measures how long the gateway takes to refuse each of
// the hostileDocuments, from the request to the answer: all of it before
// any resolver runs. Each request's document is new (a comment numbers
// it), so that none is answered from the cache of parsed documents.
// Budget: under 10 ms each.
//
//	go test -run '^$' -bench Refusal ./gateway/
func BenchmarkRefusal(b *testing.B) {
	g := start(b, world.Options{Seed: 1, Size: world.Size{People: 10, Orders: 10, Products: 5}},
		func(c *config.Config) { c.Introspection = true })
	h := g.app.Handler()
	for _, doc := range hostileDocuments() {
		b.Run(doc.name, func(b *testing.B) {
			var r struct {
				Errors []struct {
					Extensions struct{ Code string } `json:"extensions"`
				} `json:"errors"`
			}
			query, _ := json.Marshal(doc.query)
			i := 0
			for b.Loop() {
				i++
				body := append(append(append([]byte(`{"query":`), query[:len(query)-1]...), " #"+strconv.Itoa(i)+`"`...), '}')
				req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &r) != nil || len(r.Errors) != 1 || r.Errors[0].Extensions.Code != doc.code {
					b.Fatalf("HTTP %d %.300s, want %s", rec.Code, rec.Body, doc.code)
				}
			}
		})
	}
}
