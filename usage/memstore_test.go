package usage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func rec(at time.Time, model string, latency time.Duration, tokens usage.Tokens, cost int64) usage.Record {
	return usage.Record{
		Time:       at,
		Call:       usage.Call{Endpoint: "/chat", Provider: "openai", Model: model, Operation: "chat"},
		Tokens:     tokens,
		UsageKnown: true,
		Priced:     cost > 0,
		CostNanos:  cost,
		Latency:    latency,
	}
}

func sum(rollups []usage.Rollup) usage.Stats {
	var s usage.Stats
	for i := range rollups {
		s.Merge(&rollups[i].Stats)
	}
	return s
}

func TestMemoryStoreRollupsByMinute(t *testing.T) {
	now := t0.Add(5 * time.Minute)
	store := usage.NewMemoryStore(usage.WithStoreClock(func() time.Time { return now }))
	ctx := context.Background()

	records := []usage.Record{
		rec(t0.Add(10*time.Second), "gpt-4o", 100*time.Millisecond, usage.Tokens{Input: 10, Output: 5}, 1000),
		rec(t0.Add(50*time.Second), "gpt-4o", 300*time.Millisecond, usage.Tokens{Input: 20, Output: 5}, 2000),
		rec(t0.Add(70*time.Second), "gpt-4o-mini", 200*time.Millisecond, usage.Tokens{Input: 30, Output: 5}, 0),
	}
	failed := rec(t0.Add(80*time.Second), "gpt-4o", 50*time.Millisecond, usage.Tokens{}, 0)
	failed.UsageKnown, failed.Error = false, errmon.ProviderError
	canceled := failed
	canceled.Error = errmon.Canceled
	records = append(records, failed, canceled)

	if err := store.Write(ctx, records); err != nil {
		t.Fatal(err)
	}

	all, err := store.Rollups(ctx, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Errorf("rollups = %d, want 3 (gpt-4o in two minutes, gpt-4o-mini in one)", len(all))
	}
	s := sum(all)
	if s.Calls != 5 || s.Errors != 1 || s.UnknownUsageCalls != 2 || s.UnpricedCalls != 1 {
		t.Errorf("calls %d errors %d unknown %d unpriced %d; want 5, 1, 2, 1", s.Calls, s.Errors, s.UnknownUsageCalls, s.UnpricedCalls)
	}
	if s.ErrorsByCategory[errmon.Canceled] != 1 || s.ErrorsByCategory[errmon.ProviderError] != 1 {
		t.Errorf("ErrorsByCategory = %v, want one canceled and one provider_error", s.ErrorsByCategory)
	}
	if s.CostNanos != 3000 {
		t.Errorf("CostNanos = %d, want 3000 (unpriced calls add nothing)", s.CostNanos)
	}
	if want := (usage.Tokens{Input: 60, Output: 15}); s.Tokens != want {
		t.Errorf("Tokens = %+v, want %+v", s.Tokens, want)
	}
	if got := s.Latency.Max(); got != 300*time.Millisecond {
		t.Errorf("max latency = %v, want 300ms", got)
	}

	first, err := store.Rollups(ctx, t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if s := sum(first); s.Calls != 2 {
		t.Errorf("calls in the first minute = %d, want 2", s.Calls)
	}
}

func TestMemoryStoreRetention(t *testing.T) {
	now := t0
	store := usage.NewMemoryStore(usage.WithRetention(time.Hour), usage.WithStoreClock(func() time.Time { return now }))
	ctx := context.Background()
	if err := store.Write(ctx, []usage.Record{rec(t0, "gpt-4o", time.Millisecond, usage.Tokens{Input: 1}, 1)}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(2 * time.Hour)
	if err := store.Write(ctx, []usage.Record{rec(now, "gpt-4o", time.Millisecond, usage.Tokens{Input: 1}, 1)}); err != nil {
		t.Fatal(err)
	}
	all, err := store.Rollups(ctx, t0.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if s := sum(all); s.Calls != 1 {
		t.Errorf("calls kept = %d, want 1 (the older minute is past retention)", s.Calls)
	}
}

func TestMemoryStoreRejectsBadRecords(t *testing.T) {
	store := usage.NewMemoryStore()
	bad := rec(t0, "gpt-4o", -time.Second, usage.Tokens{}, 0)
	err := store.Write(context.Background(), []usage.Record{rec(t0, "gpt-4o", time.Second, usage.Tokens{}, 0), bad})
	if !errors.Is(err, usage.ErrInvalidRecord) {
		t.Fatalf("err = %v, want ErrInvalidRecord", err)
	}
	recent, _ := store.Recent(context.Background(), 10)
	if len(recent) != 0 {
		t.Errorf("records kept after a rejected batch = %d, want 0", len(recent))
	}
}

func TestMemoryStoreClose(t *testing.T) {
	store := usage.NewMemoryStore()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := store.Write(context.Background(), []usage.Record{rec(t0, "m", 0, usage.Tokens{}, 0)}); !errors.Is(err, usage.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

func TestTrackerConcurrentTotalsAreExact(t *testing.T) {
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store, usage.WithQueueSize(1<<20))
	const goroutines, calls = 16, 2000
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				tr.Record(usage.Record{
					Time:       time.Now(),
					Call:       usage.Call{Endpoint: "/chat", Provider: "openai", Model: "gpt-4o"},
					Tokens:     usage.Tokens{Input: 2006, CachedInput: 1920, Output: 300},
					UsageKnown: true,
					Latency:    time.Millisecond,
				})
			}
		}()
	}
	wg.Wait()
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	all, err := store.Rollups(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s := sum(all)
	const n = goroutines * calls
	if s.Calls != n {
		t.Errorf("calls = %d, want %d", s.Calls, n)
	}
	if want := int64(n) * 5_615_000; s.CostNanos != want {
		t.Errorf("CostNanos = %d, want %d", s.CostNanos, want)
	}
	if want := int64(n) * 2006; s.Tokens.Input != want {
		t.Errorf("input tokens = %d, want %d", s.Tokens.Input, want)
	}
}

// flakyStore fails every write until healthy is set.
type flakyStore struct {
	*usage.MemoryStore
	mu      sync.Mutex
	healthy bool
	fails   int
}

func (f *flakyStore) Write(ctx context.Context, r []usage.Record) error {
	f.mu.Lock()
	ok := f.healthy
	if !ok {
		f.fails++
	}
	f.mu.Unlock()
	if !ok {
		return errors.New("store unavailable")
	}
	return f.MemoryStore.Write(ctx, r)
}

func TestTrackerSurvivesStoreOutage(t *testing.T) {
	store := &flakyStore{MemoryStore: usage.NewMemoryStore()}
	const queue = 100
	tr := usage.NewTracker(store, usage.WithQueueSize(queue), usage.WithBatchSize(10),
		usage.WithRetryBackoff(func(int) time.Duration { return time.Millisecond }))

	const sent = 500
	for i := 0; i < sent; i++ {
		tr.Record(rec(time.Now(), "gpt-4o", time.Millisecond, usage.Tokens{Input: 1}, 0))
	}
	store.mu.Lock()
	store.healthy = true
	store.mu.Unlock()
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	st := tr.Stats()
	if st.Written+st.Dropped != sent {
		t.Errorf("written %d + dropped %d = %d, want every one of %d records accounted for", st.Written, st.Dropped, st.Written+st.Dropped, sent)
	}
	if st.Written < queue {
		t.Errorf("written = %d, want at least the queue bound %d", st.Written, queue)
	}
	recent, _ := store.Recent(context.Background(), sent)
	if int64(len(recent)) != st.Written {
		t.Errorf("records in store = %d, want %d written", len(recent), st.Written)
	}
}
