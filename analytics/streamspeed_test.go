package analytics_test

import (
	"context"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/storetest"
)

// TestStreamSpeedIndependentOfBucket writes a streamed and an unstreamed
// call of one series one minute apart in the same quarter hour. The stream
// speed must count the streamed call alone, in buckets of one minute and
// in the default buckets of 15 minutes. The wide store serves the
// 15-minute buckets from rollups of 15 minutes, which hold both calls in
// one row.
func TestStreamSpeedIndependentOfBucket(t *testing.T) {
	t.Parallel()
	records := []usage.Record{
		streamed(rec(30*time.Minute, "/chat", "openai", "gpt-4o", time.Second, 10, 100, 1), 200*time.Millisecond),
		rec(29*time.Minute, "/chat", "openai", "gpt-4o", 3*time.Second, 10, 900, 1),
	}
	stores := []struct {
		name string
		open func() usage.Store
	}{
		{"memory", func() usage.Store {
			return usage.NewMemoryStore(usage.WithStoreClock(fixedClock))
		}},
		{"wide memory", func() usage.Store {
			return storetest.NewWideMemoryStore(usage.NewMemoryStore(usage.WithStoreClock(fixedClock)), fixedClock)
		}},
	}
	queries := []struct {
		name  string
		query analytics.Query
	}{
		{"bucket 1m", analytics.Query{Type: analytics.TypePerformance, Bucket: time.Minute}},
		{"default bucket", analytics.Query{Type: analytics.TypePerformance}},
	}

	for _, st := range stores {
		st := st
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			store := st.open()
			t.Cleanup(func() { _ = store.Close() })
			if err := store.Write(context.Background(), records); err != nil {
				t.Fatalf("Write: %v", err)
			}
			cfg := analytics.Config{Store: store, Clock: fixedClock}

			for _, q := range queries {
				snap, err := analytics.Build(context.Background(), cfg, q.query)
				if err != nil {
					t.Fatalf("%s: Build: %v", q.name, err)
				}
				p := snap.Performance
				if got := p.StreamOutputTokensPerSecond; got == nil || *got != 100 {
					t.Errorf("%s: stream_output_tokens_per_second = %v, want 100", q.name, deref(got))
				}
				if len(p.ByModel) != 1 {
					t.Fatalf("%s: %d models, want 1", q.name, len(p.ByModel))
				}
				if got := p.ByModel[0].StreamOutputTokensPerSecond; got == nil || *got != 100 {
					t.Errorf("%s: gpt-4o stream_output_tokens_per_second = %v, want 100", q.name, deref(got))
				}
			}
		})
	}
}
