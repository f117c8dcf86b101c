package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

// remoteLimiter hides a Memory behind the plain Limiter interface, as a
// limiter backed by a remote store would be, so that All cannot lock it.
type remoteLimiter struct {
	m   *ratelimit.Memory
	err error
}

func (r *remoteLimiter) Allow(ctx context.Context, key string, n int64) (ratelimit.Decision, error) {
	if r.err != nil {
		return ratelimit.Decision{}, r.err
	}
	return r.m.Allow(ctx, key, n)
}

// settlingRemote is a remoteLimiter that can refund.
type settlingRemote struct {
	remoteLimiter
}

func (r *settlingRemote) Settle(ctx context.Context, key string, reserved, used int64) error {
	return r.m.Settle(ctx, key, reserved, used)
}

// remaining returns what key has left in m, without spending.
func remaining(m *ratelimit.Memory, key string, clock *fakeClock) int64 {
	return m.AllowAt(key, 0, clock.Now()).Remaining
}

// wrapFunc turns a Memory into the kind of limiter a test case needs.
type wrapFunc func(*ratelimit.Memory) ratelimit.Limiter

func bare(m *ratelimit.Memory) ratelimit.Limiter { return m }

func remote(m *ratelimit.Memory) ratelimit.Limiter {
	return &settlingRemote{remoteLimiter{m: m}}
}

func TestAllRejectionSpendsNothing(t *testing.T) {
	tests := []struct {
		name        string
		wide, small wrapFunc
	}{
		{name: "both in memory", wide: bare, small: bare},
		{name: "remote then in memory", wide: remote, small: bare},
		{name: "in memory then remote", wide: bare, small: remote},
		{name: "both remote", wide: remote, small: remote},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			wide := newLimiter(t, perMinute(10), clock)
			small := newLimiter(t, perMinute(3), clock)
			all := ratelimit.All(tt.wide(wide), tt.small(small))

			admitted := 0
			for i := 0; i < 6; i++ {
				d, err := all.Allow(context.Background(), "k", 1)
				if err != nil {
					t.Fatalf("Allow: %v", err)
				}
				if d.Allowed {
					admitted++
				}
			}
			if admitted != 3 {
				t.Errorf("admitted: got %d, want 3", admitted)
			}
			if got := remaining(wide, "k", clock); got != 7 {
				t.Errorf("Remaining of the wide rule: got %d, want 7", got)
			}
		})
	}
}

func TestAllConcurrentRejectionSpendsNothing(t *testing.T) {
	tests := []struct {
		name        string
		wide, small wrapFunc
		perRequest  bool
		units       int64
	}{
		{name: "in memory", wide: bare, small: bare, units: 1},
		{name: "remote with refunds", wide: remote, small: bare, units: 1},
		{name: "tokens and requests", wide: bare, small: bare, perRequest: true, units: 3},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			wide := newLimiter(t, perMinute(1000), clock)
			small := newLimiter(t, perMinute(300), clock)
			smallLimiter := tt.small(small)
			if tt.perRequest {
				smallLimiter = ratelimit.PerRequest(smallLimiter)
			}
			all := ratelimit.All(tt.wide(wide), smallLimiter)

			got := hammer(50, func() bool {
				d, err := all.Allow(context.Background(), "hot", tt.units)
				if err != nil {
					t.Errorf("Allow: %v", err)
				}
				return d.Allowed
			})
			// The small rule admits 300 requests, or 300 units when it
			// counts units; the wide one admits 1000 units.
			want := int64(300)
			if !tt.perRequest {
				want /= tt.units
			}
			want = min(want, 1000/tt.units)
			if got != want {
				t.Errorf("admitted: got %d, want %d", got, want)
			}
			if got := remaining(wide, "hot", clock); got != 1000-want*tt.units {
				t.Errorf("Remaining of the wide rule: got %d, want %d", got, 1000-want*tt.units)
			}
		})
	}
}

func TestAllReportsMostRestrictive(t *testing.T) {
	clock := newFakeClock()
	fast := newLimiter(t, ratelimit.Rule{Name: "fast", Limit: 10, Window: 10 * time.Second}, clock)
	slow := newLimiter(t, ratelimit.Rule{Name: "slow", Limit: 12, Window: time.Minute}, clock)
	all := ratelimit.All(fast, slow)
	ctx := context.Background()

	// Allowed: the rule with the least Remaining.
	d, err := all.Allow(ctx, "k", 8)
	if err != nil {
		t.Fatalf("Allow(8): %v", err)
	}
	if !d.Allowed || d.Rule != "fast" || d.Remaining != 2 {
		t.Errorf("Allow(8): got %+v, want allowed by fast with Remaining 2", d)
	}

	// Rejected by both: the rule with the longest RetryAfter. fast needs
	// 4 more units at 1s each, slow needs 2 more at 5s each.
	d, err = all.Allow(ctx, "k", 6)
	if err != nil {
		t.Fatalf("Allow(6): %v", err)
	}
	if d.Allowed || d.Rule != "slow" || d.RetryAfter != 10*time.Second {
		t.Errorf("Allow(6): got %+v, want rejected by slow with RetryAfter 10s", d)
	}
}

func TestAllRulesReportsEachRule(t *testing.T) {
	clock := newFakeClock()
	wide := newLimiter(t, ratelimit.Rule{Name: "wide", Limit: 10, Window: time.Minute}, clock)
	small := newLimiter(t, ratelimit.Rule{Name: "small", Limit: 2, Window: time.Minute}, clock)
	all := ratelimit.All(wide, small).(ratelimit.MultiLimiter)
	ctx := context.Background()

	got, err := all.AllowRules(ctx, "k", 3, nil)
	if err != nil {
		t.Fatalf("AllowRules: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("AllowRules: got %d decisions, want 2", len(got))
	}
	// wide would admit 3 units, but small rejects, so wide reports the
	// 10 units it still has.
	if d := got[0]; d.Rule != "wide" || !d.Allowed || d.Remaining != 10 || d.ResetAfter != 0 {
		t.Errorf("wide: got %+v, want allowed with Remaining 10 and nothing spent", d)
	}
	if d := got[1]; d.Rule != "small" || d.Allowed || d.RetryAfter != ratelimit.Never {
		t.Errorf("small: got %+v, want rejected with Never", d)
	}

	got, err = all.AllowRules(ctx, "k", 2, got[:0])
	if err != nil {
		t.Fatalf("AllowRules: %v", err)
	}
	if got[0].Remaining != 8 || got[1].Remaining != 0 {
		t.Errorf("after Allow(2): got Remaining %d and %d, want 8 and 0", got[0].Remaining, got[1].Remaining)
	}
	if c := ratelimit.Combine(got); c.Rule != "small" {
		t.Errorf("Combine: got rule %q, want small", c.Rule)
	}
}

func TestAllStats(t *testing.T) {
	clock := newFakeClock()
	wide := newLimiter(t, ratelimit.Rule{Name: "wide", Limit: 10, Window: time.Minute}, clock)
	small := newLimiter(t, ratelimit.Rule{Name: "small", Limit: 2, Window: time.Minute}, clock)
	all := ratelimit.All(wide, small)
	ctx := context.Background()

	for i := 0; i < 4; i++ {
		if _, err := all.Allow(ctx, "k", 1); err != nil {
			t.Fatalf("Allow: %v", err)
		}
	}
	if _, err := all.Allow(ctx, "k", 0); err != nil {
		t.Fatalf("Allow(0): %v", err)
	}

	got := all.(ratelimit.StatsReporter).Stats()
	want := []ratelimit.RuleStats{
		{Rule: "wide", Allowed: 2, Rejected: 0},
		{Rule: "small", Allowed: 2, Rejected: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("Stats: got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Stats[%d]: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if st := wide.Stats()[0]; st.Allowed != 2 || st.Rejected != 0 {
		t.Errorf("wide's own Stats: got %+v, want 2 allowed", st)
	}
}

func TestAllSameLimiterTwice(t *testing.T) {
	clock := newFakeClock()
	m := newLimiter(t, perMinute(10), clock)
	all := ratelimit.All(m, m)

	d, err := all.Allow(context.Background(), "k", 4)
	if err != nil {
		t.Fatalf("Allow(4): %v", err)
	}
	if !d.Allowed || d.Remaining != 2 {
		t.Errorf("Allow(4) through the same limiter twice: got %+v, want allowed with Remaining 2", d)
	}
	d, err = all.Allow(context.Background(), "k", 2)
	if err != nil {
		t.Fatalf("Allow(2): %v", err)
	}
	if d.Allowed {
		t.Errorf("Allow(2) with 2 left, spent twice: got allowed, want rejected")
	}
	if got := remaining(m, "k", clock); got != 2 {
		t.Errorf("Remaining after the rejection: got %d, want 2", got)
	}
}

func TestAllFlattensNested(t *testing.T) {
	clock := newFakeClock()
	a := newLimiter(t, ratelimit.Rule{Name: "a", Limit: 10, Window: time.Minute}, clock)
	b := newLimiter(t, ratelimit.Rule{Name: "b", Limit: 5, Window: time.Minute}, clock)
	c := newLimiter(t, ratelimit.Rule{Name: "c", Limit: 1, Window: time.Minute}, clock)
	all := ratelimit.All(ratelimit.All(a, b), c)

	rules := all.(ratelimit.RuleLister).Rules()
	if len(rules) != 3 || rules[0].Name != "a" || rules[1].Name != "b" || rules[2].Name != "c" {
		t.Errorf("Rules: got %+v, want a, b, c", rules)
	}
	ds, err := all.(ratelimit.MultiLimiter).AllowRules(context.Background(), "k", 2, nil)
	if err != nil {
		t.Fatalf("AllowRules: %v", err)
	}
	if len(ds) != 3 || ds[2].Allowed {
		t.Errorf("AllowRules(2): got %+v, want three decisions with c rejecting", ds)
	}
	if got := remaining(a, "k", clock); got != 10 {
		t.Errorf("Remaining of a: got %d, want 10", got)
	}
}

func TestAllLockOrderAvoidsDeadlock(t *testing.T) {
	clock := newFakeClock()
	a := newLimiter(t, perMinute(1_000_000), clock)
	b := newLimiter(t, perMinute(1_000_000), clock)
	ab, ba := ratelimit.All(a, b), ratelimit.All(b, a)

	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		l := ab
		if g%2 == 1 {
			l = ba
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if _, err := l.Allow(context.Background(), "same", 1); err != nil {
					t.Errorf("Allow: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if got := remaining(a, "same", clock); got != 1_000_000-16_000 {
		t.Errorf("Remaining of a: got %d, want %d", got, 1_000_000-16_000)
	}
}

func TestAllLimiterError(t *testing.T) {
	clock := newFakeClock()
	first := newLimiter(t, perMinute(10), clock)
	boom := errors.New("store unreachable")
	failing := &remoteLimiter{m: newLimiter(t, perMinute(10), clock), err: boom}
	all := ratelimit.All(remote(first), failing)

	_, err := all.Allow(context.Background(), "k", 1)
	if !errors.Is(err, boom) {
		t.Fatalf("Allow: got error %v, want %v", err, boom)
	}
	if got := remaining(first, "k", clock); got != 10 {
		t.Errorf("Remaining of the limiter before the failing one: got %d, want 10", got)
	}
	if _, err := all.Allow(context.Background(), "k", -1); !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("Allow(-1): got error %v, want ErrNegativeUnits", err)
	}
}

func TestAllWithoutSettlerKeepsSpend(t *testing.T) {
	clock := newFakeClock()
	wide := newLimiter(t, perMinute(10), clock)
	small := newLimiter(t, perMinute(1), clock)
	all := ratelimit.All(&remoteLimiter{m: wide}, small)

	for i := 0; i < 3; i++ {
		if _, err := all.Allow(context.Background(), "k", 1); err != nil {
			t.Fatalf("Allow: %v", err)
		}
	}
	// The documented limitation: a limiter that cannot refund keeps what
	// it spent on the two rejected requests.
	if got := remaining(wide, "k", clock); got != 7 {
		t.Errorf("Remaining of the limiter without Settle: got %d, want 7", got)
	}
}

func TestAllSettle(t *testing.T) {
	clock := newFakeClock()
	requests := newLimiter(t, ratelimit.Rule{Name: "requests", Limit: 10, Window: time.Minute}, clock)
	tokens := newLimiter(t, ratelimit.Rule{Name: "tokens", Limit: 1000, Window: time.Minute}, clock)
	all := ratelimit.All(ratelimit.PerRequest(requests), tokens)
	ctx := context.Background()

	if d, err := all.Allow(ctx, "k", 400); err != nil || !d.Allowed {
		t.Fatalf("Allow(400): got %+v, %v", d, err)
	}
	if err := all.(ratelimit.Settler).Settle(ctx, "k", 400, 150); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if got := remaining(tokens, "k", clock); got != 850 {
		t.Errorf("tokens Remaining: got %d, want 850", got)
	}
	if got := remaining(requests, "k", clock); got != 9 {
		t.Errorf("requests Remaining: got %d, want 9", got)
	}

	// Settling with zero used refunds the request too.
	if err := all.(ratelimit.Settler).Settle(ctx, "k", 150, 0); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if got := remaining(requests, "k", clock); got != 10 {
		t.Errorf("requests Remaining after a full refund: got %d, want 10", got)
	}
	if err := all.(ratelimit.Settler).Settle(ctx, "k", -1, 0); !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("Settle(-1, 0): got error %v, want ErrNegativeUnits", err)
	}
}

func TestAllEmptyAdmitsEverything(t *testing.T) {
	d, err := ratelimit.All().Allow(context.Background(), "k", 1_000_000)
	if err != nil || !d.Allowed {
		t.Errorf("All().Allow: got %+v, %v, want allowed", d, err)
	}
}

func TestAllPanicsOnNil(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("All(nil) did not panic")
		}
	}()
	ratelimit.All(nil)
}

func TestCombine(t *testing.T) {
	allowed := func(rule string, remaining int64, reset time.Duration) ratelimit.Decision {
		return ratelimit.Decision{Allowed: true, Rule: rule, Remaining: remaining, ResetAfter: reset}
	}
	rejected := func(rule string, retry time.Duration) ratelimit.Decision {
		return ratelimit.Decision{Rule: rule, RetryAfter: retry}
	}
	tests := []struct {
		name      string
		decisions []ratelimit.Decision
		wantRule  string
		wantAllow bool
	}{
		{name: "none", wantAllow: true},
		{name: "least remaining", decisions: []ratelimit.Decision{allowed("a", 5, 0), allowed("b", 2, 0), allowed("c", 9, 0)}, wantRule: "b", wantAllow: true},
		{name: "tie on remaining, longest reset", decisions: []ratelimit.Decision{allowed("a", 2, time.Second), allowed("b", 2, time.Minute)}, wantRule: "b", wantAllow: true},
		{name: "tie goes to the first", decisions: []ratelimit.Decision{allowed("a", 2, time.Second), allowed("b", 2, time.Second)}, wantRule: "a", wantAllow: true},
		{name: "a rejection wins", decisions: []ratelimit.Decision{allowed("a", 0, 0), rejected("b", time.Second)}, wantRule: "b"},
		{name: "longest retry", decisions: []ratelimit.Decision{rejected("a", time.Second), rejected("b", time.Minute), rejected("c", time.Second)}, wantRule: "b"},
		{name: "never is longest", decisions: []ratelimit.Decision{rejected("a", time.Hour), rejected("b", ratelimit.Never)}, wantRule: "b"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			got := ratelimit.Combine(tt.decisions)
			if got.Rule != tt.wantRule || got.Allowed != tt.wantAllow {
				t.Errorf("Combine: got rule %q allowed %v, want rule %q allowed %v", got.Rule, got.Allowed, tt.wantRule, tt.wantAllow)
			}
		})
	}
}

func TestPerRequestCountsRequests(t *testing.T) {
	clock := newFakeClock()
	m := newLimiter(t, perMinute(2), clock)
	l := ratelimit.PerRequest(m)
	ctx := context.Background()

	for i, n := range []int64{500, 0, 7} {
		d, err := l.Allow(ctx, "k", n)
		if err != nil || !d.Allowed {
			t.Fatalf("request %d for %d units: got %+v, %v, want allowed", i, n, d, err)
		}
	}
	if d, _ := l.Allow(ctx, "k", 1); d.Allowed {
		t.Errorf("third request: got allowed, want rejected")
	}
	if _, err := l.Allow(ctx, "k", -1); !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("Allow(-1): got error %v, want ErrNegativeUnits", err)
	}
	if ratelimit.PerRequest(l) != l {
		t.Errorf("PerRequest of PerRequest: got a new wrapper, want the same limiter")
	}
}
