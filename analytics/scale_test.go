package analytics_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/usage"
)

// fillScaled writes calls records spread evenly over series series and the
// hour before scaleNow into a memory store.
func fillScaled(tb testing.TB, calls, series int) (*usage.MemoryStore, time.Time) {
	tb.Helper()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	store := usage.NewMemoryStore(usage.WithMaxBuckets(series*61), usage.WithStoreClock(func() time.Time { return now }))
	calls64 := int64(calls)
	batch := make([]usage.Record, 0, 4096)
	for i := int64(0); i < calls64; i++ {
		s := int(i % int64(series))
		batch = append(batch, usage.Record{
			Time:       now.Add(-time.Hour + time.Duration(i*int64(time.Hour)/calls64)),
			Call:       usage.Call{Endpoint: "/chat", Provider: "openai", Model: "model-" + strconv.Itoa(s), Operation: "chat"},
			Tokens:     usage.Tokens{Input: 100, Output: 20},
			UsageKnown: true, Priced: true, CostNanos: 1000,
			Latency: time.Duration(50+i%200) * time.Millisecond,
		})
		if len(batch) == cap(batch) {
			if err := store.Write(context.Background(), batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := store.Write(context.Background(), batch); err != nil {
		tb.Fatal(err)
	}
	return store, now
}

// TestSnapshotWorkDoesNotGrowWithCalls checks what makes a snapshot's cost
// independent of the number of calls: a thousand times more calls over the
// same series and window leave the store with the same number of rollups
// to merge, and the snapshot counts every call.
func TestSnapshotWorkDoesNotGrowWithCalls(t *testing.T) {
	ctx := context.Background()
	var rollups []int
	for _, calls := range []int{10_000, 1_000_000} {
		store, now := fillScaled(t, calls, 100)
		r, err := store.Rollups(ctx, now.Add(-24*time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		rollups = append(rollups, len(r))
		snap, err := analytics.Build(ctx, analytics.Config{Store: store, Clock: func() time.Time { return now }}, analytics.Query{Type: analytics.TypeUsage, Window: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if snap.Usage.Calls != int64(calls) {
			t.Errorf("calls = %d, want %d", snap.Usage.Calls, calls)
		}
	}
	if rollups[0] != rollups[1] {
		t.Errorf("rollups to merge: %d for 10,000 calls, %d for 1,000,000; want the same", rollups[0], rollups[1])
	}
}

// BenchmarkSnapshotByCalls builds a 24-hour snapshot of a store holding
// 10,000 or 10,000,000 calls across 1,000 series in the last hour: the
// time tracks the rollups (series × minutes), not the calls.
func BenchmarkSnapshotByCalls(b *testing.B) {
	for _, calls := range []int{10_000, 10_000_000} {
		b.Run(strconv.Itoa(calls)+"-calls", func(b *testing.B) {
			store, now := fillScaled(b, calls, 1000)
			cfg := analytics.Config{Store: store, Clock: func() time.Time { return now }}
			q := analytics.Query{Type: analytics.TypeAll, Window: 24 * time.Hour}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := analytics.Build(context.Background(), cfg, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
