package consolidate_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/sources/rest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newDirectory(env *simtest.Env) *consolidate.Directory {
	return consolidate.NewDirectory(env.Sources.CRM, env.Sources.Shop, env.Sources.ERP, consolidate.JoinByEmail, quiet)
}

// wantKeys is what the directory must say of a person: each system's key.
func wantKeys(p *world.Person) model.Customer {
	var c model.Customer
	if p.CRM != nil {
		c.CRMID = p.CRM.ID
	}
	if p.Shop != nil {
		c.ShopID = p.Shop.ID
	}
	if p.ERP != nil {
		c.ERPID = p.ERP.Name
	}
	c.Email, c.JoinKey = p.Email, p.Email
	return c
}

func TestSyncJoinsEveryPersonAcrossTheMess(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 1})
	d := newDirectory(env)
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := env.Sim.World
	var messy int
	for _, p := range w.People {
		want := wantKeys(p)
		var got consolidate.Entry
		var ok bool
		if p.Email != "" {
			got, ok = d.ByEmail(strings.ToUpper(p.Email) + " ")
		} else {
			got, ok = d.ByERP(p.ERP.Name)
		}
		if !ok {
			t.Fatalf("person %s %s (%q) not in the directory", p.FirstName, p.LastName, p.Email)
		}
		if got.Customer != want {
			t.Fatalf("person %q joined as %+v, want %+v", p.Email, got.Customer, want)
		}
		if p.ERP != nil && p.ERP.Email != "" && p.ERP.Email != p.Email || p.Shop != nil && p.Shop.Email != p.Email {
			messy++
		}
		if p.Shop != nil {
			if byShop, _ := d.ByShop(p.Shop.ID); byShop.Customer != want {
				t.Fatalf("ByShop(%d) = %+v", p.Shop.ID, byShop.Customer)
			}
		}
		if p.CRM != nil {
			if byCRM, _ := d.ByCRM(p.CRM.ID); byCRM.Customer != want {
				t.Fatalf("ByCRM(%s) = %+v", p.CRM.ID, byCRM.Customer)
			}
		}
	}
	if messy < 100 {
		t.Errorf("only %d people with messy addresses checked", messy)
	}
	if p := d.List(consolidate.Filter{}, "", 0); p.Total != len(w.People) {
		t.Errorf("directory holds %d customers, the world %d people", p.Total, len(w.People))
	}
}

func TestSyncKeepsWhatItHadWhenASystemFails(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 2, Size: world.Size{People: 300, Orders: 600, Products: 30}})
	d := newDirectory(env)
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := d.List(consolidate.Filter{KnownTo: model.SystemCRM}, "", 0).Total

	env.Sim.CRM.SetFaults(sim.Faults{Down: true})
	err := d.Sync(context.Background())
	if !errors.Is(err, rest.ErrUnavailable) || !strings.Contains(err.Error(), "crm") {
		t.Fatalf("sync with the CRM down: %v", err)
	}
	if after := d.List(consolidate.Filter{KnownTo: model.SystemCRM}, "", 0).Total; after != before {
		t.Fatalf("CRM customers went from %d to %d while the CRM was down", before, after)
	}
}

func TestResolveAsksTheSystemsForUnknownAddresses(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 3, Size: world.Size{People: 200, Orders: 400, Products: 20}})
	d := newDirectory(env) // never synced: everything is unknown
	var emails []string
	var people []*world.Person
	for _, p := range env.Sim.World.People {
		if p.CRM != nil && p.Shop != nil && len(people) < 30 {
			emails = append(emails, "  "+strings.ToUpper(p.Email))
			people = append(people, p)
		}
	}
	got, err := d.Resolve(context.Background(), append(emails, "nobody@example.invalid"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(people) {
		t.Fatalf("resolved %d, want %d", len(got), len(people))
	}
	for _, p := range people {
		e := got[p.Email]
		if e.CRMID != p.CRM.ID || e.ShopID != p.Shop.ID {
			t.Errorf("%s resolved to %+v", p.Email, e.Customer)
		}
		// Frappe matches "in" filters exactly (after trimming the values it
		// is sent), so only addresses stored without leading spaces are found.
		if p.ERP != nil && !strings.HasPrefix(p.ERP.Email, " ") && e.ERPID != p.ERP.Name {
			t.Errorf("%s: ERP key %q, want %q", p.Email, e.ERPID, p.ERP.Name)
		}
	}
	if e, ok := d.ByEmail(people[0].Email); !ok || e.CRMID != people[0].CRM.ID {
		t.Fatal("a resolved customer was not remembered")
	}
}

func TestListPagesEachCustomerOnce(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 4, Size: world.Size{People: 250, Orders: 500, Products: 20}})
	d := newDirectory(env)
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		filter consolidate.Filter
		check  func(consolidate.Entry) bool
	}{
		{"all", consolidate.Filter{}, func(consolidate.Entry) bool { return true }},
		{"known to the ERP", consolidate.Filter{KnownTo: model.SystemERP}, func(e consolidate.Entry) bool { return e.ERPID != "" }},
		{"leads", consolidate.Filter{LifecycleStage: "LEAD"}, func(e consolidate.Entry) bool { return e.LifecycleStage == "lead" }},
		{"search", consolidate.Filter{Search: "SCHMIDT"}, func(e consolidate.Entry) bool {
			return strings.Contains(strings.ToLower(e.Name+e.Company+e.Email), "schmidt")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			after, pages := "", 0
			var total int
			for {
				p := d.List(tt.filter, after, 7)
				total = p.Total
				for _, e := range p.Entries {
					if seen[e.Key()] {
						t.Fatalf("%s listed twice", e.Key())
					}
					if !tt.check(e) {
						t.Fatalf("%+v does not match the filter", e)
					}
					seen[e.Key()] = true
					after = e.Key()
				}
				pages++
				if !p.HasNext {
					break
				}
			}
			if len(seen) != total || total == 0 {
				t.Fatalf("listed %d of %d", len(seen), total)
			}
			if pages != (total+6)/7 {
				t.Errorf("%d pages for %d entries", pages, total)
			}
		})
	}
}

func TestSyncJoinsByPhoneWhenConfigured(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 1})
	d := consolidate.NewDirectory(env.Sources.CRM, env.Sources.Shop, env.Sources.ERP, consolidate.JoinByPhone, quiet)
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	var messy int
	for _, p := range env.Sim.World.People {
		want := wantKeys(p)
		want.JoinKey = consolidate.NormalizePhone(p.Phone)
		var got consolidate.Entry
		var ok bool
		switch {
		case p.ERP != nil:
			got, ok = d.ByERP(p.ERP.Name)
			if p.ERP.Phone != p.Phone {
				messy++
			}
		case p.Shop != nil:
			got, ok = d.ByShop(p.Shop.ID)
		default:
			got, ok = d.ByCRM(p.CRM.ID)
		}
		if !ok || got.Customer != want {
			t.Fatalf("%s joined by phone as %+v, want %+v", p.Phone, got.Customer, want)
		}
		if p.Email != "" {
			if byEmail, _ := d.ByEmail(p.Email); byEmail.Customer != want {
				t.Fatalf("ByEmail(%s) = %+v", p.Email, byEmail.Customer)
			}
		}
		if byKey, _ := d.ByKey(want.JoinKey); byKey.Customer != want {
			t.Fatalf("ByKey(%s) = %+v", want.JoinKey, byKey.Customer)
		}
	}
	if messy < 100 {
		t.Errorf("only %d people with the ERP's own spelling of their number", messy)
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+49 30 1234 5678":   "+493012345678",
		"+49-30-1234-5678":   "+493012345678",
		"0049 30 12345678":   "+493012345678",
		" (+49) 30/1234 567": "+49301234567",
		"030 1234 5678":      "03012345678",
		"12-34":              "",
		"":                   "",
	} {
		if got := consolidate.NormalizePhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveRemembersOnlyWhatEverySystemAnswered(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 13, Size: world.Size{People: 80, Orders: 200, Products: 20}})
	d := newDirectory(env) // never synced
	var p *world.Person
	for _, q := range env.Sim.World.People {
		if q.CRM != nil && q.Shop != nil && q.ERP != nil && strings.TrimSpace(q.ERP.Email) == q.ERP.Email {
			p = q
			break
		}
	}
	env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	got, err := d.Resolve(context.Background(), []string{p.Email})
	if !errors.Is(err, rest.ErrUnavailable) {
		t.Fatalf("err = %v, want the ERP's failure", err)
	}
	if e := got[p.Email]; e.CRMID != p.CRM.ID || e.ERPID != "" {
		t.Fatalf("partial answer %+v, want the CRM's key and no ERP key", e.Customer)
	}
	if _, ok := d.ByEmail(p.Email); ok {
		t.Fatal("a join missing the failing ERP was remembered")
	}
	env.Sim.ERP.SetFaults(sim.Faults{})
	got, err = d.Resolve(context.Background(), []string{p.Email})
	if err != nil || got[p.Email].ERPID != p.ERP.Name {
		t.Fatalf("after the ERP is back: %+v, %v", got[p.Email].Customer, err)
	}
	if e, ok := d.ByEmail(p.Email); !ok || e.ERPID != p.ERP.Name {
		t.Fatal("the complete join was not remembered")
	}
}

func TestUpdateJoinsAChangedRecordAtOnce(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 16, Size: world.Size{People: 60, Orders: 120, Products: 10}})
	d := newDirectory(env)
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A shop customer changes their address in the shop.
	var p *world.Person
	for _, q := range env.Sim.World.People {
		if q.Shop != nil && q.CRM != nil {
			p = q
			break
		}
	}
	env.Sim.World.Lock()
	p.Shop.Email = "New.Address@Example.com"
	env.Sim.World.Unlock()
	if err := d.Update(context.Background(), model.SystemShop, strconv.FormatInt(p.Shop.ID, 10)); err != nil {
		t.Fatal(err)
	}
	moved, ok := d.ByEmail("new.address@example.com")
	if !ok || moved.ShopID != p.Shop.ID || moved.CRMID != "" {
		t.Fatalf("after the change: %+v, want the shop account alone under its new address", moved.Customer)
	}
	if old, _ := d.ByEmail(p.Email); old.ShopID != 0 || old.CRMID != p.CRM.ID {
		t.Fatalf("the old address still joins the shop account: %+v", old.Customer)
	}
}

func TestGapsSayWhatTheDirectoryCannotTell(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 17, Size: world.Size{People: 80, Orders: 160, Products: 10}})
	w := env.Sim.World
	var both, crmOnly *world.Person // known to the shop and the CRM; to the CRM alone
	var shopOnly *world.Person      // known to the shop alone
	var erpOnly *world.Person       // known to the ERP alone, without an address
	for _, p := range w.People {
		switch {
		case p.CRM != nil && p.Shop != nil && both == nil:
			both = p
		case p.CRM != nil && p.Shop == nil && p.ERP == nil && crmOnly == nil:
			crmOnly = p
		case p.CRM == nil && p.Shop != nil && p.ERP == nil && shopOnly == nil:
			shopOnly = p
		case p.Email == "" && erpOnly == nil:
			erpOnly = p
		}
	}
	if both == nil || crmOnly == nil || shopOnly == nil || erpOnly == nil {
		t.Fatal("the data set lacks a kind of customer")
	}
	d := newDirectory(env)
	ctx := context.Background()

	// The CRM fails the first sync: nothing tells whether it knows anyone.
	env.Sim.CRM.SetFaults(sim.Faults{Down: true})
	if err := d.Sync(ctx); err == nil {
		t.Fatal("sync with the CRM down succeeded")
	}
	gaps := d.Gaps()
	if len(gaps) != 1 || gaps[0].System != model.SystemCRM || gaps[0].Stale() || !errors.Is(gaps[0].Err, rest.ErrUnavailable) {
		t.Fatalf("gaps %+v, want the CRM's list, never read", gaps)
	}
	e, ok := d.ByEmail(both.Email)
	if !ok || e.CRMID != "" {
		t.Fatalf("%s: %+v, want the shop's record alone", both.Email, e.Customer)
	}
	if g, open := d.Unknown(e.Customer, model.SystemCRM); !open || g.System != model.SystemCRM {
		t.Errorf("whether the CRM knows %s: %+v, %t; want open", both.Email, g, open)
	}
	if _, open := d.Unknown(e.Customer, model.SystemERP); open {
		t.Errorf("whether the ERP knows %s is open, though its list was read", both.Email)
	}
	if _, ok := d.ByEmail(crmOnly.Email); ok {
		t.Fatalf("%s, known to the CRM alone, is in the directory", crmOnly.Email)
	}

	// Read once, the list is held as read when a later read fails: stale.
	env.Sim.CRM.SetFaults(sim.Faults{})
	if err := d.Sync(ctx); err != nil || len(d.Gaps()) != 0 {
		t.Fatalf("sync with every system up: %v, gaps %+v", err, d.Gaps())
	}
	if e, _ := d.ByEmail(both.Email); e.CRMID != both.CRM.ID {
		t.Fatalf("%s: %+v, want the CRM's key once it is read", both.Email, e.Customer)
	}
	env.Sim.CRM.SetFaults(sim.Faults{ErrorRate: 1})
	_ = d.Sync(ctx)
	if gaps := d.Gaps(); len(gaps) != 1 || !gaps[0].Stale() || gaps[0].System != model.SystemCRM {
		t.Fatalf("gaps %+v, want the CRM's list, stale", gaps)
	}

	// A customer the directory does not hold, known by the key of a system
	// whose list is missing, cannot be joined to the others.
	env.Sim.CRM.SetFaults(sim.Faults{})
	env.Sim.ERP.SetFaults(sim.Faults{Down: true})
	fresh := newDirectory(env)
	_ = fresh.Sync(ctx)
	bare := model.Customer{ERPID: erpOnly.ERP.Name}
	if g, open := fresh.Unknown(bare, model.SystemCRM); !open || g.System != model.SystemERP {
		t.Errorf("whether the CRM knows ERP customer %s: %+v, %t; want open for the ERP's list", bare.ERPID, g, open)
	}
	if _, open := fresh.Unknown(bare, model.SystemERP); open {
		t.Error("whether the ERP knows a customer by its ERP key is open")
	}

	// Every list missing, an address Resolve asked the systems about is
	// told by the CRM and the shop, which match addresses exactly; not by
	// the ERP, whose lookup misses some. (Systems of their own: these
	// breakers have seen no failure.)
	env = simtest.Start(t, world.Options{Seed: 17, Size: world.Size{People: 80, Orders: 160, Products: 10}})
	for _, u := range env.Sim.Upstreams() {
		u.SetFaults(sim.Faults{Down: true})
	}
	none := newDirectory(env)
	_ = none.Sync(ctx)
	for _, u := range env.Sim.Upstreams() {
		u.SetFaults(sim.Faults{})
	}
	found, err := none.Resolve(ctx, []string{shopOnly.Email})
	if err != nil || found[shopOnly.Email].ShopID != shopOnly.Shop.ID {
		t.Fatalf("Resolve(%s) = %+v, %v", shopOnly.Email, found, err)
	}
	c := found[shopOnly.Email].Customer
	if g, open := none.Unknown(c, model.SystemCRM); open {
		t.Errorf("whether the CRM, asked, knows %s is open: %+v", shopOnly.Email, g)
	}
	if _, open := none.Unknown(c, model.SystemERP); !open {
		t.Errorf("whether the ERP knows %s is told by its lookup by address", shopOnly.Email)
	}
}

func TestRunReadsAgainOnlyTheListsThatFailed(t *testing.T) {
	env := simtest.Start(t, world.Options{Seed: 18, Size: world.Size{People: 40, Orders: 80, Products: 10}})
	d := newDirectory(env)
	env.Sim.CRM.SetFaults(sim.Faults{Down: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx, time.Hour)
	}()
	defer func() { cancel(); <-done }()
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if len(d.Gaps()) != 1 {
		t.Fatalf("gaps %+v, want the CRM's", d.Gaps())
	}
	env.Sim.CRM.SetFaults(sim.Faults{})
	env.Sim.Shop.ResetCounters()
	env.Sim.ERP.ResetCounters()
	// The retry comes after about 5 s; a busy machine gets a minute.
	for deadline := time.Now().Add(time.Minute); len(d.Gaps()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the CRM's list was not read again once the CRM was back")
		}
	}
	if n := env.Sim.Shop.Requests() + env.Sim.ERP.Requests(); n != 0 {
		t.Errorf("%d calls to the shop and the ERP, whose lists were read well", n)
	}
}
