package hubspot_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trestlehq/trestle/sim/hubspot"
	"github.com/trestlehq/trestle/sim/world"
)

// testWorld is built once for the package; the tests only read it.
var testWorld = sync.OnceValue(func() *world.World { return world.New(world.Options{Seed: 1}) })

// contacts are the world's CRM contacts in id order.
func contacts(t testing.TB) []*world.Person {
	t.Helper()
	var out []*world.Person
	for _, p := range testWorld().People {
		if p.CRM != nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *world.Person) int { return atoi(t, a.CRM.ID) - atoi(t, b.CRM.ID) })
	return out
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func serve(t testing.TB, a *hubspot.API, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+hubspot.Token)
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

func decode(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, w.Body)
	}
	return m
}

// checkError asserts HubSpot's Error body: status, message, category and a
// correlationId matching the header.
func checkError(t *testing.T, w *httptest.ResponseRecorder, status int, category string) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d: %s", w.Code, status, w.Body)
	}
	m := decode(t, w)
	if m["status"] != "error" || m["category"] != category || m["message"] == "" {
		t.Errorf("error body = %v, want status error, category %s and a message", m, category)
	}
	if id := w.Header().Get("X-HubSpot-Correlation-Id"); id == "" || m["correlationId"] != id {
		t.Errorf("correlationId = %v, header = %q", m["correlationId"], id)
	}
	return m
}

func TestAuthentication(t *testing.T) {
	a := hubspot.New(testWorld())
	tests := []struct {
		name   string
		header string
	}{
		{"missing", ""},
		{"wrong token", "Bearer pat-na1-wrong"},
		{"token without scheme", hubspot.Token},
		{"basic", "Basic cGF0LWRlbW86"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/crm/v3/objects/contacts", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			m := checkError(t, w, http.StatusUnauthorized, "INVALID_AUTHENTICATION")
			if msg, _ := m["message"].(string); !strings.HasPrefix(msg, "Authentication credentials not found.") {
				t.Errorf("message = %q", msg)
			}
		})
	}
}

func TestListPagesThroughEveryContact(t *testing.T) {
	a := hubspot.New(testWorld())
	want := contacts(t)
	var got []string
	after, pages := "", 0
	for {
		target := "/crm/v3/objects/contacts?limit=100&properties=email,phone"
		if after != "" {
			target += "&after=" + after
		}
		w := serve(t, a, http.MethodGet, target, "")
		if w.Code != http.StatusOK {
			t.Fatalf("page %d: status %d: %s", pages, w.Code, w.Body)
		}
		for _, h := range []string{"X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining"} {
			if w.Header().Get(h) == "" {
				t.Fatalf("header %s missing", h)
			}
		}
		var pg struct {
			Results []struct {
				ID         string             `json:"id"`
				Properties map[string]*string `json:"properties"`
			} `json:"results"`
			Paging *struct {
				Next struct{ After, Link string } `json:"next"`
			} `json:"paging"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &pg); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range pg.Results {
			got = append(got, r.ID)
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range r.Properties {
					if !yield(k) {
						return
					}
				}
			})
			if !slices.Equal(keys, []string{"createdate", "email", "hs_object_id", "lastmodifieddate", "phone"}) {
				t.Fatalf("properties = %v", keys)
			}
		}
		if pg.Paging == nil {
			break
		}
		if !strings.Contains(pg.Paging.Next.Link, "after="+pg.Paging.Next.After) {
			t.Errorf("link %q does not carry after=%s", pg.Paging.Next.Link, pg.Paging.Next.After)
		}
		after = pg.Paging.Next.After
	}
	if len(got) != len(want) || pages != (len(want)+99)/100 {
		t.Fatalf("got %d contacts in %d pages, want %d", len(got), pages, len(want))
	}
	for i, p := range want {
		if got[i] != p.CRM.ID {
			t.Fatalf("contact %d = %s, want %s", i, got[i], p.CRM.ID)
		}
	}
}

func TestListValidation(t *testing.T) {
	a := hubspot.New(testWorld())
	for _, q := range []string{"limit=0", "limit=101", "limit=ten", "after=abc"} {
		t.Run(q, func(t *testing.T) {
			checkError(t, serve(t, a, http.MethodGet, "/crm/v3/objects/contacts?"+q, ""), http.StatusBadRequest, "VALIDATION_ERROR")
		})
	}
	t.Run("archived", func(t *testing.T) {
		w := serve(t, a, http.MethodGet, "/crm/v3/objects/contacts?archived=true", "")
		if w.Code != http.StatusOK || decode(t, w)["paging"] != nil || len(decode(t, w)["results"].([]any)) != 0 {
			t.Errorf("archived list = %d %s, want no results", w.Code, w.Body)
		}
	})
}

func TestGet(t *testing.T) {
	a := hubspot.New(testWorld())
	p := contacts(t)[7]
	tests := []struct {
		name, target string
		status       int
		props        map[string]any
	}{
		{name: "by id with default properties", target: "/crm/v3/objects/contacts/" + p.CRM.ID, status: 200, props: map[string]any{
			"email": p.CRM.Email, "firstname": p.FirstName, "lastname": p.LastName, "hs_object_id": p.CRM.ID,
			"createdate": p.CRM.Created.UTC().Format("2006-01-02T15:04:05.000Z"), "lastmodifieddate": p.CRM.Modified.UTC().Format("2006-01-02T15:04:05.000Z"),
		}},
		{name: "by email in other case", target: "/crm/v3/objects/contacts/" + strings.ToUpper(p.CRM.Email) + "?idProperty=email&properties=lifecyclestage,hubspot_owner_id", status: 200, props: map[string]any{
			"lifecyclestage": p.CRM.LifecycleStage, "hubspot_owner_id": p.CRM.OwnerID, "hs_object_id": p.CRM.ID,
			"createdate": p.CRM.Created.UTC().Format("2006-01-02T15:04:05.000Z"), "lastmodifieddate": p.CRM.Modified.UTC().Format("2006-01-02T15:04:05.000Z"),
		}},
		{name: "unknown id", target: "/crm/v3/objects/contacts/1", status: 404},
		{name: "unknown email", target: "/crm/v3/objects/contacts/nobody@example.com?idProperty=email", status: 404},
		{name: "archived", target: "/crm/v3/objects/contacts/" + p.CRM.ID + "?archived=true", status: 404},
		{name: "not a unique property", target: "/crm/v3/objects/contacts/x?idProperty=firstname", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, a, http.MethodGet, tt.target, "")
			switch tt.status {
			case 404:
				m := checkError(t, w, 404, "OBJECT_NOT_FOUND")
				if m["context"] == nil {
					t.Errorf("404 without context: %v", m)
				}
				return
			case 400:
				checkError(t, w, 400, "VALIDATION_ERROR")
				return
			}
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			m := decode(t, w)
			if m["id"] != p.CRM.ID || m["archived"] != false || m["createdAt"] != tt.props["createdate"] || m["updatedAt"] != tt.props["lastmodifieddate"] {
				t.Errorf("object = %v", m)
			}
			props := m["properties"].(map[string]any)
			if len(props) != len(tt.props) {
				t.Errorf("properties = %v, want %v", props, tt.props)
			}
			for k, v := range tt.props {
				if props[k] != v {
					t.Errorf("%s = %v, want %v", k, props[k], v)
				}
			}
		})
	}
}

func batchBody(idProperty string, ids ...string) string {
	in := map[string]any{"properties": []string{"email"}, "propertiesWithHistory": []string{}}
	if idProperty != "" {
		in["idProperty"] = idProperty
	}
	inputs := make([]map[string]string, len(ids))
	for i, id := range ids {
		inputs[i] = map[string]string{"id": id}
	}
	in["inputs"] = inputs
	b, _ := json.Marshal(in)
	return string(b)
}

func TestBatchRead(t *testing.T) {
	a := hubspot.New(testWorld())
	cs := contacts(t)
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = cs[i].CRM.ID
		}
		return out
	}
	tests := []struct {
		name    string
		body    string
		status  int
		results int
		missing []string
	}{
		{name: "all found", body: batchBody("", ids(100)...), status: 200, results: 100},
		{name: "repeated ids answered once", body: batchBody("", cs[0].CRM.ID, cs[0].CRM.ID), status: 200, results: 1},
		{name: "some missing", body: batchBody("", cs[0].CRM.ID, "1", cs[1].CRM.ID, "2"), status: 207, results: 2, missing: []string{"1", "2"}},
		{name: "none found", body: batchBody("", "1"), status: 207, missing: []string{"1"}},
		{name: "by email, any case", body: batchBody("email", strings.ToUpper(cs[0].CRM.Email), cs[1].CRM.Email, "nobody@example.com"), status: 207, results: 2, missing: []string{"nobody@example.com"}},
		{name: "empty", body: batchBody(""), status: 200},
		{name: "over the limit", body: batchBody("", ids(101)...), status: 400},
		{name: "history over its limit", body: `{"inputs":[` + strings.Repeat(`{"id":"1"},`, 50) + `{"id":"2"}],"properties":[],"propertiesWithHistory":["email"]}`, status: 400},
		{name: "not JSON", body: `{"inputs":`, status: 400},
		{name: "not a unique property", body: batchBody("firstname", "x"), status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, a, http.MethodPost, "/crm/v3/objects/contacts/batch/read", tt.body)
			if tt.status == 400 {
				checkError(t, w, 400, "VALIDATION_ERROR")
				return
			}
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			m := decode(t, w)
			for _, k := range []string{"status", "results", "startedAt", "completedAt"} {
				if _, ok := m[k]; !ok {
					t.Errorf("%s missing", k)
				}
			}
			if _, err := time.Parse(time.RFC3339Nano, m["startedAt"].(string)); err != nil {
				t.Error(err)
			}
			if m["status"] != "COMPLETE" || len(m["results"].([]any)) != tt.results {
				t.Errorf("status %v, %d results, want COMPLETE and %d", m["status"], len(m["results"].([]any)), tt.results)
			}
			if tt.status == 200 {
				if _, ok := m["errors"]; ok {
					t.Errorf("200 with errors: %v", m["errors"])
				}
				return
			}
			if m["numErrors"] != 1.0 {
				t.Errorf("numErrors = %v", m["numErrors"])
			}
			e := m["errors"].([]any)[0].(map[string]any)
			for _, k := range []string{"status", "category", "message", "context", "links", "errors"} {
				if _, ok := e[k]; !ok {
					t.Errorf("StandardError.%s missing", k)
				}
			}
			if e["category"] != "OBJECT_NOT_FOUND" || fmt.Sprint(e["context"].(map[string]any)["ids"]) != fmt.Sprint(tt.missing) {
				t.Errorf("error = %v, want OBJECT_NOT_FOUND for %v", e, tt.missing)
			}
		})
	}
}

type searchResult struct {
	Total   int `json:"total"`
	Results []struct {
		ID         string             `json:"id"`
		Properties map[string]*string `json:"properties"`
		UpdatedAt  time.Time          `json:"updatedAt"`
	} `json:"results"`
	Paging *struct {
		Next struct{ After string } `json:"next"`
	} `json:"paging"`
}

func TestSearch(t *testing.T) {
	a := hubspot.New(testWorld())
	cs := contacts(t)
	since := testWorld().Anchor.Add(-30 * 24 * time.Hour)
	count := func(keep func(*world.Person) bool) (n int) {
		for _, p := range cs {
			if keep(p) {
				n++
			}
		}
		return n
	}
	modified := count(func(p *world.Person) bool { return !p.CRM.Modified.Before(since) })
	leads := count(func(p *world.Person) bool {
		return p.CRM.LifecycleStage == "lead" || p.CRM.LifecycleStage == "opportunity"
	})
	withCompany := count(func(p *world.Person) bool { return p.Company != "" })

	gte := func(v string) string {
		return `{"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"` + v + `"}]}],` +
			`"sorts":[{"propertyName":"lastmodifieddate","direction":"ASCENDING"}],"properties":["email"],"limit":200}`
	}
	tests := []struct {
		name  string
		body  string
		total int
		page  int
	}{
		{name: "modified since, milliseconds", body: gte(strconv.FormatInt(since.UnixMilli(), 10)), total: modified, page: min(modified, 200)},
		{name: "modified since, ISO 8601", body: gte(since.Format(time.RFC3339)), total: modified, page: min(modified, 200)},
		{name: "a count: a page of one", body: strings.Replace(gte(strconv.FormatInt(since.UnixMilli(), 10)), `"limit":200`, `"limit":1`, 1), total: modified, page: 1},
		{name: "email EQ in any case", body: `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"` + strings.ToUpper(cs[3].CRM.Email) + `"}]}]}`, total: 1, page: 1},
		{name: "IN", body: `{"filterGroups":[{"filters":[{"propertyName":"lifecyclestage","operator":"IN","values":["lead","opportunity"]}]}],"limit":0}`, total: leads},
		{name: "groups are ORed", body: `{"filterGroups":[{"filters":[{"propertyName":"lifecyclestage","operator":"EQ","value":"lead"}]},{"filters":[{"propertyName":"lifecyclestage","operator":"EQ","value":"opportunity"}]}],"limit":0}`, total: leads},
		{name: "HAS_PROPERTY", body: `{"filterGroups":[{"filters":[{"propertyName":"company","operator":"HAS_PROPERTY"}]}]}`, total: withCompany, page: 10},
		{name: "no filters", body: `{"limit":5,"after":"10"}`, total: len(cs), page: 5},
		{name: "numeric after", body: `{"limit":5,"after":10}`, total: len(cs), page: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, a, http.MethodPost, "/crm/v3/objects/contacts/search", tt.body)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if w.Header().Get("X-HubSpot-RateLimit-Remaining") != "" {
				t.Error("search answered with the ten-secondly rate-limit headers")
			}
			var res searchResult
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if res.Total != tt.total || len(res.Results) != tt.page {
				t.Errorf("total %d with %d results, want %d with %d", res.Total, len(res.Results), tt.total, tt.page)
			}
		})
	}
	t.Run("pages by offset in ascending change order", func(t *testing.T) {
		var last time.Time
		ids := map[string]bool{}
		after := "0"
		for after != "" {
			w := serve(t, a, http.MethodPost, "/crm/v3/objects/contacts/search", strings.Replace(gte(strconv.FormatInt(since.UnixMilli(), 10)), `"limit":200`, `"limit":50,"after":"`+after+`"`, 1))
			var res searchResult
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Results {
				if r.UpdatedAt.Before(last) || r.UpdatedAt.Before(since) || ids[r.ID] {
					t.Fatalf("contact %s out of order or repeated", r.ID)
				}
				last, ids[r.ID] = r.UpdatedAt, true
				if *r.Properties["lastmodifieddate"] != r.UpdatedAt.Format("2006-01-02T15:04:05.000Z") {
					t.Fatalf("lastmodifieddate %s, updatedAt %s", *r.Properties["lastmodifieddate"], r.UpdatedAt)
				}
			}
			after = ""
			if res.Paging != nil {
				after = res.Paging.Next.After
			}
		}
		if len(ids) != modified {
			t.Errorf("walked %d contacts, want %d", len(ids), modified)
		}
	})
}

// TestSearchTotalPassesTheCap: a search pages through 10,000 results at
// most, but its total counts every match, as HubSpot's does.
func TestSearchTotalPassesTheCap(t *testing.T) {
	w := world.New(world.Options{Seed: 2, Size: world.Size{People: hubspot.SearchCap * 3 / 2, Orders: 10, Products: 5}})
	n := 0
	for _, p := range w.People {
		if p.CRM != nil {
			n++
		}
	}
	if n <= hubspot.SearchCap {
		t.Fatalf("only %d contacts; grow the world past %d", n, hubspot.SearchCap)
	}
	res := serve(t, hubspot.New(w), http.MethodPost, "/crm/v3/objects/contacts/search",
		`{"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"0"}]}],"limit":1}`)
	var got searchResult
	if err := json.Unmarshal(res.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Total != n || len(got.Results) != 1 {
		t.Errorf("total %d with %d results, want %d with 1", got.Total, len(got.Results), n)
	}
}

func TestSearchValidation(t *testing.T) {
	a := hubspot.New(testWorld())
	filter := `{"propertyName":"email","operator":"HAS_PROPERTY"}`
	group := func(n int) string {
		return `{"filters":[` + strings.TrimSuffix(strings.Repeat(filter+",", n), ",") + `]}`
	}
	tests := []struct{ name, body string }{
		{"limit over 200", `{"limit":201}`},
		{"past the 10,000 cap", `{"after":"10000"}`},
		{"bad cursor", `{"after":"abc"}`},
		{"unknown property", `{"filterGroups":[{"filters":[{"propertyName":"shoe_size","operator":"EQ","value":"4"}]}]}`},
		{"unknown operator", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"LIKE","value":"a"}]}]}`},
		{"missing value", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ"}]}]}`},
		{"bad date", `{"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"yesterday"}]}]}`},
		{"six filter groups", `{"filterGroups":[` + strings.TrimSuffix(strings.Repeat(group(1)+",", 6), ",") + `]}`},
		{"eleven filters in a group", `{"filterGroups":[` + group(11) + `]}`},
		{"26 filters", `{"filterGroups":[` + strings.TrimSuffix(strings.Repeat(group(9)+",", 2), ",") + "," + group(8) + `]}`},
		{"two sorts", `{"sorts":["email","firstname"]}`},
		{"unknown sort", `{"sorts":[{"propertyName":"shoe_size","direction":"ASCENDING"}]}`},
		{"not JSON", `{`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, serve(t, a, http.MethodPost, "/crm/v3/objects/contacts/search", tt.body), http.StatusBadRequest, "VALIDATION_ERROR")
		})
	}
}

func TestFault(t *testing.T) {
	a := hubspot.New(testWorld())
	t.Run("429", func(t *testing.T) {
		w := httptest.NewRecorder()
		a.Fault(w, http.StatusTooManyRequests)
		if w.Code != 429 || w.Header().Get("X-HubSpot-RateLimit-Remaining") != "0" || w.Header().Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" {
			t.Errorf("429 = %d with headers %v", w.Code, w.Header())
		}
		m := decode(t, w)
		if m["status"] != "error" || m["errorType"] != "RATE_LIMIT" || m["policyName"] != "TEN_SECONDLY_ROLLING" ||
			m["message"] != "You have reached your ten_secondly_rolling limit." || m["groupName"] == nil || m["correlationId"] == nil {
			t.Errorf("429 body = %v", m)
		}
	})
	t.Run("500", func(t *testing.T) {
		w := httptest.NewRecorder()
		a.Fault(w, http.StatusInternalServerError)
		checkError(t, w, 500, "INTERNAL_ERROR")
	})
}

func TestRoute(t *testing.T) {
	a := hubspot.New(testWorld())
	tests := []struct{ method, target, want string }{
		{"GET", "/crm/v3/objects/contacts?limit=5", "GET /crm/v3/objects/contacts"},
		{"GET", "/crm/v3/objects/contacts/5101", "GET /crm/v3/objects/contacts/{contactId}"},
		{"POST", "/crm/v3/objects/contacts/batch/read", "POST /crm/v3/objects/contacts/batch/read"},
		{"POST", "/crm/v3/objects/contacts/search", "POST /crm/v3/objects/contacts/search"},
		{"GET", "/crm/v3/objects/deals", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			if got := a.Route(httptest.NewRequest(tt.method, tt.target, nil)); got != tt.want {
				t.Errorf("Route = %q, want %q", got, tt.want)
			}
		})
	}
}

// BenchmarkBatchRead100 serves a 100-record batch read through the handler.
func BenchmarkBatchRead100(b *testing.B) {
	a := hubspot.New(testWorld())
	cs := contacts(b)
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = cs[i*len(cs)/100].CRM.ID
	}
	body := `{"inputs":[` + strings.TrimSuffix(strings.Repeat(`{"id":"%s"},`, 100), ",") + `],"properties":["email","firstname","lastname","phone","company","lifecyclestage","hubspot_owner_id","createdate","lastmodifieddate"],"propertiesWithHistory":[]}`
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	body = fmt.Sprintf(body, args...)
	b.ReportAllocs()
	for b.Loop() {
		w := serve(b, a, http.MethodPost, "/crm/v3/objects/contacts/batch/read", body)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func TestListLinkKeepsMountPrefix(t *testing.T) {
	h := http.StripPrefix("/crm", hubspot.New(testWorld()))
	r := httptest.NewRequest(http.MethodGet, "http://sim.test/crm/crm/v3/objects/contacts?limit=1", nil)
	r.Header.Set("Authorization", "Bearer "+hubspot.Token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var pg struct {
		Paging struct {
			Next struct{ After, Link string } `json:"next"`
		} `json:"paging"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &pg); err != nil {
		t.Fatal(err)
	}
	want := "http://sim.test/crm/crm/v3/objects/contacts?after=" + pg.Paging.Next.After + "&limit=1"
	if pg.Paging.Next.Link != want {
		t.Errorf("link = %q, want %q", pg.Paging.Next.Link, want)
	}
}

// A path the API does not have is a 404 once the token is good, as a client
// with the wrong base URL sees it.
func TestUnknownPath(t *testing.T) {
	a := hubspot.New(testWorld())
	for _, target := range []string{"/crm/v3/crm/v3/objects/contacts?limit=1", "/objects/contacts?limit=1"} {
		w := serve(t, a, http.MethodGet, target, "")
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, w.Code)
		}
	}
}
