package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// nanos converts a USD amount of a snapshot back to nano-dollars.
func nanos(usd float64) int64 { return int64(usd*1e9 + 0.5) }

// manyModels returns one call to each of n models on as many endpoints,
// where model-NN costs NN+1 nano-dollars and takes NN+1 ms, and a failed
// call to every tenth model.
func manyModels(n int) []usage.Record {
	var records []usage.Record
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("model-%02d", i)
		r := rec(time.Duration(i%50+1)*time.Minute, "/e/"+name, "p", name, time.Duration(i+1)*time.Millisecond, 10, 10, int64(i+1))
		records = append(records, withKey(r, "key-"+name))
		if i%10 == 0 {
			records = append(records, failed(time.Minute, "/e/"+name, "p", name, time.Millisecond, errmon.ProviderError, 500))
		}
	}
	return records
}

func TestBuildTopAndOtherRow(t *testing.T) {
	t.Parallel()

	// 30 models, so with top 5 the 25 cheapest are summed in the other row.
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, manyModels(30)), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Top: 5})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	u := snap.Usage
	if len(u.ByModel) != 6 {
		t.Fatalf("usage.by_model has %d rows, want 6", len(u.ByModel))
	}
	var names []string
	for _, m := range u.ByModel[:5] {
		names = append(names, m.Model)
		if m.Other || m.OtherRows != 0 {
			t.Errorf("row %s is marked as the other row", m.Model)
		}
	}
	if want := []string{"model-29", "model-28", "model-27", "model-26", "model-25"}; !reflect.DeepEqual(names, want) {
		t.Errorf("usage.by_model = %v, want %v", names, want)
	}

	other := u.ByModel[5]
	if !other.Other || other.OtherRows != 25 {
		t.Errorf("last row other = %v, other_rows = %d, want true and 25", other.Other, other.OtherRows)
	}
	if other.Provider != "" || other.Model != "" {
		t.Errorf("other row names %q/%q, want empty names", other.Provider, other.Model)
	}
	// model-00 to model-24 cost 1+2+…+25 nano-dollars and have 25 calls
	// plus three failures.
	if got := nanos(other.CostUSD); got != 325 {
		t.Errorf("other row cost = %d nano-dollars, want 325", got)
	}
	if other.Calls != 28 {
		t.Errorf("other row calls = %d, want 28", other.Calls)
	}

	var calls, cost int64
	for _, m := range u.ByModel {
		calls += m.Calls
		cost += nanos(m.CostUSD)
	}
	if calls != u.Calls || cost != nanos(u.CostUSD) {
		t.Errorf("rows sum to %d calls and %d nano-dollars, want the totals %d and %d", calls, cost, u.Calls, nanos(u.CostUSD))
	}

	for name, n := range map[string]int{
		"usage.by_endpoint": len(u.ByEndpoint), "usage.by_key": len(u.ByKey),
		"errors.by_endpoint": len(snap.Errors.ByEndpoint), "performance.by_endpoint": len(snap.Performance.ByEndpoint),
		"performance.by_model": len(snap.Performance.ByModel),
	} {
		if n != 6 {
			t.Errorf("%s has %d rows, want 6", name, n)
		}
	}
	// There is a single provider, so nothing is left out.
	if len(u.ByProvider) != 1 || u.ByProvider[0].Other {
		t.Errorf("usage.by_provider = %+v, want one row that is not the other row", u.ByProvider)
	}
}

func TestBuildOtherRowPerformance(t *testing.T) {
	t.Parallel()
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, manyModels(30)), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Top: 5})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	// The usage and performance breakdowns list the same rows in the same
	// order, so a client can join them by position or by name.
	for i, m := range snap.Performance.ByModel {
		u := snap.Usage.ByModel[i]
		if m.Model != u.Model || m.Calls != u.Calls || m.Other != u.Other {
			t.Errorf("performance.by_model[%d] = %s (%d calls), usage.by_model[%d] = %s (%d calls)", i, m.Model, m.Calls, i, u.Model, u.Calls)
		}
	}

	other := snap.Performance.ByModel[5]
	if !other.Other || other.OtherRows != 25 {
		t.Fatalf("last row other = %v, other_rows = %d, want true and 25", other.Other, other.OtherRows)
	}
	// The slowest model left out is model-24 at 25 ms.
	if other.Latency.Max != 25 {
		t.Errorf("other row max latency = %v ms, want 25", other.Latency.Max)
	}
	if want := 25.0 / 28; other.SuccessRate != want {
		t.Errorf("other row success_rate = %v, want %v", other.SuccessRate, want)
	}
	top := snap.Performance.ByModel[0]
	if top.Latency.Max != 30 || top.SuccessRate != 1 {
		t.Errorf("model-29 max latency %v ms and success rate %v, want 30 and 1", top.Latency.Max, top.SuccessRate)
	}

	errs := snap.Errors.ByEndpoint[5]
	if !errs.Other || errs.Errors != 3 || errs.Calls != 28 {
		t.Errorf("errors.by_endpoint other row = %+v, want 3 errors in 28 calls", errs)
	}
}

func TestBuildTopDefault(t *testing.T) {
	t.Parallel()
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, manyModels(25)), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Type: analytics.TypeUsage})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got := len(snap.Usage.ByKey); got != analytics.DefaultTop+1 {
		t.Fatalf("usage.by_key has %d rows, want %d", got, analytics.DefaultTop+1)
	}
	// 25 keys and the failed calls without a key make 26 rows.
	if other := snap.Usage.ByKey[analytics.DefaultTop]; !other.Other || other.OtherRows != 6 {
		t.Errorf("last row other = %v, other_rows = %d, want true and 6", other.Other, other.OtherRows)
	}
}

func TestBuildTopKeepsAllRows(t *testing.T) {
	t.Parallel()

	// Exactly top rows need no other row.
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, manyModels(5)), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Top: 5})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(snap.Usage.ByModel) != 5 {
		t.Errorf("usage.by_model has %d rows, want 5", len(snap.Usage.ByModel))
	}
	for _, m := range snap.Usage.ByModel {
		if m.Other {
			t.Errorf("row %s is the other row, want none", m.Model)
		}
	}
}

func TestBuildSortCalls(t *testing.T) {
	t.Parallel()

	// a costs most with one call, b has the most calls, c and d tie on
	// calls and c costs more, e and f tie on both and sort by name.
	var records []usage.Record
	add := func(model string, calls int, cost int64) {
		for i := 0; i < calls; i++ {
			records = append(records, rec(time.Minute, "/"+model, "p", model, time.Second, 1, 1, cost))
		}
	}
	add("a", 1, 900)
	add("b", 5, 1)
	add("c", 3, 20)
	add("d", 3, 10)
	add("f", 2, 0)
	add("e", 2, 0)
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}

	tests := []struct {
		sort analytics.Sort
		want []string
	}{
		{sort: analytics.SortCalls, want: []string{"b", "c", "d", "e", "f", "a"}},
		{sort: analytics.SortCost, want: []string{"a", "c", "d", "b", "e", "f"}},
		{sort: "", want: []string{"a", "c", "d", "b", "e", "f"}},
	}
	for _, tt := range tests {
		snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Sort: tt.sort})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		var models, endpoints, perf []string
		for _, m := range snap.Usage.ByModel {
			models = append(models, m.Model)
		}
		for _, e := range snap.Usage.ByEndpoint {
			endpoints = append(endpoints, e.Endpoint[1:])
		}
		for _, m := range snap.Performance.ByModel {
			perf = append(perf, m.Model)
		}
		if !reflect.DeepEqual(models, tt.want) {
			t.Errorf("sort %q: usage.by_model = %v, want %v", tt.sort, models, tt.want)
		}
		if !reflect.DeepEqual(endpoints, tt.want) {
			t.Errorf("sort %q: usage.by_endpoint = %v, want %v", tt.sort, endpoints, tt.want)
		}
		if !reflect.DeepEqual(perf, tt.want) {
			t.Errorf("sort %q: performance.by_model = %v, want %v", tt.sort, perf, tt.want)
		}
	}
}

func TestBuildByKey(t *testing.T) {
	t.Parallel()
	u := buildFixture(t, analytics.Query{Type: analytics.TypeUsage}).Usage

	type sums struct{ calls, errors, costNanos, tokens, unpriced int64 }
	want := make(map[string]sums)
	for _, r := range fixtureRecords() {
		if r.Time.Before(testNow.Add(-24*time.Hour)) || !r.Time.Before(testNow) {
			continue
		}
		s := want[r.Call.Key]
		s.calls++
		if r.Error.IsProviderFailure() {
			s.errors++
		}
		if r.UsageKnown {
			s.tokens += r.Tokens.Total()
		}
		if r.Priced {
			s.costNanos += r.CostNanos
		} else if r.UsageKnown {
			s.unpriced++
		}
		want[r.Call.Key] = s
	}

	got := make(map[string]sums)
	var order []string
	for _, k := range u.ByKey {
		got[k.Key] = sums{k.Calls, k.Errors, nanos(k.CostUSD), k.Tokens.Total, k.UnpricedCalls}
		order = append(order, k.Key)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usage.by_key = %+v, want %+v", got, want)
	}
	// team-a has the agent and reasoning calls and spends most; the
	// throttled calls without a key cost nothing.
	if wantOrder := []string{"team-a", "svc-batch", "team-b", ""}; !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("usage.by_key order = %q, want %q", order, wantOrder)
	}
}

func TestBuildManyKeysStaysSmall(t *testing.T) {
	t.Parallel()

	// 5,000 keys in one minute: the JSON lists DefaultTop keys and one
	// other row, so its size does not grow with the number of keys.
	var records []usage.Record
	for i := 0; i < 5000; i++ {
		records = append(records, withKey(rec(time.Minute, "/e", "p", "m", time.Second, 10, 10, int64(i)), fmt.Sprintf("key-%04d", i)))
	}
	cfg := analytics.Config{Store: newFakeStore(24*time.Hour, records), Clock: fixedClock}
	snap, err := analytics.Build(context.Background(), cfg, analytics.Query{Window: 15 * time.Minute})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	keys := snap.Usage.ByKey
	if len(keys) != analytics.DefaultTop+1 {
		t.Fatalf("usage.by_key has %d rows, want %d", len(keys), analytics.DefaultTop+1)
	}
	if keys[0].Key != "key-4999" {
		t.Errorf("first key = %q, want the most expensive, key-4999", keys[0].Key)
	}
	if other := keys[len(keys)-1]; other.OtherRows != 5000-analytics.DefaultTop || other.Calls != 5000-analytics.DefaultTop {
		t.Errorf("other row sums %d rows and %d calls, want %d of each", other.OtherRows, other.Calls, 5000-analytics.DefaultTop)
	}
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if len(b) > 40_000 {
		t.Errorf("JSON has %d bytes, want at most 40,000 for 5,000 keys", len(b))
	}
}

// BenchmarkBuildManyKeys measures a day of rollups of 5,000 keys: one call
// of each key every hour, on five models, so 120,000 rollups.
func BenchmarkBuildManyKeys(b *testing.B) {
	// The rollups are built one by one with compact histograms, because
	// newFakeStore keeps every histogram live until all records are in.
	store := &fakeStore{retention: 24 * time.Hour}
	for h := 0; h < 24; h++ {
		for k := 0; k < 5000; k++ {
			r := withKey(rec(time.Duration(h)*time.Hour+time.Second, "/api/e", "openai", fmt.Sprintf("model-%d", k%5),
				time.Duration(100+(h*7+k*13)%900)*time.Millisecond, 100, 50, 1000), fmt.Sprintf("key-%04d", k))
			var s usage.Stats
			s.Add(&r)
			s.Latency.Compact()
			store.rollups = append(store.rollups, usage.Rollup{
				Start: r.Time.Truncate(time.Minute), Width: time.Minute, Series: usage.SeriesOf(&r), Stats: s,
			})
		}
	}
	cfg := analytics.Config{Store: store, Clock: fixedClock}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := analytics.Build(context.Background(), cfg, analytics.Query{}); err != nil {
			b.Fatal(err)
		}
	}
}
