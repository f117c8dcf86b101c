package pgstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dayRecords returns n records of two series spread over the three hours
// after t0.
func dayRecords(seed int64, n int) []usage.Record {
	records := randomRecords(seed, n)
	for i := range records {
		records[i].Time = t0.Add(time.Duration(i) * 3 * time.Hour / time.Duration(n))
		if i%3 == 0 {
			records[i].Stream, records[i].TTFT = true, records[i].Latency/3
		}
	}
	return records
}

// checkWideEqualsMinutes checks every wide rollup of [since, until)
// against the merge of the minute rollups it spans.
func checkWideEqualsMinutes(t *testing.T, s *pgstore.Store, since, until time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, w := range s.RollupWidths() {
		wide, from, err := s.WideRollups(ctx, w, since, until)
		if err != nil {
			t.Fatalf("WideRollups(%v): %v", w, err)
		}
		minutes, err := s.Rollups(ctx, from, until)
		if err != nil {
			t.Fatalf("Rollups: %v", err)
		}
		got, want := mergeByWidth(wide, w), mergeByWidth(minutes, w)
		if len(got) != len(want) || len(want) == 0 {
			t.Errorf("width %v: %d wide rollups, want %d from the minute rollups, and more than none", w, len(got), len(want))
		}
		for k, m := range want {
			g, ok := got[k]
			if !ok {
				t.Errorf("width %v: %s missing", w, k)
				continue
			}
			if a, b := summarize(g), summarize(m); a != b {
				t.Errorf("width %v: %s:\n got %s\nwant %s", w, k, a, b)
			}
		}
	}
}

func mergeByWidth(rollups []usage.Rollup, w time.Duration) map[string]*usage.Stats {
	out := make(map[string]*usage.Stats)
	for i := range rollups {
		r := &rollups[i]
		k := fmt.Sprintf("%s %+v", r.Start.Truncate(w).Format(time.RFC3339), r.Series)
		if out[k] == nil {
			out[k] = &usage.Stats{}
		}
		out[k].Merge(&r.Stats)
	}
	return out
}

// summarize prints every counter and both histograms bucket for bucket.
func summarize(st *usage.Stats) string {
	return fmt.Sprintf("calls %d errors %d %v unpriced %d unknown %d streams %d stream output %d stream latency %d tokens %+v cost %d latency %d %v %v %v ttft %d %v %v %v",
		st.Calls, st.Errors, st.ErrorsByCategory, st.UnpricedCalls, st.UnknownUsageCalls, st.StreamCalls,
		st.StreamOutputTokens, int64(st.StreamLatency), st.Tokens, st.CostNanos,
		st.Latency.Count(), st.Latency.Sum(), st.Latency.Max(), st.Latency.Bins(),
		st.TTFT.Count(), st.TTFT.Sum(), st.TTFT.Max(), st.TTFT.Bins())
}

// TestMigrationBackfillsWideRollups upgrades a database of schema version
// 2, whose minute rollups hold histograms in both stored forms, and
// checks that the migration fills the wide rollups with their merge.
func TestMigrationBackfillsWideRollups(t *testing.T) {
	ctx := context.Background()
	clk := fixedClock(t0.Add(3 * time.Hour))

	// The minute rollups come from a current store in another schema.
	source := newPool(t, newSchema(t))
	src, err := pgstore.New(ctx, source, pgstore.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mustWrite(t, src, dayRecords(1, 3000))
	var sourceSchema string
	if err := source.QueryRow(ctx, `SELECT current_schema()`).Scan(&sourceSchema); err != nil {
		t.Fatal(err)
	}

	pool := newPool(t, newSchema(t))
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for v, m := range pgstore.Migrations()[:2] {
		if _, err := tx.Exec(ctx, m); err != nil {
			t.Fatalf("migrate to version %d: %v", v+1, err)
		}
	}
	steps := []string{
		`CREATE TABLE aimeter_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO aimeter_schema_migrations (version) VALUES (1), (2)`,
		`INSERT INTO aimeter_rollups (` + rollupColumnsV2 + `) SELECT ` + rollupColumnsV2 + ` FROM ` + pgx.Identifier{sourceSchema, "aimeter_rollups"}.Sanitize(),
	}
	for _, sql := range steps {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	moveToVersion1Form(t, pool, t0.Add(40*time.Minute), t0.Add(80*time.Minute))

	s, err := pgstore.New(ctx, pool, pgstore.WithClock(clk))
	if err != nil {
		t.Fatalf("New migrating from version 2: %v", err)
	}
	defer s.Close()
	checkWideEqualsMinutes(t, s, t0.Add(-time.Hour), t0.Add(4*time.Hour))

	// Writes after the upgrade merge into the backfilled rows.
	mustWrite(t, s, dayRecords(2, 1000))
	checkWideEqualsMinutes(t, s, t0.Add(-time.Hour), t0.Add(4*time.Hour))
}

// rollupColumnsV2 are the columns of aimeter_rollups in schema versions 2
// to 4.
const rollupColumnsV2 = `minute, series_hash, endpoint, provider, model, operation, caller_key,
	calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, latency_bins, ttft_sum_ns, ttft_max_ns, ttft_bins, latency_hist, ttft_hist`

// wideColumnsV3 are the columns of aimeter_rollups_15m in schema versions
// 3 and 4.
const wideColumnsV3 = `start, series_hash, endpoint, provider, model, operation, caller_key,
	calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, latency_hist, ttft_sum_ns, ttft_max_ns, ttft_hist`

// TestMigrationAddsStreamSums upgrades a database of schema version 4 with
// rollups in both tables. The old rows must read with zero stream sums, and
// later writes must keep the wide rollups equal to the minute rollups.
// Running MigrationSQL again must fill wide rows without stream sums from
// the minute rows.
func TestMigrationAddsStreamSums(t *testing.T) {
	ctx := context.Background()
	clk := fixedClock(t0.Add(3 * time.Hour))

	source := newPool(t, newSchema(t))
	src, err := pgstore.New(ctx, source, pgstore.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mustWrite(t, src, dayRecords(1, 2000))
	var sourceSchema string
	if err := source.QueryRow(ctx, `SELECT current_schema()`).Scan(&sourceSchema); err != nil {
		t.Fatal(err)
	}

	pool := newPool(t, newSchema(t))
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for v, m := range pgstore.Migrations()[:4] {
		if _, err := tx.Exec(ctx, m); err != nil {
			t.Fatalf("migrate to version %d: %v", v+1, err)
		}
	}
	steps := []string{
		`CREATE TABLE aimeter_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO aimeter_schema_migrations (version) VALUES (1), (2), (3), (4)`,
		`INSERT INTO aimeter_rollups (` + rollupColumnsV2 + `) SELECT ` + rollupColumnsV2 + ` FROM ` + pgx.Identifier{sourceSchema, "aimeter_rollups"}.Sanitize(),
		`INSERT INTO aimeter_rollups_15m (` + wideColumnsV3 + `) SELECT ` + wideColumnsV3 + ` FROM ` + pgx.Identifier{sourceSchema, "aimeter_rollups_15m"}.Sanitize(),
	}
	for _, sql := range steps {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	s, err := pgstore.New(ctx, pool, pgstore.WithClock(clk))
	if err != nil {
		t.Fatalf("New migrating from version 4: %v", err)
	}
	defer s.Close()
	old, _ := sumRollups(t, s, t0.Add(-time.Hour), t0.Add(4*time.Hour))
	if old.StreamCalls == 0 || old.StreamOutputTokens != 0 || old.StreamLatency != 0 {
		t.Errorf("rows of version 4: StreamCalls, StreamOutputTokens, StreamLatency = %d, %d, %v, want more than 0, 0, 0s",
			old.StreamCalls, old.StreamOutputTokens, old.StreamLatency)
	}
	checkWideEqualsMinutes(t, s, t0.Add(-time.Hour), t0.Add(4*time.Hour))

	// Writes after the upgrade add their stream sums to both tables.
	mustWrite(t, s, dayRecords(2, 1000))
	added, _ := sumRollups(t, s, t0.Add(-time.Hour), t0.Add(4*time.Hour))
	if added.StreamOutputTokens == 0 || added.StreamLatency == 0 {
		t.Errorf("after a write: StreamOutputTokens, StreamLatency = %d, %v, want more than 0", added.StreamOutputTokens, added.StreamLatency)
	}
	checkWideEqualsMinutes(t, s, t0.Add(-time.Hour), t0.Add(4*time.Hour))

	// Running the script again fills the wide rows that lack stream sums
	// and leaves the others as they are.
	if _, err := pool.Exec(ctx, `UPDATE aimeter_rollups_15m SET stream_output_tokens = 0, stream_latency_ns = 0 WHERE start < $1`, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, pgstore.MigrationSQL()); err != nil {
		t.Fatalf("run MigrationSQL again: %v", err)
	}
	checkWideEqualsMinutes(t, s, t0.Add(-time.Hour), t0.Add(4*time.Hour))
}

// moveToVersion1Form rewrites the latency histograms of the minute
// rollups of [since, until) into the bigint[] pairs of schema version 1.
func moveToVersion1Form(t *testing.T, pool *pgxpool.Pool, since, until time.Time) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT minute, series_hash, latency_hist FROM aimeter_rollups WHERE minute >= $1 AND minute < $2`, since, until)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		minute time.Time
		hash   []byte
		pairs  []int64
	}
	var moved []row
	for rows.Next() {
		var (
			r    row
			hist []byte
		)
		if err := rows.Scan(&r.minute, &r.hash, &hist); err != nil {
			t.Fatal(err)
		}
		bins, err := pgstore.DecodeBins(hist)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bins {
			r.pairs = append(r.pairs, b.Micros, b.Count)
		}
		moved = append(moved, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(moved) == 0 {
		t.Fatalf("no minute rollups in [%v, %v) to move", since, until)
	}
	for _, r := range moved {
		_, err := pool.Exec(ctx, `UPDATE aimeter_rollups SET latency_bins = $3, latency_hist = '' WHERE minute = $1 AND series_hash = $2`, r.minute, r.hash, r.pairs)
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestPruneDeletesExpiredWideRollups(t *testing.T) {
	pool := newPool(t, newSchema(t))
	ctx := context.Background()
	clk := &clock{now: t0.Add(3 * time.Hour)}
	s, err := pgstore.New(ctx, pool, pgstore.WithClock(clk.Now), pgstore.WithRetention(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustWrite(t, s, dayRecords(1, 1000))

	// The cutoff at t0 + 1h20m keeps the 15-minute rows from 1h15m on,
	// each of which still holds minutes within the retention.
	clk.Set(t0.Add(5*time.Hour + 20*time.Minute))
	if err := s.Prune(ctx); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	var oldest time.Time
	if err := pool.QueryRow(ctx, `SELECT min(start) FROM aimeter_rollups_15m`).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(75 * time.Minute); !oldest.Equal(want) {
		t.Errorf("oldest 15-minute rollup after Prune starts at %v, want %v", oldest.UTC(), want)
	}
	checkWideEqualsMinutes(t, s, t0, t0.Add(4*time.Hour))
}

func TestWideRollupsRejectsBadRequests(t *testing.T) {
	pool := newPool(t, newSchema(t))
	ctx := context.Background()
	s, err := pgstore.New(ctx, pool, pgstore.WithClock(fixedClock(t0)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := s.RollupWidths(), []time.Duration{15 * time.Minute}; !slices.Equal(got, want) {
		t.Errorf("RollupWidths = %v, want %v", got, want)
	}
	if _, _, err := s.WideRollups(ctx, time.Hour, t0, t0.Add(time.Hour)); err == nil {
		t.Error("WideRollups of a width not kept: err = nil, want an error")
	}
	if _, _, err := s.WideRollups(ctx, 15*time.Minute, t0.Add(time.Minute), t0.Add(time.Hour)); err == nil {
		t.Error("WideRollups of an unaligned window: err = nil, want an error")
	}
}
