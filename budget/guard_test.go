package budget_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// TestDailySpendBudgetRealPrices spends a $1 daily budget on gpt-4o calls
// priced by the default table, until the call that would cross it.
func TestDailySpendBudgetRealPrices(t *testing.T) {
	for _, zone := range []string{"UTC", "America/New_York", "Asia/Kolkata"} {
		zone := zone
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			loc := mustZone(t, zone)
			daily := budget.Budget{Name: "daily", Unit: budget.Spend, Limit: budget.USD(1), Window: budget.Daily(loc)}
			g := newTestGuard(t, []budget.Budget{daily}, nil)
			g.clock.Set(time.Date(2026, 12, 4, 9, 0, 0, 0, loc))
			tr, store := newObservedTracker(t, g.Guard)

			call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o", Key: "alice"}
			req := userRequest("Summarise the quarterly report in three bullet points.", 10_000)
			est, err := g.Estimate(budget.Request{Model: "gpt-4o", Messages: req.Messages, MaxOutputTokens: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			price, _, _ := usage.DefaultTable().Lookup("gpt-4o")

			// Spend until the budget rejects a call, predicting each
			// decision from the prices.
			var spent int64
			var rejected error
			for i := 0; rejected == nil && i < 50; i++ {
				resp := chatResponse(2011, 1024, 7000+97*i)
				fits := spent+est.CostNanos <= daily.Limit
				_, rejected = budget.TrackCall(context.Background(), g.Guard, tr, call, req, respond(resp))
				if fits != (rejected == nil) {
					t.Fatalf("call %d with $%s spent: error %v, want admitted %v", i, budget.FormatUSD(spent), rejected, fits)
				}
				if rejected == nil {
					tok, _ := usage.TokensFromOpenAI(&resp.Usage)
					spent += price.Cost(tok)
				}
				g.clock.Advance(time.Minute)
			}

			var ex *budget.ExceededError
			if !errors.As(rejected, &ex) {
				t.Fatalf("last call: error %v, want an *ExceededError", rejected)
			}
			nextDay := time.Date(2026, 12, 5, 0, 0, 0, 0, loc)
			if ex.Budget != "daily" || ex.Limit != budget.USD(1) || ex.Remaining != daily.Limit-spent ||
				ex.Requested != est.CostNanos || !ex.Reset.Equal(nextDay) {
				t.Errorf("rejection %+v: want budget daily, limit $1, remaining $%s, requested $%s, reset %v",
					ex, budget.FormatUSD(daily.Limit-spent), budget.FormatUSD(est.CostNanos), nextDay)
			}

			// The ledger holds the sum of the recorded costs, to the
			// nano-dollar.
			var sum int64
			for _, r := range recorded(t, tr, store) {
				if !r.Priced {
					t.Errorf("record %+v is unpriced", r)
				}
				sum += r.CostNanos
			}
			st := g.status(t, "alice")
			if st.Spent != sum || sum != spent || st.Reserved != 0 {
				t.Errorf("ledger spent %d, reserved %d; records sum to %d, prices to %d; want all spent equal, nothing reserved",
					st.Spent, st.Reserved, sum, spent)
			}

			// A new day in the budget's zone admits again.
			g.clock.Set(ex.Reset)
			if _, err := budget.TrackCall(context.Background(), g.Guard, tr, call, req, respond(chatResponse(10, 0, 10))); err != nil {
				t.Fatalf("call after midnight in %s: %v", zone, err)
			}
			if st := g.status(t, "alice"); !st.WindowStart.Equal(nextDay) || st.Spent >= spent {
				t.Errorf("after midnight: window from %v with $%s spent; want from %v with only the new call",
					st.WindowStart, budget.FormatUSD(st.Spent), nextDay)
			}
		})
	}
}

func TestTrackCallSettlesOnceWhenCanceled(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(100_000)}, nil)
	tr, _ := newObservedTracker(t, g.Guard)
	ctx, cancel := context.WithCancel(context.Background())

	_, err := budget.TrackCall(ctx, g.Guard, tr, usage.Call{Model: "gpt-4o", Key: "k"}, userRequest("hello", 100),
		func(ctx context.Context) (openai.ChatCompletionResponse, error) {
			cancel()
			<-ctx.Done()
			return openai.ChatCompletionResponse{}, ctx.Err()
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	g.checkSettledOnce(t, "k")
	if st := g.status(t, "k"); st.Spent != 0 {
		t.Errorf("spent %d on a canceled call with unknown usage, want 0", st.Spent)
	}
	if s := g.Stats(); s.UnknownFailures != 1 || s.Settled != 1 {
		t.Errorf("stats %+v: want 1 settled, 1 unknown failure", s)
	}
}

func TestTrackCallSettlesOnceOnPanic(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(100_000)}, nil)
	tr, store := newObservedTracker(t, g.Guard)

	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the provider's panic", v)
			}
		}()
		_, _ = budget.TrackCall(context.Background(), g.Guard, tr, usage.Call{Model: "gpt-4o", Key: "k"}, userRequest("hello", 100),
			func(context.Context) (openai.ChatCompletionResponse, error) { panic("boom") })
	}()

	g.checkSettledOnce(t, "k")
	recs := recorded(t, tr, store)
	if len(recs) != 1 || recs[0].Error != errmon.Panic {
		t.Errorf("records %+v, want one with category panic", recs)
	}
}

func TestTrackCallUnobservedSettlesEstimate(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(100_000)}, nil)
	tr := usage.NewTracker(usage.NewMemoryStore()) // without the guard
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	req := userRequest("hello", 100)
	est, _ := g.Estimate(budget.Request{Model: "gpt-4o", Messages: req.Messages, MaxOutputTokens: 100})

	_, err := budget.TrackCall(context.Background(), g.Guard, tr, usage.Call{Model: "gpt-4o", Key: "k"}, req, respond(chatResponse(5, 0, 5)))
	if err != nil {
		t.Fatal(err)
	}
	g.checkSettledOnce(t, "k")
	if st := g.status(t, "k"); st.Spent != est.Tokens.Total() {
		t.Errorf("spent %d, want the estimate %d", st.Spent, est.Tokens.Total())
	}
	if s := g.Stats(); s.Unobserved != 1 {
		t.Errorf("Unobserved = %d, want 1", s.Unobserved)
	}

	// The same holds without a tracker.
	_, err = budget.TrackCall(context.Background(), g.Guard, nil, usage.Call{Model: "gpt-4o", Key: "k"}, req, respond(chatResponse(5, 0, 5)))
	if err != nil {
		t.Fatal(err)
	}
	if s := g.Stats(); s.Unobserved != 2 {
		t.Errorf("Unobserved with a nil tracker = %d, want 2", s.Unobserved)
	}
}

// TestNestedCallsSettleTheirOwn checks that a tracked call made inside a
// guarded call does not settle the outer reservation with its record.
func TestNestedCallsSettleTheirOwn(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(100_000)}, nil)
	tr, _ := newObservedTracker(t, g.Guard)
	ctx := context.Background()
	call := usage.Call{Model: "gpt-4o", Key: "k"}

	_, err := budget.TrackCall(ctx, g.Guard, tr, call, userRequest("outer", 100),
		func(ctx context.Context) (openai.ChatCompletionResponse, error) {
			// An inner call tracked without a reservation of its own.
			if _, err := usage.TrackCall(ctx, tr, call, respond(chatResponse(100, 0, 50))); err != nil {
				return openai.ChatCompletionResponse{}, err
			}
			// An inner call with its own reservation.
			if _, err := budget.TrackCall(ctx, g.Guard, tr, call, userRequest("inner", 100), respond(chatResponse(1000, 0, 500))); err != nil {
				return openai.ChatCompletionResponse{}, err
			}
			return chatResponse(10, 0, 5), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	st := g.status(t, "k")
	if st.Spent != 15+1500 || st.Reserved != 0 {
		t.Errorf("spent %d, reserved %d; want 1515 (outer 15, inner 1500), 0", st.Spent, st.Reserved)
	}
	if n := g.ledger.settles.Load(); n != 2 {
		t.Errorf("settlements = %d, want 2", n)
	}
}

func TestSettleIsIdempotent(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(100_000)}, nil)
	res, err := g.Reserve(context.Background(), "k", budget.Request{Model: "gpt-4o", InputTokens: 10, MaxOutputTokens: 90})
	if err != nil {
		t.Fatal(err)
	}
	rec := &usage.Record{UsageKnown: true, Tokens: usage.Tokens{Input: 10, Output: 20}}
	for i := 0; i < 3; i++ {
		if err := res.Settle(rec); err != nil {
			t.Fatalf("Settle %d: %v", i, err)
		}
	}
	if err := res.Release(); err != nil {
		t.Fatal(err)
	}
	g.checkSettledOnce(t, "k")
	if st := g.status(t, "k"); st.Spent != 30 {
		t.Errorf("spent %d, want 30", st.Spent)
	}
}

func TestSettleAmounts(t *testing.T) {
	t.Parallel()
	spend := budget.Budget{Name: "spend", Unit: budget.Spend, Limit: budget.USD(100), Window: budget.Daily(nil)}
	tokens := budget.Budget{Name: "tokens", Unit: budget.Tokens, Limit: 10_000_000, Window: budget.Daily(nil)}
	req := budget.Request{Model: "gpt-4o", InputTokens: 1000, MaxOutputTokens: 1000}

	tests := []struct {
		name                    string
		chargeUnknown           bool
		rec                     *usage.Record
		wantTokens              int64
		wantSpend               int64 // -1 means the estimate
		wantKept, wantUnknownFl int64
	}{
		{
			name:       "priced success",
			rec:        &usage.Record{UsageKnown: true, Priced: true, CostNanos: 1234, Tokens: usage.Tokens{Input: 300, Output: 200}},
			wantTokens: 500, wantSpend: 1234,
		},
		{
			name:       "unpriced success keeps the spend estimate",
			rec:        &usage.Record{UsageKnown: true, Tokens: usage.Tokens{Input: 300, Output: 200}},
			wantTokens: 500, wantSpend: -1,
		},
		{
			name:       "success with unknown usage keeps the estimate",
			rec:        &usage.Record{},
			wantTokens: 2000, wantSpend: -1, wantKept: 1,
		},
		{
			name:       "failure with unknown usage is free",
			rec:        &usage.Record{Error: errmon.ProviderError},
			wantTokens: 0, wantSpend: 0, wantUnknownFl: 1,
		},
		{
			name:          "failure with unknown usage charged when configured",
			chargeUnknown: true,
			rec:           &usage.Record{Error: errmon.Canceled},
			wantTokens:    2000, wantSpend: -1, wantUnknownFl: 1,
		},
		{
			name:       "failure with known usage pays it",
			rec:        &usage.Record{Error: errmon.ContentFilter, UsageKnown: true, Priced: true, CostNanos: 99, Tokens: usage.Tokens{Input: 40, Output: 2}},
			wantTokens: 42, wantSpend: 99,
		},
		{
			name:       "nil record is free",
			rec:        nil,
			wantTokens: 0, wantSpend: 0,
		},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newTestGuard(t, []budget.Budget{spend, tokens}, func(c *budget.Config) { c.ChargeUnknownFailures = tt.chargeUnknown })
			res, err := g.Reserve(context.Background(), "k", req)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Settle(tt.rec); err != nil {
				t.Fatal(err)
			}
			wantSpend := tt.wantSpend
			if wantSpend == -1 {
				wantSpend = res.Estimate().CostNanos
			}
			st, _ := g.Status(context.Background(), "k")
			if st[0].Spent != wantSpend || st[1].Spent != tt.wantTokens {
				t.Errorf("spent $%s and %d tokens, want $%s and %d", budget.FormatUSD(st[0].Spent), st[1].Spent, budget.FormatUSD(wantSpend), tt.wantTokens)
			}
			if st[0].Reserved != 0 || st[1].Reserved != 0 {
				t.Errorf("reserved %d and %d after settling, want 0", st[0].Reserved, st[1].Reserved)
			}
			if s := g.Stats(); s.KeptEstimate != tt.wantKept || s.UnknownFailures != tt.wantUnknownFl {
				t.Errorf("stats %+v: want KeptEstimate %d, UnknownFailures %d", s, tt.wantKept, tt.wantUnknownFl)
			}
		})
	}
}

func TestUnpricedModel(t *testing.T) {
	t.Parallel()
	spend := budget.Budget{Name: "spend", Unit: budget.Spend, Limit: budget.USD(1), Window: budget.Daily(nil)}
	tokens := budget.Budget{Name: "tokens", Unit: budget.Tokens, Limit: 1000, Window: budget.Daily(nil)}
	req := budget.Request{Model: "house-model-7b", InputTokens: 100, MaxOutputTokens: 100}

	t.Run("rejected by default", func(t *testing.T) {
		t.Parallel()
		g := newTestGuard(t, []budget.Budget{spend, tokens}, nil)
		if _, err := g.Reserve(context.Background(), "k", req); !errors.Is(err, budget.ErrUnpriced) {
			t.Errorf("error %v, want ErrUnpriced", err)
		}
		if s := g.Stats(); s.Unpriced != 1 {
			t.Errorf("Unpriced = %d, want 1", s.Unpriced)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		g := newTestGuard(t, []budget.Budget{spend, tokens}, func(c *budget.Config) { c.Unpriced = budget.AllowUnpriced })
		res, err := g.Reserve(context.Background(), "k", req)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := g.Status(context.Background(), "k")
		if st[0].Reserved != 0 || st[1].Reserved != 200 {
			t.Errorf("reserved $%s and %d tokens, want $0 and 200", budget.FormatUSD(st[0].Reserved), st[1].Reserved)
		}
		_ = res.Settle(&usage.Record{UsageKnown: true, Tokens: usage.Tokens{Input: 100, Output: 30}})
		st, _ = g.Status(context.Background(), "k")
		if st[0].Spent != 0 || st[1].Spent != 130 {
			t.Errorf("spent $%s and %d tokens, want $0 and 130", budget.FormatUSD(st[0].Spent), st[1].Spent)
		}
	})
	t.Run("tokens budgets need no price", func(t *testing.T) {
		t.Parallel()
		g := newTestGuard(t, []budget.Budget{tokens}, nil)
		if _, err := g.Reserve(context.Background(), "k", req); err != nil {
			t.Errorf("error %v, want none", err)
		}
	})
	t.Run("request price", func(t *testing.T) {
		t.Parallel()
		g := newTestGuard(t, []budget.Budget{spend}, nil)
		r := req
		r.Price = &usage.Price{Input: usage.PerMillion(1), Output: usage.PerMillion(2)}
		res, err := g.Reserve(context.Background(), "k", r)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Estimate().CostNanos; got != 300_000 {
			t.Errorf("estimate $%s, want $0.0003", budget.FormatUSD(got))
		}
	})
}

func TestFailOpen(t *testing.T) {
	t.Parallel()
	req := budget.Request{Model: "gpt-4o", InputTokens: 10, MaxOutputTokens: 10}

	g := newTestGuard(t, []budget.Budget{dailyTokens(1000)}, nil)
	g.ledger.down.Store(true)
	_, err := g.Reserve(context.Background(), "k", req)
	if !errors.Is(err, errLedgerDown) || !errors.Is(err, budget.ErrLedger) {
		t.Errorf("closed: error %v, want ErrLedger wrapping the ledger's error", err)
	}

	g = newTestGuard(t, []budget.Budget{dailyTokens(1000)}, func(c *budget.Config) { c.FailOpen = true })
	g.ledger.down.Store(true)
	res, err := g.Reserve(context.Background(), "k", req)
	if err != nil || !res.FailedOpen() {
		t.Fatalf("open: reservation %v, error %v; want one that failed open", res, err)
	}
	g.ledger.down.Store(false)
	if err := res.Settle(&usage.Record{UsageKnown: true, Tokens: usage.Tokens{Input: 10, Output: 7}}); err != nil {
		t.Fatal(err)
	}
	if st := g.status(t, "k"); st.Spent != 17 || st.Reserved != 0 {
		t.Errorf("after the ledger came back: spent %d, reserved %d; want 17, 0", st.Spent, st.Reserved)
	}
	if s := g.Stats(); s.FailedOpen != 1 || s.LedgerErrors != 1 {
		t.Errorf("stats %+v: want FailedOpen 1, LedgerErrors 1", s)
	}
}

func TestAlertsFireOncePerWindow(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []budget.Alert
	b := dailyTokens(1000)
	b.Thresholds = []int{50, 100}
	g := newTestGuard(t, []budget.Budget{b}, func(c *budget.Config) {
		c.OnAlert = func(a budget.Alert) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, a)
		}
	})
	tr, _ := newObservedTracker(t, g.Guard)
	call := usage.Call{Model: "gpt-4o", Key: "k"}

	for i := 0; i < 4; i++ { // 300 tokens each: 300, 600, 900, then rejected
		_, _ = budget.TrackCall(context.Background(), g.Guard, tr, call, budget.Request{InputTokens: 100, MaxOutputTokens: 200}, respond(chatResponse(100, 0, 200)))
	}
	g.clock.Advance(24 * time.Hour)
	_, _ = budget.TrackCall(context.Background(), g.Guard, tr, call, budget.Request{InputTokens: 100, MaxOutputTokens: 500}, respond(chatResponse(100, 0, 500)))

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("alerts %+v, want two: 50%% on each day", got)
	}
	for i, a := range got {
		if a.Threshold != 50 || a.Key != "k" || a.Budget != "tokens" {
			t.Errorf("alert %d: %+v, want 50%% of tokens for k", i, a)
		}
	}
	if got[0].Spent != 600 || got[1].Spent != 600 {
		t.Errorf("alerts at spent %d and %d, want 600 and 600", got[0].Spent, got[1].Spent)
	}
	if !got[1].WindowStart.After(got[0].WindowStart) {
		t.Errorf("second alert's window starts %v, not after the first's %v", got[1].WindowStart, got[0].WindowStart)
	}
}

// TestConcurrentCallsNeverOvershoot runs 64 goroutines of tracked calls
// against one budget. No call uses more than its estimate, so the spend
// never passes the limit, and it equals the recorded costs.
func TestConcurrentCallsNeverOvershoot(t *testing.T) {
	t.Parallel()
	limit := budget.USD(0.5)
	g := newTestGuard(t, []budget.Budget{{Name: "spend", Unit: budget.Spend, Limit: limit, Window: budget.Daily(nil)}}, nil)
	tr, store := newObservedTracker(t, g.Guard)
	call := usage.Call{Model: "gpt-4o-mini", Key: "hot"}

	var admitted atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				resp := chatResponse(500+w, 0, 1000+i*50)
				_, err := budget.TrackCall(context.Background(), g.Guard, tr, call, budget.Request{InputTokens: 600, MaxOutputTokens: 2000}, respond(resp))
				if err == nil {
					admitted.Add(1)
				} else if !errors.Is(err, budget.ErrExceeded) {
					t.Errorf("TrackCall: %v", err)
				}
			}
		}(w)
	}
	wg.Wait()

	var sum int64
	recs := recorded(t, tr, store)
	for _, r := range recs {
		sum += r.CostNanos
	}
	st := g.status(t, "hot")
	if st.Spent > limit {
		t.Errorf("spent $%s, more than the limit $%s", budget.FormatUSD(st.Spent), budget.FormatUSD(limit))
	}
	if st.Spent != sum || st.Reserved != 0 || int64(len(recs)) != admitted.Load() {
		t.Errorf("spent %d, reserved %d, %d records of %d admitted calls summing to %d; want spent = sum, nothing reserved",
			st.Spent, st.Reserved, len(recs), admitted.Load(), sum)
	}
	if s := g.Stats(); s.Rejected == 0 {
		t.Error("no call was rejected, so the test did not reach the limit")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	good := dailyTokens(10)
	tests := []struct {
		name    string
		budgets []budget.Budget
	}{
		{"no budgets", nil},
		{"duplicate names", []budget.Budget{good, good}},
		{"zero limit", []budget.Budget{{Name: "b", Unit: budget.Tokens, Window: budget.Daily(nil)}}},
		{"bad unit", []budget.Budget{{Name: "b", Unit: "eur", Limit: 1, Window: budget.Daily(nil)}}},
		{"bad name", []budget.Budget{{Name: "a b", Unit: budget.Tokens, Limit: 1, Window: budget.Daily(nil)}}},
		{"no window", []budget.Budget{{Name: "b", Unit: budget.Tokens, Limit: 1}}},
		{"threshold zero", []budget.Budget{{Name: "b", Unit: budget.Tokens, Limit: 1, Window: budget.Daily(nil), Thresholds: []int{0}}}},
		{"threshold twice", []budget.Budget{{Name: "b", Unit: budget.Tokens, Limit: 1, Window: budget.Daily(nil), Thresholds: []int{50, 50}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := budget.New(budget.Config{Budgets: tt.budgets}); err == nil {
				t.Error("New returned no error")
			}
		})
	}
}

func TestReportListsBusyKeys(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(1000)}, nil)
	ctx := context.Background()
	for _, k := range []string{"light", "heavy", "released"} {
		n := int64(100)
		if k == "heavy" {
			n = 800
		}
		res, err := g.Reserve(ctx, k, budget.Request{InputTokens: n, MaxOutputTokens: 1})
		if err != nil {
			t.Fatal(err)
		}
		if k == "released" {
			_ = res.Release()
		}
	}
	rep, err := g.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != 2 || rep[0].Key != "heavy" || rep[1].Key != "light" {
		t.Fatalf("report %+v, want heavy then light", rep)
	}
	if rep[0].Reserved != 801 {
		t.Errorf("heavy reserved %d, want 801", rep[0].Reserved)
	}
}
