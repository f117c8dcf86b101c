// Package ledgertest checks that a budget.Ledger behaves as the interface
// documents, so that the in-memory and the Redis ledger are held to the same
// tests. It also holds the benchmark that both run.
package ledgertest

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/usage"
)

// Slack is the slack that Run expects the ledgers it gets to have: how long
// a calendar window is kept after it ends.
const Slack = 10 * time.Minute

// base is the fake clock's first reading: noon UTC, 07:00 in New York.
var base = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// NewLedger returns a new, empty ledger with a slack of Slack. Ledgers of
// one test may share a store, as long as they do not share keys.
type NewLedger func(t *testing.T) budget.Ledger

// Run runs every conformance test against ledgers from newLedger.
func Run(t *testing.T, newLedger NewLedger) {
	tests := []struct {
		name string
		fn   func(t *testing.T, l budget.Ledger)
	}{
		{"reserve within limit", testReserveWithinLimit},
		{"rejection reserves nothing", testRejectionReservesNothing},
		{"settle refunds and charges", testSettleRefundsAndCharges},
		{"day turns in time zone", testDayTurnsInZone},
		{"late settle keeps its window", testLateSettle},
		{"settle after slack", testSettleAfterSlack},
		{"settle without reservation", testSettleWithoutReservation},
		{"rolling window", testRollingWindow},
		{"calendar thresholds", testCalendarThresholds},
		{"rolling thresholds re-arm", testRollingThresholds},
		{"keys are independent", testKeysIndependent},
		{"status of unknown key", testStatusUnknownKey},
		{"negative amounts", testNegativeAmounts},
		{"concurrent reservations", testConcurrent},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newLedger(t))
		})
	}
}

// tokensDaily returns a daily Tokens budget in UTC.
func tokensDaily(name string, limit int64, thresholds ...int) budget.Budget {
	return budget.Budget{Name: name, Unit: budget.Tokens, Limit: limit, Window: budget.Daily(time.UTC), Thresholds: thresholds}
}

func hold(b budget.Budget, now time.Time, amount int64) budget.Hold {
	return budget.Hold{Budget: b, Span: b.Window.Span(now), Amount: amount}
}

func entry(h budget.Hold, used int64) budget.Entry {
	return budget.Entry{Budget: h.Budget, Span: h.Span, Reserved: h.Amount, Used: used}
}

// mustReserve reserves holds for key at now and fails the test on an
// error.
func mustReserve(t *testing.T, l budget.Ledger, key string, now time.Time, holds ...budget.Hold) budget.Admission {
	t.Helper()
	a, err := l.Reserve(context.Background(), key, now, holds)
	if err != nil {
		t.Fatalf("Reserve(%q) at %v: %v", key, now, err)
	}
	return a
}

func mustSettle(t *testing.T, l budget.Ledger, key string, now time.Time, entries ...budget.Entry) []budget.Alert {
	t.Helper()
	alerts, err := l.Settle(context.Background(), key, now, entries)
	if err != nil {
		t.Fatalf("Settle(%q) at %v: %v", key, now, err)
	}
	return alerts
}

func mustStatus(t *testing.T, l budget.Ledger, key string, now time.Time, budgets ...budget.Budget) []budget.BudgetStatus {
	t.Helper()
	st, err := l.Status(context.Background(), key, now, budgets)
	if err != nil {
		t.Fatalf("Status(%q) at %v: %v", key, now, err)
	}
	if len(st) != len(budgets) {
		t.Fatalf("Status(%q) returned %d statuses, want %d", key, len(st), len(budgets))
	}
	return st
}

// checkTotals fails the test unless s has the given spent and reserved
// totals.
func checkTotals(t *testing.T, what string, s budget.BudgetStatus, spent, reserved int64) {
	t.Helper()
	if s.Spent != spent || s.Reserved != reserved {
		t.Errorf("%s: spent %d, reserved %d; want %d, %d", what, s.Spent, s.Reserved, spent, reserved)
	}
	want := max(s.Limit-spent-reserved, 0)
	if s.Remaining != want {
		t.Errorf("%s: remaining %d, want %d", what, s.Remaining, want)
	}
}

func testReserveWithinLimit(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100)
	now := base

	a := mustReserve(t, l, "k", now, hold(b, now, 60))
	if !a.OK || len(a.Remaining) != 1 || a.Remaining[0] != 40 {
		t.Fatalf("reserve 60 of 100: %+v; want OK with 40 remaining", a)
	}

	a = mustReserve(t, l, "k", now, hold(b, now, 50))
	if a.OK {
		t.Fatal("reserve 50 with 40 remaining was admitted")
	}
	if a.Denied != 0 {
		t.Errorf("Denied = %d, want 0", a.Denied)
	}
	checkTotals(t, "rejection status", a.Status, 0, 60)
	if want := b.Window.Span(now).End; !a.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want the end of the day %v", a.RetryAt, want)
	}

	a = mustReserve(t, l, "k", now, hold(b, now, 40))
	if !a.OK || a.Remaining[0] != 0 {
		t.Fatalf("reserve the last 40: %+v; want OK with 0 remaining", a)
	}
	if a = mustReserve(t, l, "k", now, hold(b, now, 0)); !a.OK {
		t.Error("a hold of zero was rejected by a full budget")
	}
	if a = mustReserve(t, l, "k", now, hold(b, now, 1)); a.OK {
		t.Error("a hold of one was admitted by a full budget")
	}

	a = mustReserve(t, l, "other", now, hold(b, now, 101))
	if a.OK || !a.RetryAt.IsZero() {
		t.Errorf("hold above the limit: OK %v, RetryAt %v; want rejected with a zero RetryAt", a.OK, a.RetryAt)
	}
}

func testRejectionReservesNothing(t *testing.T, l budget.Ledger) {
	big, small := tokensDaily("big", 100), tokensDaily("small", 50)
	now := base

	a := mustReserve(t, l, "k", now, hold(big, now, 30), hold(small, now, 60))
	if a.OK || a.Denied != 1 {
		t.Fatalf("reserve 30 of 100 and 60 of 50: OK %v, Denied %d; want the second rejected", a.OK, a.Denied)
	}
	st := mustStatus(t, l, "k", now, big, small)
	checkTotals(t, "big after rejection", st[0], 0, 0)
	checkTotals(t, "small after rejection", st[1], 0, 0)

	if a = mustReserve(t, l, "k", now, hold(big, now, 30), hold(small, now, 50)); !a.OK {
		t.Fatal("reserve 30 of 100 and 50 of 50 was rejected")
	}
	st = mustStatus(t, l, "k", now, big, small)
	checkTotals(t, "big after admission", st[0], 0, 30)
	checkTotals(t, "small after admission", st[1], 0, 50)
}

func testSettleRefundsAndCharges(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100)
	now := base

	h := hold(b, now, 60)
	mustReserve(t, l, "k", now, h)
	mustSettle(t, l, "k", now, entry(h, 20))
	checkTotals(t, "after over-estimate", mustStatus(t, l, "k", now, b)[0], 20, 0)

	h = hold(b, now, 80)
	if a := mustReserve(t, l, "k", now, h); !a.OK {
		t.Fatal("reserve 80 after a refund to 80 remaining was rejected")
	}
	mustSettle(t, l, "k", now, entry(h, 100))
	checkTotals(t, "after under-estimate", mustStatus(t, l, "k", now, b)[0], 120, 0)

	if a := mustReserve(t, l, "k", now, hold(b, now, 1)); a.OK {
		t.Error("reserve past an overspent budget was admitted")
	}
}

func testDayTurnsInZone(t *testing.T, l budget.Ledger) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	b := budget.Budget{Name: "spend", Unit: budget.Spend, Limit: budget.USD(1), Window: budget.Daily(ny)}
	before := time.Date(2026, 12, 4, 23, 59, 0, 0, ny)
	after := time.Date(2026, 12, 5, 0, 0, 0, 0, ny)

	h := hold(b, before, budget.USD(0.9))
	mustReserve(t, l, "k", before, h)
	mustSettle(t, l, "k", before, entry(h, budget.USD(0.95)))
	a := mustReserve(t, l, "k", before, hold(b, before, budget.USD(0.1)))
	if a.OK {
		t.Fatal("reserve $0.10 with $0.05 left was admitted")
	}
	if !a.RetryAt.Equal(after) {
		t.Errorf("RetryAt = %v, want midnight in New York %v", a.RetryAt, after)
	}

	if a = mustReserve(t, l, "k", after, hold(b, after, budget.USD(0.1))); !a.OK {
		t.Fatal("reserve $0.10 after midnight in New York was rejected")
	}
	st := mustStatus(t, l, "k", after, b)[0]
	checkTotals(t, "new day", st, 0, budget.USD(0.1))
	if !st.WindowStart.Equal(after) || !st.WindowEnd.Equal(after.AddDate(0, 0, 1)) {
		t.Errorf("window [%v, %v), want [%v, %v)", st.WindowStart, st.WindowEnd, after, after.AddDate(0, 0, 1))
	}
}

func testLateSettle(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100)
	day := b.Window.Span(base)
	late := day.End.Add(-30 * time.Second)
	next := day.End.Add(30 * time.Second)

	h := hold(b, late, 50)
	mustReserve(t, l, "k", late, h)
	mustSettle(t, l, "k", next, entry(h, 70))

	checkTotals(t, "next day", mustStatus(t, l, "k", next, b)[0], 0, 0)
	checkTotals(t, "day of the reservation", mustStatus(t, l, "k", late, b)[0], 70, 0)
}

func testSettleAfterSlack(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100)
	day := b.Window.Span(base)
	h := hold(b, base, 50)
	mustReserve(t, l, "k", base, h)

	past := day.End.Add(Slack + time.Minute)
	if alerts := mustSettle(t, l, "k", past, entry(h, 70)); len(alerts) != 0 {
		t.Errorf("settle after the slack returned alerts %v", alerts)
	}
	checkTotals(t, "day after the slack", mustStatus(t, l, "k", past, b)[0], 0, 0)
}

func testSettleWithoutReservation(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100)

	// A reservation that failed open holds nothing, and its settlement
	// still charges what the call used.
	h := hold(b, base, 0)
	mustSettle(t, l, "k", base, entry(h, 30))
	checkTotals(t, "after settling an empty hold", mustStatus(t, l, "k", base, b)[0], 30, 0)
}

func testRollingWindow(t *testing.T, l budget.Ledger) {
	b := budget.Budget{Name: "minute", Unit: budget.Tokens, Limit: 100, Window: budget.Rolling(time.Minute)}
	t0 := base.Add(250 * time.Millisecond)

	h := hold(b, t0, 60)
	mustReserve(t, l, "k", t0, h)
	mustSettle(t, l, "k", t0, entry(h, 60))

	t1 := t0.Add(30 * time.Second)
	h1 := hold(b, t1, 30)
	mustReserve(t, l, "k", t1, h1)
	mustSettle(t, l, "k", t1, entry(h1, 30))

	a := mustReserve(t, l, "k", t1, hold(b, t1, 50))
	if a.OK {
		t.Fatal("reserve 50 with 10 left in the rolling minute was admitted")
	}
	if want := b.Window.Span(t0).Start.Add(time.Minute); !a.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want when the first bucket leaves, %v", a.RetryAt, want)
	}
	checkTotals(t, "rolling status", a.Status, 90, 0)

	// The first charge leaves the window one minute after its bucket
	// started; the second stays.
	t2 := b.Window.Span(t0).Start.Add(time.Minute)
	if a = mustReserve(t, l, "k", t2, hold(b, t2, 50)); !a.OK {
		t.Fatalf("reserve 50 after the first bucket left was rejected: %+v", a.Status)
	}
	checkTotals(t, "after the first bucket left", mustStatus(t, l, "k", t2, b)[0], 30, 50)

	t3 := t1.Add(2 * time.Minute)
	checkTotals(t, "after every bucket left", mustStatus(t, l, "k", t3, b)[0], 0, 0)
}

func testCalendarThresholds(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100, 50, 80, 100)
	now := base

	steps := []struct {
		used int64
		want []int
	}{
		{40, nil},
		{15, []int{50}},
		{30, []int{80}},
		{5, nil},
		{20, []int{100}},
		{10, nil},
	}
	for _, s := range steps {
		h := hold(b, now, 0)
		alerts := mustSettle(t, l, "k", now, entry(h, s.used))
		checkAlerts(t, fmt.Sprintf("after %d more", s.used), alerts, s.want)
	}

	next := b.Window.Span(now).End
	h := hold(b, next, 60)
	mustReserve(t, l, "k", next, h)
	alerts := mustSettle(t, l, "k", next, entry(h, 60))
	checkAlerts(t, "next day", alerts, []int{50})
	if len(alerts) == 1 {
		a := alerts[0]
		if a.Key != "k" || a.Budget != "tokens" || a.Spent != 60 || a.Limit != 100 || !a.WindowStart.Equal(next) {
			t.Errorf("alert %+v: want key k, budget tokens, spent 60, limit 100, window from %v", a, next)
		}
	}
}

func testRollingThresholds(t *testing.T, l budget.Ledger) {
	b := budget.Budget{Name: "minute", Unit: budget.Tokens, Limit: 100, Window: budget.Rolling(time.Minute), Thresholds: []int{50}}
	t0 := base

	alerts := mustSettle(t, l, "k", t0, entry(hold(b, t0, 0), 60))
	checkAlerts(t, "first crossing", alerts, []int{50})
	alerts = mustSettle(t, l, "k", t0, entry(hold(b, t0, 0), 10))
	checkAlerts(t, "still above", alerts, nil)

	// Once the first charges leave the window, the spend is below 50%
	// again, and reaching it again fires again.
	t1 := t0.Add(2 * time.Minute)
	alerts = mustSettle(t, l, "k", t1, entry(hold(b, t1, 0), 10))
	checkAlerts(t, "below again", alerts, nil)
	alerts = mustSettle(t, l, "k", t1, entry(hold(b, t1, 0), 45))
	checkAlerts(t, "second crossing", alerts, []int{50})
}

func checkAlerts(t *testing.T, what string, alerts []budget.Alert, want []int) {
	t.Helper()
	var got []int
	for _, a := range alerts {
		got = append(got, a.Threshold)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: alerts at %v%%, want %v%%", what, got, want)
	}
}

func testKeysIndependent(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100)
	mustReserve(t, l, "alice", base, hold(b, base, 100))
	if a := mustReserve(t, l, "bob", base, hold(b, base, 100)); !a.OK {
		t.Error("bob was rejected after alice spent her budget")
	}
}

func testStatusUnknownKey(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100)
	st := mustStatus(t, l, "nobody", base, b)[0]
	checkTotals(t, "unknown key", st, 0, 0)
	if st.Name != "tokens" || st.Key != "nobody" || st.Unit != budget.Tokens || st.Limit != 100 {
		t.Errorf("status %+v: want name tokens, key nobody, unit tokens, limit 100", st)
	}
	span := b.Window.Span(base)
	if !st.WindowStart.Equal(span.Start) || !st.WindowEnd.Equal(span.End) {
		t.Errorf("window [%v, %v), want [%v, %v)", st.WindowStart, st.WindowEnd, span.Start, span.End)
	}
}

func testNegativeAmounts(t *testing.T, l budget.Ledger) {
	b := tokensDaily("tokens", 100)
	if _, err := l.Reserve(context.Background(), "k", base, []budget.Hold{hold(b, base, -1)}); err == nil {
		t.Error("Reserve of -1 returned no error")
	}
	if _, err := l.Settle(context.Background(), "k", base, []budget.Entry{entry(hold(b, base, 1), -1)}); err == nil {
		t.Error("Settle with -1 used returned no error")
	}
}

// testConcurrent runs 64 goroutines that reserve and settle against one
// budget and checks that the spend never passes the limit, because no
// call uses more than its estimate.
func testConcurrent(t *testing.T, l budget.Ledger) {
	const (
		workers  = 64
		attempts = 40
		estimate = 7
		limit    = 1000
	)
	b := tokensDaily("tokens", limit)
	var admitted, used atomic.Int64

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for i := 0; i < attempts; i++ {
				h := hold(b, base, estimate)
				a, err := l.Reserve(context.Background(), "hot", base, []budget.Hold{h})
				if err != nil {
					t.Errorf("Reserve: %v", err)
					return
				}
				if !a.OK {
					continue
				}
				admitted.Add(1)
				u := 1 + rng.Int63n(estimate)
				used.Add(u)
				if _, err := l.Settle(context.Background(), "hot", base, []budget.Entry{entry(h, u)}); err != nil {
					t.Errorf("Settle: %v", err)
					return
				}
			}
		}(int64(w))
	}
	wg.Wait()

	st := mustStatus(t, l, "hot", base, b)[0]
	checkTotals(t, "after the workers", st, used.Load(), 0)
	if st.Spent > limit {
		t.Errorf("spent %d, more than the limit %d", st.Spent, limit)
	}
	if admitted.Load() < limit/estimate {
		t.Errorf("admitted %d calls, want at least %d", admitted.Load(), limit/estimate)
	}
}

// BenchmarkReserveSettle measures one reservation and its settlement on l,
// for one key shared by every goroutine and for a key per goroutine
// iteration.
func BenchmarkReserveSettle(b *testing.B, l budget.Ledger) {
	bud := budget.Budget{Name: "spend", Unit: budget.Spend, Limit: 1 << 50, Window: budget.Daily(time.UTC)}
	run := func(b *testing.B, keyOf func(i int64) string) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				key := keyOf(n.Add(1))
				h := budget.Hold{Budget: bud, Span: bud.Window.Span(base), Amount: 1000}
				if _, err := l.Reserve(ctx, key, base, []budget.Hold{h}); err != nil {
					b.Error(err)
					return
				}
				if _, err := l.Settle(ctx, key, base, []budget.Entry{entry(h, 900)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("hot key", func(b *testing.B) { run(b, func(int64) string { return "hot" }) })
	b.Run("many keys", func(b *testing.B) {
		run(b, func(i int64) string { return fmt.Sprintf("key-%d", i%100_000) })
	})
}

// BenchmarkGuard measures one reservation and its settlement through a
// budget.Guard on l, with a daily spend budget and a rolling token budget,
// for one key shared by every goroutine and for many keys.
func BenchmarkGuard(b *testing.B, l budget.Ledger) {
	g := budget.MustNew(budget.Config{
		Budgets: []budget.Budget{
			{Name: "spend", Unit: budget.Spend, Limit: 1 << 50, Window: budget.Daily(time.UTC)},
			{Name: "tokens", Unit: budget.Tokens, Limit: 1 << 50, Window: budget.Rolling(time.Hour)},
		},
		Ledger: l,
	})
	req := budget.Request{Model: "gpt-4o-mini", InputTokens: 500, MaxOutputTokens: 1000}
	rec := &usage.Record{UsageKnown: true, Priced: true, CostNanos: 380_000, Tokens: usage.Tokens{Input: 500, Output: 500}}

	run := func(b *testing.B, keyOf func(i int64) string) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				res, err := g.Reserve(context.Background(), keyOf(n.Add(1)), req)
				if err != nil {
					b.Error(err)
					return
				}
				if err := res.Settle(rec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("hot key", func(b *testing.B) { run(b, func(int64) string { return "hot" }) })
	b.Run("many keys", func(b *testing.B) {
		run(b, func(i int64) string { return fmt.Sprintf("key-%d", i%100_000) })
	})
}
