// Package storetest checks that a usage.Store behaves like every other
// store: the conformance suite that the memory, SQLite and PostgreSQL stores
// pass, and benchmarks built on the same data.
//
// # Running the suite
//
// A store's own test calls Run with a function that opens a new, empty
// store for each subtest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB, opts storetest.Options) usage.Store {
//			s, err := mystore.Open(tb.TempDir()+"/usage.db",
//				mystore.WithClock(opts.Now), mystore.WithRetention(opts.Retention))
//			if err != nil {
//				tb.Fatal(err)
//			}
//			return s
//		})
//	}
//
// # What the suite requires
//
//   - The same records give the same rollups as Stats.Add computes in
//     memory, whatever the batch sizes: every counter, token sum and
//     nano-dollar sum exact, histogram Count, Sum and Max exact, and
//     quantiles within 1%.
//   - Rollups selects buckets by their start: since is inclusive, until is
//     exclusive. Rollup.Start is in UTC and Width is one minute.
//   - Recent returns records newest first, with every field as written.
//     Record.Time may lose precision below one microsecond, because
//     PostgreSQL keeps microseconds. Nil and empty Labels are the same.
//   - The stream sums of Stats (StreamOutputTokens, StreamLatency) count
//     only streamed calls with known usage, exactly to the nanosecond,
//     also in minutes and wide rollups that mix them with other calls.
//   - Concurrent writers lose nothing.
//   - A batch with an invalid record fails with an error that wraps
//     usage.ErrInvalidRecord, and none of its records is stored.
//   - Strings with quotes, semicolons, SQL, non-ASCII text and 10 KB of text
//     are stored exactly. Strings with a NUL byte or invalid UTF-8 are either
//     stored exactly or rejected as invalid records.
//   - Retention drops rollups older than the retention before the newest
//     record, or before the clock, which the suite keeps equal.
//   - usage.ReadRollups gives, for windows aligned or not and buckets of
//     any width, what the minute rollups give when merged by series and
//     bucket: counters exactly and histograms bucket for bucket, records
//     written late and the retention cutoff included. For a store that
//     implements usage.WideRollupStore, each wide rollup equals the merge
//     of the minute rollups it spans. Other stores are read through
//     Rollups alone, and the same check holds.
//   - Close may be called twice, and Write, Rollups and Recent return an
//     error that wraps usage.ErrClosed after it.
//
// # Benchmarks
//
// Benchmark measures the write rate in records per second and the cost of
// reading and merging a 24-hour window. The environment variable
// AIMETER_BENCH_SCALE multiplies the amount of data; the default is sized
// to run in seconds.
package storetest
