package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
)

// post serves GraphQL over HTTP POST with a JSON body. Unlike gqlgen's
// transport it writes a response's data as it is: encoding a large
// response once more (compacting every byte of it) was the biggest cost
// of a request whose answer was shared or cached.
type post struct{}

var _ graphql.Transport = post{}

func (post) Supports(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Header.Get("Upgrade") != "" {
		return false
	}
	media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && media == "application/json"
}

func (post) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	contentType := responseType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", contentType)
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	var params *graphql.RawParams
	if err == nil {
		params, err = readParams(body)
	}
	if err != nil {
		// Not a GraphQL request at all: 400 whatever the response type.
		writeErrorBody(w, http.StatusBadRequest, "not a GraphQL request: "+err.Error(), CodeBadRequest)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	op, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			// Refused before it ran: graphQLOverHTTP settles the status
			// the spec wants for the response type.
			status := http.StatusUnprocessableEntity
			if contentType == graphQLResponse {
				status = http.StatusBadRequest
			}
			w.WriteHeader(status)
		}
		_, _ = w.Write(encodeResponse(exec.DispatchError(graphql.WithOperationContext(ctx, op), errs)))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, op)
	resp := responses(ctx)
	if resp == nil {
		resp = &graphql.Response{}
	}
	head, data, tail, err := responseParts(resp)
	if err != nil {
		_, _ = w.Write(encodeFailed)
		return
	}
	// With its length the answer goes out as it is, not in chunks, and its
	// data as the executor (or the response cache) holds it, not copied.
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(data)+len(tail)))
	for _, part := range [][]byte{head, data, tail} {
		if _, err := w.Write(part); err != nil {
			return
		}
	}
}

// encodeFailed answers a response that could not be encoded.
var encodeFailed = []byte(`{"errors":[{"message":"the response could not be encoded"}]}`)

// readParams reads a GraphQL request from a POST's JSON body, or says why
// it is not one.
func readParams(body []byte) (*graphql.RawParams, error) {
	var req struct {
		graphql.RawParams
		DocumentID string `json:"documentId"`
	}
	params := &req.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := dec.Decode(&req) // a query, operationName, variables or extensions of the wrong type fail here
	if err == nil && req.DocumentID != "" {
		err = byDocumentID(params, req.DocumentID)
	}
	if err == nil && params.Query == "" && params.Extensions["persistedQuery"] == nil {
		err = errors.New("query is missing")
	}
	if err != nil {
		return nil, err
	}
	return params, nil
}

// byDocumentID asks for a persisted document by its documentId, as the
// GraphQL over HTTP persisted documents draft has clients send it
// ("sha256:<hex>"), the way an automatic persisted query names it.
func byDocumentID(params *graphql.RawParams, id string) error {
	hash, ok := strings.CutPrefix(id, "sha256:")
	if !ok || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return fmt.Errorf("documentId %.80q is not sha256: and 64 lower-case hex digits", id)
	}
	if params.Query != "" || params.Extensions["persistedQuery"] != nil {
		return errors.New("send a documentId or a query, not both")
	}
	if params.Extensions == nil {
		params.Extensions = map[string]any{}
	}
	params.Extensions["persistedQuery"] = map[string]any{"version": 1.0, "sha256Hash": hash}
	return nil
}

const graphQLResponse = "application/graphql-response+json"

// responseType is the media type of the answer, by the request's Accept:
// application/json unless the client names application/graphql-response+json
// first (or names neither).
func responseType(accept string) string {
	if strings.TrimSpace(accept) == "" {
		return "application/json"
	}
	for part := range strings.SplitSeq(accept, ",") {
		media, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch media {
		case "*/*", "application/*", "application/json":
			return "application/json"
		case graphQLResponse:
			return graphQLResponse
		}
	}
	return graphQLResponse
}

// encodeResponse is a response as JSON, its data as it is.
func encodeResponse(r *graphql.Response) []byte {
	if r == nil {
		r = &graphql.Response{}
	}
	b, err := appendResponse(nil, r)
	if err != nil {
		return encodeFailed
	}
	return b
}
