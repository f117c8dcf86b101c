package analytics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// seriesStarts returns the start of every point of the three series of
// snap, by section name.
func seriesStarts(snap *analytics.Snapshot) map[string][]time.Time {
	starts := make(map[string][]time.Time)
	if snap.Usage != nil {
		for _, p := range snap.Usage.Series {
			starts["usage"] = append(starts["usage"], p.Start)
		}
	}
	if snap.Errors != nil {
		for _, p := range snap.Errors.Series {
			starts["errors"] = append(starts["errors"], p.Start)
		}
	}
	if snap.Performance != nil {
		for _, p := range snap.Performance.Series {
			starts["performance"] = append(starts["performance"], p.Start)
		}
	}
	return starts
}

func TestBuildBucketWidth(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour

	tests := []struct {
		name       string
		query      analytics.Query
		bucket     string
		width      time.Duration
		points     int
		firstStart time.Time
	}{
		{name: "15m window", query: analytics.Query{Window: 15 * time.Minute},
			bucket: "1m", width: time.Minute, points: 15, firstStart: testNow.Add(-15 * time.Minute)},
		{name: "1h window", query: analytics.Query{Window: time.Hour},
			bucket: "1m", width: time.Minute, points: 60, firstStart: testNow.Add(-time.Hour)},
		{name: "24h window", query: analytics.Query{Window: day},
			bucket: "15m", width: 15 * time.Minute, points: 96, firstStart: testNow.Add(-day)},
		{name: "7d window", query: analytics.Query{Window: 7 * day},
			bucket: "3h", width: 3 * time.Hour, points: 57, firstStart: testNow.Add(-7*day - time.Hour)},
		{name: "30 days", query: analytics.Query{Since: testNow.Add(-30 * day)},
			bucket: "12h", width: 12 * time.Hour, points: 61, firstStart: time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)},
		{name: "90 days", query: analytics.Query{Since: testNow.Add(-90 * day)},
			bucket: "1d", width: day, points: 91, firstStart: time.Date(2026, 9, 5, 0, 0, 0, 0, time.UTC)},
		{name: "400 days in whole days", query: analytics.Query{Since: testNow.Add(-400 * day)},
			bucket: "5d", width: 5 * day, points: 81, firstStart: time.Date(2025, 10, 27, 0, 0, 0, 0, time.UTC)},
		{name: "window not aligned", query: analytics.Query{Window: day, Until: testNow.Add(7*time.Minute + 30*time.Second)},
			bucket: "15m", width: 15 * time.Minute, points: 97, firstStart: testNow.Add(-day)},
		{name: "bucket given", query: analytics.Query{Window: day, Bucket: time.Hour},
			bucket: "1h", width: time.Hour, points: 24, firstStart: testNow.Add(-day)},
		{name: "minutes of an aligned day", query: analytics.Query{Window: day, Bucket: time.Minute},
			bucket: "1m", width: time.Minute, points: 1440, firstStart: testNow.Add(-day)},
		{name: "minutes of an unaligned day", query: analytics.Query{Window: day, Bucket: time.Minute, Until: testNow.Add(30 * time.Second)},
			bucket: "1m", width: time.Minute, points: analytics.MaxSeriesPoints, firstStart: testNow.Add(-day)},
		{name: "bucket wider than the window", query: analytics.Query{Window: 15 * time.Minute, Bucket: day},
			bucket: "1d", width: day, points: 1, firstStart: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)},
		{name: "bucket of odd minutes", query: analytics.Query{Window: time.Hour, Bucket: 7 * time.Minute},
			bucket: "7m", width: 7 * time.Minute, points: 9, firstStart: time.Date(2026, 12, 4, 17, 59, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, _ := fixtureConfig()
			snap, err := analytics.Build(context.Background(), cfg, tt.query)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}

			if snap.Window.Bucket != tt.bucket {
				t.Errorf("window.bucket = %q, want %q", snap.Window.Bucket, tt.bucket)
			}
			if want := int64(tt.width / time.Second); snap.Window.BucketSeconds != want {
				t.Errorf("window.bucket_seconds = %d, want %d", snap.Window.BucketSeconds, want)
			}
			for section, starts := range seriesStarts(snap) {
				if len(starts) != tt.points {
					t.Errorf("%s.series has %d points, want %d", section, len(starts), tt.points)
					continue
				}
				if !starts[0].Equal(tt.firstStart) {
					t.Errorf("%s.series starts at %v, want %v", section, starts[0], tt.firstStart)
				}
				if starts[0].After(snap.Window.Since) || !starts[0].Add(tt.width).After(snap.Window.Since) {
					t.Errorf("%s.series: first bucket %v does not contain since %v", section, starts[0], snap.Window.Since)
				}
				if last := starts[len(starts)-1]; !last.Before(snap.Window.Until) || last.Add(tt.width).Before(snap.Window.Until) {
					t.Errorf("%s.series: last bucket %v does not contain the end of the window %v", section, last, snap.Window.Until)
				}
				for i := 1; i < len(starts); i++ {
					if got := starts[i].Sub(starts[i-1]); got != tt.width {
						t.Errorf("%s.series: point %d is %v after the one before, want %v", section, i, got, tt.width)
						break
					}
				}
			}
		})
	}
}

func TestBuildBucketInvalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		query analytics.Query
	}{
		{name: "too many points", query: analytics.Query{Window: 7 * 24 * time.Hour, Bucket: time.Minute}},
		{name: "one point too many", query: analytics.Query{Window: 24*time.Hour + 2*time.Minute, Bucket: time.Minute}},
		{name: "not whole minutes", query: analytics.Query{Bucket: 90 * time.Second}},
		{name: "under a minute", query: analytics.Query{Bucket: time.Second}},
		{name: "negative", query: analytics.Query{Bucket: -time.Hour}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore(24*time.Hour, nil)
			_, err := analytics.Build(context.Background(), analytics.Config{Store: store, Clock: fixedClock}, tt.query)

			var qe *analytics.QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("error = %v, want a *QueryError", err)
			}
			if qe.Param != "bucket" {
				t.Errorf("param = %q, want bucket", qe.Param)
			}
			if n := store.requestCount(); n != 0 {
				t.Errorf("store read %d times, want 0", n)
			}
		})
	}
}

func TestSeriesSumsToTotals(t *testing.T) {
	t.Parallel()

	for _, q := range []analytics.Query{{}, {Window: time.Hour}, {Bucket: time.Hour}, {Window: 7 * 24 * time.Hour}} {
		snap := buildFixture(t, q)
		label := snap.Window.Bucket + " over " + snap.Window.Until.Sub(snap.Window.Since).String()

		var calls, errs, costNanos int64
		var tokens analytics.TokenCounts
		for _, p := range snap.Usage.Series {
			calls += p.Calls
			costNanos += int64(p.CostUSD*1e9 + 0.5)
			tokens.Input += p.Tokens.Input
			tokens.CachedInput += p.Tokens.CachedInput
			tokens.Output += p.Tokens.Output
			tokens.Reasoning += p.Tokens.Reasoning
			tokens.Total += p.Tokens.Total
		}
		if calls != snap.Usage.Calls {
			t.Errorf("%s: usage series calls sum to %d, want %d", label, calls, snap.Usage.Calls)
		}
		if tokens != snap.Usage.Tokens {
			t.Errorf("%s: usage series tokens sum to %+v, want %+v", label, tokens, snap.Usage.Tokens)
		}
		if want := int64(snap.Usage.CostUSD*1e9 + 0.5); costNanos != want {
			t.Errorf("%s: usage series cost sums to %d nano-dollars, want %d", label, costNanos, want)
		}

		byCategory := make(map[errmon.Category]int64)
		calls = 0
		for _, p := range snap.Errors.Series {
			calls += p.Calls
			errs += p.Errors
			for c, n := range p.ByCategory {
				byCategory[c] += n
			}
		}
		if calls != snap.Usage.Calls || errs != snap.Errors.Total {
			t.Errorf("%s: errors series sum to %d calls and %d errors, want %d and %d", label, calls, errs, snap.Usage.Calls, snap.Errors.Total)
		}
		for c, n := range snap.Errors.ByCategory {
			if byCategory[c] != n {
				t.Errorf("%s: errors series count %d %s, want %d", label, byCategory[c], c, n)
			}
		}

		calls = 0
		var maxLatency float64
		for _, p := range snap.Performance.Series {
			calls += p.Calls
			if p.Latency.Max > maxLatency {
				maxLatency = p.Latency.Max
			}
		}
		if calls != snap.Performance.Calls {
			t.Errorf("%s: performance series calls sum to %d, want %d", label, calls, snap.Performance.Calls)
		}
		if maxLatency != snap.Performance.Latency.Max {
			t.Errorf("%s: largest point max latency = %v ms, want %v", label, maxLatency, snap.Performance.Latency.Max)
		}
	}
}

func TestSeriesEmptyBucketsAreZero(t *testing.T) {
	t.Parallel()

	// One call two hours ago, in a 24-hour window of 15-minute buckets.
	records := []usage.Record{streamed(rec(2*time.Hour, "/e", "p", "m", time.Second, 10, 5, 1000), 200*time.Millisecond)}
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	busy := testNow.Add(-2 * time.Hour)
	for i, p := range snap.Usage.Series {
		if p.Start.Equal(busy) {
			if p.Calls != 1 || p.Tokens.Total != 15 || p.CostUSD != 1e-6 {
				t.Errorf("usage point %v = %+v, want 1 call, 15 tokens, $0.000001", p.Start, p)
			}
			continue
		}
		if p.Calls != 0 || p.Tokens != (analytics.TokenCounts{}) || p.CostUSD != 0 {
			t.Errorf("usage point %d (%v) = %+v, want zeros", i, p.Start, p)
		}
	}
	for i, p := range snap.Errors.Series {
		if !p.Start.Equal(busy) && (p.Calls != 0 || p.Errors != 0 || p.Rate != 0 || p.ByCategory != nil) {
			t.Errorf("errors point %d (%v) = %+v, want zeros", i, p.Start, p)
		}
	}
	for i, p := range snap.Performance.Series {
		if p.Start.Equal(busy) {
			if p.Latency.Max != 1000 || p.TTFT == nil || p.TTFT.Max != 200 {
				t.Errorf("performance point %v = %+v, want max latency 1000 ms and ttft 200 ms", p.Start, p)
			}
			continue
		}
		if p.Calls != 0 || p.Latency != (analytics.Latency{}) || p.TTFT != nil {
			t.Errorf("performance point %d (%v) = %+v, want zeros and no ttft", i, p.Start, p)
		}
	}
}

func TestSeriesPointQuantiles(t *testing.T) {
	t.Parallel()

	// 1..100 ms in the 15 minutes from 18:00, one call each minute
	// apart, and one 5-second call at 18:30.
	var records []usage.Record
	for i := 1; i <= 100; i++ {
		records = append(records, rec(time.Hour-time.Duration(i%15)*time.Minute, "/e", "p", "m", time.Duration(i)*time.Millisecond, 1, 1, 1))
	}
	records = append(records, failed(30*time.Minute, "/e", "p", "m", 5*time.Second, errmon.Timeout, 0))
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Window: time.Hour, Bucket: 15 * time.Minute})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	perf := snap.Performance.Series
	if len(perf) != 4 {
		t.Fatalf("performance.series has %d points, want 4", len(perf))
	}
	first := perf[0].Latency
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", first.P50, 50}, {"p95", first.P95, 95}, {"p99", first.P99, 99}, {"mean", first.Mean, 50.5}, {"max", first.Max, 100},
	} {
		if diff := c.got - c.want; diff > c.want/100 || diff < -c.want/100 {
			t.Errorf("first point %s = %v ms, want %v ms within 1%%", c.name, c.got, c.want)
		}
	}
	if perf[2].Calls != 1 || perf[2].Latency.P50 != 5000 {
		t.Errorf("third point = %+v, want one call of 5000 ms", perf[2])
	}

	errPoint := snap.Errors.Series[2]
	if errPoint.Errors != 1 || errPoint.Rate != 1 || errPoint.ByCategory[errmon.Timeout] != 1 || len(errPoint.ByCategory) != 1 {
		t.Errorf("third errors point = %+v, want one timeout and rate 1", errPoint)
	}
}

func TestSeriesStartsStable(t *testing.T) {
	t.Parallel()

	// Two requests a few seconds apart see the same bucket starts, so a
	// chart that refreshes does not shift.
	cfg, _ := fixtureConfig()
	var starts [2]time.Time
	for i, now := range []time.Time{testNow.Add(10 * time.Second), testNow.Add(50 * time.Second)} {
		now := now
		cfg.Clock = func() time.Time { return now }
		snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeUsage, Window: 24 * time.Hour})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		starts[i] = snap.Usage.Series[0].Start
	}
	if !starts[0].Equal(starts[1]) {
		t.Errorf("first bucket starts at %v and then %v, want the same", starts[0], starts[1])
	}
}
