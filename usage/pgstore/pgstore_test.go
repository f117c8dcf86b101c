package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// clock is a settable clock for the stores under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func fixedClock(t time.Time) func() time.Time { return (&clock{now: t}).Now }

// randomRecords returns n records of two series in the two minutes after
// t0, with latencies from 1 ms to 2 s and some failures.
func randomRecords(seed int64, n int) []usage.Record {
	rng := rand.New(rand.NewSource(seed))
	records := make([]usage.Record, n)
	for i := range records {
		r := usage.Record{
			Time:       t0.Add(time.Duration(rng.Int63n(int64(2 * time.Minute)))),
			Call:       usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: []string{"gpt-4o", "gpt-4o-mini"}[rng.Intn(2)], Operation: "chat"},
			Tokens:     usage.Tokens{Input: rng.Int63n(1000), Output: rng.Int63n(100)},
			UsageKnown: true,
			Priced:     true,
			CostNanos:  rng.Int63n(1_000_000),
			Latency:    time.Millisecond + time.Duration(rng.Int63n(int64(2*time.Second))),
		}
		if rng.Intn(5) == 0 {
			r.Error = []errmon.Category{errmon.Timeout, errmon.RateLimited}[rng.Intn(2)]
		}
		records[i] = r
	}
	return records
}

func mustWrite(t *testing.T, s usage.Store, records []usage.Record) {
	t.Helper()
	if err := s.Write(context.Background(), records); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func sumRollups(t *testing.T, s usage.Store, since, until time.Time) (usage.Stats, int) {
	t.Helper()
	rollups, err := s.Rollups(context.Background(), since, until)
	if err != nil {
		t.Fatalf("Rollups: %v", err)
	}
	var total usage.Stats
	for i := range rollups {
		total.Merge(&rollups[i].Stats)
	}
	return total, len(rollups)
}

func countRows(t *testing.T, pool *pgxpool.Pool, table string) int64 {
	t.Helper()
	var n int64
	// table is one of the fixed names the tests pass, never input.
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestInstancesMergeExactly(t *testing.T) {
	const instances, batches, batchSize = 3, 20, 50
	schema := newSchema(t)
	ctx := context.Background()
	now := fixedClock(t0.Add(time.Hour))

	stores := make([]*pgstore.Store, instances)
	for i := range stores {
		// Each instance has a pool of its own, as separate processes
		// would; the first one also goes through Open.
		var (
			s   *pgstore.Store
			err error
		)
		if i == 0 {
			s, err = pgstore.Open(ctx, dsnWithSearchPath(t, schema), pgstore.WithClock(now))
		} else {
			s, err = pgstore.New(ctx, newPool(t, schema), pgstore.WithClock(now))
		}
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}

	var all []usage.Record
	perInstance := make([][]usage.Record, instances)
	for i := range perInstance {
		perInstance[i] = randomRecords(int64(i+1), batches*batchSize)
		all = append(all, perInstance[i]...)
	}

	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func(s *pgstore.Store, records []usage.Record) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				if err := s.Write(ctx, records[b*batchSize:(b+1)*batchSize]); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		}(s, perInstance[i])
	}
	wg.Wait()

	var want usage.Stats
	keys := make(map[string]bool)
	for i := range all {
		want.Add(&all[i])
		keys[fmt.Sprint(all[i].Time.Truncate(time.Minute).Unix(), all[i].Call.Model)] = true
	}
	got, rows := sumRollups(t, stores[1], t0, t0.Add(time.Hour))
	if rows != len(keys) {
		t.Errorf("rollups = %d, want %d: one row per minute and series, whatever the instances", rows, len(keys))
	}
	if got.Calls != want.Calls || got.Errors != want.Errors || got.CostNanos != want.CostNanos || got.Tokens != want.Tokens {
		t.Errorf("calls, errors, cost, tokens = %d, %d, %d, %+v; want %d, %d, %d, %+v",
			got.Calls, got.Errors, got.CostNanos, got.Tokens, want.Calls, want.Errors, want.CostNanos, want.Tokens)
	}
	if fmt.Sprint(got.ErrorsByCategory) != fmt.Sprint(want.ErrorsByCategory) {
		t.Errorf("ErrorsByCategory = %v, want %v", got.ErrorsByCategory, want.ErrorsByCategory)
	}
	if got.Latency.Sum() != want.Latency.Sum() || got.Latency.Max() != want.Latency.Max() {
		t.Errorf("latency sum, max = %v, %v; want %v, %v", got.Latency.Sum(), got.Latency.Max(), want.Latency.Sum(), want.Latency.Max())
	}
	if g, w := fmt.Sprint(got.Latency.Bins()), fmt.Sprint(want.Latency.Bins()); g != w {
		t.Errorf("latency bins differ:\n got %s\nwant %s", g, w)
	}
}

func TestMergeFunctions(t *testing.T) {
	pool := newPool(t, newSchema(t))
	ctx := context.Background()
	if _, err := pgstore.New(ctx, pool); err != nil {
		t.Fatal(err)
	}

	bins := []struct {
		name string
		a, b []int64
		want string
	}{
		{"disjoint and shared buckets", []int64{1, 2, 5, 1}, []int64{1, 3, 3, 4}, "[1 5 3 4 5 1]"},
		{"empty and full", []int64{}, []int64{7, 1}, "[7 1]"},
		{"both empty", []int64{}, []int64{}, "[]"},
		{"counts beyond 32 bits", []int64{9, 1 << 40}, []int64{9, 1 << 40}, fmt.Sprintf("[9 %d]", int64(1)<<41)},
	}
	for _, tt := range bins {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			if err := pool.QueryRow(ctx, `SELECT aimeter_merge_bins($1, $2)`, tt.a, tt.b).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != tt.want {
				t.Errorf("aimeter_merge_bins(%v, %v) = %v, want %s", tt.a, tt.b, got, tt.want)
			}
		})
	}

	// Pairs out of order are not merged, but no count is lost.
	var unordered []int64
	if err := pool.QueryRow(ctx, `SELECT aimeter_merge_bins('{5,1,1,2}', '{1,3}')`).Scan(&unordered); err != nil {
		t.Fatal(err)
	}
	var total int64
	for i := 1; i < len(unordered); i += 2 {
		total += unordered[i]
	}
	if total != 6 {
		t.Errorf("aimeter_merge_bins of unordered pairs = %v, counts sum to %d, want 6", unordered, total)
	}

	var counts map[string]int64
	err := pool.QueryRow(ctx, `SELECT aimeter_merge_counts('{"timeout": 2, "auth": 1}', '{"timeout": 9000000000, "network": 1}')`).Scan(&counts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(counts), "map[auth:1 network:1 timeout:9000000002]"; got != want {
		t.Errorf("aimeter_merge_counts = %s, want %s", got, want)
	}
}

func TestMigrationSQLScript(t *testing.T) {
	pool := newPool(t, newSchema(t))
	ctx := context.Background()

	if _, err := pgstore.New(ctx, pool, pgstore.WithoutMigrations()); !errors.Is(err, pgstore.ErrSchemaOutdated) {
		t.Fatalf("New on an empty schema without migrations = %v, want ErrSchemaOutdated", err)
	}

	// The script runs twice, as a deployment may rerun it, and leaves
	// one version row.
	for i := 0; i < 2; i++ {
		if _, err := pool.Exec(ctx, pgstore.MigrationSQL()); err != nil {
			t.Fatalf("run MigrationSQL (time %d): %v", i+1, err)
		}
	}
	if n := countRows(t, pool, "aimeter_schema_migrations"); n != int64(len(pgstore.Migrations())) {
		t.Errorf("aimeter_schema_migrations has %d rows, want %d", n, len(pgstore.Migrations()))
	}

	s, err := pgstore.New(ctx, pool, pgstore.WithoutMigrations(), pgstore.WithClock(fixedClock(t0.Add(time.Hour))))
	if err != nil {
		t.Fatalf("New after the script: %v", err)
	}
	defer s.Close()
	mustWrite(t, s, randomRecords(1, 10))
	if got, _ := sumRollups(t, s, t0, t0.Add(time.Hour)); got.Calls != 10 {
		t.Errorf("calls = %d, want 10", got.Calls)
	}

	// Migrating at start finds nothing to do.
	if _, err := pgstore.New(ctx, pool); err != nil {
		t.Fatalf("New with migrations after the script: %v", err)
	}
	if n := countRows(t, pool, "aimeter_schema_migrations"); n != int64(len(pgstore.Migrations())) {
		t.Errorf("aimeter_schema_migrations has %d rows after New, want %d", n, len(pgstore.Migrations()))
	}
}

func TestConcurrentStartsMigrateOnce(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	pools := make([]*pgxpool.Pool, 4)
	for i := range pools {
		pools[i] = newPool(t, schema)
	}

	errs := make(chan error, len(pools))
	for _, pool := range pools {
		go func(pool *pgxpool.Pool) {
			_, err := pgstore.New(ctx, pool)
			errs <- err
		}(pool)
	}
	for range pools {
		if err := <-errs; err != nil {
			t.Errorf("New: %v", err)
		}
	}
	if n := countRows(t, pools[0], "aimeter_schema_migrations"); n != int64(len(pgstore.Migrations())) {
		t.Errorf("aimeter_schema_migrations has %d rows, want %d", n, len(pgstore.Migrations()))
	}
}

func TestSchemaTooNew(t *testing.T) {
	pool := newPool(t, newSchema(t))
	ctx := context.Background()
	if _, err := pgstore.New(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO aimeter_schema_migrations (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]pgstore.Option{nil, {pgstore.WithoutMigrations()}} {
		if _, err := pgstore.New(ctx, pool, opts...); !errors.Is(err, pgstore.ErrSchemaTooNew) {
			t.Errorf("New = %v, want ErrSchemaTooNew", err)
		}
	}
}

func TestPruneDeletesExpiredRows(t *testing.T) {
	pool := newPool(t, newSchema(t))
	ctx := context.Background()
	clk := &clock{now: t0.Add(10 * time.Minute)}
	s, err := pgstore.New(ctx, pool, pgstore.WithClock(clk.Now), pgstore.WithRetention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	mustWrite(t, s, randomRecords(1, 100))
	if n := countRows(t, pool, "aimeter_records"); n != 100 {
		t.Fatalf("aimeter_records has %d rows, want 100", n)
	}

	// An hour later the records are hidden at once, and gone after Prune.
	clk.Set(t0.Add(2 * time.Hour))
	if got, _ := sumRollups(t, s, t0, t0.Add(time.Hour)); got.Calls != 0 {
		t.Errorf("calls past retention = %d, want 0", got.Calls)
	}
	if recent, err := s.Recent(ctx, 10); err != nil || len(recent) != 0 {
		t.Errorf("Recent past retention = %d records, %v; want none", len(recent), err)
	}
	if err := s.Prune(ctx); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	for _, table := range []string{"aimeter_records", "aimeter_rollups"} {
		if n := countRows(t, pool, table); n != 0 {
			t.Errorf("%s has %d rows after Prune, want 0", table, n)
		}
	}

	// A record already past retention when written is dropped.
	mustWrite(t, s, randomRecords(2, 5))
	if n := countRows(t, pool, "aimeter_records"); n != 0 {
		t.Errorf("aimeter_records has %d rows after writing expired records, want 0", n)
	}
}

func TestWindowQueriesUseIndexes(t *testing.T) {
	pool := newPool(t, newSchema(t))
	ctx := context.Background()
	if _, err := pgstore.New(ctx, pool); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// The tables are empty, so the planner would scan them whole. With
	// sequential scans off, the plan shows whether an index serves the
	// query.
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(ctx, `RESET enable_seqscan`) }()

	queries := []struct{ name, sql, index string }{
		{"rollups window", `SELECT * FROM aimeter_rollups WHERE minute >= $1 AND minute < $2`, "aimeter_rollups_pkey"},
		{"recent records", `SELECT * FROM aimeter_records WHERE time >= $1 ORDER BY time DESC, id DESC LIMIT 10`, "aimeter_records_pkey"},
	}
	for _, q := range queries {
		args := []any{t0}
		if strings.Count(q.sql, "$") == 2 {
			args = append(args, t0.Add(time.Hour))
		}
		rows, err := conn.Query(ctx, "EXPLAIN "+q.sql, args...)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		rows.Close()
		if !strings.Contains(plan.String(), q.index) {
			t.Errorf("%s: plan does not use %s:\n%s", q.name, q.index, plan.String())
		}
	}
}

func TestNULByteRejected(t *testing.T) {
	pool := newPool(t, newSchema(t))
	ctx := context.Background()
	s, err := pgstore.New(ctx, pool, pgstore.WithClock(fixedClock(t0.Add(time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	records := randomRecords(1, 3)
	records[2].Call.Model = "gpt\x00"
	err = s.Write(ctx, records)
	if !errors.Is(err, usage.ErrInvalidRecord) {
		t.Fatalf("Write = %v, want usage.ErrInvalidRecord", err)
	}
	for _, want := range []string{"record 2", "Call.Model", "NUL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := countRows(t, pool, "aimeter_records"); n != 0 {
		t.Errorf("aimeter_records has %d rows, want 0", n)
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	_, err := pgstore.Open(context.Background(), "postgres://aimeter:s3cret-pw@127.0.0.1:notaport/db")
	if err == nil {
		t.Fatal("Open with an invalid DSN succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error %q shows the password", err)
	}
}
