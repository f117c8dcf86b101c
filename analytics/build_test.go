package analytics_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
)

func buildFixture(t *testing.T, q analytics.Query) *analytics.Snapshot {
	t.Helper()
	cfg, _ := fixtureConfig()
	snap, err := analytics.Build(context.Background(), cfg, q)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return snap
}

func checkLatencyOrder(t *testing.T, label string, l analytics.Latency) {
	t.Helper()
	if !(l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("%s: p50 %v, p95 %v, p99 %v, max %v are not in order", label, l.P50, l.P95, l.P99, l.Max)
	}
	if l.Mean > l.Max {
		t.Errorf("%s: mean %v > max %v", label, l.Mean, l.Max)
	}
}

func TestBuildQuantilesOrdered(t *testing.T) {
	t.Parallel()
	perf := buildFixture(t, analytics.Query{}).Performance

	checkLatencyOrder(t, "total latency", perf.Latency)
	if perf.TTFT == nil {
		t.Fatal("ttft is nil, want a summary of the streamed calls")
	}
	checkLatencyOrder(t, "total ttft", *perf.TTFT)
	for _, e := range perf.ByEndpoint {
		checkLatencyOrder(t, "latency of "+e.Endpoint, e.Latency)
	}
	for _, m := range perf.ByModel {
		checkLatencyOrder(t, "latency of "+m.Model, m.Latency)
	}

	// The timed-out call is the slowest, and Max is exact.
	if perf.Latency.Max != 30000 {
		t.Errorf("max latency = %v ms, want 30000 (the timed-out call)", perf.Latency.Max)
	}
}

func TestBuildQuantilesWithinOnePercent(t *testing.T) {
	t.Parallel()

	// 1..100 ms, one call each: p50 is 50 ms, p95 95 ms, p99 99 ms.
	var records []usage.Record
	for i := 1; i <= 100; i++ {
		records = append(records, rec(time.Duration(i)*time.Minute, "/e", "p", "m", time.Duration(i)*time.Millisecond, 1, 1, 1))
	}
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypePerformance})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	got := snap.Performance.Latency
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", got.P50, 50}, {"p95", got.P95, 95}, {"p99", got.P99, 99}, {"mean", got.Mean, 50.5}, {"max", got.Max, 100},
	} {
		if diff := c.got - c.want; diff > c.want/100 || diff < -c.want/100 {
			t.Errorf("%s = %v ms, want %v ms within 1%%", c.name, c.got, c.want)
		}
	}
}

func TestBuildCostConvertsExactly(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		costs []int64
		want  string
	}{
		{name: "one call", costs: []int64{5_615_000}, want: "0.005615"},
		{name: "one nano-dollar", costs: []int64{1}, want: "1e-9"},
		{name: "sum of three", costs: []int64{5_615_000, 360_000, 11_550_000}, want: "0.017525"},
		{name: "tenths that float sums get wrong", costs: []int64{100_000_000, 200_000_000}, want: "0.3"},
		{name: "large", costs: []int64{123_456_789_012_345}, want: "123456.789012345"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var records []usage.Record
			for i, c := range tt.costs {
				records = append(records, rec(time.Duration(i+1)*time.Minute, "/e", "p", "m", time.Second, 10, 10, c))
			}
			cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}
			snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeUsage})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}

			for _, v := range []struct {
				where string
				cost  float64
			}{
				{"usage.cost_usd", snap.Usage.CostUSD},
				{"by_provider[0].cost_usd", snap.Usage.ByProvider[0].CostUSD},
				{"by_model[0].cost_usd", snap.Usage.ByModel[0].CostUSD},
				{"by_endpoint[0].cost_usd", snap.Usage.ByEndpoint[0].CostUSD},
			} {
				b, err := json.Marshal(v.cost)
				if err != nil {
					t.Fatalf("marshal: %v", err)
				}
				if string(b) != tt.want {
					t.Errorf("%s encodes as %s, want %s", v.where, b, tt.want)
				}
			}
		})
	}
}

func TestBuildUsageTotals(t *testing.T) {
	t.Parallel()
	u := buildFixture(t, analytics.Query{Type: analytics.TypeUsage}).Usage

	// 40 chat + 12 agent + 1 o3 + 3 unpriced + 5 summarize + 1 unknown + 5 failed.
	if u.Calls != 67 {
		t.Errorf("calls = %d, want 67", u.Calls)
	}
	if u.UnpricedCalls != 3 {
		t.Errorf("unpriced_calls = %d, want 3", u.UnpricedCalls)
	}
	// The unknown-usage call and the five failures carry no usage.
	if u.UnknownUsageCalls != 6 {
		t.Errorf("unknown_usage_calls = %d, want 6", u.UnknownUsageCalls)
	}
	if u.Tokens.Total != u.Tokens.Input+u.Tokens.Output {
		t.Errorf("tokens.total = %d, want input %d + output %d", u.Tokens.Total, u.Tokens.Input, u.Tokens.Output)
	}
	// Unpriced tokens count, unpriced cost does not.
	wantInput := int64(40*1200 + 12*3000 + 900 + 3*800 + 5*4000)
	if u.Tokens.Input != wantInput {
		t.Errorf("tokens.input = %d, want %d", u.Tokens.Input, wantInput)
	}
	wantCost := float64(40*360_000+12*5_615_000+11_550_000+5*4_200_000) / 1e9
	if u.CostUSD != wantCost {
		t.Errorf("cost_usd = %v, want %v", u.CostUSD, wantCost)
	}
	if u.DroppedRecords == nil || *u.DroppedRecords != 3 {
		t.Errorf("dropped_records = %v, want 3", u.DroppedRecords)
	}
}

func TestBuildDroppedRecordsNeedsTracker(t *testing.T) {
	t.Parallel()
	cfg := analytics.Config{Store: newFakeStore(time.Hour, nil), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if snap.Usage.DroppedRecords != nil {
		t.Errorf("dropped_records = %d, want nil without a tracker", *snap.Usage.DroppedRecords)
	}
}

func TestBuildErrorCounts(t *testing.T) {
	t.Parallel()
	e := buildFixture(t, analytics.Query{Type: analytics.TypeErrors}).Errors

	// Two rate-limited, one provider error and one timeout. The canceled
	// call is not a provider failure.
	if e.Total != 4 {
		t.Errorf("total = %d, want 4", e.Total)
	}
	if want := 4.0 / 67; e.Rate != want {
		t.Errorf("rate = %v, want %v", e.Rate, want)
	}
	want := map[errmon.Category]int64{
		errmon.RateLimited: 2, errmon.ProviderError: 1, errmon.Timeout: 1, errmon.Canceled: 1,
	}
	for _, c := range errmon.Categories {
		n, ok := e.ByCategory[c]
		if !ok {
			t.Errorf("by_category has no %q", c)
		}
		if n != want[c] {
			t.Errorf("by_category[%q] = %d, want %d", c, n, want[c])
		}
	}
	if len(e.ByCategory) != len(errmon.Categories) {
		t.Errorf("by_category has %d keys, want %d", len(e.ByCategory), len(errmon.Categories))
	}
}

func TestBuildErrorsByEndpoint(t *testing.T) {
	t.Parallel()
	e := buildFixture(t, analytics.Query{Type: analytics.TypeErrors}).Errors

	got := make(map[string]analytics.EndpointErrors)
	for _, row := range e.ByEndpoint {
		got[row.Endpoint] = row
	}
	chat := got["/api/ai/chat"]
	// 40 + 3 unpriced + 1 unknown + 2 rate-limited + 1 canceled.
	if chat.Calls != 47 || chat.Errors != 2 {
		t.Errorf("chat: calls %d, errors %d, want 47 and 2", chat.Calls, chat.Errors)
	}
	if chat.Rate != 2.0/47 {
		t.Errorf("chat rate = %v, want %v", chat.Rate, 2.0/47)
	}
}

func TestBuildRecentErrorsInWindow(t *testing.T) {
	t.Parallel()
	cfg, _ := fixtureConfig()
	src := cfg.Errors.(*fakeErrors)
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeErrors, Window: time.Hour})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	var ids []string
	for _, ev := range snap.Errors.Recent {
		ids = append(ids, ev.ID)
	}
	if want := []string{"ev-5", "ev-4", "ev-3", "ev-2"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("recent ids = %v, want %v", ids, want)
	}
	var fps []string
	for _, g := range snap.Errors.Groups {
		fps = append(fps, g.Fingerprint)
	}
	if want := []string{"fp-rate", "fp-cancel", "fp-502"}; !reflect.DeepEqual(fps, want) {
		t.Errorf("group fingerprints = %v, want %v", fps, want)
	}
	if src.recentLimit != analytics.DefaultRecentErrors {
		t.Errorf("Recent limit = %d, want %d", src.recentLimit, analytics.DefaultRecentErrors)
	}
	if src.groupsLimit != analytics.DefaultRecentErrors {
		t.Errorf("Groups limit = %d, want %d", src.groupsLimit, analytics.DefaultRecentErrors)
	}
}

func TestBuildRecentErrorsLimit(t *testing.T) {
	t.Parallel()
	cfg, _ := fixtureConfig()
	cfg.RecentErrors = 2
	cfg.ErrorGroups = 1
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeErrors})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := len(snap.Errors.Recent); got != 2 {
		t.Errorf("len(recent) = %d, want 2", got)
	}
	if got := len(snap.Errors.Groups); got != 1 {
		t.Errorf("len(groups) = %d, want 1", got)
	}
}

func TestBuildPerformance(t *testing.T) {
	t.Parallel()
	p := buildFixture(t, analytics.Query{Type: analytics.TypePerformance}).Performance

	if p.Calls != 67 {
		t.Errorf("calls = %d, want 67", p.Calls)
	}
	if want := 63.0 / 67; p.SuccessRate != want {
		t.Errorf("success_rate = %v, want %v", p.SuccessRate, want)
	}
	for _, m := range p.ByModel {
		streams := m.Model == "gpt-4o-mini" || m.Model == "claude-3-5-haiku"
		if streams && m.TTFT == nil {
			t.Errorf("%s: ttft is nil, want a summary", m.Model)
		}
		if !streams && m.TTFT != nil {
			t.Errorf("%s: ttft = %+v, want nil without streamed calls", m.Model, *m.TTFT)
		}
	}
}

func TestBuildWithoutCalls(t *testing.T) {
	t.Parallel()
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, nil), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	if snap.Errors.Rate != 0 {
		t.Errorf("errors.rate = %v, want 0", snap.Errors.Rate)
	}
	if snap.Performance.SuccessRate != 1 {
		t.Errorf("success_rate = %v, want 1", snap.Performance.SuccessRate)
	}
	if snap.Performance.TTFT != nil {
		t.Errorf("ttft = %+v, want nil", *snap.Performance.TTFT)
	}

	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if strings.Contains(string(b), "null") {
		t.Errorf("JSON contains null, want empty arrays: %s", b)
	}
	if strings.Contains(string(b), "ttft_ms") {
		t.Errorf("JSON contains ttft_ms without streamed calls: %s", b)
	}
}

func TestBuildStreamWithoutFirstToken(t *testing.T) {
	t.Parallel()

	// A streamed call that failed before its first token has no TTFT, so
	// there is nothing to summarize.
	r := streamed(failed(time.Minute, "/e", "p", "m", time.Second, errmon.Network, 0), 0)
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, []usage.Record{r}), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypePerformance})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if snap.Performance.TTFT != nil {
		t.Errorf("ttft = %+v, want nil", *snap.Performance.TTFT)
	}
}

func TestBuildSortOrder(t *testing.T) {
	t.Parallel()

	// a costs most. d costs as much as b and c but has more calls. b and c
	// tie on cost and calls, so they sort by model name. e and f tie too
	// and sort by provider name.
	records := []usage.Record{
		rec(time.Minute, "/c", "p", "c", time.Second, 1, 1, 100),
		rec(time.Minute, "/b", "p", "b", time.Second, 1, 1, 100),
		rec(time.Minute, "/a", "p", "a", time.Second, 1, 1, 900),
		rec(time.Minute, "/d", "p", "d", time.Second, 1, 1, 50),
		rec(time.Minute, "/d", "p", "d", time.Second, 1, 1, 50),
		rec(time.Minute, "/e", "p", "e", time.Second, 1, 1, 0),
		rec(time.Minute, "/e", "p", "e", time.Second, 1, 1, 0),
		rec(time.Minute, "/f", "o", "f", time.Second, 1, 1, 0),
		rec(time.Minute, "/f", "o", "f", time.Second, 1, 1, 0),
	}
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	var models, endpoints, perfModels, errEndpoints []string
	for _, m := range snap.Usage.ByModel {
		models = append(models, m.Provider+"/"+m.Model)
	}
	for _, e := range snap.Usage.ByEndpoint {
		endpoints = append(endpoints, e.Endpoint)
	}
	for _, m := range snap.Performance.ByModel {
		perfModels = append(perfModels, m.Provider+"/"+m.Model)
	}
	for _, e := range snap.Errors.ByEndpoint {
		errEndpoints = append(errEndpoints, e.Endpoint)
	}

	wantModels := []string{"p/a", "p/d", "p/b", "p/c", "o/f", "p/e"}
	if !reflect.DeepEqual(models, wantModels) {
		t.Errorf("usage.by_model = %v, want %v", models, wantModels)
	}
	if !reflect.DeepEqual(perfModels, wantModels) {
		t.Errorf("performance.by_model = %v, want %v", perfModels, wantModels)
	}
	wantEndpoints := []string{"/a", "/d", "/b", "/c", "/e", "/f"}
	if !reflect.DeepEqual(endpoints, wantEndpoints) {
		t.Errorf("usage.by_endpoint = %v, want %v", endpoints, wantEndpoints)
	}
	if !reflect.DeepEqual(errEndpoints, wantEndpoints) {
		t.Errorf("errors.by_endpoint = %v, want %v", errEndpoints, wantEndpoints)
	}
	var providers []string
	for _, p := range snap.Usage.ByProvider {
		providers = append(providers, p.Provider)
	}
	if want := []string{"p", "o"}; !reflect.DeepEqual(providers, want) {
		t.Errorf("usage.by_provider = %v, want %v", providers, want)
	}
}

func TestBuildRateLimits(t *testing.T) {
	t.Parallel()
	cfg, _ := fixtureConfig()
	cfg.Limiters = append(cfg.Limiters, nil)
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	// api is summed over both limiters.
	want := []analytics.RuleCounts{
		{Rule: "api", Allowed: 200, Rejected: 8},
		{Rule: "agent", Allowed: 19, Rejected: 7},
		{Rule: "stream", Allowed: 40, Rejected: 0},
	}
	if !reflect.DeepEqual(snap.RateLimits.ByRule, want) {
		t.Errorf("by_rule = %+v, want %+v", snap.RateLimits.ByRule, want)
	}
}

func TestBuildSections(t *testing.T) {
	t.Parallel()

	tests := []struct {
		typ                                    analytics.Type
		usage, errors, performance, rateLimits bool
	}{
		{typ: "", usage: true, errors: true, performance: true, rateLimits: true},
		{typ: analytics.TypeAll, usage: true, errors: true, performance: true, rateLimits: true},
		{typ: analytics.TypeUsage, usage: true},
		{typ: analytics.TypeErrors, errors: true},
		{typ: analytics.TypePerformance, performance: true},
	}
	for _, tt := range tests {
		tt := tt
		t.Run("type="+string(tt.typ), func(t *testing.T) {
			t.Parallel()
			snap := buildFixture(t, analytics.Query{Type: tt.typ})

			if got := snap.Usage != nil; got != tt.usage {
				t.Errorf("usage present = %v, want %v", got, tt.usage)
			}
			if got := snap.Errors != nil; got != tt.errors {
				t.Errorf("errors present = %v, want %v", got, tt.errors)
			}
			if got := snap.Performance != nil; got != tt.performance {
				t.Errorf("performance present = %v, want %v", got, tt.performance)
			}
			if got := snap.RateLimits != nil; got != tt.rateLimits {
				t.Errorf("rate_limits present = %v, want %v", got, tt.rateLimits)
			}
			if tt.typ == "" && snap.Type != analytics.TypeAll {
				t.Errorf("type = %q, want %q", snap.Type, analytics.TypeAll)
			}
		})
	}
}

func TestBuildWindow(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		retention time.Duration
		query     analytics.Query
		since     time.Time
		until     time.Time
	}{
		{name: "store retention", retention: 6 * time.Hour,
			since: testNow.Add(-6 * time.Hour), until: testNow},
		{name: "no retention", retention: 0,
			since: testNow.Add(-analytics.DefaultWindow), until: testNow},
		{name: "window", retention: 24 * time.Hour, query: analytics.Query{Window: 15 * time.Minute},
			since: testNow.Add(-15 * time.Minute), until: testNow},
		{name: "window before until", retention: 24 * time.Hour,
			query: analytics.Query{Window: time.Hour, Until: testNow.Add(-3 * time.Hour)},
			since: testNow.Add(-4 * time.Hour), until: testNow.Add(-3 * time.Hour)},
		{name: "since only", retention: 24 * time.Hour, query: analytics.Query{Since: testNow.Add(-2 * time.Hour)},
			since: testNow.Add(-2 * time.Hour), until: testNow},
		{name: "since and until in another zone", retention: 24 * time.Hour,
			query: analytics.Query{
				Since: testNow.Add(-2 * time.Hour).In(time.FixedZone("UTC+2", 2*3600)),
				Until: testNow.Add(-time.Hour).In(time.FixedZone("UTC-5", -5*3600)),
			},
			since: testNow.Add(-2 * time.Hour), until: testNow.Add(-time.Hour)},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore(tt.retention, nil)
			cfg := analytics.Config{Store: store, Clock: fixedClock}
			snap, err := analytics.Build(context.Background(), cfg, tt.query)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}

			if got := store.lastRequest(); !got.since.Equal(tt.since) || !got.until.Equal(tt.until) {
				t.Errorf("store read [%v, %v), want [%v, %v)", got.since, got.until, tt.since, tt.until)
			}
			if !snap.Window.Since.Equal(tt.since) || !snap.Window.Until.Equal(tt.until) {
				t.Errorf("window = [%v, %v), want [%v, %v)", snap.Window.Since, snap.Window.Until, tt.since, tt.until)
			}
			if snap.Window.Since.Location() != time.UTC || snap.Window.Until.Location() != time.UTC {
				t.Errorf("window times are not UTC: %v, %v", snap.Window.Since, snap.Window.Until)
			}
			if !snap.GeneratedAt.Equal(testNow) {
				t.Errorf("generated_at = %v, want %v", snap.GeneratedAt, testNow)
			}
		})
	}
}

func TestBuildExcludesCallsOutsideWindow(t *testing.T) {
	t.Parallel()

	// The fixture has two calls of 1 USD each outside the default window.
	u := buildFixture(t, analytics.Query{}).Usage
	if u.CostUSD >= 1 {
		t.Errorf("cost_usd = %v, want below 1 without the calls outside the window", u.CostUSD)
	}

	// A 15-minute window holds only the calls of its last 15 minutes.
	u15 := buildFixture(t, analytics.Query{Window: 15 * time.Minute}).Usage
	var want int64
	for _, r := range fixtureRecords() {
		if !r.Time.Before(testNow.Add(-15*time.Minute)) && r.Time.Before(testNow) {
			want++
		}
	}
	if u15.Calls != want {
		t.Errorf("15m calls = %d, want %d", u15.Calls, want)
	}
}

func TestBuildInvalidQuery(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		query analytics.Query
		param string
	}{
		{name: "unknown type", query: analytics.Query{Type: "cost"}, param: "type"},
		{name: "negative window", query: analytics.Query{Window: -time.Hour}, param: "window"},
		{name: "window with since", query: analytics.Query{Window: time.Hour, Since: testNow.Add(-time.Hour)}, param: "window"},
		{name: "since equals until", query: analytics.Query{Since: testNow, Until: testNow}, param: "since"},
		{name: "since after until", query: analytics.Query{Since: testNow, Until: testNow.Add(-time.Hour)}, param: "since"},
		{name: "since in the future", query: analytics.Query{Since: testNow.Add(time.Hour)}, param: "since"},
		{name: "window before year 1", query: analytics.Query{Window: 7 * 24 * time.Hour, Until: time.Date(1, 1, 3, 0, 0, 0, 0, time.UTC)}, param: "window"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore(24*time.Hour, nil)
			cfg := analytics.Config{Store: store, Clock: fixedClock}
			_, err := analytics.Build(context.Background(), cfg, tt.query)

			var qe *analytics.QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("error = %v, want a *QueryError", err)
			}
			if qe.Param != tt.param {
				t.Errorf("param = %q, want %q", qe.Param, tt.param)
			}
			if store.requestCount() != 0 {
				t.Errorf("store was read %d times, want 0 for an invalid query", store.requestCount())
			}
		})
	}
}

func TestBuildStoreError(t *testing.T) {
	t.Parallel()
	errDown := errors.New("database is down")
	store := newFakeStore(time.Hour, nil)
	store.err = errDown

	_, err := analytics.Build(context.Background(), analytics.Config{Store: store, Clock: fixedClock}, analytics.Query{})
	if !errors.Is(err, errDown) {
		t.Errorf("error = %v, want it to wrap %v", err, errDown)
	}
}

func TestBuildWithoutStore(t *testing.T) {
	t.Parallel()
	_, err := analytics.Build(context.Background(), analytics.Config{}, analytics.Query{})
	if !errors.Is(err, analytics.ErrNoStore) {
		t.Errorf("error = %v, want ErrNoStore", err)
	}
}

func TestBuildReadsStoreOnce(t *testing.T) {
	t.Parallel()
	cfg, store := fixtureConfig()
	if _, err := analytics.Build(context.Background(), cfg, analytics.Query{}); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := store.requestCount(); got != 1 {
		t.Errorf("store read %d times, want 1", got)
	}
}

func TestBuildLeavesRollupsUnchanged(t *testing.T) {
	t.Parallel()

	// Merging must copy out of the store's rollups, so a second build over
	// the same rollups gives the same snapshot.
	cfg, _ := fixtureConfig()
	first, err := analytics.Build(context.Background(), cfg, analytics.Query{})
	if err != nil {
		t.Fatalf("first Build: %v", err)
	}
	second, err := analytics.Build(context.Background(), cfg, analytics.Query{})
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("second snapshot differs from the first:\nfirst:  %+v\nsecond: %+v", first.Usage, second.Usage)
	}
}

func TestBuildConcurrent(t *testing.T) {
	t.Parallel()
	cfg, _ := fixtureConfig()
	want, err := analytics.Build(context.Background(), cfg, analytics.Query{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	const n = 8
	results := make(chan *analytics.Snapshot, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			snap, err := analytics.Build(context.Background(), cfg, analytics.Query{})
			results <- snap
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Errorf("Build: %v", err)
		}
		if got := <-results; !reflect.DeepEqual(got, want) {
			t.Errorf("concurrent snapshot differs from the sequential one")
		}
	}
}

// BenchmarkBuild measures a day of per-minute rollups of 20 series.
func BenchmarkBuild(b *testing.B) {
	var records []usage.Record
	for m := 0; m < 24*60; m++ {
		for s := 0; s < 20; s++ {
			endpoint := "/api/e" + string(rune('a'+s%5))
			model := "model-" + string(rune('a'+s/5))
			r := rec(time.Duration(m)*time.Minute+time.Second, endpoint, "openai", model,
				time.Duration(100+(m*7+s*13)%900)*time.Millisecond, 100, 50, 1000)
			if s%3 == 0 {
				r = streamed(r, 80*time.Millisecond)
			}
			records = append(records, r)
		}
	}
	cfg := analytics.Config{
		Store:    newFakeStore(24*time.Hour, records),
		Limiters: []ratelimit.StatsReporter{fakeLimiter{{Rule: "api", Allowed: 1, Rejected: 1}}},
		Clock:    fixedClock,
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := analytics.Build(context.Background(), cfg, analytics.Query{}); err != nil {
			b.Fatal(err)
		}
	}
}
