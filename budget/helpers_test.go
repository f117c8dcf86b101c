package budget_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// fakeClock is a clock that moves only when a test moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var errLedgerDown = errors.New("ledger down")

// countingLedger counts the settlements that reach a ledger, and fails
// every call while down is set.
type countingLedger struct {
	budget.Ledger
	settles atomic.Int64
	down    atomic.Bool
}

func (l *countingLedger) Reserve(ctx context.Context, key string, now time.Time, holds []budget.Hold) (budget.Admission, error) {
	if l.down.Load() {
		return budget.Admission{}, errLedgerDown
	}
	return l.Ledger.Reserve(ctx, key, now, holds)
}

func (l *countingLedger) Settle(ctx context.Context, key string, now time.Time, entries []budget.Entry) ([]budget.Alert, error) {
	l.settles.Add(1)
	if l.down.Load() {
		return nil, errLedgerDown
	}
	return l.Ledger.Settle(ctx, key, now, entries)
}

// testGuard is a guard on a counting memory ledger with a fake clock.
type testGuard struct {
	*budget.Guard
	clock  *fakeClock
	ledger *countingLedger
}

// newTestGuard returns a guard for budgets at start. edit, when not nil,
// changes the configuration first.
func newTestGuard(t *testing.T, budgets []budget.Budget, edit func(*budget.Config)) *testGuard {
	t.Helper()
	clock := newFakeClock(start)
	ledger := &countingLedger{Ledger: budget.NewMemory(budget.MemoryConfig{})}
	cfg := budget.Config{Budgets: budgets, Ledger: ledger, Clock: clock.Now}
	if edit != nil {
		edit(&cfg)
	}
	g, err := budget.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testGuard{Guard: g, clock: clock, ledger: ledger}
}

// status returns the guard's only budget's status for key.
func (g *testGuard) status(t *testing.T, key string) budget.BudgetStatus {
	t.Helper()
	st, err := g.Status(context.Background(), key)
	if err != nil {
		t.Fatalf("Status(%q): %v", key, err)
	}
	return st[0]
}

// checkSettledOnce fails the test unless exactly one settlement reached
// the ledger and nothing is left reserved for key.
func (g *testGuard) checkSettledOnce(t *testing.T, key string) {
	t.Helper()
	if n := g.ledger.settles.Load(); n != 1 {
		t.Errorf("settlements = %d, want 1", n)
	}
	if st := g.status(t, key); st.Reserved != 0 {
		t.Errorf("reserved after the call = %d, want 0", st.Reserved)
	}
}

// newObservedTracker returns a tracker that g observes, and its store.
func newObservedTracker(t *testing.T, g *budget.Guard) (*usage.Tracker, *usage.MemoryStore) {
	t.Helper()
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store, usage.WithObserver(g))
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr, store
}

// recorded returns every record the tracker wrote to store.
func recorded(t *testing.T, tr *usage.Tracker, store *usage.MemoryStore) []usage.Record {
	t.Helper()
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	recs, err := store.Recent(context.Background(), 100_000)
	if err != nil {
		t.Fatalf("Recent: %v", err)
	}
	return recs
}

// chatResponse returns a chat completion response with the given usage.
func chatResponse(prompt, cached, completion int) openai.ChatCompletionResponse {
	u := openai.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	if cached > 0 {
		u.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: cached}
	}
	return openai.ChatCompletionResponse{Model: "gpt-4o-2024-08-06", Usage: u}
}

// respond returns a provider function that returns resp.
func respond(resp openai.ChatCompletionResponse) func(context.Context) (openai.ChatCompletionResponse, error) {
	return func(context.Context) (openai.ChatCompletionResponse, error) { return resp, nil }
}

// userRequest returns a one-message chat Request with a maximum output.
func userRequest(text string, maxOutput int64) budget.Request {
	return budget.Request{
		Messages:        []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: text}},
		MaxOutputTokens: maxOutput,
	}
}

// waitRecorded waits until a stream's record is written, failing the test
// if that takes more than ten seconds.
func waitRecorded(t *testing.T, s *usage.ChatStream) {
	t.Helper()
	select {
	case <-s.Recorded():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream was not recorded within 10s")
	}
}
