package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

// newLimiter returns a Memory limiter for rule that reads clock.
func newLimiter(t testing.TB, rule ratelimit.Rule, clock *fakeClock, opts ...ratelimit.MemoryOption) *ratelimit.Memory {
	t.Helper()
	opts = append([]ratelimit.MemoryOption{ratelimit.WithClock(clock.Now)}, opts...)
	return ratelimit.NewMemory(rule, opts...)
}

// allow calls AllowAt at start + at and returns the decision.
func allow(m *ratelimit.Memory, key string, n int64, at time.Duration) ratelimit.Decision {
	return m.AllowAt(key, n, start.Add(at))
}

func perMinute(limit int64) ratelimit.Rule {
	return ratelimit.Rule{Name: "test", Limit: limit, Window: time.Minute}
}

func TestRejectedRequestLeavesNoTrace(t *testing.T) {
	m := newLimiter(t, ratelimit.Rule{Name: "test", Limit: 2, Window: time.Minute, Burst: 2}, newFakeClock())

	got := allow(m, "a", 3, 0)
	if got.Allowed {
		t.Fatalf("Allow(3) with burst 2: got allowed, want rejected")
	}
	got = allow(m, "a", 2, 0)
	if !got.Allowed {
		t.Errorf("Allow(2) after a rejected Allow(3): got rejected %+v, want allowed", got)
	}
	if got.Remaining != 0 {
		t.Errorf("Remaining after Allow(2): got %d, want 0", got.Remaining)
	}
}

func TestMoreThanBurstNeverPasses(t *testing.T) {
	m := newLimiter(t, perMinute(10), newFakeClock())

	got := allow(m, "a", 11, 0)
	if got.Allowed {
		t.Fatalf("Allow(11) with limit 10: got allowed, want rejected")
	}
	if got.RetryAfter != ratelimit.Never {
		t.Errorf("RetryAfter: got %v, want Never", got.RetryAfter)
	}
	if got.Remaining != 10 {
		t.Errorf("Remaining: got %d, want 10", got.Remaining)
	}
	if got.ResetAfter != 0 {
		t.Errorf("ResetAfter: got %v, want 0", got.ResetAfter)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len after the rejection: got %d, want 0", n)
	}
	if d := allow(m, "a", 10, 0); !d.Allowed {
		t.Errorf("Allow(10) after the rejection: got rejected %+v, want allowed", d)
	}
}

func TestWeightedRequestAllOrNothing(t *testing.T) {
	m := newLimiter(t, perMinute(10), newFakeClock())
	allow(m, "a", 8, 0)

	got := allow(m, "a", 5, 0)
	if got.Allowed {
		t.Fatalf("Allow(5) with 2 left: got allowed, want rejected")
	}
	if got.Remaining != 2 {
		t.Errorf("Remaining after the rejection: got %d, want 2", got.Remaining)
	}
	if got.RetryAfter != 18*time.Second {
		t.Errorf("RetryAfter: got %v, want 18s for 3 more units at 6s each", got.RetryAfter)
	}
	if d := allow(m, "a", 2, 0); !d.Allowed {
		t.Errorf("Allow(2) with 2 left: got rejected, want allowed")
	}
}

func TestRetryAfterIsRealWait(t *testing.T) {
	m := newLimiter(t, perMinute(10), newFakeClock())
	for i := 0; i < 10; i++ {
		if d := allow(m, "a", 1, 0); !d.Allowed {
			t.Fatalf("request %d at t=0: got rejected, want allowed", i+1)
		}
	}

	got := allow(m, "a", 1, time.Second)
	if got.Allowed {
		t.Fatalf("request at t=1s: got allowed, want rejected")
	}
	if got.RetryAfter != 5*time.Second {
		t.Errorf("RetryAfter at t=1s: got %v, want 5s", got.RetryAfter)
	}
	h := http.Header{}
	ratelimit.SetHeaders(h, start.Add(time.Second), []ratelimit.Decision{got}, nil)
	if v := h.Get("Retry-After"); v != "5" {
		t.Errorf("Retry-After: got %q, want %q", v, "5")
	}

	if d := allow(m, "a", 1, 6*time.Second-1); d.Allowed {
		t.Errorf("request at t=6s-1ns: got allowed, want rejected")
	}
	if d := allow(m, "a", 1, 6*time.Second); !d.Allowed {
		t.Errorf("request at t=6s: got rejected %+v, want allowed", d)
	}
	if d := allow(m, "a", 1, 6*time.Second); d.Allowed {
		t.Errorf("second request at t=6s: got allowed, want rejected")
	}
}

func TestRemainingStaysWithinLimit(t *testing.T) {
	rules := []ratelimit.Rule{
		perMinute(10),
		{Name: "burst-above-limit", Limit: 5, Window: time.Second, Burst: 20},
		{Name: "burst-below-limit", Limit: 100, Window: time.Minute, Burst: 3},
		{Name: "fractional", Limit: 13, Window: 16900 * time.Millisecond},
		{Name: "tokens", Limit: 90_000, Window: time.Minute},
	}
	for _, rule := range rules {
		rule := rule
		t.Run(rule.Name, func(t *testing.T) {
			t.Parallel()
			m := newLimiter(t, rule, newFakeClock())
			rng := rand.New(rand.NewSource(1))
			burst := rule.Burst
			if burst == 0 {
				burst = rule.Limit
			}

			at := time.Duration(0)
			for i := 0; i < 20_000; i++ {
				switch rng.Intn(10) {
				case 0:
					// A long idle period.
					at += time.Duration(rng.Int63n(int64(10 * rule.Window)))
				case 1, 2, 3:
					at += time.Duration(rng.Int63n(int64(rule.Window / 10)))
				}
				n := rng.Int63n(burst*2 + 1)
				d := allow(m, "a", n, at)
				checkDecision(t, rule, n, d)
			}
		})
	}
}

func TestSpendWithinBurstPlusRate(t *testing.T) {
	rules := []ratelimit.Rule{
		perMinute(10),
		{Name: "burst-above-limit", Limit: 5, Window: time.Second, Burst: 20},
		{Name: "fractional", Limit: 13, Window: 16900 * time.Millisecond, Burst: 4},
		{Name: "seven per second", Limit: 7, Window: time.Second},
	}
	for _, rule := range rules {
		rule := rule
		t.Run(rule.Name, func(t *testing.T) {
			t.Parallel()
			m := newLimiter(t, rule, newFakeClock())
			rng := rand.New(rand.NewSource(2))
			burst := rule.Burst
			if burst == 0 {
				burst = rule.Limit
			}

			type spend struct {
				at time.Duration
				n  int64
			}
			var spends []spend
			at := time.Duration(0)
			for len(spends) < 1500 {
				at += time.Duration(rng.Int63n(int64(rule.Window) / rule.Limit))
				n := 1 + rng.Int63n(burst)
				if allow(m, "k", n, at).Allowed {
					spends = append(spends, spend{at: at, n: n})
				}
			}

			// Every interval [spends[i].at, spends[j].at] holds at most
			// Burst + Limit·length/Window units: in integers,
			// sum·Window <= Burst·Window + Limit·length.
			for i := range spends {
				var sum int64
				for j := i; j < len(spends); j++ {
					sum += spends[j].n
					length := int64(spends[j].at - spends[i].at)
					if sum*int64(rule.Window) > burst*int64(rule.Window)+rule.Limit*length {
						t.Fatalf("%d units spent in %v, more than %d + %d per %v", sum, time.Duration(length), burst, rule.Limit, rule.Window)
					}
				}
			}
		})
	}
}

// checkDecision checks what every decision of a Memory limiter promises.
func checkDecision(t *testing.T, rule ratelimit.Rule, n int64, d ratelimit.Decision) {
	t.Helper()
	if d.Remaining < 0 || d.Remaining > rule.Limit {
		t.Fatalf("Allow(%d): Remaining %d outside 0..%d", n, d.Remaining, rule.Limit)
	}
	if d.ResetAfter < 0 || d.RetryAfter < 0 {
		t.Fatalf("Allow(%d): negative duration in %+v", n, d)
	}
	if d.Allowed != (d.RetryAfter == 0) {
		t.Fatalf("Allow(%d): Allowed %v with RetryAfter %v", n, d.Allowed, d.RetryAfter)
	}
	if d.Limit != rule.Limit || d.Rule != rule.Name {
		t.Fatalf("Allow(%d): got rule %q limit %d, want %q limit %d", n, d.Rule, d.Limit, rule.Name, rule.Limit)
	}
}

func TestBusyKeySurvivesCrowd(t *testing.T) {
	tests := []struct {
		name string
		opts []ratelimit.MemoryOption
	}{
		{name: "default cap"},
		{name: "cap below the crowd", opts: []ratelimit.MemoryOption{ratelimit.WithMaxKeys(1000)}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newLimiter(t, perMinute(10), newFakeClock(), tt.opts...)
			other := 0
			for i := 0; i < 10; i++ {
				if d := allow(m, "A", 1, time.Duration(i)*time.Millisecond); !d.Allowed {
					t.Fatalf("call %d on A: got rejected, want allowed", i+1)
				}
				for j := 0; j < 1000; j++ {
					allow(m, fmt.Sprintf("other-%d", other), 1, time.Duration(i)*time.Millisecond)
					other++
				}
			}
			if d := allow(m, "A", 1, 10*time.Millisecond); d.Allowed {
				t.Errorf("11th call on A after %d other keys: got allowed, want rejected", other)
			}
		})
	}
}

func TestFractionalRateDoesNotDrift(t *testing.T) {
	tests := []struct {
		name string
		rule ratelimit.Rule
	}{
		{name: "13 per 16.9s", rule: ratelimit.Rule{Name: "a", Limit: 13, Window: 16900 * time.Millisecond}},
		{name: "7 per second", rule: ratelimit.Rule{Name: "b", Limit: 7, Window: time.Second}},
		{name: "3 per 10ns", rule: ratelimit.Rule{Name: "c", Limit: 3, Window: 10}},
		{name: "prime tokens per minute", rule: ratelimit.Rule{Name: "d", Limit: 999_983, Window: time.Minute}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newLimiter(t, tt.rule, newFakeClock())

			// Spending the whole burst once per window, a million windows
			// in a row, passes only if no rounding accumulates.
			for i := 0; i < 1_000_000; i++ {
				at := time.Duration(i) * tt.rule.Window
				if d := allow(m, "k", tt.rule.Limit, at); !d.Allowed {
					t.Fatalf("window %d: got rejected %+v, want allowed", i, d)
				}
				if i%1000 == 999 {
					// One nanosecond early, the window is not refilled.
					if d := allow(m, "k", tt.rule.Limit, at+tt.rule.Window-1); d.Allowed {
						t.Fatalf("window %d minus 1ns: got allowed, want rejected", i+1)
					}
				}
			}
		})
	}
}

func TestRemainingGrowsAtExactUnitTimes(t *testing.T) {
	rule := ratelimit.Rule{Name: "seven", Limit: 7, Window: time.Second}
	m := newLimiter(t, rule, newFakeClock())
	allow(m, "k", 7, 0)

	for k := int64(1); k <= 7; k++ {
		// Unit k refills at k/7 s, rounded up to a whole nanosecond.
		at := time.Duration((k*int64(time.Second) + 6) / 7)
		// The earlier query goes first: the limiter never lets time run
		// backwards.
		if got := allow(m, "k", 0, at-1).Remaining; got != k-1 {
			t.Errorf("Remaining at %v: got %d, want %d", at-1, got, k-1)
		}
		if got := allow(m, "k", 0, at).Remaining; got != k {
			t.Errorf("Remaining at %v: got %d, want %d", at, got, k)
		}
	}
}

func TestSlowRuleDoesNotOverflow(t *testing.T) {
	tenYears := 10 * 365 * 24 * time.Hour
	m := newLimiter(t, ratelimit.Rule{Name: "decade", Limit: 1, Window: tenYears}, newFakeClock())

	if d := allow(m, "k", 1, 0); !d.Allowed || d.ResetAfter != tenYears {
		t.Fatalf("first request: got %+v, want allowed with ResetAfter %v", d, tenYears)
	}
	got := allow(m, "k", 1, time.Second)
	if got.Allowed {
		t.Fatalf("second request after 1s: got allowed, want rejected")
	}
	if want := tenYears - time.Second; got.RetryAfter != want {
		t.Errorf("RetryAfter: got %v, want %v", got.RetryAfter, want)
	}
	if d := allow(m, "k", 1, tenYears); !d.Allowed {
		t.Errorf("request after ten years: got rejected %+v, want allowed", d)
	}
}

func TestExtremeRulesKeepInvariants(t *testing.T) {
	rules := []ratelimit.Rule{
		{Name: "burst spans a millennium", Limit: 1, Window: 10 * 365 * 24 * time.Hour, Burst: 100},
		{Name: "largest window", Limit: 1, Window: math.MaxInt64},
		{Name: "one unit per nanosecond", Limit: math.MaxInt64, Window: math.MaxInt64},
		{Name: "large coprime", Limit: 1_000_000_000_000_000_007 % math.MaxInt64, Window: math.MaxInt64 - 24},
		{Name: "huge burst", Limit: 10, Window: time.Second, Burst: math.MaxInt64},
	}
	for _, rule := range rules {
		rule := rule
		t.Run(rule.Name, func(t *testing.T) {
			t.Parallel()
			m := newLimiter(t, rule, newFakeClock())
			clock := []time.Duration{0, time.Second, time.Hour, -time.Hour, math.MaxInt64, math.MinInt64, 0}
			units := []int64{1, 0, math.MaxInt64, 3, rule.Limit, 1}
			for _, at := range clock {
				for _, n := range units {
					d := m.AllowAt("k", n, start.Add(at))
					checkDecision(t, rule, n, d)
					if err := m.SettleAt("k", n, n/2, start.Add(at)); err != nil {
						t.Fatalf("SettleAt: %v", err)
					}
					if err := m.SettleAt("k", 0, n, start.Add(at)); err != nil {
						t.Fatalf("SettleAt: %v", err)
					}
				}
			}
		})
	}
}

func TestClockSteppingBackwards(t *testing.T) {
	m := newLimiter(t, perMinute(10), newFakeClock())
	if d := allow(m, "k", 10, time.Minute); !d.Allowed {
		t.Fatalf("Allow(10) at 1m: got rejected, want allowed")
	}

	// The clock jumps an hour back: the limiter acts as if it stood
	// still at 1m, so the key is still empty.
	got := allow(m, "k", 1, -time.Hour)
	if got.Allowed {
		t.Fatalf("Allow(1) after stepping back: got allowed, want rejected")
	}
	if got.RetryAfter != 6*time.Second {
		t.Errorf("RetryAfter after stepping back: got %v, want 6s", got.RetryAfter)
	}
	if got.ResetAfter != time.Minute {
		t.Errorf("ResetAfter after stepping back: got %v, want 1m", got.ResetAfter)
	}

	// Once the clock is past 1m again, refill resumes from there.
	if d := allow(m, "k", 1, time.Minute+6*time.Second-1); d.Allowed {
		t.Errorf("Allow(1) at 1m6s-1ns: got allowed, want rejected")
	}
	if d := allow(m, "k", 1, time.Minute+6*time.Second); !d.Allowed {
		t.Errorf("Allow(1) at 1m6s: got rejected, want allowed")
	}
}

func TestQuerySpendsNothing(t *testing.T) {
	m := newLimiter(t, perMinute(10), newFakeClock())
	allow(m, "k", 4, 0)

	got := allow(m, "k", 0, 0)
	if !got.Allowed || got.Remaining != 6 || got.RetryAfter != 0 {
		t.Errorf("Allow(0): got %+v, want allowed with Remaining 6", got)
	}
	if got.ResetAfter != 24*time.Second {
		t.Errorf("Allow(0) ResetAfter: got %v, want 24s", got.ResetAfter)
	}
	if again := allow(m, "k", 0, 0); again.Remaining != 6 {
		t.Errorf("second Allow(0) Remaining: got %d, want 6", again.Remaining)
	}
	if st := m.Stats()[0]; st.Allowed != 1 || st.Rejected != 0 {
		t.Errorf("Stats: got %+v, want one allowed request", st)
	}
}

func TestNegativeUnits(t *testing.T) {
	clock := newFakeClock()
	m := newLimiter(t, perMinute(10), clock)

	_, err := m.Allow(context.Background(), "k", -1)
	if !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("Allow(-1) error: got %v, want ErrNegativeUnits", err)
	}
	d := m.AllowAt("k", -1, clock.Now())
	if d.Allowed || d.RetryAfter != ratelimit.Never {
		t.Errorf("AllowAt(-1): got %+v, want rejected with Never", d)
	}
	if err := m.SettleAt("k", -1, 0, clock.Now()); !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("SettleAt(-1, 0) error: got %v, want ErrNegativeUnits", err)
	}
	if err := m.Settle(context.Background(), "k", 0, -1); !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("Settle(0, -1) error: got %v, want ErrNegativeUnits", err)
	}
}

func TestSettle(t *testing.T) {
	tokens := ratelimit.Rule{Name: "tokens", Limit: 1000, Window: time.Minute}
	tests := []struct {
		name           string
		reserved, used int64
		wantRemaining  int64
		wantRetryAfter time.Duration // for a following Allow(1)
	}{
		{name: "exact estimate", reserved: 500, used: 500, wantRemaining: 500},
		{name: "refund unused", reserved: 500, used: 200, wantRemaining: 800},
		{name: "refund all", reserved: 500, used: 0, wantRemaining: 1000},
		// 1500 units at 60ms each put the key 90s in the future: 30s past
		// the burst, plus 60ms for the next unit.
		{name: "charge extra past the burst", reserved: 500, used: 1500, wantRemaining: 0, wantRetryAfter: 30*time.Second + 60*time.Millisecond},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newLimiter(t, tokens, newFakeClock())
			if d := allow(m, "k", tt.reserved, 0); !d.Allowed {
				t.Fatalf("Allow(%d): got rejected", tt.reserved)
			}
			if err := m.SettleAt("k", tt.reserved, tt.used, start); err != nil {
				t.Fatalf("SettleAt: %v", err)
			}
			if got := allow(m, "k", 0, 0).Remaining; got != tt.wantRemaining {
				t.Errorf("Remaining after settling: got %d, want %d", got, tt.wantRemaining)
			}
			if got := allow(m, "k", 1, 0).RetryAfter; got != tt.wantRetryAfter {
				t.Errorf("RetryAfter of Allow(1): got %v, want %v", got, tt.wantRetryAfter)
			}
		})
	}
}

func TestSettleRefundStopsAtFullBurst(t *testing.T) {
	m := newLimiter(t, perMinute(10), newFakeClock())
	allow(m, "k", 2, 0)
	for i := 0; i < 3; i++ {
		if err := m.SettleAt("k", 2, 0, start); err != nil {
			t.Fatalf("SettleAt: %v", err)
		}
	}
	if got := allow(m, "k", 0, 0).Remaining; got != 10 {
		t.Errorf("Remaining after refunding three times: got %d, want 10", got)
	}
	if d := allow(m, "k", 11, 0); d.Allowed {
		t.Errorf("Allow(11) after the refunds: got allowed, want rejected")
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len after a full refund: got %d, want 0", n)
	}
}

func TestRemainingCappedAtLimit(t *testing.T) {
	m := newLimiter(t, ratelimit.Rule{Name: "r", Limit: 5, Window: time.Second, Burst: 20}, newFakeClock())
	if got := allow(m, "k", 0, 0).Remaining; got != 5 {
		t.Errorf("Remaining of a fresh key: got %d, want Limit 5", got)
	}
	if d := allow(m, "k", 20, 0); !d.Allowed {
		t.Errorf("Allow(20) with burst 20: got rejected, want allowed")
	}
}

func TestNewMemoryPanicsOnInvalidRule(t *testing.T) {
	rules := []ratelimit.Rule{
		{Name: "zero limit", Window: time.Second},
		{Name: "zero window", Limit: 1},
		{Name: "negative burst", Limit: 1, Window: time.Second, Burst: -1},
		{Name: "finer than a nanosecond", Limit: 11, Window: 10},
	}
	for _, rule := range rules {
		rule := rule
		t.Run(rule.Name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewMemory(%+v) did not panic", rule)
				}
			}()
			ratelimit.NewMemory(rule)
		})
	}
}

func TestMemoryStatsAndRules(t *testing.T) {
	m := newLimiter(t, perMinute(2), newFakeClock())
	allow(m, "a", 1, 0)
	allow(m, "a", 1, 0)
	allow(m, "a", 1, 0)
	allow(m, "b", 5, 0)

	got := m.Stats()
	want := []ratelimit.RuleStats{{Rule: "test", Allowed: 2, Rejected: 2}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("Stats: got %+v, want %+v", got, want)
	}
	if rules := m.Rules(); len(rules) != 1 || rules[0] != perMinute(2) {
		t.Errorf("Rules: got %+v, want [%+v]", rules, perMinute(2))
	}
}
