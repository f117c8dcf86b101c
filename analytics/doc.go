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
// [Query] picks the window (a length back from now, or a since and until)
// and which sections to fill.
//
// Breakdowns by provider, model and endpoint are sorted by spend, then by
// calls, both descending, then by name, so the same data always gives the
// same JSON.
//
// # HTTP
//
// [Handler] serves
//
//	GET <mount>?type=all|usage|errors|performance&window=15m|1h|24h|7d
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
