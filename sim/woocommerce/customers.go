package woocommerce

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/trestlehq/trestle/sim/world"
)

func (a *API) listCustomers(w http.ResponseWriter, r *http.Request) {
	serveList(a, w, r, customersCollection(), func(q query) ([]*world.Person, int) {
		matched := a.matchCustomers(q)
		sortCustomers(matched, q)
		return pageOf(q, matched)
	}, func(shown []*world.Person, base string) func(*enc, *world.Person) {
		paying := a.payingCustomers(shown)
		return func(e *enc, p *world.Person) { a.renderCustomer(e, p, paying[p.Shop.ID], base) }
	})
}

func (a *API) getCustomer(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		a.noRoute(w, r)
		return
	}
	buf := a.getBuf()
	defer a.putBuf(buf)
	e := enc{b: *buf}

	base := siteBase(r)
	var scratch enc

	a.w.RLock()
	p := a.w.PersonByShop(id)
	if p != nil && p.Shop != nil {
		paying := a.payingCustomers([]*world.Person{p})[id]
		render := func(e *enc, p *world.Person) { a.renderCustomer(e, p, paying, base) }
		emit(&e, &scratch, parseFields(r.URL.Query().Get("_fields")), p, render)
	}
	a.w.RUnlock()

	if p == nil || p.Shop == nil {
		writeError(w, http.StatusNotFound, "wc_user_invalid_id", "Invalid user ID.")
		return
	}
	*buf = e.b
	writeJSON(w, e.b)
}

// matchCustomers returns the shop accounts the query selects. Callers hold
// the read lock.
func (a *API) matchCustomers(q query) []*world.Person {
	var candidates []*world.Person
	if len(q.include) > 0 {
		for _, id := range q.include {
			if p := a.w.PersonByShop(id); p != nil {
				candidates = append(candidates, p)
			}
		}
	} else {
		candidates = a.w.People
	}
	// Every account in the world has the customer role.
	if q.role != "all" && q.role != "customer" {
		return nil
	}
	// WordPress matches the e-mail exactly under MySQL's case-insensitive,
	// trailing-space-blind collation.
	email := strings.TrimRight(q.email, " ")
	search := strings.ToLower(strings.Trim(q.search, "*"))
	var out []*world.Person
	for _, p := range candidates {
		s := p.Shop
		switch {
		case s == nil:
		case email != "" && !strings.EqualFold(strings.TrimRight(s.Email, " "), email):
		case len(q.exclude) > 0 && slices.Contains(q.exclude, s.ID):
		case search != "" && !customerMatches(p, search):
		default:
			out = append(out, p)
		}
	}
	return out
}

// customerMatches is WP_User_Query's "*term*" search over login, e-mail and
// display name.
func customerMatches(p *world.Person, needle string) bool {
	return strings.Contains(strings.ToLower(p.Shop.Username), needle) ||
		strings.Contains(strings.ToLower(p.Shop.Email), needle) ||
		strings.Contains(strings.ToLower(displayName(p)), needle)
}

func displayName(p *world.Person) string { return p.FirstName + " " + p.LastName }

func sortCustomers(people []*world.Person, q query) {
	var f func(x, y *world.Person) int
	switch q.orderby {
	case "id":
		f = func(x, y *world.Person) int { return compareBy(x.Shop.ID, y.Shop.ID, 0, 0, q.desc) }
	case "registered_date":
		f = func(x, y *world.Person) int {
			return compareTime(x.Shop.Created, y.Shop.Created, x.Shop.ID, y.Shop.ID, q.desc)
		}
	case "include":
		rank := includeRank(q.include)
		f = func(x, y *world.Person) int { return compareBy(rank[x.Shop.ID], rank[y.Shop.ID], 0, 0, false) }
	default: // name: the display name
		f = func(x, y *world.Person) int {
			return compareBy(displayName(x), displayName(y), x.Shop.ID, y.Shop.ID, q.desc)
		}
	}
	slices.SortFunc(people, f)
}

// payingCustomers reports which of the accounts has a paid order, the
// "paying_customer" flag WooCommerce sets on payment. Callers hold the read
// lock.
func (a *API) payingCustomers(people []*world.Person) map[int64]bool {
	out := make(map[int64]bool, len(people))
	if len(people) == 0 {
		return out
	}
	want := make(map[*world.Person]bool, len(people))
	for _, p := range people {
		want[p] = true
	}
	for _, o := range a.w.Orders {
		if o.Paid != nil && !o.Guest && want[o.Person] && o.Person.Shop != nil {
			out[o.Person.Shop.ID] = true
			if len(out) == len(want) {
				break // the rest cannot add anyone
			}
		}
	}
	return out
}

// renderCustomer writes one customer in the shape of the v3 customers
// controller. Callers hold the read lock.
func (a *API) renderCustomer(e *enc, p *world.Person, paying bool, base string) {
	s := p.Shop
	e.begin()
	e.int("id", s.ID)
	e.date("date_created", s.Created, a.loc)
	e.date("date_created_gmt", s.Created, time.UTC)
	e.date("date_modified", s.Modified, a.loc)
	e.date("date_modified_gmt", s.Modified, time.UTC)
	e.str("email", s.Email)
	e.str("first_name", p.FirstName)
	e.str("last_name", p.LastName)
	e.str("role", "customer")
	e.str("username", s.Username)
	addr := addressOf(p)
	e.key("billing")
	e.begin()
	e.str("first_name", p.FirstName)
	e.str("last_name", p.LastName)
	e.str("company", p.Company)
	addr.write(e)
	e.str("email", s.Email)
	e.str("phone", p.Shop.Phone)
	e.end()
	e.key("shipping")
	e.begin()
	e.str("first_name", p.FirstName)
	e.str("last_name", p.LastName)
	e.str("company", p.Company)
	addr.write(e)
	e.str("phone", "")
	e.end()
	e.bool("is_paying_customer", paying)
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(s.Email))))
	var hexSum [32]byte
	hex.Encode(hexSum[:], sum[:])
	e.key("avatar_url")
	e.b = append(e.b, `"https:\/\/secure.gravatar.com\/avatar\/`...)
	e.b = append(e.b, hexSum[:]...)
	e.b = append(e.b, `?s=96&d=mm&r=g"`...)
	e.raw("meta_data", "[]")
	e.key("_links")
	e.begin()
	e.link("self", base, "/customers", s.ID)
	e.link("collection", base, "/customers", 0)
	e.end()
	e.end()
}
