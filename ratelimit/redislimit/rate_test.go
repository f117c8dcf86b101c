package redislimit

import (
	"math/big"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

func TestNewRateInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rule ratelimit.Rule
		p, q uint64
	}{
		{"10 per minute", ratelimit.Rule{Limit: 10, Window: time.Minute}, 6_000_000, 1},
		{"7 per second", ratelimit.Rule{Limit: 7, Window: time.Second}, 1_000_000, 7},
		{"13 per 16.9 s", ratelimit.Rule{Limit: 13, Window: 16900 * time.Millisecond}, 1_300_000, 1},
		{"3 per 100 ms", ratelimit.Rule{Limit: 3, Window: 100 * time.Millisecond}, 100_000, 3},
		{"one per nanosecond", ratelimit.Rule{Limit: 1000, Window: 1000}, 1, 1000},
		{"odd nanoseconds", ratelimit.Rule{Limit: 1_000_003, Window: 1_000_000_007}, 1_000_000_007, 1_000_003_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRate(tt.rule, false)
			if r.p != tt.p || r.q != tt.q || !r.exact {
				t.Errorf("interval: got %d/%d µs (exact %v), want %d/%d exact", r.p, r.q, r.exact, tt.p, tt.q)
			}
		})
	}
}

// TestCoarseIntervalRoundsUp checks a rule whose exact interval needs a
// denominator past 2^52: the interval it uses is at least the exact one
// and less than 2^-40 µs longer.
func TestCoarseIntervalRoundsUp(t *testing.T) {
	t.Parallel()
	rule := ratelimit.Rule{Limit: 9_007_199_254_740_881, Window: 9_007_199_254_740_997}
	r := newRate(rule, false)
	if r.exact {
		t.Fatalf("got an exact interval %d/%d µs, want a rounded one", r.p, r.q)
	}
	if r.q >= maxDenominator {
		t.Errorf("denominator: got %d, want below 2^52", r.q)
	}

	exact := new(big.Rat).SetFrac(big.NewInt(int64(rule.Window)), new(big.Int).Mul(big.NewInt(rule.Limit), big.NewInt(1000)))
	used := new(big.Rat).SetFrac(new(big.Int).SetUint64(r.p), new(big.Int).SetUint64(r.q))
	if used.Cmp(exact) < 0 {
		t.Errorf("interval %v µs is shorter than the exact %v µs", used, exact)
	}
	limit := new(big.Rat).Add(exact, big.NewRat(1, coarseDenominator))
	if used.Cmp(limit) >= 0 {
		t.Errorf("interval %v µs is 2^-40 µs or more longer than the exact %v µs", used, exact)
	}
}

func TestRateSaturates(t *testing.T) {
	t.Parallel()
	// One unit per 200 years: the burst takes longer than maxSpan.
	r := newRate(ratelimit.Rule{Limit: 1, Window: 200 * 365 * 24 * time.Hour}, false)
	if r.tau != (span{us: maxSpan}) {
		t.Errorf("tau: got %+v, want maxSpan", r.tau)
	}
	if got := r.add(r.tau, r.units(1)); got != (span{us: maxSpan}) {
		t.Errorf("add past maxSpan: got %+v, want maxSpan", got)
	}
	d := r.decide(span{}, 1)
	if !d.Allowed || d.ResetAfter != time.Duration(maxSpan)*time.Microsecond {
		t.Errorf("first unit: got %+v, want allowed with ResetAfter of maxSpan", d)
	}
	if d := r.decide(span{}, 2); d.Allowed || d.RetryAfter != ratelimit.Never {
		t.Errorf("two units of burst 1: got %+v, want rejected with RetryAfter Never", d)
	}
}

func TestRateDurationRoundsUp(t *testing.T) {
	t.Parallel()
	r := newRate(ratelimit.Rule{Limit: 7, Window: time.Second}, false)
	tests := []struct {
		s    span
		want time.Duration
	}{
		{span{}, 0},
		{span{us: 1}, time.Microsecond},
		{span{us: 142_857, frac: 1}, 142_857_143},
		{span{us: 0, frac: 6}, 858},
	}
	for _, tt := range tests {
		if got := r.duration(tt.s); got != tt.want {
			t.Errorf("duration(%+v): got %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestRequestRuleUnits(t *testing.T) {
	t.Parallel()
	r := newRate(ratelimit.Rule{Limit: 10, Window: time.Minute}, true)
	for _, tt := range []struct{ n, want int64 }{{0, 0}, {1, 1}, {500, 1}} {
		if got := r.unitsFor(tt.n); got != tt.want {
			t.Errorf("unitsFor(%d): got %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	ms := int64(time.Millisecond)
	b := breaker{threshold: 3, cooldown: 250 * ms}

	for i := range 2 {
		if b.failure(int64(i) * ms) {
			t.Fatalf("failure %d of 3: breaker opened", i+1)
		}
		if !b.allow(int64(i) * ms) {
			t.Fatalf("after failure %d of 3: breaker rejects calls", i+1)
		}
	}
	if !b.failure(10 * ms) {
		t.Fatalf("third failure: breaker stayed closed")
	}
	if b.allow(100 * ms) {
		t.Errorf("during the cool-down: breaker allows a call")
	}

	// After the cool-down one probe goes through, and the next waits.
	if !b.allow(260 * ms) {
		t.Fatalf("after the cool-down: breaker rejects the probe")
	}
	if b.allow(261 * ms) {
		t.Errorf("during the probe: breaker allows a second call")
	}

	// A failed probe keeps the breaker open for another cool-down.
	b.failure(270 * ms)
	if b.allow(400 * ms) {
		t.Errorf("after a failed probe: breaker allows a call before the cool-down")
	}
	if !b.allow(520 * ms) {
		t.Fatalf("after the second cool-down: breaker rejects the probe")
	}
	if !b.success() {
		t.Errorf("successful probe: got no report of closing")
	}
	if !b.allow(521 * ms) {
		t.Errorf("after a successful probe: breaker rejects calls")
	}
	if b.success() {
		t.Errorf("success with the breaker closed: got a report of closing")
	}
}

func TestBreakerDisabled(t *testing.T) {
	t.Parallel()
	var b breaker
	for i := range 10 {
		if b.failure(int64(i)) {
			t.Fatalf("failure %d: disabled breaker opened", i+1)
		}
	}
	if !b.allow(20) {
		t.Errorf("disabled breaker rejects calls")
	}
}
