package redisbudget_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/budget/ledgertest"
	"github.com/aimeter/aimeter/budget/redisbudget"
	"github.com/aimeter/aimeter/usage"
	"github.com/redis/go-redis/v9"
	openai "github.com/sashabaranov/go-openai"
)

func TestConformance(t *testing.T) {
	c := newClient(t)
	ledgertest.Run(t, func(t *testing.T) budget.Ledger {
		return redisbudget.New(c, redisbudget.Config{Prefix: testPrefix(t), Slack: ledgertest.Slack})
	})
}

var start = time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)

func TestKeysAreHashedAndExpire(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	prefix := testPrefix(t)
	l := redisbudget.New(c, redisbudget.Config{Prefix: prefix, Slack: time.Minute})
	daily := budget.Budget{Name: "daily", Unit: budget.Tokens, Limit: 100, Window: budget.Daily(nil)}
	rolling := budget.Budget{Name: "hourly", Unit: budget.Tokens, Limit: 100, Window: budget.Rolling(time.Hour)}
	holds := []budget.Hold{
		{Budget: daily, Span: daily.Window.Span(start), Amount: 10},
		{Budget: rolling, Span: rolling.Window.Span(start), Amount: 10},
	}
	const key = "alice@example.com"
	if _, err := l.Reserve(context.Background(), key, start, holds); err != nil {
		t.Fatal(err)
	}

	keys := keysWithPrefix(t, c, prefix)
	if len(keys) != 2 {
		t.Fatalf("keys %v, want one per budget", keys)
	}
	wantTTL := map[string]time.Duration{
		"daily":  5*time.Hour + time.Minute, // to midnight UTC plus the slack
		"hourly": time.Hour + time.Minute,
	}
	for _, k := range keys {
		if strings.Contains(k, "alice") {
			t.Errorf("key %q holds the raw caller key", k)
		}
		if !strings.HasPrefix(k, prefix+"{") {
			t.Errorf("key %q lacks the hash tag after the prefix", k)
		}
		ttl, err := c.PTTL(context.Background(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Split(strings.TrimPrefix(k, prefix), ":")[1]
		if want := wantTTL[name]; ttl <= want-time.Minute || ttl > want {
			t.Errorf("TTL of %s = %v, want about %v", k, ttl, want)
		}
	}

	// Another secret gives other keys.
	other := redisbudget.New(c, redisbudget.Config{Prefix: prefix, KeySecret: []byte("s3cret")})
	if _, err := other.Reserve(context.Background(), key, start, holds[:1]); err != nil {
		t.Fatal(err)
	}
	if keys := keysWithPrefix(t, c, prefix); len(keys) != 3 {
		t.Errorf("keys %v, want a third one for the HMAC of the key", keys)
	}
}

func TestLimitAboveExactRange(t *testing.T) {
	t.Parallel()
	l := redisbudget.New(newClient(t), redisbudget.Config{Prefix: testPrefix(t)})
	b := budget.Budget{Name: "huge", Unit: budget.Spend, Limit: 1 << 53, Window: budget.Daily(nil)}
	_, err := l.Reserve(context.Background(), "k", start, []budget.Hold{{Budget: b, Span: b.Window.Span(start), Amount: 1}})
	if err == nil {
		t.Error("Reserve under a limit above 2^53 returned no error")
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	l := redisbudget.New(c, redisbudget.Config{})
	b := budget.Budget{Name: "daily", Unit: budget.Tokens, Limit: 100, Window: budget.Daily(nil)}

	if _, err := l.Reserve(context.Background(), "k", start, []budget.Hold{{Budget: b, Span: b.Window.Span(start), Amount: 1}}); err == nil {
		t.Error("Reserve with Redis down returned no error")
	}

	g := budget.MustNew(budget.Config{Budgets: []budget.Budget{b}, Ledger: l, FailOpen: true, Clock: func() time.Time { return start }})
	res, err := g.Reserve(context.Background(), "k", budget.Request{InputTokens: 1, MaxOutputTokens: 1})
	if err != nil || !res.FailedOpen() {
		t.Errorf("fail-open guard: reservation %v, error %v; want one that failed open", res, err)
	}
	if err := res.Settle(&usage.Record{UsageKnown: true, Tokens: usage.Tokens{Input: 1}}); err == nil {
		t.Error("Settle with Redis down returned no error")
	}
	if s := g.Stats(); s.SettleErrors != 1 {
		t.Errorf("SettleErrors = %d, want 1", s.SettleErrors)
	}
}

// TestGuardDailySpend runs the $1 daily budget of the core tests on Redis.
// Calls priced by the default table spend it until one is rejected before
// it would cross the limit. The ledger then equals the recorded costs, and
// a new day in New York admits again.
func TestGuardDailySpend(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, ny)
	daily := budget.Budget{Name: "daily", Unit: budget.Spend, Limit: budget.USD(1), Window: budget.Daily(ny)}
	g := budget.MustNew(budget.Config{
		Budgets: []budget.Budget{daily},
		Ledger:  redisbudget.New(newClient(t), redisbudget.Config{Prefix: testPrefix(t)}),
		Clock:   func() time.Time { return now },
	})
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store, usage.WithObserver(g))
	t.Cleanup(func() { _ = tr.Close(context.Background()) })

	call := usage.Call{Provider: "openai", Model: "gpt-4o", Key: "alice"}
	req := budget.Request{Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Plan my week."}}, MaxOutputTokens: 10_000}
	var rejected error
	calls := 0
	for ; calls < 50 && rejected == nil; calls++ {
		resp := openai.ChatCompletionResponse{Usage: openai.Usage{PromptTokens: 3000, CompletionTokens: 7000 + 13*calls, TotalTokens: 1}}
		_, rejected = budget.TrackCall(context.Background(), g, tr, call, req, func(context.Context) (openai.ChatCompletionResponse, error) {
			return resp, nil
		})
	}
	var ex *budget.ExceededError
	if !errors.As(rejected, &ex) {
		t.Fatalf("after %d calls: error %v, want an *ExceededError", calls, rejected)
	}

	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, _ := store.Recent(context.Background(), 1000)
	var sum int64
	for _, r := range recs {
		sum += r.CostNanos
	}
	st, err := g.Status(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Spent != sum || st[0].Reserved != 0 || sum > daily.Limit {
		t.Errorf("ledger spent %d, reserved %d; records sum to %d; want equal, nothing reserved, within $1", st[0].Spent, st[0].Reserved, sum)
	}
	if ex.Remaining != daily.Limit-sum || !ex.Reset.Equal(time.Date(2026, 12, 5, 0, 0, 0, 0, ny)) {
		t.Errorf("rejection %+v: want remaining %d and a reset at midnight in New York", ex, daily.Limit-sum)
	}

	now = ex.Reset
	if _, err := g.Reserve(context.Background(), "alice", budget.Request{Model: "gpt-4o", InputTokens: 10, MaxOutputTokens: 10}); err != nil {
		t.Errorf("reserve after midnight in New York: %v", err)
	}
}

func BenchmarkLedger(b *testing.B) {
	ledgertest.BenchmarkReserveSettle(b, redisbudget.New(newClient(b), redisbudget.Config{Prefix: testPrefix(b)}))
}

func BenchmarkGuard(b *testing.B) {
	ledgertest.BenchmarkGuard(b, redisbudget.New(newClient(b), redisbudget.Config{Prefix: testPrefix(b)}))
}

func TestNewRejectsBracePrefix(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t)}) // never dialled
	t.Cleanup(func() { _ = c.Close() })
	defer func() {
		if recover() == nil {
			t.Error("New with a prefix holding a brace did not panic")
		}
	}()
	redisbudget.New(c, redisbudget.Config{Prefix: "app{1}:"})
}
