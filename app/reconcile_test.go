package app_test

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
)

// reconcileWorld is reportWorld with a handful of known disagreements of
// each kind seeded (world.Seeded).
var reconcileWorld = world.Options{Seed: 11, Size: world.Size{People: 300, Orders: 3000, Products: 30}, Disagreements: true}

// TestReconciliationListsAreExactlyTheTruth asks each reconciliation list
// of a store over a world seeded with known disagreements and compares it,
// item by item and in order, with the list computed here from the world's
// own records: every seeded disagreement must be listed, and nothing else
// than what the world really has.
func TestReconciliationListsAreExactlyTheTruth(t *testing.T) {
	env := simtest.Start(t, reconcileWorld)
	a := reporting(t, env)
	w := env.Sim.World
	w.RLock()
	truth := reconcileTruth(w)
	seeded := w.Seeded
	w.RUnlock()

	t.Run("invoice mismatches", func(t *testing.T) {
		var got struct {
			Data struct {
				InvoiceMismatches struct {
					Count int
					Items []struct {
						InvoiceNumber, OrderNumber string
						Invoice                    struct{ Number string }
						Order                      struct{ Number string }
						InvoiceTotal, OrderTotal   money
						Difference                 *money
					}
				}
			}
			Errors []struct{ Message string }
		}
		graphQL(t, a, `{ invoiceMismatches(limit: 10000) { count items { invoiceNumber invoice { number } orderNumber order { number }
			invoiceTotal { amount currency } orderTotal { amount currency } difference { amount currency } } } }`, &got)
		m := got.Data.InvoiceMismatches
		var lines []string
		for _, it := range m.Items {
			if it.Invoice.Number != it.InvoiceNumber || it.Order.Number != it.OrderNumber {
				t.Errorf("invoice %s of order %s read live as %q of %q", it.InvoiceNumber, it.OrderNumber, it.Invoice.Number, it.Order.Number)
			}
			lines = append(lines, invoiceLine(it.InvoiceNumber, it.OrderNumber, it.InvoiceTotal, it.OrderTotal, it.Difference))
		}
		compareLists(t, got.Errors, m.Count, lines, truth.invoices)
		for _, inv := range seeded.InvoiceTotals {
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, inv.Name+" bills ") }) {
				t.Errorf("the seeded invoice %s is not listed", inv.Name)
			}
		}
	})

	t.Run("missing customers", func(t *testing.T) {
		for _, from := range []string{"", "CRM", "SHOP", "ERP"} {
			arg := ""
			if from != "" {
				arg = "missingFrom: " + from + ", "
			}
			var got struct {
				Data struct {
					MissingCustomers struct {
						Count int
						Items []struct {
							Customer             struct{ ID string }
							Name                 *string
							KnownTo, MissingFrom []string
						}
					}
				}
				Errors []struct{ Message string }
			}
			graphQL(t, a, `{ missingCustomers(`+arg+`limit: 10000) { count items { customer { id } name knownTo missingFrom } } }`, &got)
			var lines []string
			for _, it := range got.Data.MissingCustomers.Items {
				name := ""
				if it.Name != nil {
					name = *it.Name
				}
				lines = append(lines, fmt.Sprintf("%s %q known to %v, missing from %v", it.Customer.ID, name, it.KnownTo, it.MissingFrom))
			}
			var want []string
			for _, c := range truth.missing {
				if from == "" || slices.Contains(c.missing, from) {
					want = append(want, c.line)
				}
			}
			t.Run("from "+cmp.Or(from, "any"), func(t *testing.T) {
				compareLists(t, got.Errors, got.Data.MissingCustomers.Count, lines, want)
			})
		}
		for _, p := range seeded.NoCRM {
			if !slices.ContainsFunc(truth.missing, func(c missingCustomer) bool { return c.key == p.Email && slices.Contains(c.missing, "CRM") }) {
				t.Errorf("%s, whose contact the CRM lost, is not missing from it", p.Email)
			}
		}
	})

	t.Run("field disagreements", func(t *testing.T) {
		var got struct {
			Data struct {
				FieldDisagreements struct {
					Count int
					Items []struct {
						Customer struct{ ID string }
						Field    string
						Values   []struct{ Source, Value string }
					}
				}
			}
			Errors []struct{ Message string }
		}
		graphQL(t, a, `{ fieldDisagreements(limit: 10000) { count items { customer { id } field values { source value } } } }`, &got)
		var lines []string
		for _, it := range got.Data.FieldDisagreements.Items {
			lines = append(lines, fmt.Sprintf("%s %s %v", it.Customer.ID, it.Field, it.Values))
		}
		compareLists(t, got.Errors, got.Data.FieldDisagreements.Count, lines, truth.fields)
		for _, p := range seeded.Phones {
			if !slices.Contains(lines, fieldLine(p.Email, "PHONE", []sourceValue{{"CRM", p.Phone}, {"SHOP", p.Shop.Phone}})) {
				t.Errorf("%s: the seeded phone numbers %q and %q are not listed", p.Email, p.Phone, p.Shop.Phone)
			}
		}
		for _, v := range seeded.Respelled {
			for _, field := range []string{"NAME", "COMPANY"} {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, model.GlobalID("Customer", v.Email)+" "+field+" ") }) {
					t.Errorf("%s: the contact's other %s is not listed", v.Email, strings.ToLower(field))
				}
			}
		}
	})

	t.Run("duplicate customers", func(t *testing.T) {
		var got struct {
			Data struct {
				DuplicateCustomers struct {
					Count int
					Items []struct {
						Source, JoinKey string
						Records         []struct {
							ID       string
							Customer struct{ ID string }
						}
					}
				}
			}
			Errors []struct{ Message string }
		}
		graphQL(t, a, `{ duplicateCustomers(limit: 10000) { count items { source joinKey records { id customer { id } } } } }`, &got)
		var lines []string
		for _, it := range got.Data.DuplicateCustomers.Items {
			var recs []string
			for _, r := range it.Records {
				recs = append(recs, r.ID+"="+r.Customer.ID)
			}
			lines = append(lines, fmt.Sprintf("%s %s %v", it.Source, it.JoinKey, recs))
		}
		compareLists(t, got.Errors, got.Data.DuplicateCustomers.Count, lines, truth.duplicates)
		for _, dup := range seeded.Duplicates {
			if !slices.ContainsFunc(lines, func(l string) bool {
				return strings.HasPrefix(l, "ERP "+dup.Email+" ") && strings.Contains(l, dup.Of.ERP.Name+"=") && strings.Contains(l, dup.ERP.Name+"=")
			}) {
				t.Errorf("the ERP's customers %s and %s of %s are not listed", dup.Of.ERP.Name, dup.ERP.Name, dup.Email)
			}
		}
	})
}

type money struct{ Amount, Currency string }

// compareLists compares a list's items (as lines), in order, and its
// count with the truth.
func compareLists(t *testing.T, errs []struct{ Message string }, count int, got, want []string) {
	t.Helper()
	if len(errs) > 0 {
		t.Fatalf("errors %v", errs)
	}
	if len(want) == 0 {
		t.Fatal("the world has none: nothing to compare")
	}
	if count != len(want) {
		t.Errorf("count %d, want %d", count, len(want))
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("item %d: missing, want %s", i, want[i])
		case i >= len(want):
			t.Errorf("item %d: %s, want none", i, got[i])
		case got[i] != want[i]:
			t.Errorf("item %d: %s, want %s", i, got[i], want[i])
		}
	}
}

func invoiceLine(invoice, order string, invTotal, orderTotal money, diff *money) string {
	d := "none"
	if diff != nil {
		d = amount(diff.Amount) + " " + diff.Currency
	}
	return fmt.Sprintf("%s bills order %s %s %s for %s %s, difference %s", invoice, order, amount(invTotal.Amount), invTotal.Currency,
		amount(orderTotal.Amount), orderTotal.Currency, d)
}

// amount is a decimal's value, whatever its trailing zeros.
func amount(s string) string {
	d, err := decimal.Parse(s)
	if err != nil {
		return "not a decimal: " + s
	}
	return d.Trim(0).String()
}

type sourceValue struct{ Source, Value string }

func fieldLine(key, field string, values []sourceValue) string {
	return fmt.Sprintf("%s %s %v", model.GlobalID("Customer", key), field, values)
}

type missingCustomer struct {
	key     string
	missing []string
	line    string
}

// truthLists are the reconciliation lists as the world has them, each
// item as a line in the list's order.
type truthLists struct {
	invoices   []string
	missing    []missingCustomer
	fields     []string
	duplicates []string
}

// record is one system's customer record in the world.
type record struct {
	system  string // CRM, SHOP or ERP
	id      string
	email   string // normalised
	created time.Time
	p       *world.Person // the person whose record it is
}

// reconcileTruth computes the reconciliation lists from the world's
// records, as the three systems keep them: customers joined on the
// normalised e-mail address, of a system's records of one address the
// oldest joining and the later ones customers of their own.
func reconcileTruth(w *world.World) truthLists {
	var out truthLists
	type mismatch struct {
		line       string
		currencies bool
		diff       decimal.Decimal
		order      int64
	}
	var ms []mismatch
	for _, inv := range w.Invoices {
		o := inv.Order
		if o == nil || inv.DocStatus == 2 || inv.Currency == o.Currency && inv.Total.Equal(o.Total) {
			continue
		}
		m := mismatch{currencies: inv.Currency != o.Currency, order: o.ID}
		var diff *money
		if !m.currencies {
			m.diff, _ = inv.Total.Sub(o.Total)
			diff = &money{m.diff.String(), inv.Currency}
		}
		id := strconv.FormatInt(o.ID, 10)
		m.line = invoiceLine(inv.Name, id, money{inv.Total.String(), inv.Currency}, money{o.Total.String(), o.Currency}, diff)
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b mismatch) int {
		if a.currencies != b.currencies {
			if a.currencies {
				return -1
			}
			return 1
		}
		return cmp.Or(b.diff.Abs().Cmp(a.diff.Abs()), cmp.Compare(a.order, b.order))
	})
	for _, m := range ms {
		out.invoices = append(out.invoices, m.line)
	}

	// Every record, then the customers they make.
	var records []*record
	for _, p := range w.People {
		if c := p.CRM; c != nil {
			records = append(records, &record{"CRM", c.ID, model.NormalizeEmail(c.Email), c.Created, p})
		}
		if s := p.Shop; s != nil {
			records = append(records, &record{"SHOP", strconv.FormatInt(s.ID, 10), model.NormalizeEmail(s.Email), s.Created, p})
		}
		if e := p.ERP; e != nil {
			records = append(records, &record{"ERP", e.Name, model.NormalizeEmail(e.Email), e.Created, p})
		}
	}
	slices.SortStableFunc(records, func(a, b *record) int { return a.created.Compare(b.created) })
	type customer struct {
		key     string
		records map[string]*record
	}
	customers := map[string]*customer{}
	bySystemKey := map[[2]string][]*record{}
	for _, r := range records {
		key := strings.ToLower(r.system) + ":" + r.id
		if r.email != "" {
			bySystemKey[[2]string{r.system, r.email}] = append(bySystemKey[[2]string{r.system, r.email}], r)
			if len(bySystemKey[[2]string{r.system, r.email}]) == 1 {
				key = r.email
			}
		}
		if customers[key] == nil {
			customers[key] = &customer{key: key, records: map[string]*record{}}
		}
		customers[key].records[r.system] = r
	}
	systems := []string{"CRM", "SHOP", "ERP"}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range customers {
			if !yield(k) {
				return
			}
		}
	})

	// Missing: known to the most systems first, then by key.
	for _, k := range keys {
		c := customers[k]
		var known, missing []string
		var names []string
		for _, s := range systems {
			if r := c.records[s]; r != nil {
				known = append(known, s)
				names = append(names, nameOf(r))
			} else {
				missing = append(missing, s)
			}
		}
		if len(missing) == 0 {
			continue
		}
		name := ""
		for _, n := range names {
			if n != "" {
				name = n
				break
			}
		}
		out.missing = append(out.missing, missingCustomer{key: k, missing: missing,
			line: fmt.Sprintf("%s %q known to %v, missing from %v", model.GlobalID("Customer", k), name, known, missing)})
	}
	slices.SortStableFunc(out.missing, func(a, b missingCustomer) int { return cmp.Compare(len(a.missing), len(b.missing)) })

	// Fields: the most different values first, then by key and field.
	type disagreement struct {
		line     string
		distinct int
	}
	var ds []disagreement
	for _, k := range keys {
		c := customers[k]
		if len(c.records) < 2 {
			continue
		}
		for _, f := range []struct {
			name  string
			value func(r *record) string
			form  func(string) string
		}{
			{"NAME", func(r *record) string {
				if n := nameOf(r); folded(n) != folded(companyOf(r)) {
					return n
				}
				return ""
			}, folded},
			{"COMPANY", companyOf, folded},
			{"PHONE", func(r *record) string {
				switch r.system {
				case "CRM":
					return r.p.Phone
				case "SHOP":
					return r.p.Shop.Phone
				}
				return "" // the ERP owns no phone
			}, func(v string) string { return cmp.Or(consolidate.NormalizePhone(v), folded(v)) }},
		} {
			var values []sourceValue
			forms := map[string]bool{}
			for _, s := range systems {
				r := c.records[s]
				if r == nil {
					continue
				}
				if v := strings.TrimSpace(f.value(r)); v != "" {
					values = append(values, sourceValue{s, v})
					forms[f.form(v)] = true
				}
			}
			if len(forms) > 1 {
				ds = append(ds, disagreement{fieldLine(k, f.name, values), len(forms)})
			}
		}
	}
	slices.SortStableFunc(ds, func(a, b disagreement) int { return cmp.Compare(b.distinct, a.distinct) })
	for _, d := range ds {
		out.fields = append(out.fields, d.line)
	}

	// Duplicates: the most records first, then by system and key; the
	// record that joins first, then the others by age.
	type duplicate struct {
		system, key string
		records     []*record
	}
	var dups []duplicate
	for sk, rs := range bySystemKey {
		if len(rs) > 1 {
			dups = append(dups, duplicate{sk[0], sk[1], rs})
		}
	}
	slices.SortFunc(dups, func(a, b duplicate) int {
		return cmp.Or(cmp.Compare(len(b.records), len(a.records)), cmp.Compare(slices.Index(systems, a.system), slices.Index(systems, b.system)),
			strings.Compare(a.key, b.key))
	})
	for _, d := range dups {
		var recs []string
		for i, r := range d.records {
			key := d.key
			if i > 0 {
				key = strings.ToLower(r.system) + ":" + r.id
			}
			recs = append(recs, r.id+"="+model.GlobalID("Customer", key))
		}
		out.duplicates = append(out.duplicates, fmt.Sprintf("%s %s %v", d.system, d.key, recs))
	}
	return out
}

// nameOf is the name a record gives its customer: the ERP names a company
// customer after the company.
func nameOf(r *record) string {
	if r.system == "ERP" && r.p.ERP.Type == "Company" && r.p.Company != "" {
		return r.p.Company
	}
	return r.p.FirstName + " " + r.p.LastName
}

// companyOf is the company a record gives its customer: the ERP's is the
// name of a company customer.
func companyOf(r *record) string {
	if r.system == "ERP" {
		if r.p.ERP.Type == "Company" {
			return nameOf(r)
		}
		return ""
	}
	return r.p.Company
}

// folded is a name as names are compared: lower case, single spaces.
func folded(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }
