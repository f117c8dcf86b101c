package pgstore_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// bigSnapshotEnv names the environment variable that makes
// BenchmarkSnapshot24h load 1,000,000 and 10,000,000 calls instead of
// 10,000. The larger loads take minutes and about 3 GB of disk.
const bigSnapshotEnv = "AIMETER_BENCH_SNAPSHOT_BIG"

// A day of calls is spread evenly over 24 series: 3 endpoints, 4 models
// and 2 caller keys, each call of every series in every minute.
var (
	dayEndpoints = []string{"/api/ai/chat", "/api/ai/agent", "/api/ai/embed"}
	dayModels    = []string{"gpt-4o-mini", "gpt-4o", "o3-mini", "claude-sonnet"}
	dayKeys      = []string{"tenant-1", "tenant-2"}
)

const daySeries = 24

// dayEnd ends the day of calls; the day starts 24 hours earlier.
var dayEnd = time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)

// dayCall returns the i-th of n calls of the day. Every value is integer
// arithmetic on i that callsSQL repeats in PostgreSQL, so that the raw
// rows loaded by SQL and the rollups written from Go describe the same
// calls. Latencies are whole microseconds from 150 ms to 2 s, with one
// call in 20 up to 8 s slower.
func dayCall(i, n int64) usage.Record {
	s := i % daySeries
	h := i * 2654435761 % 4294967296
	latencyMicros := 150_000 + h%1_850_000
	if h%20 == 0 {
		latencyMicros += h / 20 % 8_000_000
	}
	input := 100 + h>>8%2000
	output := 10 + h>>4%500
	var cached int64
	if i%3 == 0 {
		cached = input / 4
	}
	r := usage.Record{
		Time: dayEnd.Add(-24*time.Hour + time.Duration(i*86_400_000_000/n)*time.Microsecond),
		Call: usage.Call{
			Endpoint:  dayEndpoints[s%3],
			Provider:  "openai",
			Model:     dayModels[s/3%4],
			Operation: "chat",
			Key:       dayKeys[s/12],
		},
		Tokens:     usage.Tokens{Input: input, CachedInput: cached, Output: output},
		UsageKnown: true,
		Priced:     true,
		CostNanos:  input*150 + output*600,
		Latency:    time.Duration(latencyMicros) * time.Microsecond,
	}
	if i%50 == 7 {
		r.Error, r.HTTPStatus = errmon.RateLimited, 429
	}
	return r
}

// callsSQL inserts the n calls of dayCall into aimeter_records: $1 is n,
// $2 the start of the day.
const callsSQL = `INSERT INTO aimeter_records (
	time, endpoint, provider, model, operation, caller_key, labels, response_model,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
	usage_known, priced, cost_nanos, latency_ns, ttft_ns, stream, chunks, error, http_status
)
SELECT $2::timestamptz + (i * 86400000000 / $1) * interval '1 microsecond',
	(ARRAY['/api/ai/chat', '/api/ai/agent', '/api/ai/embed'])[i % 24 % 3 + 1], 'openai',
	(ARRAY['gpt-4o-mini', 'gpt-4o', 'o3-mini', 'claude-sonnet'])[i % 24 / 3 % 4 + 1], 'chat',
	(ARRAY['tenant-1', 'tenant-2'])[i % 24 / 12 + 1], NULL, '',
	input, CASE WHEN i % 3 = 0 THEN input / 4 ELSE 0 END, 0, output, 0,
	true, true, input * 150 + output * 600,
	(150000 + h % 1850000 + CASE WHEN h % 20 = 0 THEN h / 20 % 8000000 ELSE 0 END) * 1000, 0, false, 0,
	CASE WHEN i % 50 = 7 THEN 'rate_limited' ELSE '' END, CASE WHEN i % 50 = 7 THEN 429 ELSE 0 END
FROM (
	SELECT i, h, 100 + (h >> 8) % 2000 AS input, 10 + (h >> 4) % 500 AS output
	FROM (SELECT i, i * 2654435761 % 4294967296 AS h FROM generate_series(0::bigint, $1::bigint - 1) AS i) AS g
) AS c`

// rawScanSQL computes, from the raw rows alone, the figures per model that
// the snapshot's usage and performance sections show.
const rawScanSQL = `SELECT model, count(*), sum(input_tokens), sum(cached_input_tokens), sum(output_tokens), sum(cost_nanos),
	count(*) FILTER (WHERE error <> ''),
	percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ns)
FROM aimeter_records WHERE time >= $1 AND time < $2
GROUP BY model ORDER BY model`

// modelFigures are the figures of one model that both ways compute.
type modelFigures struct {
	calls, input, cached, output, costNanos, errors int64
	p50, p95, p99                                   float64 // milliseconds
}

// loadDay loads n calls into a new schema: the raw rows with callsSQL,
// the rollups through the store's own merge, one minute of calls per
// write.
func loadDay(tb testing.TB, n int64) (*pgstore.Store, *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	pool := newPool(tb, newSchema(tb))
	s, err := pgstore.New(ctx, pool, pgstore.WithClock(func() time.Time { return dayEnd }))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })

	if _, err := pool.Exec(ctx, callsSQL, n, dayEnd.Add(-24*time.Hour)); err != nil {
		tb.Fatalf("insert raw rows: %v", err)
	}
	var batch []usage.Record
	minute := time.Time{}
	for i := int64(0); i < n; i++ {
		r := dayCall(i, n)
		if m := r.Time.Truncate(time.Minute); !m.Equal(minute) && len(batch) > 0 {
			if err := pgstore.AddToRollups(ctx, s, batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
		minute = r.Time.Truncate(time.Minute)
		batch = append(batch, r)
	}
	if err := pgstore.AddToRollups(ctx, s, batch); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE aimeter_records`); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE aimeter_rollups`); err != nil {
		tb.Fatal(err)
	}
	return s, pool
}

// snapshotDay builds the 24-hour snapshot of the day from the store.
func snapshotDay(tb testing.TB, s usage.Store) *analytics.Snapshot {
	tb.Helper()
	cfg := analytics.Config{Store: s, Clock: func() time.Time { return dayEnd }}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeAll, Window: 24 * time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// snapshotFigures returns the figures per model of a snapshot.
func snapshotFigures(snap *analytics.Snapshot) map[string]modelFigures {
	out := make(map[string]modelFigures)
	for _, m := range snap.Usage.ByModel {
		out[m.Model] = modelFigures{
			calls: m.Calls, input: m.Tokens.Input, cached: m.Tokens.CachedInput, output: m.Tokens.Output,
			costNanos: int64(math.Round(m.CostUSD * 1e9)),
		}
	}
	for _, m := range snap.Performance.ByModel {
		f := out[m.Model]
		f.errors = m.Calls - int64(math.Round(m.SuccessRate*float64(m.Calls)))
		f.p50, f.p95, f.p99 = m.Latency.P50, m.Latency.P95, m.Latency.P99
		out[m.Model] = f
	}
	return out
}

// rawScanFigures computes the figures per model by scanning the raw rows.
func rawScanFigures(tb testing.TB, pool *pgxpool.Pool) map[string]modelFigures {
	tb.Helper()
	rows, err := pool.Query(context.Background(), rawScanSQL, dayEnd.Add(-24*time.Hour), dayEnd)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := make(map[string]modelFigures)
	for rows.Next() {
		var (
			model     string
			f         modelFigures
			quantiles []float64
		)
		if err := rows.Scan(&model, &f.calls, &f.input, &f.cached, &f.output, &f.costNanos, &f.errors, &quantiles); err != nil {
			tb.Fatal(err)
		}
		f.p50, f.p95, f.p99 = quantiles[0]/1e6, quantiles[1]/1e6, quantiles[2]/1e6
		out[model] = f
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// checkFiguresAgree compares the snapshot's figures with the raw scan's:
// counts and sums exactly, percentiles within the 1% that the HDR
// histogram of two significant digits guarantees, plus the distance
// between neighbouring calls that percentile_cont interpolates over.
func checkFiguresAgree(tb testing.TB, snap, raw map[string]modelFigures) {
	tb.Helper()
	if len(snap) != len(dayModels) || len(raw) != len(dayModels) {
		tb.Fatalf("models: snapshot has %d, raw scan %d, want %d", len(snap), len(raw), len(dayModels))
	}
	for _, model := range dayModels {
		got, want := snap[model], raw[model]
		counts := func(f modelFigures) [6]int64 {
			return [6]int64{f.calls, f.input, f.cached, f.output, f.costNanos, f.errors}
		}
		if counts(got) != counts(want) {
			tb.Errorf("%s: calls, input, cached, output, cost nanos, errors = %v from the snapshot, %v from the raw rows",
				model, counts(got), counts(want))
		}
		for _, q := range []struct {
			name      string
			got, want float64
		}{{"p50", got.p50, want.p50}, {"p95", got.p95, want.p95}, {"p99", got.p99, want.p99}} {
			if diff := math.Abs(q.got - q.want); diff > 0.01*q.want+0.001 {
				tb.Errorf("%s: %s = %.3f ms from the snapshot, %.3f ms from percentile_cont; want within 1%%", model, q.name, q.got, q.want)
			}
		}
	}
}

func TestSnapshotMatchesRawScan(t *testing.T) {
	testDSN(t)
	s, pool := loadDay(t, 30_000)
	checkFiguresAgree(t, snapshotFigures(snapshotDay(t, s)), rawScanFigures(t, pool))
}

// BenchmarkSnapshot24h times the 24-hour snapshot of a day of calls built
// from the store's rollups (store), which reads the 15-minute rollups,
// and the same figures per model computed from the raw rows with
// percentile_cont (raw-scan), after checking that both agree. Set
// AIMETER_BENCH_SNAPSHOT_BIG=1 for 1,000,000 and 10,000,000 calls;
// without it, 10,000.
func BenchmarkSnapshot24h(b *testing.B) {
	testDSN(b)
	sizes := []int64{10_000}
	if v := os.Getenv(bigSnapshotEnv); v != "" {
		if on, err := strconv.ParseBool(v); err != nil {
			b.Fatalf("%s=%q: want a boolean such as 1", bigSnapshotEnv, v)
		} else if on {
			sizes = []int64{1_000_000, 10_000_000}
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("calls=%d", n), func(b *testing.B) {
			s, pool := loadDay(b, n)
			snap := snapshotDay(b, s)
			checkFiguresAgree(b, snapshotFigures(snap), rawScanFigures(b, pool))
			rollups := 0
			if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM aimeter_rollups`).Scan(&rollups); err != nil {
				b.Fatal(err)
			}
			// The snapshot's 15-minute buckets let it read the window from
			// the 15-minute rollups.
			read, err := usage.ReadRollups(context.Background(), s, dayEnd.Add(-24*time.Hour), dayEnd, 15*time.Minute)
			if err != nil {
				b.Fatal(err)
			}

			b.Run("store", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					snapshotDay(b, s)
				}
				b.ReportMetric(float64(rollups), "minute-rollups/op")
				b.ReportMetric(float64(len(read)), "rollups-read/op")
			})
			b.Run("raw-scan", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					rawScanFigures(b, pool)
				}
			})
		})
	}
}
