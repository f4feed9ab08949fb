package hubspot

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/world"
)

// isoMillis is how HubSpot writes every timestamp: UTC with milliseconds.
const isoMillis = "2006-01-02T15:04:05.000Z"

// record is one contact copied out of the world under its read lock, so
// nothing points into the world once the lock is released.
type record struct {
	id                                 int64
	email, first, last, phone, company string
	stage, owner                       string
	created, modified                  time.Time
}

func snapshot(p *world.Person) (record, bool) {
	c := p.CRM
	id, err := strconv.ParseInt(c.ID, 10, 64)
	if err != nil {
		return record{}, false // HubSpot ids are numeric; anything else is not a contact
	}
	return record{
		id: id, email: c.Email, first: p.FirstName, last: p.LastName, phone: p.Phone,
		company: p.Company, stage: c.LifecycleStage, owner: c.OwnerID,
		created: c.Created, modified: c.Modified,
	}, true
}

// propKind says how search compares a property's values.
type propKind int

const (
	textProp propKind = iota
	dateProp
	numberProp
)

// kindOf reports whether a contact property exists and how it compares.
func kindOf(name string) (propKind, bool) {
	switch name {
	case "email", "firstname", "lastname", "phone", "company", "lifecyclestage", "hubspot_owner_id":
		return textProp, true
	case "createdate", "lastmodifieddate":
		return dateProp, true
	case "hs_object_id":
		return numberProp, true
	}
	return 0, false
}

// value is the property's string form as HubSpot returns it; ok is false
// when the contact has no value for it (null in a response).
func (r *record) value(name string) (v string, ok bool) {
	switch name {
	case "email":
		v = r.email
	case "firstname":
		v = r.first
	case "lastname":
		v = r.last
	case "phone":
		v = r.phone
	case "company":
		v = r.company
	case "lifecyclestage":
		v = r.stage
	case "hubspot_owner_id":
		v = r.owner
	case "createdate":
		return r.created.UTC().Format(isoMillis), true
	case "lastmodifieddate":
		return r.modified.UTC().Format(isoMillis), true
	case "hs_object_id":
		return strconv.FormatInt(r.id, 10), true
	}
	return v, v != ""
}

// selection is the set of properties a request asked for, resolved once.
type selection struct {
	names   []string // known properties to return, defaults included
	history []string // known properties to return with their history
}

// defaultProperties are what a contact read returns when no properties are
// named; alwaysProperties come back whatever was named.
func defaultProperties() []string {
	return []string{"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
}

func alwaysProperties() []string { return []string{"createdate", "hs_object_id", "lastmodifieddate"} }

// selectProperties resolves the named properties; unknown names are
// ignored, as HubSpot does.
func selectProperties(props, history []string) selection {
	var s selection
	if len(props) == 0 {
		s.names = defaultProperties()
	} else {
		s.names = alwaysProperties()
		for _, p := range props {
			p = strings.TrimSpace(p)
			if _, ok := kindOf(p); ok && !slices.Contains(s.names, p) {
				s.names = append(s.names, p)
			}
		}
	}
	for _, p := range history {
		p = strings.TrimSpace(p)
		if _, ok := kindOf(p); ok && !slices.Contains(s.history, p) {
			s.history = append(s.history, p)
		}
	}
	return s
}

// splitList reads a comma-separated query parameter, repeated or not.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// page is CollectionResponseSimplePublicObjectWithAssociationsForwardPaging
// but for its results (see writeResults).
type page struct {
	Paging *paging `json:"paging,omitempty"`
}

type paging struct {
	Next nextPage `json:"next"`
}

type nextPage struct {
	After string `json:"after"`
	Link  string `json:"link,omitempty"`
}

// list serves GET /crm/v3/objects/contacts: contacts in ascending id order,
// from the id in `after` on. The cursor is the id of the next contact, so it
// stays valid while contacts are added or changed.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			validation(w, "limit must be a number between 1 and %d, got %q", MaxPageSize, v)
			return
		}
		limit = n
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			validation(w, "after %q is not a valid paging cursor", v)
			return
		}
		after = n
	}
	sel := selectProperties(splitList(q["properties"]), splitList(q["propertiesWithHistory"]))
	archived := q.Get("archived") == "true"

	var recs []record
	if !archived { // the world archives nobody
		recs = a.from(after, limit+1)
	}
	var out page
	if len(recs) > limit {
		next := strconv.FormatInt(recs[limit].id, 10)
		link := url.Values{}
		for k, v := range q {
			link[k] = v
		}
		link.Set("after", next)
		out.Paging = &paging{Next: nextPage{After: next, Link: absolute(r, link)}}
	}
	writeResults(w, http.StatusOK, out, sel, recs[:min(len(recs), limit)])
}

// from returns up to n contacts with ids from after on, in id order.
func (a *API) from(after int64, n int) []record {
	type entry struct {
		id int64
		p  *world.Person
	}
	a.w.RLock()
	defer a.w.RUnlock()
	var all []entry
	for _, p := range a.w.People {
		if p.CRM == nil {
			continue
		}
		id, err := strconv.ParseInt(p.CRM.ID, 10, 64)
		if err != nil || id < after {
			continue
		}
		all = append(all, entry{id, p})
	}
	// People are generated in id order; only contacts added later can break it.
	byID := func(a, b entry) int { return cmp.Compare(a.id, b.id) }
	if !slices.IsSortedFunc(all, byID) {
		slices.SortFunc(all, byID)
	}
	out := make([]record, 0, min(n, len(all)))
	for _, e := range all[:min(n, len(all))] {
		if rec, ok := snapshot(e.p); ok {
			out = append(out, rec)
		}
	}
	return out
}

// absolute is the URL of the request with another query. It takes the path
// the client sent, which keeps any prefix the simulator is mounted under.
func absolute(r *http.Request, q url.Values) string {
	path := r.URL.Path
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		path = u.Path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path + "?" + q.Encode()
}

// get serves GET /crm/v3/objects/contacts/{contactId}, by id or, with
// idProperty=email, by e-mail address.
func (a *API) get(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := r.PathValue("contactId")
	idProp := q.Get("idProperty")
	if idProp != "" && idProp != "hs_object_id" && idProp != "email" {
		validation(w, "%s is not a unique identifier property for contacts", idProp)
		return
	}
	var found []record
	if q.Get("archived") != "true" {
		found = a.lookup([]string{key}, idProp == "email")
	}
	if len(found) == 0 {
		writeError(w, http.StatusNotFound, errorBody{
			Message:  "Object not found.  objectId are usually numeric.",
			Category: "OBJECT_NOT_FOUND",
			Context:  map[string][]string{"id": {key}},
		})
		return
	}
	sel := selectProperties(splitList(q["properties"]), splitList(q["propertiesWithHistory"]))
	writeRaw(w, http.StatusOK, sel.appendObject(nil, &found[0]))
}

// lookup finds contacts by id or by e-mail (case-insensitively, as HubSpot
// keeps addresses in lower case), in key order, skipping keys not found.
func (a *API) lookup(keys []string, byEmail bool) []record {
	out := make([]record, 0, len(keys))
	a.w.RLock()
	defer a.w.RUnlock()
	if !byEmail {
		for _, k := range keys {
			if p := a.w.PersonByCRM(k); p != nil && p.CRM != nil {
				if rec, ok := snapshot(p); ok {
					out = append(out, rec)
				}
			}
		}
		return out
	}
	// The world has no e-mail index for the CRM; a scan per key is cheaper
	// than building one for a handful of keys.
	find := func(email string) *world.Person {
		for _, p := range a.w.People {
			if p.CRM != nil && model.NormalizeEmail(p.CRM.Email) == email {
				return p
			}
		}
		return nil
	}
	if len(keys) > 4 {
		index := make(map[string]*world.Person, len(a.w.People))
		for _, p := range a.w.People {
			if p.CRM != nil {
				index[model.NormalizeEmail(p.CRM.Email)] = p
			}
		}
		find = func(email string) *world.Person { return index[email] }
	}
	for _, k := range keys {
		if p := find(model.NormalizeEmail(k)); p != nil {
			if rec, ok := snapshot(p); ok {
				out = append(out, rec)
			}
		}
	}
	return out
}

// batchReadInput is BatchReadInputSimplePublicObjectId.
type batchReadInput struct {
	Inputs []struct {
		ID string `json:"id"`
	} `json:"inputs"`
	Properties            []string `json:"properties"`
	PropertiesWithHistory []string `json:"propertiesWithHistory"`
	IDProperty            string   `json:"idProperty"`
}

// batchResponse is BatchResponseSimplePublicObject, and with NumErrors and
// Errors set, BatchResponseSimplePublicObjectWithErrors, but for its results
// (see writeResults).
type batchResponse struct {
	Status      string          `json:"status"`
	NumErrors   int             `json:"numErrors,omitempty"`
	Errors      []standardError `json:"errors,omitempty"`
	StartedAt   string          `json:"startedAt"`
	CompletedAt string          `json:"completedAt"`
}

// standardError is HubSpot's StandardError.
type standardError struct {
	Status   string              `json:"status"`
	Category string              `json:"category"`
	Message  string              `json:"message"`
	Context  map[string][]string `json:"context"`
	Links    map[string]string   `json:"links"`
	Errors   []errorDetail       `json:"errors"`
}

// maxHistoryInputs bounds a batch read that asks for property histories.
const maxHistoryInputs = 50

// batchRead serves POST /crm/v3/objects/contacts/batch/read: 200 when every
// input was found, 207 naming the inputs that were not.
func (a *API) batchRead(w http.ResponseWriter, r *http.Request) {
	started := time.Now().UTC()
	var in batchReadInput
	if !decodeBody(w, r, &in) {
		return
	}
	switch {
	case len(in.Inputs) > MaxBatchInputs:
		validation(w, "The maximum number of inputs supported in a batch request is %d. Please reduce the number of items and try again", MaxBatchInputs)
		return
	case len(in.PropertiesWithHistory) > 0 && len(in.Inputs) > maxHistoryInputs:
		validation(w, "The maximum number of inputs supported in a batch request for property histories is %d. Please reduce the number of items and try again", maxHistoryInputs)
		return
	case in.IDProperty != "" && in.IDProperty != "hs_object_id" && in.IDProperty != "email":
		validation(w, "%s is not a unique identifier property for contacts", in.IDProperty)
		return
	}
	byEmail := in.IDProperty == "email"
	keys := make([]string, 0, len(in.Inputs))
	seen := make(map[string]bool, len(in.Inputs))
	for _, i := range in.Inputs {
		k := i.ID
		if byEmail {
			k = model.NormalizeEmail(k)
		}
		if !seen[k] { // HubSpot answers a repeated input once
			seen[k] = true
			keys = append(keys, i.ID)
		}
	}
	var found []record
	if r.URL.Query().Get("archived") != "true" {
		found = a.lookup(keys, byEmail)
	}
	sel := selectProperties(in.Properties, in.PropertiesWithHistory)
	out := batchResponse{Status: "COMPLETE"}
	got := make(map[string]bool, len(found))
	for i := range found {
		if byEmail {
			got[model.NormalizeEmail(found[i].email)] = true
		} else {
			got[strconv.FormatInt(found[i].id, 10)] = true
		}
	}
	var missing []string
	for _, k := range keys {
		nk := k
		if byEmail {
			nk = model.NormalizeEmail(k)
		}
		if !got[nk] {
			missing = append(missing, k)
		}
	}
	status := http.StatusOK
	if len(missing) > 0 {
		status = http.StatusMultiStatus
		out.NumErrors = 1
		out.Errors = []standardError{{
			Status:   "error",
			Category: "OBJECT_NOT_FOUND",
			Message:  "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
			Context:  map[string][]string{"ids": missing},
			Links:    map[string]string{},
			Errors:   []errorDetail{},
		}}
	}
	out.StartedAt = started.Format(isoMillis)
	out.CompletedAt = time.Now().UTC().Format(isoMillis)
	writeResults(w, status, out, sel, found)
}

// decodeBody reads a JSON request body, answering 400 when it is not one.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		validation(w, "Invalid input JSON: %v", err)
		return false
	}
	return true
}
