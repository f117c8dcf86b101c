package analytics_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/usage"
)

func TestBuildFilter(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		filter analytics.Filter
		match  func(c usage.Call) bool
		recent []string
		groups []string
	}{
		{name: "model", filter: analytics.Filter{Model: "gpt-4o-mini"},
			match:  func(c usage.Call) bool { return c.Model == "gpt-4o-mini" },
			recent: []string{"ev-5", "ev-4", "ev-3"}, groups: []string{"fp-rate", "fp-cancel"}},
		{name: "endpoint", filter: analytics.Filter{Endpoint: "/api/ai/agent"},
			match:  func(c usage.Call) bool { return c.Endpoint == "/api/ai/agent" },
			recent: []string{"ev-2"}, groups: []string{"fp-502"}},
		{name: "provider", filter: analytics.Filter{Provider: "anthropic"},
			match:  func(c usage.Call) bool { return c.Provider == "anthropic" },
			recent: []string{"ev-1"}, groups: []string{"fp-timeout"}},
		{name: "key", filter: analytics.Filter{Key: "team-a"},
			match:  func(c usage.Call) bool { return c.Key == "team-a" },
			recent: nil, groups: nil},
		{name: "model and key", filter: analytics.Filter{Model: "gpt-4o-mini", Key: "team-b"},
			match:  func(c usage.Call) bool { return c.Model == "gpt-4o-mini" && c.Key == "team-b" },
			recent: nil, groups: nil},
		{name: "endpoint and model", filter: analytics.Filter{Endpoint: "/api/ai/chat", Model: "gpt-4o"},
			match:  func(c usage.Call) bool { return false },
			recent: nil, groups: nil},
		{name: "no match", filter: analytics.Filter{Model: "gpt-5"},
			match:  func(c usage.Call) bool { return false },
			recent: nil, groups: nil},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snap := buildFixture(t, analytics.Query{Filter: tt.filter})

			var calls, costNanos, errs int64
			for _, r := range fixtureRecords() {
				if r.Time.Before(testNow.Add(-24*time.Hour)) || !r.Time.Before(testNow) || !tt.match(r.Call) {
					continue
				}
				calls++
				costNanos += r.CostNanos
				if r.Error.IsProviderFailure() {
					errs++
				}
			}
			if snap.Usage.Calls != calls || snap.Performance.Calls != calls {
				t.Errorf("calls = %d in usage and %d in performance, want %d", snap.Usage.Calls, snap.Performance.Calls, calls)
			}
			if got := nanos(snap.Usage.CostUSD); got != costNanos {
				t.Errorf("cost = %d nano-dollars, want %d", got, costNanos)
			}
			if snap.Errors.Total != errs {
				t.Errorf("errors.total = %d, want %d", snap.Errors.Total, errs)
			}
			var seriesCalls int64
			for _, p := range snap.Usage.Series {
				seriesCalls += p.Calls
			}
			if seriesCalls != calls {
				t.Errorf("usage.series calls sum to %d, want %d", seriesCalls, calls)
			}

			var recent, groups []string
			for _, ev := range snap.Errors.Recent {
				recent = append(recent, ev.ID)
			}
			for _, g := range snap.Errors.Groups {
				groups = append(groups, g.Fingerprint)
			}
			if !reflect.DeepEqual(recent, tt.recent) {
				t.Errorf("errors.recent = %v, want %v", recent, tt.recent)
			}
			if !reflect.DeepEqual(groups, tt.groups) {
				t.Errorf("errors.groups = %v, want %v", groups, tt.groups)
			}

			if snap.Filter == nil || *snap.Filter != tt.filter {
				t.Errorf("filter = %+v, want %+v", snap.Filter, tt.filter)
			}
			// Limiters count by rule, so their section ignores the filter.
			if len(snap.RateLimits.ByRule) != 3 {
				t.Errorf("rate_limits.by_rule has %d rules, want 3", len(snap.RateLimits.ByRule))
			}
		})
	}
}

func TestBuildFilterBreakdowns(t *testing.T) {
	t.Parallel()
	snap := buildFixture(t, analytics.Query{Filter: analytics.Filter{Model: "gpt-4o-mini"}})

	if len(snap.Usage.ByModel) != 1 || snap.Usage.ByModel[0].Model != "gpt-4o-mini" {
		t.Errorf("usage.by_model = %+v, want gpt-4o-mini alone", snap.Usage.ByModel)
	}
	if len(snap.Usage.ByEndpoint) != 1 || snap.Usage.ByEndpoint[0].Endpoint != "/api/ai/chat" {
		t.Errorf("usage.by_endpoint = %+v, want /api/ai/chat alone", snap.Usage.ByEndpoint)
	}
	var keys []string
	for _, k := range snap.Usage.ByKey {
		keys = append(keys, k.Key)
	}
	if want := []string{"team-a", "team-b", ""}; !reflect.DeepEqual(keys, want) {
		t.Errorf("usage.by_key = %q, want %q", keys, want)
	}
}

func TestBuildWithoutFilterOmitsIt(t *testing.T) {
	t.Parallel()
	if snap := buildFixture(t, analytics.Query{}); snap.Filter != nil {
		t.Errorf("filter = %+v, want nil without a filter", *snap.Filter)
	}
}

func TestBuildCacheHitRatio(t *testing.T) {
	t.Parallel()

	u := buildFixture(t, analytics.Query{Type: analytics.TypeUsage}).Usage
	if want := float64(u.Tokens.CachedInput) / float64(u.Tokens.Input); u.CacheHitRatio != want {
		t.Errorf("cache_hit_ratio = %v, want %v", u.CacheHitRatio, want)
	}
	// 40 chat calls with 512 cached tokens each.
	if u.Tokens.CachedInput != 40*512 {
		t.Errorf("tokens.cached_input = %d, want %d", u.Tokens.CachedInput, 40*512)
	}

	// Calls with output only have no input to serve from the cache.
	records := []usage.Record{rec(time.Minute, "/e", "p", "m", time.Second, 0, 10, 1)}
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeUsage})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if snap.Usage.CacheHitRatio != 0 {
		t.Errorf("cache_hit_ratio without input = %v, want 0", snap.Usage.CacheHitRatio)
	}
}

func TestBuildCallsPerMinute(t *testing.T) {
	t.Parallel()

	tests := []struct {
		query analytics.Query
		want  float64
	}{
		{query: analytics.Query{}, want: 67.0 / (24 * 60)},
		{query: analytics.Query{Window: 15 * time.Minute}, want: 7.0 / 15},
		// The minute from 18:59 holds a chat and an agent call.
		{query: analytics.Query{Since: testNow.Add(-90 * time.Second)}, want: 2.0 / 1.5},
	}
	for _, tt := range tests {
		p := buildFixture(t, tt.query).Performance
		if p.CallsPerMinute != tt.want {
			t.Errorf("window %v: calls_per_minute = %v, want %v", tt.query, p.CallsPerMinute, tt.want)
		}
	}
}

func TestBuildStreamSpeed(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond

	// fast: two streams in separate minutes, 300 output tokens in 4 s in
	// all. mixed: a stream and an unstreamed call in the same minute of
	// the same series, where only the stream counts. unknown: a stream
	// without usage, which does not count. slow: a stream, and an
	// unstreamed call in another minute that does not count.
	records := []usage.Record{
		streamed(rec(2*time.Minute, "/e", "p", "fast", 1000*ms, 10, 100, 1), 100*ms),
		streamed(rec(3*time.Minute, "/e", "p", "fast", 3000*ms, 10, 200, 1), 100*ms),
		streamed(rec(4*time.Minute, "/e", "p", "mixed", 1000*ms, 10, 100, 1), 100*ms),
		rec(4*time.Minute, "/e", "p", "mixed", 1000*ms, 10, 100, 1),
		streamed(failed(5*time.Minute, "/e", "p", "unknown", 1000*ms, "", 0), 100*ms),
		streamed(rec(6*time.Minute, "/e", "p", "slow", 10_000*ms, 10, 100, 1), 100*ms),
		rec(7*time.Minute, "/e", "p", "slow", 1000*ms, 10, 900, 1),
	}
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypePerformance})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	p := snap.Performance

	if p.StreamCalls != 5 {
		t.Errorf("stream_calls = %d, want 5", p.StreamCalls)
	}
	// fast, mixed and slow are measured: 500 tokens in 15 s.
	if p.StreamOutputTokensPerSecond == nil || *p.StreamOutputTokensPerSecond != 500.0/15 {
		t.Errorf("stream_output_tokens_per_second = %v, want %v", deref(p.StreamOutputTokensPerSecond), 500.0/15)
	}
	want := map[string]*float64{"fast": ptr(75.0), "slow": ptr(10.0), "mixed": ptr(100.0), "unknown": nil}
	for _, m := range p.ByModel {
		w, ok := want[m.Model]
		if !ok {
			t.Errorf("unexpected model %q", m.Model)
			continue
		}
		got := m.StreamOutputTokensPerSecond
		if (got == nil) != (w == nil) || (got != nil && *got != *w) {
			t.Errorf("%s: stream_output_tokens_per_second = %v, want %v", m.Model, deref(got), deref(w))
		}
	}

	// Without any measured stream the field is left out.
	plain := analytics.Config{Store: newFakeStore(24*time.Hour, records[3:4]), Clock: fixedClock}
	snap, err = analytics.Build(context.Background(), plain, analytics.Query{Type: analytics.TypePerformance})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if snap.Performance.StreamOutputTokensPerSecond != nil {
		t.Errorf("stream_output_tokens_per_second = %v without streams, want nil", *snap.Performance.StreamOutputTokensPerSecond)
	}
}

func ptr(v float64) *float64 { return &v }

// deref formats an optional float for messages.
func deref(v *float64) any {
	if v == nil {
		return "nil"
	}
	return *v
}
