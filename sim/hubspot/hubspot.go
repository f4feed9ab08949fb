// Package hubspot simulates HubSpot's CRM v3 contacts API over a world: paged
// lists with an `after` cursor, single reads by id or e-mail, batch reads of
// up to 100 records with 207 partial results, and the search endpoint the
// pollers use for changed-since reads. Shapes follow HubSpot's published
// OpenAPI description of crm/v3/objects/contacts.
package hubspot

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/trestlehq/trestle/sim/world"
)

// Token is the private app access token the simulator accepts, sent as
// "Authorization: Bearer pat-demo".
const Token = "pat-demo"

// Limits HubSpot enforces on the contacts endpoints.
const (
	MaxPageSize    = 100    // limit on GET /crm/v3/objects/contacts
	MaxBatchInputs = 100    // inputs in one batch/read
	MaxSearchLimit = 200    // limit on one search page
	SearchCap      = 10_000 // results a search can page through, whatever its total
)

// The rate-limit policy announced in the X-HubSpot-RateLimit-* headers: a
// Professional account's private app.
const (
	rateMax        = 190
	rateIntervalMS = 10_000
	rateDaily      = 625_000
)

// API is the simulated HubSpot CRM v3 contacts API.
type API struct {
	w        *world.World
	mux      *http.ServeMux
	contacts *world.Index[*world.Person, contactKey] // by lastmodifieddate

	mu          sync.Mutex // guards the rolling rate-limit counters
	windowStart time.Time
	windowCount int
	dailyCount  int
}

// New serves the world's CRM contacts in the HubSpot dialect.
func New(w *world.World) *API {
	a := &API{w: w, mux: http.NewServeMux(), contacts: modifiedIndex()}
	a.mux.HandleFunc("GET /crm/v3/objects/contacts", a.list)
	a.mux.HandleFunc("GET /crm/v3/objects/contacts/{contactId}", a.get)
	a.mux.HandleFunc("POST /crm/v3/objects/contacts/batch/read", a.batchRead)
	a.mux.HandleFunc("POST /crm/v3/objects/contacts/search", a.search)
	return a
}

var _ http.Handler = (*API)(nil)

// ServeHTTP authenticates the request, then serves it. Like HubSpot, every
// answer carries a correlation id, and every authenticated answer outside
// search carries the rate-limit headers.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := correlationID()
	w.Header().Set("X-HubSpot-Correlation-Id", id)
	if r.Header.Get("Authorization") != "Bearer "+Token {
		w.Header().Set("X-HubSpot-Auth-Failure", "401 Unauthorized")
		writeError(w, http.StatusUnauthorized, errorBody{
			Message:       "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
			CorrelationID: id,
			Category:      "INVALID_AUTHENTICATION",
		})
		return
	}
	// Search is exempt from the ten-secondly policy (x-hubspot-rate-limit-
	// exemptions in the OpenAPI file) and answers without these headers.
	remaining, daily := a.count(time.Now())
	if !isSearch(r) {
		setRateHeaders(w.Header(), remaining, daily)
	}
	a.mux.ServeHTTP(w, r)
}

func isSearch(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/crm/v3/objects/contacts/search"
}

// Route names the route pattern a request matches, "" when none does.
func (a *API) Route(r *http.Request) string {
	_, p := a.mux.Handler(r)
	return p
}

// Fault writes an injected error in HubSpot's words: a 429 from the
// ten-secondly rolling policy with its headers, or a 500.
func (a *API) Fault(w http.ResponseWriter, status int) {
	id := correlationID()
	h := w.Header()
	h.Set("X-HubSpot-Correlation-Id", id)
	if status == http.StatusTooManyRequests {
		_, daily := a.count(time.Now())
		setRateHeaders(h, 0, daily)
		writeJSON(w, status, rateLimitBody{
			Status:        "error",
			Message:       "You have reached your ten_secondly_rolling limit.",
			ErrorType:     "RATE_LIMIT",
			CorrelationID: id,
			PolicyName:    "TEN_SECONDLY_ROLLING",
			GroupName:     "publicapi:private-app:ten-secondly-rolling",
		})
		return
	}
	writeError(w, status, errorBody{
		Message:       "internal error",
		CorrelationID: id,
		Category:      "INTERNAL_ERROR",
	})
}

// count records one request in the rolling window and the day, and returns
// what is left of each.
func (a *API) count(now time.Time) (remaining, daily int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.windowStart) >= rateIntervalMS*time.Millisecond {
		a.windowStart, a.windowCount = now, 0
	}
	a.windowCount++
	a.dailyCount++
	return max(rateMax-a.windowCount, 0), max(rateDaily-a.dailyCount, 0)
}

func setRateHeaders(h http.Header, remaining, daily int) {
	h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(rateDaily))
	h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(daily))
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.Itoa(rateIntervalMS))
	h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(rateMax))
	h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(remaining))
}

// errorBody is HubSpot's Error: the OpenAPI schema plus the "status" field
// every live error body carries.
type errorBody struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category"`
	SubCategory   string              `json:"subCategory,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Links         map[string]string   `json:"links,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
}

// errorDetail is HubSpot's ErrorDetail.
type errorDetail struct {
	Message string `json:"message"`
	In      string `json:"in,omitempty"`
	Code    string `json:"code,omitempty"`
}

// rateLimitBody is the body of a 429: the rate limiter answers in its own
// shape, with errorType instead of category.
type rateLimitBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	ErrorType     string `json:"errorType"`
	CorrelationID string `json:"correlationId"`
	PolicyName    string `json:"policyName"`
	GroupName     string `json:"groupName"`
}

func writeError(w http.ResponseWriter, status int, e errorBody) {
	e.Status = "error"
	if e.CorrelationID == "" {
		e.CorrelationID = w.Header().Get("X-HubSpot-Correlation-Id")
	}
	writeJSON(w, status, e)
}

// validation answers 400 VALIDATION_ERROR with the message given.
func validation(w http.ResponseWriter, format string, args ...any) {
	writeError(w, http.StatusBadRequest, errorBody{
		Message:  fmt.Sprintf(format, args...),
		Category: "VALIDATION_ERROR",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// correlationID makes a random version 4 UUID; it only has to be unique
// enough to tell requests apart in logs.
func correlationID() string {
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xc<<60) | 0x8<<60
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}
