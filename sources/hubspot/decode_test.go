package hubspot

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	simhubspot "github.com/trestlehq/trestle/sim/hubspot"
	"github.com/trestlehq/trestle/sim/world"
)

// batchBody records the simulator's answer to a 100-contact batch read.
func batchBody(b testing.TB) []byte {
	b.Helper()
	w := world.New(world.Options{Seed: 1})
	in := batchReadInput{Properties: contactProperties(), PropertiesWithHistory: []string{}}
	for _, p := range w.People {
		if p.CRM != nil && len(in.Inputs) < batchSize {
			in.Inputs = append(in.Inputs, objectID{ID: p.CRM.ID})
		}
	}
	body, err := json.Marshal(in)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, contactsPath+"/batch/read", strings.NewReader(string(body)))
	r.Header.Set("Authorization", "Bearer "+simhubspot.Token)
	rec := httptest.NewRecorder()
	simhubspot.New(w).ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		b.Fatalf("recording the batch: status %d", rec.Code)
	}
	return rec.Body.Bytes()
}

func decodeBatch(body []byte) (int, error) {
	var resp batchResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return 0, err
	}
	return len(mapAll(resp.Results)), nil
}

// TestDecodeBudget holds decoding and mapping a 100-contact batch under 5,000
// allocations.
func TestDecodeBudget(t *testing.T) {
	body := batchBody(t)
	if n, err := decodeBatch(body); err != nil || n != batchSize {
		t.Fatalf("decoded %d contacts, err %v; want %d", n, err, batchSize)
	}
	allocs := testing.AllocsPerRun(20, func() { _, _ = decodeBatch(body) })
	if allocs >= 5000 {
		t.Errorf("%.0f allocations per batch, want under 5000", allocs)
	}
}

// BenchmarkDecodeBatch100 decodes and maps a recorded 100-contact batch/read
// answer, as Contacts does for each batch.
func BenchmarkDecodeBatch100(b *testing.B) {
	body := batchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := decodeBatch(body); err != nil || n != batchSize {
			b.Fatalf("mapped %d contacts: %v", n, err)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to the contact batch decoder: a body is
// mapped or refused with an error, never a panic.
func FuzzDecode(f *testing.F) {
	f.Add(batchBody(f))
	f.Add([]byte(`{"status":"COMPLETE","results":[{"id":"1","properties":{"createdate":"never","email":null}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodeBatch(body)
	})
}
