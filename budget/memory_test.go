package budget_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/budget/ledgertest"
)

func TestMemoryConformance(t *testing.T) {
	ledgertest.Run(t, func(*testing.T) budget.Ledger {
		return budget.NewMemory(budget.MemoryConfig{Slack: ledgertest.Slack})
	})
}

// start is the fake clocks' first reading.
var start = time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)

func dailyTokens(limit int64) budget.Budget {
	return budget.Budget{Name: "tokens", Unit: budget.Tokens, Limit: limit, Window: budget.Daily(time.UTC)}
}

func reserveHold(t *testing.T, m *budget.Memory, key string, now time.Time, b budget.Budget, amount int64) (budget.Admission, error) {
	t.Helper()
	return m.Reserve(context.Background(), key, now, []budget.Hold{{Budget: b, Span: b.Window.Span(now), Amount: amount}})
}

func TestMemoryFullShardDropsEndedKeys(t *testing.T) {
	t.Parallel()
	// One key per shard, so each shard is full after its first key.
	m := budget.NewMemory(budget.MemoryConfig{MaxKeys: 1, Slack: time.Minute})
	b := dailyTokens(100)

	// admitted reserves for n new keys at now and returns how many were
	// admitted; the others must fail with ErrLedgerFull.
	admitted := func(prefix string, now time.Time, n int) int {
		t.Helper()
		ok := 0
		for i := 0; i < n; i++ {
			_, err := reserveHold(t, m, fmt.Sprintf("%s-%d", prefix, i), now, b, 1)
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, budget.ErrLedgerFull):
				t.Fatalf("reserve: %v, want nil or ErrLedgerFull", err)
			}
		}
		return ok
	}

	if got := admitted("first", start, 1000); got != 64 {
		t.Errorf("first keys admitted: %d, want one per shard, 64", got)
	}
	if got := m.Len(); got != 64 {
		t.Errorf("Len = %d, want 64", got)
	}
	if got := admitted("second", start, 1000); got != 0 {
		t.Errorf("keys admitted while every shard holds a live key: %d, want 0", got)
	}

	// Once the day and the slack are over, the old keys make room.
	later := b.Window.Span(start).End.Add(2 * time.Minute)
	if got := admitted("third", later, 1000); got != 64 {
		t.Errorf("keys admitted after the old ones ended: %d, want 64", got)
	}
}

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	m := budget.NewMemory(budget.MemoryConfig{Slack: time.Minute})
	b := dailyTokens(100)
	for i := 0; i < 10; i++ {
		if _, err := reserveHold(t, m, fmt.Sprintf("key-%d", i), start, b, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Sweep(start); got != 0 {
		t.Errorf("Sweep during the day dropped %d keys, want 0", got)
	}
	end := b.Window.Span(start).End
	if got := m.Sweep(end.Add(30 * time.Second)); got != 0 {
		t.Errorf("Sweep within the slack dropped %d keys, want 0", got)
	}
	if got := m.Sweep(end.Add(time.Minute)); got != 10 {
		t.Errorf("Sweep after the slack dropped %d keys, want 10", got)
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len after Sweep = %d, want 0", got)
	}
}

func TestMemoryRejectionAddsNoKey(t *testing.T) {
	t.Parallel()
	m := budget.NewMemory(budget.MemoryConfig{})
	a, err := reserveHold(t, m, "k", start, dailyTokens(10), 11)
	if err != nil || a.OK {
		t.Fatalf("reserve 11 of 10: OK %v, error %v; want a rejection", a.OK, err)
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len after a rejection = %d, want 0", got)
	}
}
