package storetest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// quantiles are the quantiles compared between a store's histograms and
// the reference ones.
var quantiles = []float64{0.5, 0.9, 0.95, 0.99, 0.999}

// checkStats reports every field of got that differs from want. Counts,
// sums and maxima must be exact, and histogram quantiles may differ by 1%.
func checkStats(tb testing.TB, where string, got, want *usage.Stats) {
	tb.Helper()
	checkCounters(tb, where, got, want)
	checkHistogram(tb, where+": Latency", &got.Latency, &want.Latency)
	checkHistogram(tb, where+": TTFT", &got.TTFT, &want.TTFT)
}

// checkBucketStats is checkStats for one of many buckets. It estimates
// quantiles from the histograms' bins, because Histogram.Quantile builds a
// histogram of about 26 KB per call, which is too slow for thousands of
// buckets under the race detector.
func checkBucketStats(tb testing.TB, where string, got, want *usage.Stats) {
	tb.Helper()
	checkCounters(tb, where, got, want)
	checkBins(tb, where+": Latency", &got.Latency, &want.Latency)
	checkBins(tb, where+": TTFT", &got.TTFT, &want.TTFT)
}

func checkCounters(tb testing.TB, where string, got, want *usage.Stats) {
	tb.Helper()
	ints := []struct {
		name      string
		got, want int64
	}{
		{"Calls", got.Calls, want.Calls},
		{"Errors", got.Errors, want.Errors},
		{"UnpricedCalls", got.UnpricedCalls, want.UnpricedCalls},
		{"UnknownUsageCalls", got.UnknownUsageCalls, want.UnknownUsageCalls},
		{"StreamCalls", got.StreamCalls, want.StreamCalls},
		{"StreamOutputTokens", got.StreamOutputTokens, want.StreamOutputTokens},
		{"StreamLatency", int64(got.StreamLatency), int64(want.StreamLatency)},
		{"CostNanos", got.CostNanos, want.CostNanos},
	}
	for _, f := range ints {
		if f.got != f.want {
			tb.Errorf("%s: %s = %d, want %d", where, f.name, f.got, f.want)
		}
	}
	if got.Tokens != want.Tokens {
		tb.Errorf("%s: Tokens = %+v, want %+v", where, got.Tokens, want.Tokens)
	}
	if g, w := formatCounts(got.ErrorsByCategory), formatCounts(want.ErrorsByCategory); g != w {
		tb.Errorf("%s: ErrorsByCategory = %s, want %s", where, g, w)
	}
}

func checkExact(tb testing.TB, where string, got, want *usage.Histogram) bool {
	tb.Helper()
	ok := true
	if got.Count() != want.Count() {
		tb.Errorf("%s: Count = %d, want %d", where, got.Count(), want.Count())
		ok = false
	}
	if got.Sum() != want.Sum() {
		tb.Errorf("%s: Sum = %v, want %v", where, got.Sum(), want.Sum())
		ok = false
	}
	if got.Max() != want.Max() {
		tb.Errorf("%s: Max = %v, want %v", where, got.Max(), want.Max())
		ok = false
	}
	return ok
}

func checkHistogram(tb testing.TB, where string, got, want *usage.Histogram) {
	tb.Helper()
	if !checkExact(tb, where, got, want) {
		return
	}
	for _, q := range quantiles {
		g, w := got.Quantile(q), want.Quantile(q)
		if !withinOnePercent(g, w) {
			tb.Errorf("%s: Quantile(%v) = %v, want %v within 1%%", where, q, g, w)
		}
	}
}

func checkBins(tb testing.TB, where string, got, want *usage.Histogram) {
	tb.Helper()
	if !checkExact(tb, where, got, want) {
		return
	}
	gotBins, wantBins := got.Bins(), want.Bins()
	for _, q := range quantiles {
		g, w := binQuantile(gotBins, q), binQuantile(wantBins, q)
		if !withinOnePercent(g, w) {
			tb.Errorf("%s: quantile %v from bins = %v, want %v within 1%%", where, q, g, w)
		}
	}
}

// binQuantile returns the lowest value of the bin that holds quantile q.
func binQuantile(bins []usage.Bin, q float64) time.Duration {
	var count int64
	for _, b := range bins {
		count += b.Count
	}
	rank := int64(q * float64(count))
	var seen int64
	for _, b := range bins {
		seen += b.Count
		if seen > rank {
			return time.Duration(b.Micros) * time.Microsecond
		}
	}
	return 0
}

func withinOnePercent(got, want time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff*100 <= want
}

// formatCounts prints a category count map in a fixed order, with nil and
// empty maps alike.
func formatCounts[K ~string](m map[K]int64) string {
	parts := make([]string, 0, len(m))
	for k, n := range m {
		if n != 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", k, n))
		}
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, " ") + "}"
}

// mergeRollups merges the rollups that a store returned by minute and
// series, checking on the way that each one is a UTC minute.
func mergeRollups(tb testing.TB, rollups []usage.Rollup) map[bucketKey]*usage.Stats {
	tb.Helper()
	for i := range rollups {
		r := &rollups[i]
		if r.Start.Location() != time.UTC {
			tb.Errorf("rollup %v %+v: Start location = %v, want UTC", r.Start, r.Series, r.Start.Location())
		}
		if r.Width != time.Minute {
			tb.Errorf("rollup %v %+v: Width = %v, want 1m", r.Start, r.Series, r.Width)
		}
		if !r.Start.Equal(r.Start.Truncate(time.Minute)) {
			tb.Errorf("rollup %v %+v: Start is not at a minute", r.Start, r.Series)
		}
	}
	return mergeByBucket(rollups, time.Minute)
}

// checkBuckets compares per-minute aggregates key by key.
func checkBuckets(tb testing.TB, got, want map[bucketKey]*usage.Stats) {
	tb.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			tb.Errorf("rollup %s %+v: missing", time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.series)
			continue
		}
		checkBucketStats(tb, fmt.Sprintf("rollup %s %+v", time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.series), g, w)
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			tb.Errorf("rollup %s %+v: unexpected, %d calls", time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.series, g.Calls)
		}
	}
}

// checkRecord reports every field of got that differs from want.
func checkRecord(tb testing.TB, where string, got, want *usage.Record) {
	tb.Helper()
	if !sameTime(got.Time, want.Time) {
		tb.Errorf("%s: Time = %v, want %v", where, got.Time, want.Time)
	}
	strs := []struct {
		name      string
		got, want string
	}{
		{"Call.Endpoint", got.Call.Endpoint, want.Call.Endpoint},
		{"Call.Provider", got.Call.Provider, want.Call.Provider},
		{"Call.Model", got.Call.Model, want.Call.Model},
		{"Call.Operation", got.Call.Operation, want.Call.Operation},
		{"Call.Key", got.Call.Key, want.Call.Key},
		{"Call.Labels", formatLabels(got.Call.Labels), formatLabels(want.Call.Labels)},
		{"ResponseModel", got.ResponseModel, want.ResponseModel},
		{"Error", string(got.Error), string(want.Error)},
	}
	for _, f := range strs {
		if f.got != f.want {
			tb.Errorf("%s: %s = %s, want %s", where, f.name, abbreviate(f.got), abbreviate(f.want))
		}
	}
	ints := []struct {
		name      string
		got, want int64
	}{
		{"Latency", int64(got.Latency), int64(want.Latency)},
		{"TTFT", int64(got.TTFT), int64(want.TTFT)},
		{"CostNanos", got.CostNanos, want.CostNanos},
		{"Chunks", int64(got.Chunks), int64(want.Chunks)},
		{"HTTPStatus", int64(got.HTTPStatus), int64(want.HTTPStatus)},
	}
	for _, f := range ints {
		if f.got != f.want {
			tb.Errorf("%s: %s = %d, want %d", where, f.name, f.got, f.want)
		}
	}
	if got.Tokens != want.Tokens {
		tb.Errorf("%s: Tokens = %+v, want %+v", where, got.Tokens, want.Tokens)
	}
	if got.UsageKnown != want.UsageKnown || got.Priced != want.Priced || got.Stream != want.Stream {
		tb.Errorf("%s: UsageKnown, Priced, Stream = %v, %v, %v, want %v, %v, %v", where,
			got.UsageKnown, got.Priced, got.Stream, want.UsageKnown, want.Priced, want.Stream)
	}
}

// abbreviate quotes s, shortened to its first 60 bytes when it is longer.
func abbreviate(s string) string {
	if len(s) <= 60 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:60], len(s))
}

// sameTime reports whether got is want, or want with the digits below one
// microsecond dropped.
func sameTime(got, want time.Time) bool {
	return got.Equal(want) || got.Equal(want.Truncate(time.Microsecond))
}

func formatLabels(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%q=%q", k, v))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, " ") + "}"
}
