package hubspot_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	simhubspot "github.com/trestlehq/trestle/sim/hubspot"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources/hubspot"
	"github.com/trestlehq/trestle/sources/rest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const batchRoute = "POST /crm/v3/objects/contacts/batch/read"

// testWorld is built once for the package; the tests only read it.
var testWorld = sync.OnceValue(func() *world.World { return world.New(world.Options{Seed: 1}) })

// crmContacts are the world's CRM contacts in id order.
func crmContacts(t testing.TB) []*world.Person {
	t.Helper()
	var out []*world.Person
	for _, p := range testWorld().People {
		if p.CRM != nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *world.Person) int { return id(t, a) - id(t, b) })
	return out
}

func id(t testing.TB, p *world.Person) int {
	t.Helper()
	n, err := strconv.Atoi(p.CRM.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// newClient serves the simulator with the given knobs and returns a client
// of it and the upstream, for its request counters.
func newClient(t *testing.T, f sim.Faults, mod func(*hubspot.Config)) (*hubspot.Client, *sim.Upstream) {
	t.Helper()
	u := sim.NewUpstream(model.SystemCRM, simhubspot.New(testWorld()), f)
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	cfg := hubspot.Config{BaseURL: srv.URL, Token: simhubspot.Token, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := hubspot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, u
}

func ids(ps []*world.Person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.CRM.ID
	}
	return out
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  hubspot.Config
		want []string
	}{
		{"empty", hubspot.Config{}, []string{"base URL", "access token"}},
		{"no token", hubspot.Config{BaseURL: "https://api.hubapi.com"}, []string{"access token"}},
		{"relative URL", hubspot.Config{BaseURL: "api.hubapi.com", Token: "pat"}, []string{"absolute"}},
		{"no URL", hubspot.Config{Token: "pat"}, []string{"base URL"}},
		{"negative parallel", hubspot.Config{BaseURL: "https://api.hubapi.com", Token: "pat", Parallel: -1}, []string{"parallel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hubspot.New(tt.cfg)
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestContactsBatching(t *testing.T) {
	cs := crmContacts(t)
	tests := []struct {
		name  string
		keys  []string
		calls int64
		found int
	}{
		{name: "none", keys: nil, calls: 0},
		{name: "one", keys: ids(cs[:1]), calls: 1, found: 1},
		{name: "exactly one batch", keys: ids(cs[:100]), calls: 1, found: 100},
		{name: "250 in three batches", keys: ids(cs[:250]), calls: 3, found: 250},
		{name: "repeats are sent once", keys: append(ids(cs[:250]), ids(cs[:250])...), calls: 3, found: 250},
		{name: "missing ones are absent", keys: append(ids(cs[:150]), "1", "2", "3"), calls: 2, found: 150},
		{name: "nothing found", keys: []string{"1", "2"}, calls: 1, found: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, u := newClient(t, sim.Faults{}, nil)
			got, err := c.Contacts(t.Context(), tt.keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.found {
				t.Errorf("found %d contacts, want %d", len(got), tt.found)
			}
			if n := u.Routes()[batchRoute]; n != tt.calls || u.Requests() != tt.calls {
				t.Errorf("%d batch calls (%d requests), want %d", n, u.Requests(), tt.calls)
			}
			seen := map[string]bool{}
			for _, ct := range got {
				if seen[ct.ID] || testWorld().PersonByCRM(ct.ID) == nil {
					t.Errorf("contact %s repeated or unknown", ct.ID)
				}
				seen[ct.ID] = true
			}
		})
	}
}

// checkContact compares a mapped contact with the world's record.
func checkContact(t *testing.T, got model.Contact) {
	t.Helper()
	p := testWorld().PersonByCRM(got.ID)
	if p == nil {
		t.Fatalf("contact %s is not in the world", got.ID)
	}
	want := model.Contact{
		ID: p.CRM.ID, Email: p.CRM.Email, FirstName: p.FirstName, LastName: p.LastName, Phone: p.Phone,
		Company: p.Company, LifecycleStage: p.CRM.LifecycleStage, OwnerID: p.CRM.OwnerID,
		CreatedAt: p.CRM.Created.UTC(), UpdatedAt: p.CRM.Modified.UTC(),
	}
	if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("contact %s: times not in UTC: %v, %v", got.ID, got.CreatedAt, got.UpdatedAt)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("contact %s: times %v, %v, want %v, %v", got.ID, got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("contact %s:\n got %+v\nwant %+v", got.ID, got, want)
	}
}

func TestContactsMapping(t *testing.T) {
	c, _ := newClient(t, sim.Faults{}, nil)
	cs := crmContacts(t)
	var sample []string
	for i := 0; i < len(cs); i += 17 {
		sample = append(sample, cs[i].CRM.ID)
	}
	got, err := c.Contacts(t.Context(), sample)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sample) {
		t.Fatalf("got %d contacts, want %d", len(got), len(sample))
	}
	var withCompany int
	for _, ct := range got {
		checkContact(t, ct)
		if ct.Company != "" {
			withCompany++
		}
	}
	if withCompany == 0 || withCompany == len(got) {
		t.Errorf("%d of %d sampled contacts have a company; the sample should hold both kinds", withCompany, len(got))
	}
}

func TestContactsByEmail(t *testing.T) {
	cs := crmContacts(t)
	var emails []string
	for i, p := range cs[:150] {
		switch i % 3 {
		case 0:
			emails = append(emails, strings.ToUpper(p.CRM.Email))
		case 1:
			emails = append(emails, "  "+p.CRM.Email+" ")
		default:
			emails = append(emails, p.CRM.Email, p.CRM.Email)
		}
	}
	emails = append(emails, "nobody@example.com", "")
	c, u := newClient(t, sim.Faults{}, nil)
	got, err := c.ContactsByEmail(t.Context(), emails)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 150 {
		t.Errorf("found %d contacts, want 150", len(got))
	}
	if n := u.Routes()[batchRoute]; n != 2 {
		t.Errorf("%d batch calls, want 2", n)
	}
	for _, ct := range got {
		checkContact(t, ct)
	}
}

func TestListContacts(t *testing.T) {
	all := ids(crmContacts(t))
	tests := []struct {
		name     string
		max      int
		calls    int64
		contacts int
		more     bool
	}{
		{name: "nothing asked", max: 0, calls: 0},
		{name: "less than a page", max: 30, calls: 1, contacts: 30, more: true},
		{name: "bounded at 250", max: 250, calls: 3, contacts: 250, more: true},
		{name: "everything", max: 1 << 20, calls: int64(len(all)+99) / 100, contacts: len(all)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, u := newClient(t, sim.Faults{}, nil)
			got, next, err := c.ListContacts(t.Context(), "", tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.contacts || (next != "") != tt.more {
				t.Errorf("got %d contacts, next %q; want %d, more %v", len(got), next, tt.contacts, tt.more)
			}
			if n := u.Routes()["GET /crm/v3/objects/contacts"]; n != tt.calls {
				t.Errorf("%d list calls, want %d", n, tt.calls)
			}
			for i, ct := range got {
				if ct.ID != all[i] {
					t.Fatalf("contact %d is %s, want %s", i, ct.ID, all[i])
				}
			}
			if tt.more {
				rest, end, err := c.ListContacts(t.Context(), next, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if end != "" || !slices.Equal(append(idsOf(got), idsOf(rest)...), all) {
					t.Errorf("resuming from %q did not yield the rest of the list", next)
				}
			}
		})
	}
}

func idsOf(cs []model.Contact) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestContactsModifiedSince(t *testing.T) {
	cs := crmContacts(t)
	anchor := testWorld().Anchor
	modifiedSince := func(since time.Time) []*world.Person {
		var out []*world.Person
		for _, p := range cs {
			if !p.CRM.Modified.Before(since) {
				out = append(out, p)
			}
		}
		slices.SortStableFunc(out, func(a, b *world.Person) int { return a.CRM.Modified.Compare(b.CRM.Modified) })
		return out
	}
	tests := []struct {
		name  string
		since time.Time
		max   int
		want  int
	}{
		{name: "last month", since: anchor.Add(-30 * 24 * time.Hour), max: 10_000},
		{name: "last year, several pages", since: anchor.Add(-365 * 24 * time.Hour), max: 10_000},
		{name: "bounded", since: anchor.Add(-365 * 24 * time.Hour), max: 250},
		{name: "no bound reads 1000", since: time.Time{}, max: 0},
		{name: "nothing new", since: anchor.Add(time.Hour), max: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bound := tt.max
			if bound <= 0 {
				bound = 1000
			}
			want := modifiedSince(tt.since)
			want = want[:min(len(want), bound)]
			c, u := newClient(t, sim.Faults{}, nil)
			got, err := c.ContactsModifiedSince(t.Context(), tt.since, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d contacts, want %d", len(got), len(want))
			}
			seen := map[string]bool{}
			for i, ct := range got {
				if seen[ct.ID] || ct.UpdatedAt.Before(tt.since) || (i > 0 && ct.UpdatedAt.Before(got[i-1].UpdatedAt)) {
					t.Fatalf("contact %d (%s) repeated, too old or out of order", i, ct.ID)
				}
				seen[ct.ID] = true
				if !ct.UpdatedAt.Equal(want[i].CRM.Modified) {
					t.Fatalf("contact %d changed at %v, want %v", i, ct.UpdatedAt, want[i].CRM.Modified)
				}
				checkContact(t, ct)
			}
			if calls := u.Routes()["POST /crm/v3/objects/contacts/search"]; calls > int64(len(want)/200+2) {
				t.Errorf("%d search calls for %d contacts", calls, len(want))
			}
		})
	}
}

func TestFailures(t *testing.T) {
	keys := ids(crmContacts(t)[:150])
	ops := []struct {
		name string
		call func(context.Context, *hubspot.Client) error
	}{
		{"batch read", func(ctx context.Context, c *hubspot.Client) error { _, err := c.Contacts(ctx, keys); return err }},
		{"batch read by email", func(ctx context.Context, c *hubspot.Client) error {
			_, err := c.ContactsByEmail(ctx, []string{"a@example.com"})
			return err
		}},
		{"list", func(ctx context.Context, c *hubspot.Client) error {
			_, _, err := c.ListContacts(ctx, "", 300)
			return err
		}},
		{"modified since", func(ctx context.Context, c *hubspot.Client) error {
			_, err := c.ContactsModifiedSince(ctx, time.Time{}, 500)
			return err
		}},
	}
	tests := []struct {
		name       string
		faults     sim.Faults
		mod        func(*hubspot.Config)
		class      error
		retryAfter time.Duration
	}{
		{name: "wrong token", mod: func(c *hubspot.Config) { c.Token = "pat-na1-revoked" }, class: rest.ErrUnauthorized},
		{name: "rate limited", faults: sim.Faults{RateLimitRate: 1, RetryAfterS: 3}, class: rest.ErrRateLimited, retryAfter: 3 * time.Second},
		{name: "server error", faults: sim.Faults{ErrorRate: 1}, class: rest.ErrUnavailable},
		{name: "down", faults: sim.Faults{Down: true}, class: rest.ErrUnavailable},
		{name: "connection reset", faults: sim.Faults{ResetRate: 1}, class: rest.ErrUnavailable},
		{name: "malformed JSON", faults: sim.Faults{MalformedRate: 1}, class: rest.ErrBadResponse},
		{name: "truncated body", faults: sim.Faults{TruncateRate: 1}, class: rest.ErrUnavailable},
		{name: "slow upstream", faults: sim.Faults{LatencyMS: 500}, mod: func(c *hubspot.Config) { c.Timeout = 50 * time.Millisecond }, class: rest.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newClient(t, tt.faults, tt.mod)
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					err := op.call(t.Context(), c)
					if !errors.Is(err, tt.class) {
						t.Fatalf("err = %v, want %v", err, tt.class)
					}
					var re *rest.Error
					if !errors.As(err, &re) {
						t.Fatalf("err %v is not a *rest.Error", err)
					}
					if re.RetryAfter != tt.retryAfter {
						t.Errorf("RetryAfter = %v, want %v", re.RetryAfter, tt.retryAfter)
					}
					if strings.Contains(err.Error(), simhubspot.Token) || strings.Contains(err.Error(), "pat-na1") {
						t.Errorf("error %q shows the token", err)
					}
				})
			}
		})
	}
}

// TestRateLimitWithoutRetryAfter checks that a 429 carrying only HubSpot's own
// headers still tells the caller how long to wait.
func TestRateLimitWithoutRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		simhubspot.New(testWorld()).Fault(w, http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: simhubspot.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	_, err = c.Contacts(t.Context(), []string{"5101"})
	var re *rest.Error
	if !errors.As(err, &re) || !errors.Is(err, rest.ErrRateLimited) || re.RetryAfter != 10*time.Second {
		t.Errorf("err = %v, want rate limited with a 10s hint", err)
	}
}

// TestModifiedSinceSurvivesChangesDuringTheWalk changes a contact already
// read while the walk is under way. With offset paging every later contact
// would move up one place and one would be skipped; none may be.
func TestModifiedSinceSurvivesChangesDuringTheWalk(t *testing.T) {
	w := world.New(world.Options{Seed: 2, Size: world.Size{People: 600, Orders: 50, Products: 10}})
	var want []string
	for _, p := range w.People {
		if p.CRM != nil {
			want = append(want, p.CRM.ID)
		}
	}
	if len(want) <= 400 {
		t.Fatalf("only %d contacts; the walk needs several pages", len(want))
	}
	api := simhubspot.New(w)
	var searches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		api.ServeHTTP(rw, r)
		if searches.Add(1) == 1 {
			// The contact changed first now changes again, moving to the end.
			w.Lock()
			var first *world.Person
			for _, p := range w.People {
				if p.CRM != nil && (first == nil || p.CRM.Modified.Before(first.CRM.Modified)) {
					first = p
				}
			}
			first.CRM.Modified = w.Anchor.Add(time.Minute)
			w.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: simhubspot.Token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	got, err := c.ContactsModifiedSince(t.Context(), time.Time{}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	gotIDs := idsOf(got)
	slices.Sort(gotIDs)
	if !slices.Equal(gotIDs, want) {
		t.Errorf("read %d contacts, want all %d exactly once", len(gotIDs), len(want))
	}
}

func TestCountContactsModifiedAfter(t *testing.T) {
	cs := crmContacts(t)
	anchor := testWorld().Anchor
	countAfter := func(after time.Time) (n int) {
		for _, p := range cs {
			if p.CRM.Modified.After(after) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name  string
		after time.Time
	}{
		{name: "last month", after: anchor.Add(-30 * 24 * time.Hour)},
		{name: "a contact's own time", after: cs[len(cs)/2].CRM.Modified},
		{name: "a millisecond before it", after: cs[len(cs)/2].CRM.Modified.Add(-time.Millisecond)},
		{name: "every contact", after: time.Unix(0, 0)},
		{name: "none", after: anchor.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, u := newClient(t, sim.Faults{}, nil)
			got, err := c.CountContactsModifiedAfter(t.Context(), tt.after)
			if err != nil {
				t.Fatal(err)
			}
			if want := countAfter(tt.after); got != want {
				t.Errorf("counted %d, want %d", got, want)
			}
			if n := u.Routes()["POST /crm/v3/objects/contacts/search"]; n != 1 || u.Requests() != 1 {
				t.Errorf("%d searches in %d calls, want one", n, u.Requests())
			}
		})
	}
}
