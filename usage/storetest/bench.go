package storetest

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// BenchScaleEnv is the environment variable that multiplies the data of
// the benchmarks: the number of series in the 24-hour window. It must be a
// positive integer, and defaults to 1.
const BenchScaleEnv = "AIMETER_BENCH_SCALE"

// benchSeriesPerScale is the number of series per unit of scale, and
// benchCallsPerMinute the calls of each series in each minute of the
// 24-hour window.
const (
	benchSeriesPerScale = 8
	benchCallsPerMinute = 3
)

// Benchmark runs the store benchmarks as sub-benchmarks of b:
//
//   - Write/batch=N writes batches of N records from one goroutine and
//     reports records/s. One op is one record.
//   - WriteParallel writes batches of 100 records from GOMAXPROCS
//     goroutines and reports records/s.
//   - Rollups24h reads the rollups of a 24-hour window of 8 series times
//     AIMETER_BENCH_SCALE, each with 3 calls a minute. It merges them per
//     model and in total and reads the total's p50, p95 and p99, as an
//     analytics snapshot does, and reports rollups/op.
func Benchmark(b *testing.B, open OpenFunc) {
	scale := benchScale(b)

	// The write benchmarks cycle through an hour of records from 16
	// series, in order of time, as a tracker delivers them: a batch holds
	// a few series of one or two minutes.
	pool := generateRecords(7, 20_000, now.Add(-time.Hour), time.Hour)
	series := benchSeries(16)
	for i := range pool {
		pool[i].Call = series[i%len(series)]
	}

	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("Write/batch=%d", size), func(b *testing.B) {
			s := openBenchStore(b, open)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += size {
				n := min(size, b.N-i)
				start := i % len(pool)
				if start+n > len(pool) {
					start = 0
				}
				if err := s.Write(ctx, pool[start:start+n]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}

	for _, size := range []int{0, 512, 2048} {
		name := "Tracker/batch=default"
		if size > 0 {
			name = fmt.Sprintf("Tracker/batch=%d", size)
		}
		b.Run(name, func(b *testing.B) {
			benchmarkTracker(b, openBenchStore(b, open), pool, size)
		})
	}

	b.Run("WriteParallel", func(b *testing.B) {
		const size = 100
		s := openBenchStore(b, open)
		ctx := context.Background()
		var written, next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			batch := make([]usage.Record, 0, size)
			flush := func() {
				if err := s.Write(ctx, batch); err != nil {
					b.Error(err)
				}
				written.Add(int64(len(batch)))
				batch = batch[:0]
			}
			for pb.Next() {
				batch = append(batch, pool[next.Add(1)%int64(len(pool))])
				if len(batch) == size {
					flush()
				}
			}
			if len(batch) > 0 {
				flush()
			}
		})
		b.ReportMetric(float64(written.Load())/b.Elapsed().Seconds(), "records/s")
	})

	s := openBenchStore(b, open)
	fillDay(b, s, scale)
	b.Run(fmt.Sprintf("Rollups24h/series=%d", benchSeriesPerScale*scale), func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		var rows int
		for i := 0; i < b.N; i++ {
			rollups, err := s.Rollups(ctx, now.Add(-24*time.Hour), now)
			if err != nil {
				b.Fatal(err)
			}
			rows = len(rollups)
			summarize(rollups)
		}
		b.ReportMetric(float64(rows), "rollups/op")
	})
}

// trackerBenchInterval is the time between two records of the tracker
// benchmark: 50,000 calls a second, so that each minute's rollups grow
// as they would under that load.
const trackerBenchInterval = 20 * time.Microsecond

// benchmarkTracker hands b.N records to a usage.Tracker on s, which
// writes them in its own batches from one goroutine, and reports the
// sustained rate: records per second from the first Record until Close has
// written the last one. The queue waits instead of dropping, so the
// tracker's writer, not the callers, sets the pace. A batchSize of zero
// keeps the tracker's default.
func benchmarkTracker(b *testing.B, s usage.Store, pool []usage.Record, batchSize int) {
	opts := []usage.TrackerOption{usage.WithFullPolicy(usage.WaitWhenFull, time.Hour)}
	if batchSize > 0 {
		opts = append(opts, usage.WithBatchSize(batchSize))
	}
	tracker := usage.NewTracker(s, opts...)
	b.ReportAllocs()
	b.ResetTimer()
	start := now.Add(-time.Hour)
	for i := 0; i < b.N; i++ {
		r := pool[i%len(pool)]
		r.Time = start.Add(time.Duration(i) * trackerBenchInterval)
		tracker.Record(r)
	}
	if err := tracker.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if st := tracker.Stats(); st.Written != int64(b.N) || st.Dropped != 0 {
		b.Fatalf("tracker wrote %d and dropped %d of %d records", st.Written, st.Dropped, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func benchScale(b *testing.B) int {
	v := os.Getenv(BenchScaleEnv)
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", BenchScaleEnv, v)
	}
	return n
}

func openBenchStore(b *testing.B, open OpenFunc) usage.Store {
	b.Helper()
	s := open(b, Options{Now: func() time.Time { return now }})
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// fillDay writes benchCallsPerMinute calls of each series in every minute
// of the 24 hours before now, one batch per minute.
func fillDay(b *testing.B, s usage.Store, scale int) {
	b.Helper()
	rng := rand.New(rand.NewSource(8))
	series := benchSeries(benchSeriesPerScale * scale)

	ctx := context.Background()
	start := now.Add(-24 * time.Hour)
	batch := make([]usage.Record, 0, len(series)*benchCallsPerMinute)
	for minute := 0; minute < 24*60; minute++ {
		batch = batch[:0]
		for _, call := range series {
			for c := 0; c < benchCallsPerMinute; c++ {
				at := start.Add(time.Duration(minute)*time.Minute + time.Duration(rng.Int63n(int64(time.Minute))))
				r := generateRecord(rng, at)
				r.Call = call
				batch = append(batch, r)
			}
		}
		if err := s.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSeries returns n calls that differ in model and key.
func benchSeries(n int) []usage.Call {
	series := make([]usage.Call, n)
	for i := range series {
		series[i] = usage.Call{
			Endpoint:  endpoints[i%len(endpoints)],
			Provider:  "openai",
			Model:     fmt.Sprintf("%s-%d", models[i%len(models)], i/len(models)),
			Operation: "chat",
			Key:       fmt.Sprintf("tenant-%d", i),
		}
	}
	return series
}

// summarize merges rollups in total and per model and reads the total's
// quantiles, the work of an analytics snapshot.
func summarize(rollups []usage.Rollup) {
	var all usage.Stats
	byModel := make(map[string]*usage.Stats)
	for i := range rollups {
		r := &rollups[i]
		all.Merge(&r.Stats)
		m, ok := byModel[r.Series.Model]
		if !ok {
			m = &usage.Stats{}
			byModel[r.Series.Model] = m
		}
		m.Merge(&r.Stats)
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		_ = all.Latency.Quantile(q)
	}
}
