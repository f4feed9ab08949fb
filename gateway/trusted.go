package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TrustedDocuments are operations registered ahead of time, by the hex
// SHA-256 of their text. Clients run one by sending its hash the way
// automatic persisted queries do (extensions.persistedQuery.sha256Hash),
// or its text. With Only, nothing else runs: an allow-list.
type TrustedDocuments struct {
	Docs map[string]string
	Only bool
}

// CodeTrustedDocumentRequired refuses an operation that is not a trusted
// document in allow-list mode.
const CodeTrustedDocumentRequired = "TRUSTED_DOCUMENT_REQUIRED"

// LoadTrustedDocuments reads a manifest: a JSON object of documents by
// hash (the GraphQL trusted documents form), or Apollo's persisted query
// manifest ({"operations": [{"id", "body"}]}). Every hash is checked
// against its document.
func LoadTrustedDocuments(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var apollo struct {
		Operations []struct{ ID, Body string }
	}
	docs := map[string]string{}
	if json.Unmarshal(raw, &apollo) == nil && apollo.Operations != nil {
		for _, op := range apollo.Operations {
			docs[op.ID] = op.Body
		}
	} else if err := json.Unmarshal(raw, &docs); err != nil {
		return nil, fmt.Errorf("%s: not a trusted documents manifest (a JSON object of documents by SHA-256): %w", path, err)
	}
	for hash, doc := range docs {
		sum := sha256.Sum256([]byte(doc))
		if hex.EncodeToString(sum[:]) != hash {
			return nil, fmt.Errorf("%s: %.16s… is not the SHA-256 of its document", path, hash)
		}
	}
	return docs, nil
}

// persisted is the store the persisted query extension reads hashes from:
// the trusted documents first, then, unless only they may run, what
// clients registered themselves.
type persisted struct {
	trusted    map[string]string
	registered graphql.Cache[string] // nil in allow-list mode
}

func newPersisted(t TrustedDocuments) *persisted {
	p := &persisted{trusted: t.Docs}
	if !t.Only {
		p.registered = lru.New[string](1000)
	}
	return p
}

func (p *persisted) Get(ctx context.Context, hash string) (string, bool) {
	if doc, ok := p.trusted[hash]; ok {
		return doc, true
	}
	if p.registered == nil {
		return "", false
	}
	return p.registered.Get(ctx, hash)
}

func (p *persisted) Add(ctx context.Context, hash, doc string) {
	if _, ok := p.trusted[hash]; !ok && p.registered != nil {
		p.registered.Add(ctx, hash, doc)
	}
}

// allowList refuses, in allow-list mode, every operation that is not a
// trusted document.
type allowList struct{ docs map[string]string }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = allowList{}

func (allowList) ExtensionName() string                   { return "TrustedDocuments" }
func (allowList) Validate(graphql.ExecutableSchema) error { return nil }

func (a allowList) MutateOperationParameters(_ context.Context, params *graphql.RawParams) *gqlerror.Error {
	sum := sha256.Sum256([]byte(params.Query))
	if _, ok := a.docs[hex.EncodeToString(sum[:])]; ok {
		return nil
	}
	err := gqlerror.Errorf("only trusted documents run here; this operation is not one")
	errcode.Set(err, CodeTrustedDocumentRequired)
	return err
}
