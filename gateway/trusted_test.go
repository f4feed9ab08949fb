package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/gateway"
	"github.com/trestlehq/trestle/sim/simtest"
)

func TestTrustedDocuments(t *testing.T) {
	const known = `query Stock { products(first: 1) { totalCount } }`
	const other = `{ orders(first: 1) { totalCount } }`
	hash := func(doc string) string { s := sha256.Sum256([]byte(doc)); return hex.EncodeToString(s[:]) }
	path := filepath.Join(t.TempDir(), "manifest.json")
	manifest, _ := json.Marshal(map[string]string{hash(known): known})
	if err := os.WriteFile(path, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	byHash := func(h, query string) []byte {
		b, _ := json.Marshal(map[string]any{"query": query, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": h}}})
		return b
	}
	byID := func(id string) []byte {
		b, _ := json.Marshal(map[string]any{"documentId": id})
		return b
	}
	env := simtest.Start(t, liveWorld)
	for _, tc := range []struct {
		only bool
		body []byte
		code string // "" when answered
	}{
		{true, byHash(hash(known), ""), ""},
		{true, jsonQuery(known), ""},
		{true, jsonQuery(other), "TRUSTED_DOCUMENT_REQUIRED"},
		{true, byHash(hash(other), other), "TRUSTED_DOCUMENT_REQUIRED"}, // registering is no way in
		{true, byHash(hash(other), ""), "PERSISTED_QUERY_NOT_FOUND"},
		{false, byHash(hash(known), ""), ""},
		{false, jsonQuery(other), ""},
		{false, byHash(hash("{ __typename }"), ""), "PERSISTED_QUERY_NOT_FOUND"},
		// The persisted documents draft's documentId names one too.
		{true, byID("sha256:" + hash(known)), ""},
		{true, byID("sha256:" + hash(other)), "PERSISTED_QUERY_NOT_FOUND"},
		{false, byID("md5:" + hash(known)), "BAD_REQUEST"},
		{false, byID(hash(known)), "BAD_REQUEST"},
		{false, []byte(`{"documentId": "sha256:` + hash(known) + `", "query": "{ __typename }"}`), "BAD_REQUEST"},
	} {
		g := startApp(t, env, quiet, func(c *config.Config) { c.TrustedDocuments = config.TrustedDocuments{File: path, Only: tc.only} })
		status, r := postRaw(t, g.url, "application/json", tc.body)
		switch {
		case tc.code == "" && (status != http.StatusOK || len(r.Errors) > 0):
			t.Errorf("only %v, %s: HTTP %d %+v, want it answered", tc.only, tc.body, status, r.Errors)
		case tc.code != "" && (len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != tc.code):
			t.Errorf("only %v, %s: HTTP %d %+v, want %s", tc.only, tc.body, status, r.Errors, tc.code)
		}
	}

	// A manifest whose hash is not its document's is refused.
	bad, _ := json.Marshal(map[string]string{hash(other): known})
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.LoadTrustedDocuments(path); err == nil {
		t.Fatal("a manifest with a wrong hash was loaded")
	}
	// Apollo's manifest form is read too.
	apollo, _ := json.Marshal(map[string]any{"format": "apollo-persisted-query-manifest", "version": 1,
		"operations": []any{map[string]any{"id": hash(known), "body": known, "name": "Stock", "type": "query"}}})
	if err := os.WriteFile(path, apollo, 0o600); err != nil {
		t.Fatal(err)
	}
	if docs, err := gateway.LoadTrustedDocuments(path); err != nil || docs[hash(known)] != known {
		t.Fatalf("apollo manifest: %v %v", docs, err)
	}
}
