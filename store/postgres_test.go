package store

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/trestlehq/trestle/consolidate"
	"github.com/trestlehq/trestle/sim/simtest"
	"github.com/trestlehq/trestle/store/pgtest"
)

// openPostgres opens a store in a new database of srv.
func openPostgres(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{PostgresURL: url, Join: consolidate.JoinByEmail, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresStoreHoldsWhatSQLiteDoes(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.Database(t, "reports")
	env := simtest.Start(t, smallWorld)
	// Replicas starting together migrate one at a time.
	opened := make(chan *Store, 3)
	for range 3 {
		go func() {
			s, err := Open(t.Context(), Options{PostgresURL: url, Join: consolidate.JoinByEmail, Logger: logger})
			if err != nil {
				t.Error(err)
			}
			opened <- s
		}()
	}
	var s *Store
	for range 3 {
		if o := <-opened; o != nil {
			t.Cleanup(func() { o.Close() })
			s = o
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if !strings.Contains(s.where, "reports") || strings.Contains(url, "secret") {
		t.Errorf("the store is named %q", s.where)
	}
	if _, err := s.Backfill(t.Context(), sources(env, 50)); err != nil {
		t.Fatal(err)
	}
	checkWorld(t, s, env.Sim.World)
	n := 0
	if err := s.EachOrder(t.Context(), OrderQuery{}, func(r *OrderRow) error {
		n++
		if r.CustomerEmail == "" && r.CustomerName == "" {
			t.Errorf("order %d has no customer", r.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(env.Sim.World.Orders) {
		t.Errorf("%d orders read, want %d", n, len(env.Sim.World.Orders))
	}
	// The reports' SQL is the same in both: they answer the same.
	lite := openTemp(t)
	if _, err := lite.Backfill(t.Context(), sources(env, 50)); err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, q := range []OrderReportQuery{
		{GroupBy: []OrderDimension{ByCreated, ByStatus}, Bucket: Week, Zone: berlin},
		{GroupBy: []OrderDimension{ByCustomer, ByLifecycleStage}, OrderBy: []OrderSort{{By: "total", Desc: true}}, Customers: true, Limit: 5},
	} {
		want, err := lite.OrderReport(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.OrderReport(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) || len(got) == 0 {
			t.Errorf("report %+v: PostgreSQL gives %d groups, SQLite %d, or they differ", q.GroupBy, len(got), len(want))
		}
	}
	aging := AgingQuery{AsOf: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), OrderBy: "most_overdue"}
	wantTotals, wantCustomers, err := lite.ReceivablesAging(t.Context(), aging)
	if err != nil {
		t.Fatal(err)
	}
	gotTotals, gotCustomers, err := s.ReceivablesAging(t.Context(), aging)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotTotals, wantTotals) || !reflect.DeepEqual(gotCustomers, wantCustomers) || len(gotCustomers) == 0 {
		t.Errorf("receivables aging: PostgreSQL gives %d customers, SQLite %d, or they differ", len(gotCustomers), len(wantCustomers))
	}
	wantStock, wantCount, err := lite.StockMismatches(t.Context(), decimal.One, 100)
	if err != nil {
		t.Fatal(err)
	}
	gotStock, gotCount, err := s.StockMismatches(t.Context(), decimal.One, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotStock, wantStock) || gotCount != wantCount || wantCount == 0 {
		t.Errorf("stock mismatches: PostgreSQL gives %d, SQLite %d, or they differ", gotCount, wantCount)
	}
	wantOrders, wantCount, err := lite.UninvoicedOrders(t.Context(), time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	gotOrders, gotCount, err := s.UninvoicedOrders(t.Context(), time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotOrders, wantOrders) || gotCount != wantCount {
		t.Errorf("uninvoiced orders: PostgreSQL gives %d, SQLite %d, or they differ", gotCount, wantCount)
	}
}

func TestPostgresReplicasTakeTurnsToSync(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.Database(t, "replicas")
	env := simtest.Start(t, smallWorld)
	start := func(name string) (*Syncer, context.CancelFunc, chan struct{}) {
		s := openPostgres(t, url)
		y := NewSyncer(s, SyncOptions{Replica: name, Sources: sources(env, 0), Changes: Changes(), Sweep: time.Hour, Logger: logger})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { y.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return y, cancel, done
	}
	a, stopA, doneA := start("a")
	awaitState(t, a, "a syncing", func(st Status) bool { return st.Syncing && st.SyncedBy == "a" && st.State == StateCurrent })
	b, _, _ := start("b")
	st := awaitState(t, b, "b reading what a synced", func(st Status) bool { return st.SyncedBy == "a" && st.State == StateCurrent })
	if st.Syncing || st.Watermark.IsZero() {
		t.Errorf("b: %+v, want a follower that sees a's watermark", st)
	}
	checkWorld(t, b.store, env.Sim.World)

	// a dies: its session ends (as a killed process's does) and it is
	// gone. b takes over.
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var killed int
	if err := db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid::bigint = $1`,
		syncLock&0xffffffff).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("ending a's session: %d killed, %v", killed, err)
	}
	stopA()
	<-doneA
	took := time.Now()
	awaitState(t, b, "b taking over", func(st Status) bool { return st.Syncing && st.SyncedBy == "b" && st.State == StateCurrent })
	t.Logf("b took over in %s", time.Since(took))
	checkWorld(t, b.store, env.Sim.World)
}
