package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/sqlitestore"
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

func open(t *testing.T, path string, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustWrite(t *testing.T, s usage.Store, records []usage.Record) {
	t.Helper()
	if err := s.Write(context.Background(), records); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func sumRollups(t *testing.T, s usage.Store, since, until time.Time) usage.Stats {
	t.Helper()
	rollups, err := s.Rollups(context.Background(), since, until)
	if err != nil {
		t.Fatalf("Rollups: %v", err)
	}
	var total usage.Stats
	for i := range rollups {
		total.Merge(&rollups[i].Stats)
	}
	return total
}

// rawDB opens the file with plain database/sql, beside the store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func queryInt(t *testing.T, db *sql.DB, query string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	now := fixedClock(t0.Add(time.Hour))
	records := randomRecords(1, 200)

	s := open(t, path, sqlitestore.WithClock(now))
	mustWrite(t, s, records)
	before := sumRollups(t, s, t0, t0.Add(time.Hour))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, sqlitestore.WithClock(now))
	after := sumRollups(t, s, t0, t0.Add(time.Hour))
	if after.Calls != 200 || after.CostNanos != before.CostNanos || after.Latency.Sum() != before.Latency.Sum() {
		t.Errorf("after reopening: calls %d cost %d latency sum %v; want 200, %d, %v",
			after.Calls, after.CostNanos, after.Latency.Sum(), before.CostNanos, before.Latency.Sum())
	}
	recent, err := s.Recent(context.Background(), 1000)
	if err != nil || len(recent) != 200 {
		t.Errorf("Recent after reopening = %d records, %v; want 200", len(recent), err)
	}
}

func TestFileSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	s := open(t, path)
	mustWrite(t, s, randomRecords(1, 1))

	db := rawDB(t, path)
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	if got := queryInt(t, db, `PRAGMA auto_vacuum`); got != 2 {
		t.Errorf("auto_vacuum = %d, want 2 (incremental)", got)
	}
	if got := queryInt(t, db, `SELECT count(*) FROM schema_migrations`); got != 2 {
		t.Errorf("schema_migrations has %d rows, want 2", got)
	}
}

// TestMigrateAddsStreamSums turns a file back into schema version 1, which
// had no stream sums, and checks that Open migrates it: the old row reads
// with zero sums, and a later write adds only its own call to them.
func TestMigrateAddsStreamSums(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	now := fixedClock(t0.Add(time.Hour))
	stream := func(at time.Duration, output int64, latency time.Duration) usage.Record {
		return usage.Record{
			Time: t0.Add(at), Call: usage.Call{Endpoint: "/chat", Provider: "openai", Model: "gpt-4o"},
			UsageKnown: true, Tokens: usage.Tokens{Input: 5, Output: output}, Latency: latency, Stream: true,
		}
	}
	s := open(t, path, sqlitestore.WithClock(now))
	mustWrite(t, s, []usage.Record{stream(time.Second, 100, time.Second)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db := rawDB(t, path)
	for _, stmt := range []string{
		`ALTER TABLE rollups DROP COLUMN stream_output_tokens`,
		`ALTER TABLE rollups DROP COLUMN stream_latency_ns`,
		`DELETE FROM schema_migrations WHERE version = 2`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	_ = db.Close()

	s = open(t, path, sqlitestore.WithClock(now))
	old := sumRollups(t, s, t0, t0.Add(time.Minute))
	if old.StreamCalls != 1 || old.StreamOutputTokens != 0 || old.StreamLatency != 0 {
		t.Errorf("row of version 1: StreamCalls, StreamOutputTokens, StreamLatency = %d, %d, %v, want 1, 0, 0s",
			old.StreamCalls, old.StreamOutputTokens, old.StreamLatency)
	}

	mustWrite(t, s, []usage.Record{stream(2*time.Second, 40, 400*time.Millisecond+3)})
	got := sumRollups(t, s, t0, t0.Add(time.Minute))
	if got.StreamCalls != 2 {
		t.Errorf("StreamCalls = %d, want 2", got.StreamCalls)
	}
	if got.StreamOutputTokens != 40 {
		t.Errorf("StreamOutputTokens = %d, want 40", got.StreamOutputTokens)
	}
	if got.StreamLatency != 400*time.Millisecond+3 {
		t.Errorf("StreamLatency = %v, want 400.000003ms", got.StreamLatency)
	}
}

func TestOlderFileGetsIncrementalVacuum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, db, `PRAGMA auto_vacuum`); got != 0 {
		t.Fatalf("a plain file has auto_vacuum = %d, want 0", got)
	}
	_ = db.Close()

	open(t, path)
	db = rawDB(t, path)
	if got := queryInt(t, db, `PRAGMA auto_vacuum`); got != 2 {
		t.Errorf("auto_vacuum after Open = %d, want 2 (incremental)", got)
	}
	if got := queryInt(t, db, `SELECT count(*) FROM notes`); got != 0 {
		t.Errorf("the file's own table lost or gained rows: %d", got)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	s := open(t, path)
	_ = s.Close()
	db := rawDB(t, path)
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at_ns) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlitestore.Open(path); !errors.Is(err, sqlitestore.ErrSchemaTooNew) {
		t.Errorf("Open = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:usage.db?mode=ro"} {
		if s, err := sqlitestore.Open(path); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?#%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "usage 100%?.db")
	s := open(t, path, sqlitestore.WithClock(fixedClock(t0.Add(time.Hour))))
	mustWrite(t, s, randomRecords(1, 3))
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the file is not at the path given: %v", err)
	}
	if got := sumRollups(t, s, t0, t0.Add(time.Hour)); got.Calls != 3 {
		t.Errorf("calls = %d, want 3", got.Calls)
	}
}

func TestNULByteKept(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "usage.db"), sqlitestore.WithClock(fixedClock(t0.Add(time.Hour))))
	r := randomRecords(1, 1)[0]
	r.Call.Model = "a\x00b"
	r.Call.Labels = map[string]string{"k\x00": "v\x00"}
	mustWrite(t, s, []usage.Record{r})

	got, err := s.Recent(context.Background(), 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Recent = %d records, %v", len(got), err)
	}
	if got[0].Call.Model != r.Call.Model || got[0].Call.Labels["k\x00"] != "v\x00" {
		t.Errorf("model %q, labels %q; want %q, %q", got[0].Call.Model, got[0].Call.Labels, r.Call.Model, r.Call.Labels)
	}
}

func TestInvalidUTF8Rejected(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "usage.db"), sqlitestore.WithClock(fixedClock(t0.Add(time.Hour))))
	records := randomRecords(1, 2)
	records[1].Call.Labels = map[string]string{"tenant": "\xff"}
	err := s.Write(context.Background(), records)
	if !errors.Is(err, usage.ErrInvalidRecord) || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("Write = %v, want usage.ErrInvalidRecord naming UTF-8", err)
	}
}

func TestPruneReclaimsSpace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	clk := &clock{now: t0.Add(10 * time.Minute)}
	s := open(t, path, sqlitestore.WithClock(clk.Now), sqlitestore.WithRetention(time.Hour))

	// About 4 MB of records, each with a 2 KB label.
	records := randomRecords(1, 2000)
	for i := range records {
		records[i].Call.Labels = map[string]string{"prompt": strings.Repeat(strconv.Itoa(i%10), 2048)}
	}
	for i := 0; i < len(records); i += 500 {
		mustWrite(t, s, records[i:i+500])
	}
	db := rawDB(t, path)
	full := queryInt(t, db, `PRAGMA page_count`)

	clk.Set(t0.Add(2 * time.Hour))
	if got := sumRollups(t, s, t0, t0.Add(time.Hour)); got.Calls != 0 {
		t.Errorf("calls past retention = %d, want 0", got.Calls)
	}
	if err := s.Prune(context.Background()); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM records`); n != 0 {
		t.Errorf("records has %d rows after Prune, want 0", n)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM rollups`); n != 0 {
		t.Errorf("rollups has %d rows after Prune, want 0", n)
	}
	if free := queryInt(t, db, `PRAGMA freelist_count`); free != 0 {
		t.Errorf("freelist_count = %d after Prune, want 0", free)
	}
	if pruned := queryInt(t, db, `PRAGMA page_count`); pruned*4 > full {
		t.Errorf("page_count = %d after Prune, was %d: space not returned", pruned, full)
	}
}

func TestWritePrunesOnSchedule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	clk := &clock{now: t0.Add(65 * time.Minute)}
	s := open(t, path, sqlitestore.WithClock(clk.Now), sqlitestore.WithRetention(time.Hour))
	db := rawDB(t, path)
	record := func(at time.Time) []usage.Record {
		r := randomRecords(1, 1)[0]
		r.Time = at
		return []usage.Record{r}
	}

	// The first write prunes, and the next prune is due ten minutes later.
	mustWrite(t, s, record(t0.Add(5*time.Minute+30*time.Second)))

	// At 70 minutes the first record is past retention: reads hide it at
	// once, but it stays on disk until the prune is due.
	clk.Set(t0.Add(70 * time.Minute))
	mustWrite(t, s, record(clk.Now()))
	if n := queryInt(t, db, `SELECT count(*) FROM records`); n != 2 {
		t.Errorf("records on disk = %d before the prune is due, want 2", n)
	}
	if got := sumRollups(t, s, t0, t0.Add(2*time.Hour)); got.Calls != 1 {
		t.Errorf("calls = %d, want 1: the expired record must not be read", got.Calls)
	}

	clk.Set(t0.Add(76 * time.Minute))
	mustWrite(t, s, record(clk.Now()))
	if n := queryInt(t, db, `SELECT count(*) FROM records`); n != 2 {
		t.Errorf("records on disk = %d after the prune, want 2", n)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM rollups`); n != 2 {
		t.Errorf("rollups on disk = %d after the prune, want 2", n)
	}
}

func TestCorruptRollupReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	s := open(t, path, sqlitestore.WithClock(fixedClock(t0.Add(time.Hour))))
	mustWrite(t, s, randomRecords(1, 5))
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE rollups SET latency_bins = x'07'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rollups(context.Background(), t0, t0.Add(time.Hour)); !errors.Is(err, sqlitestore.ErrCorrupt) {
		t.Errorf("Rollups = %v, want ErrCorrupt", err)
	}
}

func TestStoresShareFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	now := fixedClock(t0.Add(time.Hour))
	a := open(t, path, sqlitestore.WithClock(now))
	b := open(t, path, sqlitestore.WithClock(now))

	var wg sync.WaitGroup
	for i, s := range []*sqlitestore.Store{a, b} {
		wg.Add(1)
		go func(s *sqlitestore.Store, seed int64) {
			defer wg.Done()
			records := randomRecords(seed, 1000)
			for j := 0; j < len(records); j += 50 {
				if err := s.Write(context.Background(), records[j:j+50]); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		}(s, int64(i+1))
	}
	wg.Wait()
	for name, s := range map[string]*sqlitestore.Store{"a": a, "b": b} {
		if got := sumRollups(t, s, t0, t0.Add(time.Hour)); got.Calls != 2000 {
			t.Errorf("store %s reads %d calls, want 2000", name, got.Calls)
		}
	}
}

// helperPathEnv, when set, turns this test binary into the second process
// of TestSecondProcess: it writes records to the file named and exits.
const helperPathEnv = "AIMETER_SQLITE_HELPER_PATH"

func TestHelperProcessWriter(t *testing.T) {
	path := os.Getenv(helperPathEnv)
	if path == "" {
		t.Skip("runs only as the second process of TestSecondProcess")
	}
	s, err := sqlitestore.Open(path, sqlitestore.WithClock(fixedClock(t0.Add(time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	records := randomRecords(99, 1000)
	for j := 0; j < len(records); j += 50 {
		if err := s.Write(context.Background(), records[j:j+50]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSecondProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	s := open(t, path, sqlitestore.WithClock(fixedClock(t0.Add(time.Hour))))

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperPathEnv+"="+path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// This process writes and reads while the other one writes.
	records := randomRecords(1, 1000)
	for j := 0; j < len(records); j += 50 {
		mustWrite(t, s, records[j:j+50])
		if _, err := s.Rollups(context.Background(), t0, t0.Add(time.Hour)); err != nil {
			t.Errorf("Rollups during the other process's writes: %v", err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("second process: %v\n%s", err, out.String())
	}

	if got := sumRollups(t, s, t0, t0.Add(time.Hour)); got.Calls != 2000 {
		t.Errorf("calls = %d, want 2000 from both processes", got.Calls)
	}
	recent, err := s.Recent(context.Background(), 5000)
	if err != nil || len(recent) != 2000 {
		t.Errorf("Recent = %d records, %v; want 2000", len(recent), err)
	}
}

func TestRollupsAcrossManyBatchesMatchOneBatch(t *testing.T) {
	// The read-modify-write of a rollup row must give the histogram that
	// one batch gives, bucket for bucket.
	now := fixedClock(t0.Add(time.Hour))
	records := randomRecords(5, 600)
	single := open(t, filepath.Join(t.TempDir(), "one.db"), sqlitestore.WithClock(now))
	mustWrite(t, single, records)
	many := open(t, filepath.Join(t.TempDir(), "many.db"), sqlitestore.WithClock(now))
	for i := range records {
		mustWrite(t, many, records[i:i+1])
	}
	a, b := sumRollups(t, single, t0, t0.Add(time.Hour)), sumRollups(t, many, t0, t0.Add(time.Hour))
	if g, w := fmt.Sprint(b.Latency.Bins()), fmt.Sprint(a.Latency.Bins()); g != w {
		t.Errorf("bins after 600 single writes differ from one batch:\n got %s\nwant %s", g, w)
	}
}
