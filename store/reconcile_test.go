package store

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/graph/model"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/sim/world"
	"github.com/trestlehq/trestle/store/pgtest"
)

// disagreeingWorld is a small world with the seeded disagreements.
var disagreeingWorld = world.Options{Seed: 3, Size: world.Size{People: 120, Orders: 600, Products: 20}, Disagreements: true}

// reconciled is a SQLite store filled with disagreeingWorld.
func reconciled(t *testing.T) (*Store, *simtest.Env) {
	t.Helper()
	env := simtest.Start(t, disagreeingWorld)
	s := openTemp(t)
	if _, err := s.Backfill(t.Context(), sources(env, 50)); err != nil {
		t.Fatal(err)
	}
	return s, env
}

// The lists' filters and limits: each narrows what the whole list has,
// and a filter naming nothing the store knows is refused.
func TestReconciliationListsFilterAndLimit(t *testing.T) {
	s, env := reconciled(t)
	w := env.Sim.World
	ctx := t.Context()

	all, n, err := s.InvoiceMismatches(ctx, decimal.Zero, 0)
	if err != nil || n != len(all) || n < len(w.Seeded.InvoiceTotals) {
		t.Fatalf("%d invoice mismatches (%d listed), %v; want the %d seeded at least", n, len(all), err, len(w.Seeded.InvoiceTotals))
	}
	if _, ok := all[0].Difference(); ok {
		t.Errorf("%+v first: want the invoice in another currency first", all[0])
	}
	big, _ := decimal.New(20, 0)
	few, m, err := s.InvoiceMismatches(ctx, big, 1)
	want := 0
	for _, mm := range all {
		if d, ok := mm.Difference(); !ok || d.Abs().Cmp(big) >= 0 {
			want++
		}
	}
	if err != nil || m != want || len(few) != 1 || !reflect.DeepEqual(few[0], all[0]) {
		t.Errorf("at least 20 apart, one listed: %d (%d listed), %v; want %d", m, len(few), err, want)
	}

	missing, n, err := s.MissingCustomers(ctx, "", MaxRows)
	if err != nil || n != len(missing) {
		t.Fatal(n, err)
	}
	for _, sys := range []model.System{model.SystemCRM, model.SystemShop, model.SystemERP} {
		from, m, err := s.MissingCustomers(ctx, sys, MaxRows)
		want := 0
		for _, c := range missing {
			if slices.Contains(c.Missing, sys) {
				want++
			}
		}
		if err != nil || m != want || len(from) != want || want == 0 {
			t.Errorf("missing from %s: %d (%d listed), %v; want %d of the %d missing from any", sys, m, len(from), err, want, n)
		}
	}
	if one, m, err := s.MissingCustomers(ctx, "", 1); err != nil || m != n || len(one) != 1 || !reflect.DeepEqual(one[0], missing[0]) {
		t.Errorf("one listed: %+v of %d, %v", one, m, err)
	}

	fields, n, err := s.FieldDisagreements(ctx, nil, MaxRows)
	if err != nil || n != len(fields) || n == 0 {
		t.Fatal(n, err)
	}
	phones, m, err := s.FieldDisagreements(ctx, []CustomerField{FieldPhone}, MaxRows)
	want = 0
	for _, f := range fields {
		if f.Field == FieldPhone {
			want++
		}
	}
	if err != nil || m != want || len(phones) != want || want == 0 {
		t.Errorf("phones: %d (%d listed), %v; want %d", m, len(phones), err, want)
	}

	dups, n, err := s.DuplicateCustomers(ctx, "", MaxRows)
	if err != nil || n != len(w.Seeded.Duplicates) || len(dups) != n {
		t.Errorf("%d duplicates (%d listed), %v; want the %d seeded", n, len(dups), err, len(w.Seeded.Duplicates))
	}
	if crm, m, err := s.DuplicateCustomers(ctx, model.SystemCRM, MaxRows); err != nil || m != 0 || len(crm) != 0 {
		t.Errorf("the CRM's duplicates: %d, %v; want none", m, err)
	}

	for name, err := range map[string]error{
		"missing from a system of no name":  second(s.MissingCustomers(ctx, "ledger", 10)),
		"a field of no name":                second(s.FieldDisagreements(ctx, []CustomerField{"email"}, 10)),
		"duplicates of a system of no name": second(s.DuplicateCustomers(ctx, "ledger", 10)),
	} {
		if !errors.Is(err, ErrReport) {
			t.Errorf("%s: %v, want ErrReport", name, err)
		}
	}
}

func second[T any](_ T, _ int, err error) error { return err }

// The reconciliation lists' SQL is the same in both dialects: they answer
// the same.
func TestPostgresReconcilesAsSQLiteDoes(t *testing.T) {
	srv := pgtest.Start(t)
	pg := openPostgres(t, srv.Database(t, "reconcile"))
	lite, env := reconciled(t)
	if _, err := pg.Backfill(t.Context(), sources(env, 50)); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, c := range []struct {
		name string
		list func(s *Store) (any, int, error)
	}{
		{"invoice mismatches", func(s *Store) (any, int, error) { return s.InvoiceMismatches(ctx, decimal.Zero, 100) }},
		{"missing customers", func(s *Store) (any, int, error) { return s.MissingCustomers(ctx, "", 100) }},
		{"field disagreements", func(s *Store) (any, int, error) { return s.FieldDisagreements(ctx, nil, 100) }},
		{"duplicate customers", func(s *Store) (any, int, error) { return s.DuplicateCustomers(ctx, "", 100) }},
	} {
		want, wantCount, err := c.list(lite)
		if err != nil {
			t.Fatal(err)
		}
		got, gotCount, err := c.list(pg)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) || gotCount != wantCount || wantCount == 0 {
			t.Errorf("%s: PostgreSQL gives %d, SQLite %d, or they differ", c.name, gotCount, wantCount)
		}
	}
}
