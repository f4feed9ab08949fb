package main

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/trestlehq/trestle/config"
	"github.com/trestlehq/trestle/sim"
)

// Bounds of the store's measurements.
const (
	backfillWithin = 10 * time.Minute // a first backfill, from the gateway's start
	appliedWithin  = 10 * time.Second // a change, from its webhook's answer
	appliedPoll    = 2 * time.Millisecond
)

// storeStatusQuery reads what the store holds and how far its backfill is.
const storeStatusQuery = `{ storeStatus { kinds { source kind rows backfill { done } } } }`

// runStore is `load store`: it measures the reporting store's budgets,
// each against fresh simulators and a fresh gateway with a store file of
// its own: the backfill of the demo's world (its time and the gateway's
// peak memory), the same with 5 ms upstreams and HubSpot's default rate
// limit, a larger world, the time from a change webhook's answer to the
// change in the store file, and the orders export. Progress goes to
// stderr, the tables to stdout.
func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load store", flag.ContinueOnError)
	o := storeOptions{progress: stderr}
	fs.IntVar(&o.large, "scale", 10, "the large world, in multiples of the demo's; 0 leaves it out")
	fs.IntVar(&o.changes, "changes", 200, "change webhooks to measure")
	fs.DurationVar(&o.changeEvery, "change-every", 50*time.Millisecond, "how often the simulators make a change while changes are measured")
	fs.StringVar(&o.heapDir, "heap", "", "directory to save the gateway's heap profile in after each backfill")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.large < 0 || o.changes < 1 || o.changeEvery <= 0 {
		return errors.New("-scale must not be negative, -changes must be at least 1 and -change-every positive")
	}
	rep, err := o.run(ctx)
	if ctx.Err() != nil {
		return errors.New("interrupted; what it started is stopped")
	}
	if err != nil {
		return err
	}
	rep.print(stdout)
	return nil
}

// storeOptions are what `load store` measures, and where it says how far
// it is.
type storeOptions struct {
	large       int // the large world's scale; 0 for none
	changes     int
	changeEvery time.Duration
	heapDir     string
	progress    io.Writer
}

// backfillRun is one backfill the store table measures.
type backfillRun struct {
	name     string
	scale    int           // the world, in multiples of the demo's
	latency  time.Duration // of every simulated upstream
	crmLimit bool          // HubSpot's default rate limit; else lifted, as load table lifts it
	export   bool          // also measure the orders export afterwards
}

// worldFlags are the flags of `trestle sim` that size the run's world.
func (r backfillRun) worldFlags() []string { return []string{"-scale", strconv.Itoa(r.scale)} }

// simArgs are the flags of `trestle sim` for the run's world.
func (r backfillRun) simArgs() []string { return simFlags(r.latency, r.worldFlags()...) }

// backfillResult is what one backfill gave.
type backfillResult struct {
	backfillRun
	start    time.Time     // the gateway's
	took     time.Duration // from the gateway's start until the last kind caught up
	finishes []finish      // in the order the kinds caught up
	stopped  int           // backfills that stopped on an error, to be resumed
	orders   int           // orders in the store
	calls    sim.Stats     // calls the simulators answered, from the gateway's start
	cpu      time.Duration // the gateway's CPU time, user and system, from its start
	simCPU   time.Duration // the simulators' CPU time from the gateway's start
	peakRSS  int64         // the gateway's VmHWM after the backfill, in bytes
	exports  []exportResult
}

// storeExports are the files measured after a backfill: the tables
// streamed whole once, then each report the budgets name, five times (the
// median counts), without the live objects of its rows (columns=), so that
// the figure is the store's.
var storeExports = []struct {
	label, path string
	times       int
}{
	{"every order", "/export/orders.csv", 1},
	{"every order line", "/export/order_lines.csv", 1},
	{"revenue per month of 2026 in Berlin", "/export/orderReport.csv?groupBy=CREATED&bucket=MONTH&timeZone=Europe/Berlin&columns=key.period.label,count,sum.total&filter=" +
		url.QueryEscape(`{"createdAt":{"from":"2026-01-01T00:00:00+01:00","to":"2027-01-01T00:00:00+01:00"}}`), 5},
	{"top 10 customers by lifetime value", "/export/orderReport.csv?groupBy=CUSTOMER&limit=10&columns=key.customer.id,count,sum.total&orderBy=" +
		url.QueryEscape(`[{"by":"TOTAL","direction":"DESC"}]`), 5},
	{"receivables aging", "/export/receivablesAging.csv?rows=customers&columns=customer.id,invoices,buckets", 5},
	{"top 10 products by revenue", "/export/lineReport.csv?groupBy=PRODUCT&limit=10&columns=key.sku,sum.quantity,sum.total&orderBy=" +
		url.QueryEscape(`[{"by":"TOTAL","direction":"DESC"}]`), 5},
	{"invoices outstanding by status", "/export/invoiceReport.csv?groupBy=STATUS&columns=key.status,count,sum.outstanding", 5},
	{"stock per warehouse", "/export/stockReport.csv?groupBy=WAREHOUSE&columns=key.warehouse,skus,sum.available", 5},
	{"customers per lifecycle stage", "/export/customerReport.csv?groupBy=LIFECYCLE_STAGE&columns=key.lifecycleStage,count,sum.lifetimeValue", 5},
	{"stock mismatches", "/export/stockMismatches.csv?columns=sku,shopStock,erpAvailable,difference", 5},
	{"uninvoiced orders", "/export/uninvoicedOrders.csv?columns=number,completedAt,total", 5},
	{"invoice totals unlike their order's", "/export/invoiceMismatches.csv?columns=invoiceNumber,orderNumber,difference", 5},
	{"customers missing from a system", "/export/missingCustomers.csv?columns=name,knownTo,missingFrom", 5},
	{"fields that disagree", "/export/fieldDisagreements.csv?columns=field", 5},
	{"duplicates within a system", "/export/duplicateCustomers.csv?columns=source,joinKey", 5},
}

// exportResult is what one export gave.
type exportResult struct {
	label  string
	rows   int // lines after the header
	bytes  int64
	took   time.Duration
	growth int64 // how far the gateway's peak resident memory rose over its present one
	reset  bool  // whether the peak was reset before; else growth is over the backfill's peak
}

// changeResult is what the change webhooks gave.
type changeResult struct {
	result                 // latencies from each webhook's 200 to its change in the store file
	byTable map[string]int // changes measured, by store table
	missed  int            // not in the store within appliedWithin
}

// storeReport is everything `load store` measured.
type storeReport struct {
	machine   string
	opts      storeOptions
	backfills []backfillResult
	changes   changeResult
}

// run measures each backfill, then the changes.
func (o storeOptions) run(ctx context.Context) (storeReport, error) {
	dir, bin, goVersion, err := workDir(ctx, "trestle-store-", o.progress)
	if err != nil {
		return storeReport{}, err
	}
	defer os.RemoveAll(dir)
	rep := storeReport{machine: machine(goVersion), opts: o}
	runs := []backfillRun{
		{name: "a", scale: 1, latency: 0, export: true},
		{name: "b", scale: 1, latency: 5 * time.Millisecond, crmLimit: true},
	}
	if o.large > 0 {
		runs = append(runs, backfillRun{name: "c", scale: o.large, latency: 0, export: true})
	}
	for _, r := range runs {
		fmt.Fprintf(o.progress, "(%s) backfill of scale %d at %s, CRM rate limit %s\n", r.name, r.scale, latency(r.latency), crmLimit(r.crmLimit))
		res, err := o.backfill(ctx, bin, dir, r)
		if err != nil {
			return storeReport{}, fmt.Errorf("(%s) backfill: %w", r.name, err)
		}
		fmt.Fprintf(o.progress, "    %s s, CPU %s s gateway and %s s simulators, peak RSS %.0f MiB\n", seconds(res.took), seconds(res.cpu), seconds(res.simCPU), mib(res.peakRSS))
		for _, e := range res.exports {
			fmt.Fprintf(o.progress, "    %s: %d rows, %.1f MiB in %s s\n", e.label, e.rows, mib(e.bytes), seconds(e.took))
		}
		rep.backfills = append(rep.backfills, res)
	}
	fmt.Fprintf(o.progress, "(d) %d changes, one every %s\n", o.changes, o.changeEvery)
	if rep.changes, err = o.applied(ctx, bin, dir); err != nil {
		return storeReport{}, fmt.Errorf("(d) changes: %w", err)
	}
	return rep, nil
}

// backfill starts simulators and a gateway with an empty store, waits for
// the store's first backfill and reads what it cost.
func (o storeOptions) backfill(ctx context.Context, bin, dir string, r backfillRun) (backfillResult, error) {
	sims, err := startSimulators(ctx, bin, dir, r.latency, r.worldFlags()...)
	if err != nil {
		return backfillResult{}, err
	}
	defer sims.stop()
	storePath := filepath.Join(dir, "store-"+r.name+".db")
	defer removeStore(storePath)
	simCPU, err := cpuTime(sims.pid())
	if err != nil {
		return backfillResult{}, err
	}
	start := time.Now()
	g, kinds, err := startStoreGateway(ctx, bin, dir, storeConfig(sims.sources, storePath, r.crmLimit))
	if err != nil {
		return backfillResult{}, err
	}
	defer g.stop()
	res := backfillResult{backfillRun: r}
	if res.finishes, res.stopped, err = awaitBackfill(ctx, g, kinds); err != nil {
		return backfillResult{}, err
	}
	res.start = start
	res.took = res.finishes[len(res.finishes)-1].at.Sub(start)
	if res.peakRSS, err = peakRSS(g.pid()); err != nil {
		return backfillResult{}, err
	}
	if res.cpu, err = cpuTime(g.pid()); err != nil {
		return backfillResult{}, err
	}
	if res.simCPU, err = cpuTime(sims.pid()); err != nil {
		return backfillResult{}, err
	}
	res.simCPU -= simCPU
	if res.orders, err = backfilled(ctx, g); err != nil {
		return backfillResult{}, err
	}
	if res.calls, err = sims.stats(ctx); err != nil {
		return backfillResult{}, err
	}
	if o.heapDir != "" {
		if err := saveHeap(ctx, g, filepath.Join(o.heapDir, fmt.Sprintf("heap-%s-scale%d.pb.gz", r.name, r.scale))); err != nil {
			return backfillResult{}, err
		}
	}
	if r.export {
		for _, x := range storeExports {
			var runs []exportResult
			for range x.times {
				e, err := export(ctx, g, x.path)
				if err != nil {
					return backfillResult{}, fmt.Errorf("export %s: %w", x.path, err)
				}
				runs = append(runs, e)
			}
			slices.SortFunc(runs, func(a, b exportResult) int { return cmp.Compare(a.took, b.took) })
			e := runs[len(runs)/2]
			for _, r := range runs {
				e.growth = max(e.growth, r.growth)
			}
			e.label = x.label
			res.exports = append(res.exports, e)
		}
	}
	return res, nil
}

// applied measures the changes: simulators of the demo's world make one
// every changeEvery and send its webhook through a relay here to a
// gateway with a store; once the store is backfilled, the relay notes
// when the gateway answered each webhook, and the store file is read until
// it holds the change.
func (o storeOptions) applied(ctx context.Context, bin, dir string) (changeResult, error) {
	rel := newRelay(o.changes)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return changeResult{}, err
	}
	srv := &http.Server{Handler: rel, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	defer func() {
		srv.Close()
		<-served
	}()

	run := backfillRun{name: "d", scale: 1}
	sims, err := startSimulators(ctx, bin, dir, run.latency, append(run.worldFlags(), "-webhook-target", "http://"+ln.Addr().String(),
		"-change-every", o.changeEvery.String())...)
	if err != nil {
		return changeResult{}, err
	}
	defer sims.stop()
	storePath := filepath.Join(dir, "store-d.db")
	defer removeStore(storePath)
	g, kinds, err := startStoreGateway(ctx, bin, dir, storeConfig(sims.sources, storePath, false))
	if err != nil {
		return changeResult{}, err
	}
	defer g.stop()
	rel.setTarget(strings.TrimSuffix(g.url, "/query"))
	if _, _, err := awaitBackfill(ctx, g, kinds); err != nil {
		return changeResult{}, err
	}
	db, err := sql.Open("sqlite3", "file:"+storePath+"?mode=ro")
	if err != nil {
		return changeResult{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	rel.arm()
	res := changeResult{byTable: map[string]int{}}
	var pending []sentChange
	deadline := time.Now().Add(30*time.Second + time.Duration(o.changes)*o.changeEvery*4)
	tick := time.NewTicker(appliedPoll)
	defer tick.Stop()
	for seen := 0; seen < o.changes || len(pending) > 0; {
		select {
		case c := <-rel.sent:
			seen++
			pending = append(pending, c)
		case <-tick.C:
		case <-g.exited:
			return changeResult{}, g.failed("exited while changes were measured")
		case <-ctx.Done():
			return changeResult{}, ctx.Err()
		}
		if time.Now().After(deadline) {
			return changeResult{}, fmt.Errorf("%d of %d changes measured by the deadline; the simulators' log ends:\n%s",
				len(res.latencies)+res.missed, o.changes, sims.tail(10))
		}
		pending, err = res.check(ctx, db, pending)
		if err != nil {
			return changeResult{}, err
		}
	}
	slices.Sort(res.latencies)
	res.ok = int64(len(res.latencies))
	return res, nil
}

// check reads the store file for each pending change and returns those
// still pending: a change is in the store once its row was read after its
// webhook was sent.
func (res *changeResult) check(ctx context.Context, db *sql.DB, pending []sentChange) ([]sentChange, error) {
	left := pending[:0]
	for _, c := range pending {
		var readAt sql.NullInt64
		if err := db.QueryRowContext(ctx, c.row.query, c.row.key).Scan(&readAt); err != nil {
			return nil, fmt.Errorf("read %s from the store file: %w", c.row, err)
		}
		now := time.Now()
		switch {
		case readAt.Valid && readAt.Int64 >= c.sent.UnixNano():
			res.latencies = append(res.latencies, now.Sub(c.answered))
			res.byTable[c.row.table]++
		case now.Sub(c.answered) > appliedWithin:
			res.missed++
			res.byTable[c.row.table]++
		default:
			left = append(left, c)
		}
	}
	return left, nil
}

// stats reads the calls the simulators have answered.
func (s *simulators) stats(ctx context.Context) (sim.Stats, error) {
	base := strings.TrimSuffix(s.sources.Shop.URL, "/shop")
	var st sim.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_sim/stats", nil)
	if err != nil {
		return st, err
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("read the simulators' stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("read the simulators' stats: HTTP %d %v", resp.StatusCode, err)
	}
	return st, nil
}

// storeConfig is a gateway's config for the store's runs: the simulators
// as upstreams, anyone let in with every role, a store at path, logging at
// info (which says when each kind's backfill caught up), and the shop's and
// the ERP's webhooks signed as the simulators sign them. The simulators'
// sources lift HubSpot's rate limit; with crmLimit it is the default.
func storeConfig(sources config.Sources, path string, crmLimit bool) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Sources = sources
	if crmLimit {
		cfg.Sources.CRM.RateLimit = config.DefaultSource(cfg.Sources.CRM.Kind).RateLimit
	}
	cfg.Auth = config.Auth{Anonymous: true, AnonymousRoles: config.Roles}
	cfg.Store.Path = path
	cfg.Log.Level = "info"
	cfg.Events.Webhooks.Secrets = config.WebhookSecrets{Shop: sim.DemoWebhookSecret, ERP: sim.DemoWebhookSecret}
	return cfg
}

// startStoreGateway starts a gateway with a store and returns it with the
// kinds its store keeps, "shop order" and so on.
func startStoreGateway(ctx context.Context, bin, dir string, cfg config.Config) (*gateway, []string, error) {
	g, answer, err := startGateway(ctx, bin, dir, cfg, requestBody(storeStatusQuery))
	if err != nil {
		return nil, nil, err
	}
	st, err := parseStoreStatus(answer)
	if err != nil {
		g.stop()
		return nil, nil, err
	}
	var kinds []string
	for _, k := range st.Kinds {
		kinds = append(kinds, k.name())
	}
	if len(kinds) == 0 {
		g.stop()
		return nil, nil, g.failed("reports a store without kinds")
	}
	return g, kinds, nil
}

// awaitBackfill waits until the gateway has logged that each of kinds
// caught up, and returns when each did, in that order, and how many
// backfills stopped on an error.
func awaitBackfill(ctx context.Context, g *gateway, kinds []string) ([]finish, int, error) {
	var (
		finishes []finish
		stopped  int
	)
	err := g.await(ctx, "finish the store's first backfill", backfillWithin, func(context.Context) error {
		b, err := os.ReadFile(g.log)
		if err != nil {
			return err
		}
		finishes, stopped = backfillLog(string(b))
		var missing []string
		for _, k := range kinds {
			if !slices.ContainsFunc(finishes, func(f finish) bool { return f.name() == k }) {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not caught up: %s", strings.Join(missing, ", "))
		}
		return nil
	})
	return finishes, stopped, err
}

// backfilled checks, through storeStatus, that every kind was read to its
// end, and returns the orders in the store.
func backfilled(ctx context.Context, g *gateway) (int, error) {
	b, err := send(ctx, http.DefaultClient, g.url, requestBody(storeStatusQuery))
	if err != nil {
		return 0, fmt.Errorf("storeStatus: %w", err)
	}
	st, err := parseStoreStatus(b)
	if err != nil {
		return 0, err
	}
	orders := 0
	for _, k := range st.Kinds {
		if !k.Backfill.Done {
			return 0, fmt.Errorf("the log says every kind caught up, storeStatus that %s did not: %s", k.name(), b)
		}
		if k.name() == "shop order" {
			orders = k.Rows
		}
	}
	return orders, nil
}

// storeStatus is the part of the storeStatus answer the table reads.
type storeStatus struct {
	Kinds []storeKind `json:"kinds"`
}

// storeKind is one system and kind of the store.
type storeKind struct {
	Source   string `json:"source"`
	Kind     string `json:"kind"`
	Rows     int    `json:"rows"`
	Backfill struct {
		Done bool `json:"done"`
	} `json:"backfill"`
}

// name is the kind as the log names it, "shop order".
func (k storeKind) name() string { return strings.ToLower(k.Source + " " + k.Kind) }

func parseStoreStatus(answer []byte) (storeStatus, error) {
	var a struct {
		Data struct {
			StoreStatus *storeStatus `json:"storeStatus"`
		} `json:"data"`
	}
	if err := json.Unmarshal(answer, &a); err != nil || a.Data.StoreStatus == nil {
		return storeStatus{}, fmt.Errorf("storeStatus answered %.300s", answer)
	}
	return *a.Data.StoreStatus, nil
}

// finish is when a system and kind's backfill caught up.
type finish struct {
	system, kind string
	at           time.Time     // when the gateway logged it
	took         time.Duration // its own read, from its first page
}

func (f finish) name() string { return f.system + " " + f.kind }

// backfillLog reads a gateway's log for the kinds whose backfill caught
// up, the first time each did, in the order they did, and counts the
// backfills that stopped on an error.
func backfillLog(log string) (finishes []finish, stopped int) {
	for line := range strings.Lines(log) {
		if !strings.HasPrefix(line, "time=") {
			continue // the banner, on stdout
		}
		f := logFields(strings.TrimRight(line, "\n"))
		switch f["msg"] {
		case "backfill caught up":
			at, err1 := time.Parse(time.RFC3339Nano, f["time"])
			took, err2 := time.ParseDuration(f["took"])
			fin := finish{system: f["system"], kind: f["kind"], at: at, took: took}
			if errors.Join(err1, err2) == nil && !slices.ContainsFunc(finishes, func(o finish) bool { return o.name() == fin.name() }) {
				finishes = append(finishes, fin)
			}
		case "backfill stopped; the next one resumes it":
			stopped++
		}
	}
	slices.SortStableFunc(finishes, func(a, b finish) int { return a.at.Compare(b.at) })
	return finishes, stopped
}

// logFields reads the key=value pairs of a log/slog text line; a quoted
// value is unquoted. It stops at what it cannot read.
func logFields(line string) map[string]string {
	out := map[string]string{}
	for {
		line = strings.TrimLeft(line, " ")
		key, rest, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsRune(key, ' ') {
			return out
		}
		value := ""
		if strings.HasPrefix(rest, `"`) {
			quoted, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return out
			}
			value, _ = strconv.Unquote(quoted)
			rest = rest[len(quoted):]
		} else {
			value, rest, _ = strings.Cut(rest, " ")
		}
		out[key] = value
		line = rest
	}
}

// relay passes the simulators' change webhooks on to the gateway. Once
// armed, it hands over, for up to n webhooks the gateway answered 200, the
// store rows each changes and when it was sent and answered.
type relay struct {
	client *http.Client
	sent   chan sentChange // buffered for all n: the relay never waits

	mu     sync.Mutex
	target string // the gateway's base URL; empty until it runs
	armed  bool
	left   int // webhooks still to hand over
}

// sentChange is a change webhook the gateway answered 200.
type sentChange struct {
	row      storeRow
	sent     time.Time // as it went to the gateway
	answered time.Time // as the gateway's answer came
}

var _ http.Handler = (*relay)(nil)

func newRelay(n int) *relay {
	return &relay{client: &http.Client{Timeout: 5 * time.Second}, sent: make(chan sentChange, n), left: n}
}

func (r *relay) setTarget(base string) {
	r.mu.Lock()
	r.target = base
	r.mu.Unlock()
}

func (r *relay) arm() {
	r.mu.Lock()
	r.armed = true
	r.mu.Unlock()
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	target, armed := r.target, r.armed
	r.mu.Unlock()
	if target == "" {
		http.Error(w, "the gateway is not running yet", http.StatusServiceUnavailable)
		return
	}
	out, err := http.NewRequestWithContext(req.Context(), http.MethodPost, target+req.URL.Path, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = req.Header.Clone()
	sent := time.Now()
	resp, err := r.client.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	answered := time.Now()
	w.WriteHeader(resp.StatusCode)
	if resp.StatusCode != http.StatusOK || !armed {
		return
	}
	row, err := changedRow(req.URL.Path, req.Header, body)
	if err != nil {
		return // a change the table does not follow
	}
	r.mu.Lock()
	hand := r.left > 0
	if hand {
		r.left--
	}
	r.mu.Unlock()
	if hand {
		r.sent <- sentChange{row: row, sent: sent, answered: answered}
	}
}

// storeRow is where the store keeps a changed record: a query of the
// newest read_at of its rows, and its key.
type storeRow struct {
	table string
	query string
	key   any
}

func (r storeRow) String() string { return fmt.Sprintf("%s %v", r.table, r.key) }

func newStoreRow(table, column string, key any) storeRow {
	return storeRow{table: table, key: key, query: "SELECT max(read_at) FROM " + table + " WHERE " + column + " = ?"}
}

// changedRow reads which store rows a change webhook (as sim/changes.go
// sends them) changes: a WooCommerce order's; an ERPNext invoice's or
// customer's, or a Bin's SKU's stock in every warehouse.
func changedRow(path string, header http.Header, body []byte) (storeRow, error) {
	switch path {
	case "/webhooks/shop":
		var rec struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(body, &rec); err != nil || rec.ID == 0 {
			return storeRow{}, errors.New("not a WooCommerce record with an id")
		}
		if resource := header.Get("X-WC-Webhook-Resource"); resource != "order" {
			return storeRow{}, fmt.Errorf("a WooCommerce %q: only orders are followed", resource)
		}
		return newStoreRow("orders", "id", rec.ID), nil
	case "/webhooks/erp":
		var doc struct {
			DocType  string `json:"doctype"`
			Name     string `json:"name"`
			ItemCode string `json:"item_code"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.Name == "" {
			return storeRow{}, errors.New("not an ERPNext document with a name")
		}
		switch {
		case doc.DocType == "Sales Invoice":
			return newStoreRow("invoices", "id", doc.Name), nil
		case doc.DocType == "Customer":
			return newStoreRow("erp_customers", "id", doc.Name), nil
		case doc.DocType == "Bin" && doc.ItemCode != "":
			return newStoreRow("stock", "sku", doc.ItemCode), nil
		}
		return storeRow{}, fmt.Errorf("an ERPNext %q: not followed", doc.DocType)
	}
	return storeRow{}, fmt.Errorf("%s: not a webhook the table follows", path)
}

// export downloads an export, uncompressed, and reads how long it took
// and how far the gateway's peak memory rose meanwhile.
func export(ctx context.Context, g *gateway, path string) (exportResult, error) {
	e := exportResult{reset: resetPeakRSS(g.pid()) == nil}
	before, err := peakRSS(g.pid())
	if err != nil {
		return e, err
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 5 * time.Minute}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(g.url, "/query")+path, nil)
	if err != nil {
		return e, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return e, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return e, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	lines := &lineCounter{}
	if e.bytes, err = io.Copy(lines, resp.Body); err != nil {
		return e, err
	}
	e.took, e.rows = time.Since(start), lines.n-1
	if trestleErrors := resp.Header.Get("Trestle-Errors"); trestleErrors != "" {
		return e, fmt.Errorf("%s errors: %s", trestleErrors, resp.Header.Get("Trestle-Error"))
	}
	after, err := peakRSS(g.pid())
	e.growth = after - before
	return e, err
}

// lineCounter counts the lines written to it.
type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// resetPeakRSS sets a process's VmHWM back to its present resident memory
// (Linux 4.0 on), so that the next peak read is of what follows.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// saveHeap writes the gateway's heap profile, after a collection, to path.
func saveHeap(ctx context.Context, g *gateway, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.admin+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

// removeStore removes a store file with its WAL.
func removeStore(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Remove(p)
	}
}

// print writes the report as Markdown: the machine, one table per budget
// with what its figures mean, and how to repeat each row.
func (r storeReport) print(w io.Writer) {
	fmt.Fprintf(w, "machine   %s\n", r.machine)
	fmt.Fprintf(w, "setup     simulators (`trestle sim`, seed %d) and a gateway with a store, on this machine; fresh ones and an empty store file per row; gateway log at info\n\n", simSeed)

	fmt.Fprintln(w, "| backfill | world | upstream latency | CRM rate limit | time s | systems done at s | the last one's kinds, own s | upstream calls shop / crm / erp | CPU s gateway / simulators | peak RSS MiB |")
	fmt.Fprintln(w, "|---|---|--:|---|--:|---|---|--:|--:|--:|")
	for _, b := range r.backfills {
		fmt.Fprintf(w, "| (%s) | scale %d, %d orders | %s | %s | %s | %s | %s | %d / %d / %d | %s / %s | %.0f |\n", b.name, b.scale, b.orders,
			latency(b.latency), crmLimit(b.crmLimit), seconds(b.took), systemsDone(b.finishes, b.start), lastSystem(b.finishes),
			b.calls.Shop, b.calls.CRM, b.calls.ERP, seconds(b.cpu), seconds(b.simCPU), mib(b.peakRSS))
	}
	fmt.Fprintln(w, "\ntime: from the gateway's start until its log says the last kind caught up. A system's kinds are read one after another, the systems side by side: the system done last bounds the backfill.")
	fmt.Fprintln(w, "calls and CPU (user+system): from the gateway's start, its customer directory's first sync included. peak RSS: the gateway's VmHWM from its start through the backfill.")
	if len(r.backfills) > 0 {
		var sizes []string
		for _, b := range r.backfills {
			if b.latency == 0 {
				sizes = append(sizes, fmt.Sprintf("scale %d %.0f MiB", b.scale, mib(b.peakRSS)))
			}
		}
		fmt.Fprintf(w, "peak RSS by world size, at 0 ms: %s\n", strings.Join(sizes, ", "))
	}
	for _, b := range r.backfills {
		if b.stopped > 0 {
			fmt.Fprintf(w, "NOTE: (%s) %d backfills stopped on an error and were resumed (see the gateway's warnings)\n", b.name, b.stopped)
		}
	}

	c := r.changes
	tables := slices.Sorted(maps.Keys(c.byTable))
	counts := make([]string, len(tables))
	for i, t := range tables {
		counts[i] = fmt.Sprintf("%s %d", t, c.byTable[t])
	}
	fmt.Fprintln(w, "\n| change applied | changes | p50 ms | p99 ms | max ms | not in the store within 10 s |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	fmt.Fprintf(w, "| (d) scale 1, 0 ms, a change every %s | %d (%s) | %s | %s | %s | %d |\n", r.opts.changeEvery, len(c.latencies)+c.missed,
		strings.Join(counts, ", "), millis(c.percentile(0.50)), millis(c.percentile(0.99)), millis(c.percentile(1)), c.missed)
	fmt.Fprintf(w, "\nfrom the gateway's 200 to a signed webhook until the store file (opened read-only, read every %s) holds the record read again after the webhook was sent.\n", appliedPoll)

	fmt.Fprintln(w, "\n| export | world | rows | MiB | time ms | peak RSS growth MiB |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	reset := true
	for _, b := range r.backfills {
		for _, e := range b.exports {
			fmt.Fprintf(w, "| %s | (%s) scale %d | %d | %.1f | %s | %.0f |\n", e.label, b.name, b.scale, e.rows, mib(e.bytes), millis(e.took), mib(e.growth))
			reset = reset && e.reset
		}
	}
	growth := "the gateway's VmHWM after the export less its resident memory before it (peak reset through /proc/PID/clear_refs)"
	if !reset {
		growth = "the gateway's VmHWM after the export less before it (the peak could not be reset: growth past the backfill's peak only)"
	}
	fmt.Fprintf(w, "\nafter the backfill of the row of that name, one after another, uncompressed, over HTTP; a report's time is its whole request (the GraphQL request it runs and the file), the median of %d. growth: %s. The paths:\n", storeExports[len(storeExports)-1].times, growth)
	for _, x := range storeExports {
		path, _ := url.QueryUnescape(x.path)
		fmt.Fprintf(w, "- %s: `%s`\n", x.label, path)
	}

	fmt.Fprintln(w, "\nreproduce: `go run ./load store` (flags: -scale, -changes, -change-every, -heap DIR). By hand, after `go build -o trestle .`:")
	for _, b := range r.backfills {
		fmt.Fprintf(w, "- (%s) `./trestle sim %s`, then `./trestle -config gw.yaml`: %s\n", b.name, strings.Join(b.simArgs(), " "), gatewayNote(b.crmLimit))
	}
	d := backfillRun{scale: 1}
	fmt.Fprintf(w, "- (d) `./trestle sim %s -webhook-target http://GATEWAY -change-every %s`, then the gateway as (a) with `events: { webhooks: { secrets: { shop: %s, erp: %s } } }`\n",
		strings.Join(d.simArgs(), " "), r.opts.changeEvery, sim.DemoWebhookSecret, sim.DemoWebhookSecret)
}

// gatewayNote says what gw.yaml holds for a row.
func gatewayNote(limit bool) string {
	rate := "`crm: { rateLimit: { requests: 1000000, per: 10s } }` added to them, as load table has it"
	if limit {
		rate = "crm's rateLimit left out (the default)"
	}
	return "the `sources:` it prints, " + rate + ", `store: { path: store.db }`, `log: { level: info }`"
}

// systemsDone is when each system's last kind caught up, from start, in
// the order they did: "crm 0.92, erp 2.10, shop 4.50".
func systemsDone(finishes []finish, start time.Time) string {
	var done []string
	for i, f := range finishes {
		later := slices.ContainsFunc(finishes[i+1:], func(o finish) bool { return o.system == f.system })
		if !later {
			done = append(done, f.system+" "+seconds(f.at.Sub(start)))
		}
	}
	return strings.Join(done, ", ")
}

// lastSystem is the system whose backfill ended last, with its kinds' own
// times: "shop: order 2.10, product 0.05, customer 0.31".
func lastSystem(finishes []finish) string {
	if len(finishes) == 0 {
		return "–"
	}
	system := finishes[len(finishes)-1].system
	var kinds []string
	for _, f := range finishes {
		if f.system == system {
			kinds = append(kinds, f.kind+" "+seconds(f.took))
		}
	}
	return system + ": " + strings.Join(kinds, ", ")
}

// crmLimit is the CRM's rate limit as the table shows it.
func crmLimit(limited bool) string {
	if !limited {
		return "lifted"
	}
	rl := config.DefaultSource("hubspot").RateLimit
	return fmt.Sprintf("%d per %s", rl.Requests, rl.Per)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }
