package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/usage"
)

// oneMinuteStore is a usage.Store that holds the rollup of a single minute,
// standing in for usage.NewMemoryStore or a database store.
type oneMinuteStore struct {
	rollup usage.Rollup
}

func (s *oneMinuteStore) Write(context.Context, []usage.Record) error { return nil }

func (s *oneMinuteStore) Rollups(_ context.Context, since, until time.Time) ([]usage.Rollup, error) {
	if s.rollup.Start.Before(since) || !s.rollup.Start.Before(until) {
		return nil, nil
	}
	return []usage.Rollup{s.rollup}, nil
}

func (s *oneMinuteStore) Recent(context.Context, int) ([]usage.Record, error) { return nil, nil }
func (s *oneMinuteStore) Retention() time.Duration                            { return 24 * time.Hour }
func (s *oneMinuteStore) Close() error                                        { return nil }

func ExampleHandler() {
	now := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)

	// Two chat calls to gpt-4o-mini a few minutes ago.
	var stats usage.Stats
	for _, latency := range []time.Duration{420 * time.Millisecond, 980 * time.Millisecond} {
		stats.Add(&usage.Record{
			Time:       now.Add(-5 * time.Minute),
			Call:       usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"},
			Tokens:     usage.Tokens{Input: 1200, Output: 300},
			UsageKnown: true,
			Priced:     true,
			CostNanos:  360_000,
			Latency:    latency,
		})
	}
	store := &oneMinuteStore{rollup: usage.Rollup{
		Start:  now.Add(-5 * time.Minute),
		Width:  time.Minute,
		Series: usage.Series{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"},
		Stats:  stats,
	}}

	// Mount the JSON API. The fixed clock makes the output reproducible.
	mux := http.NewServeMux()
	mux.Handle("/api/analytics", analytics.Handler(analytics.Config{
		Store: store,
		Clock: func() time.Time { return now },
	}))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/analytics?type=usage&window=1h", nil))

	var snap analytics.Snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.Code, snap.Type, snap.Window.Since.Format(time.RFC3339))
	fmt.Printf("%d calls, %d tokens, $%v\n", snap.Usage.Calls, snap.Usage.Tokens.Total, snap.Usage.CostUSD)
	fmt.Println("performance included:", snap.Performance != nil)
	// Output:
	// 200 usage 2026-12-04T18:00:00Z
	// 2 calls, 3000 tokens, $0.00072
	// performance included: false
}

func ExampleBuild() {
	now := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)

	// One call to gpt-4o-mini twenty minutes ago, from the caller key
	// team-a.
	var stats usage.Stats
	stats.Add(&usage.Record{
		Time:       now.Add(-20 * time.Minute),
		Call:       usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat", Key: "team-a"},
		Tokens:     usage.Tokens{Input: 1200, CachedInput: 300, Output: 300},
		UsageKnown: true,
		Priced:     true,
		CostNanos:  315_000,
		Latency:    700 * time.Millisecond,
	})
	store := &oneMinuteStore{rollup: usage.Rollup{
		Start:  now.Add(-20 * time.Minute),
		Width:  time.Minute,
		Series: usage.Series{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat", Key: "team-a"},
		Stats:  stats,
	}}

	// The last hour of team-a's usage in 15-minute buckets.
	snap, err := analytics.Build(context.Background(),
		analytics.Config{Store: store, Clock: func() time.Time { return now }},
		analytics.Query{
			Type:   analytics.TypeUsage,
			Window: time.Hour,
			Filter: analytics.Filter{Key: "team-a"},
			Bucket: 15 * time.Minute,
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range snap.Usage.Series {
		fmt.Printf("%s %d calls $%v\n", p.Start.Format("15:04"), p.Calls, p.CostUSD)
	}
	fmt.Println("cache hit ratio:", snap.Usage.CacheHitRatio)
	fmt.Println("keys:", len(snap.Usage.ByKey), snap.Usage.ByKey[0].Key)
	// Output:
	// 18:00 0 calls $0
	// 18:15 0 calls $0
	// 18:30 1 calls $0.000315
	// 18:45 0 calls $0
	// cache hit ratio: 0.25
	// keys: 1 team-a
}
