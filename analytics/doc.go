// Package analytics turns the rollups of a [usage.Store], the events of an
// error monitor and the counters of rate limiters into a [Snapshot]: the
// usage, errors, performance and rate-limit figures of one time window. It
// serves snapshots as JSON with [Handler] and as an HTML page with
// [Dashboard].
//
// # Snapshots
//
// [Build] reads the store's per-minute rollups for a window, merges them, and
// converts the sums at the end: nano-dollars to USD and latency histograms to
// p50, p95, p99, mean and max in milliseconds. Its cost grows with the number
// of series and minutes in the window, not with the number of calls. A
// [Query] picks the window (a length back from now, or a since and until),
// which sections to fill, and optionally a [Filter] on endpoint, provider,
// model or caller key.
//
// Breakdowns by provider, model, endpoint and caller key are sorted by spend
// or by calls, both descending, then by name, so the same data always gives
// the same JSON. Each lists its top rows (20 unless the query requests 1 to
// 1000) and then one row marked "other" that sums the rest, so the JSON stays
// small with thousands of models or keys.
//
// # Time series
//
// Each section has a series: one point per bucket of the window, oldest
// first, empty buckets included as zeros. Buckets start at whole multiples
// of their width in UTC. Unless the query gives a width, Build picks the
// narrowest of 1m, 5m, 10m, 15m, 30m, 1h, 3h, 6h, 12h and 1d that splits the
// window into at most 100 points. So 15m and 1h windows get 1m, 24h gets 15m
// and 7d gets 3h. Windows longer than 99 days get buckets of whole days.
//
// # Derived figures
//
//   - usage.cache_hit_ratio is cached input tokens divided by input tokens.
//   - performance.calls_per_minute is the number of calls divided by the
//     window's length in minutes.
//   - performance.stream_output_tokens_per_second is the output tokens of
//     streamed calls divided by the sum of their latencies in seconds, from
//     request to last chunk. Only streamed calls that reported usage are
//     measured, from the sums usage.Stats keeps of them, so the figure does
//     not depend on the bucket width. Rollups that a persistent store wrote
//     before its schema kept these sums hold zero in both, so their calls
//     are not measured.
//
// # HTTP
//
// [Handler] serves
//
//	GET <mount>?type=all|usage|errors|performance&window=15m|1h|24h|7d
//	    [&since=RFC3339&until=RFC3339][&endpoint=&provider=&model=&key=]
//	    [&sort=cost|calls][&top=1..1000][&bucket=1m|5m|…|1d]
//
// and rejects invalid parameters with 400 and a JSON error naming the
// parameter. The snapshot contains spend, endpoint and model names and error
// messages, so give [Config.Authorize] a check unless something in front of
// the handler restricts access.
//
// [Dashboard] serves a self-contained page that fetches the JSON from the
// handler and refreshes it periodically. The page loads nothing from other
// origins and sets a strict Content-Security-Policy.
//
// # Concurrency
//
// Build and the handlers that Handler and Dashboard return are safe for
// concurrent use whenever the store, error source, limiters and tracker in
// the Config are, as their interfaces require. They keep no mutable state
// between calls: each request to Handler builds its own snapshot.
//
// # Example
//
//	cfg := analytics.Config{Store: store, Errors: monitor, Limiters: []ratelimit.StatsReporter{limiter}}
//	mux.Handle("/api/analytics", analytics.Handler(cfg))
//	mux.Handle("/dashboard", analytics.Dashboard(analytics.DashboardConfig{APIPath: "/api/analytics"}))
package analytics
