package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzRequest posts arbitrary bodies to the GraphQL endpoint: each is
// answered, as a GraphQL response or an error status the client caused,
// never with a panic or a server error. (Without sources, a field that
// would read upstream fails inside the response; that is not what this
// looks at.)
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		`{"query":"{ __typename }"}`,
		`{"query":"query($n: Int) { orders(first: $n) { totalCount } }","variables":{"n":"x"}}`,
		`{"query":"{ a: __typename b: __typename ...f } fragment f on Query { ...f }"}`,
		`{"query":"{","operationName":7}`,
		`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`,
		`[{"query":"{ __typename }"}]`,
		`{"query":"subscription { stockChanged { cursor } }"}`,
	} {
		f.Add([]byte(seed))
	}
	h := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, req)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("body %q: no answer after 5s", body)
		}
		if rec.Code >= 500 {
			t.Fatalf("body %q: HTTP %d %s", body, rec.Code, rec.Body)
		}
	})
}
