package usage_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
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

// trackKnown runs goroutines × calls tracked calls whose response carries
// 2006 prompt tokens (1920 cached) and 300 completion tokens of gpt-4o,
// which cost 5,615,000 nano-dollars each.
func trackKnown(tr *usage.Tracker, goroutines, calls int) {
	resp := openai.ChatCompletionResponse{Model: "gpt-4o", Usage: openai.Usage{
		PromptTokens: 2006, CompletionTokens: 300, TotalTokens: 2306,
		PromptTokensDetails: &openai.PromptTokensDetails{CachedTokens: 1920},
	}}
	call := usage.Call{Endpoint: "/chat", Provider: "openai", Model: "gpt-4o"}
	fn := func(context.Context) (openai.ChatCompletionResponse, error) { return resp, nil }
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				_, _ = usage.TrackCall(context.Background(), tr, call, fn)
			}
		}()
	}
	wg.Wait()
}

func storeTotals(t *testing.T, store usage.Store) usage.Stats {
	t.Helper()
	all, err := store.Rollups(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return sum(all)
}

func TestTrackerConcurrentTotalsAreExact(t *testing.T) {
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store, usage.WithFullPolicy(usage.WaitWhenFull, time.Minute))
	const goroutines, calls = 64, 10_000
	trackKnown(tr, goroutines, calls)
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	const n = goroutines * calls
	if st := tr.Stats(); st.Written != n || st.Dropped != 0 {
		t.Fatalf("tracker stats = %+v, want %d written and none dropped", st, n)
	}
	s := storeTotals(t, store)
	if s.Calls != n {
		t.Errorf("calls = %d, want %d", s.Calls, n)
	}
	if want := int64(n) * 5_615_000; s.CostNanos != want {
		t.Errorf("CostNanos = %d, want %d", s.CostNanos, want)
	}
	if want := (usage.Tokens{Input: n * 2006, CachedInput: n * 1920, Output: n * 300}); s.Tokens != want {
		t.Errorf("Tokens = %+v, want %+v", s.Tokens, want)
	}
}

// flakyStore fails every other write until healthy is set, then accepts
// every write.
type flakyStore struct {
	*usage.MemoryStore
	mu      sync.Mutex
	healthy bool
	writes  int
}

func (f *flakyStore) Write(ctx context.Context, r []usage.Record) error {
	f.mu.Lock()
	f.writes++
	fail := !f.healthy && f.writes%2 == 1
	f.mu.Unlock()
	if fail {
		return errors.New("store unavailable")
	}
	return f.MemoryStore.Write(ctx, r)
}

func TestTrackerCountsEveryLoss(t *testing.T) {
	store := &flakyStore{MemoryStore: usage.NewMemoryStore(usage.WithRecentRecords(10))}
	tr := usage.NewTracker(store, usage.WithQueueSize(1000), usage.WithBatchSize(64),
		usage.WithRetryBackoff(func(int) time.Duration { return 0 }))
	const goroutines, calls = 64, 2_000
	trackKnown(tr, goroutines, calls)
	store.mu.Lock()
	store.healthy = true
	store.mu.Unlock()
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	st := tr.Stats()
	const sent = goroutines * calls
	if st.Written+st.Dropped != sent {
		t.Errorf("written %d + dropped %d = %d, want every one of %d records accounted for", st.Written, st.Dropped, st.Written+st.Dropped, sent)
	}
	s := storeTotals(t, store)
	if s.Calls != st.Written {
		t.Errorf("calls in store = %d, want the %d written", s.Calls, st.Written)
	}
	if want := st.Written * 5_615_000; s.CostNanos != want {
		t.Errorf("CostNanos = %d, want %d for the written records", s.CostNanos, want)
	}
}

func TestTrackerKeepsQueueThroughOutage(t *testing.T) {
	store := &flakyStore{MemoryStore: usage.NewMemoryStore()} // the first write fails
	retried := make(chan struct{})
	var once sync.Once
	const queue = 100
	tr := usage.NewTracker(store, usage.WithQueueSize(queue), usage.WithBatchSize(10),
		usage.WithRetryBackoff(func(int) time.Duration {
			once.Do(func() { close(retried) })
			return 0
		}))

	// Fill the queue while the store fails: nothing within the bound is
	// lost, and only what the full queue rejects is dropped.
	for i := 0; i < queue; i++ {
		tr.Record(rec(time.Now(), "gpt-4o", time.Millisecond, usage.Tokens{Input: 1}, 1))
	}
	<-retried
	store.mu.Lock()
	store.healthy = true
	store.mu.Unlock()
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := tr.Stats(); st.Written != queue || st.Dropped != 0 {
		t.Errorf("stats = %+v, want all %d written and none dropped", st, queue)
	}
}

// slowStore blocks every write until release is closed.
type slowStore struct {
	*usage.MemoryStore
	release chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (s *slowStore) Write(ctx context.Context, r []usage.Record) error {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return s.MemoryStore.Write(ctx, r)
}

func TestTrackerCloseTimeoutCountsQueuedAsDropped(t *testing.T) {
	store := &slowStore{MemoryStore: usage.NewMemoryStore(), release: make(chan struct{}), entered: make(chan struct{})}
	tr := usage.NewTracker(store, usage.WithBatchSize(1))
	for i := 0; i < 10; i++ {
		tr.Record(rec(time.Now(), "gpt-4o", time.Millisecond, usage.Tokens{Input: 1}, 1))
	}
	<-store.entered // the writer is stuck in the first write

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Close(ctx); err == nil {
		t.Fatal("Close with a done context = nil, want its error")
	}
	close(store.release)
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := tr.Stats()
	if st.Written+st.Dropped != 10 || st.Dropped < 9 {
		t.Errorf("stats = %+v, want the one batch in flight written or dropped and the 9 queued dropped", st)
	}
}

func TestMemoryStoreCapsSeries(t *testing.T) {
	store := usage.NewMemoryStore(usage.WithMaxSeries(3))
	var records []usage.Record
	for i := 0; i < 100; i++ {
		r := rec(t0, "model-"+string(rune('a'+i%26))+time.Duration(i).String(), time.Millisecond, usage.Tokens{Input: 1}, 1)
		r.Call.Key = "key"
		records = append(records, r)
	}
	if err := store.Write(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	rollups, err := store.Rollups(context.Background(), t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(rollups) != 4 {
		t.Errorf("series kept = %d, want 3 and one folded series", len(rollups))
	}
	var folded int64
	for _, r := range rollups {
		if r.Series.Model == usage.OtherSeries {
			folded = r.Stats.Calls
			if r.Series.Key != usage.OtherSeries || r.Series.Endpoint != "/chat" {
				t.Errorf("folded series = %+v, want endpoint kept and model and key folded", r.Series)
			}
		}
	}
	if folded != 97 {
		t.Errorf("folded calls = %d, want 97", folded)
	}
	if s := sum(rollups); s.Calls != 100 || s.CostNanos != 100 {
		t.Errorf("calls %d, cost %d; want every call counted once", s.Calls, s.CostNanos)
	}
}

func TestTrackerDropsOnlyInvalidRecords(t *testing.T) {
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store, usage.WithBatchSize(64))
	for i := 0; i < 10; i++ {
		r := rec(time.Now(), "gpt-4o", time.Millisecond, usage.Tokens{Input: 1}, 1)
		if i == 4 {
			r.Latency = -time.Second // the store rejects the batch holding it
		}
		tr.Record(r)
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := tr.Stats(); st.Written != 9 || st.Dropped != 1 {
		t.Errorf("stats = %+v, want 9 written and only the invalid record dropped", st)
	}
}

func TestMemoryStoreCapsBuckets(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	store := usage.NewMemoryStore(usage.WithMaxBuckets(20), usage.WithStoreClock(func() time.Time { return now }))
	var records []usage.Record
	for m := 0; m < 10; m++ {
		for i := 0; i < 5; i++ {
			records = append(records, rec(t0.Add(time.Duration(m)*time.Minute), "model-"+strconv.Itoa(i), time.Millisecond, usage.Tokens{Input: 1}, 1))
		}
	}
	if err := store.Write(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	rollups, err := store.Rollups(context.Background(), t0, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rollups) > 20 {
		t.Errorf("rollups kept = %d, want at most the cap of 20", len(rollups))
	}
	for _, r := range rollups {
		if r.Start.Before(t0.Add(6 * time.Minute)) {
			t.Errorf("rollup of %v kept, want only the newest minutes", r.Start)
		}
	}
	// A late record for a dropped minute is not kept either.
	if err := store.Write(context.Background(), []usage.Record{rec(t0, "model-0", time.Millisecond, usage.Tokens{Input: 1}, 1)}); err != nil {
		t.Fatal(err)
	}
	late, _ := store.Rollups(context.Background(), t0, t0.Add(time.Minute))
	if len(late) != 0 {
		t.Errorf("late record for a dropped minute kept in %d rollups, want 0", len(late))
	}
}
