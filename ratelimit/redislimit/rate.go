package redislimit

import (
	"math/big"
	"math/bits"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

// The script keeps each rule's GCRA state as a theoretical arrival time
// (TAT) in microseconds, the resolution of the Redis TIME command. The
// emission interval T = Window/Limit is a fraction p/q of a microsecond, so a
// TAT is whole microseconds plus frac/q, and no rounding drifts the rate.
//
// Lua numbers are doubles, which hold integers exactly only up to 2^53. So
// every span is capped at maxSpan (2^52 µs, about 142 years), q stays below
// maxDenominator, and the sums the script forms stay below 2^53. Products
// such as n·p exceed 2^53, so Go computes them with math/bits and passes the
// script only sums to form and compare. A TAT is stored as an absolute time,
// and now + maxSpan stays below 2^53 µs for TIME readings before the year
// 2112.

const (
	// maxSpan bounds every span, in microseconds. Longer spans saturate.
	maxSpan = 1 << 52

	// maxDenominator bounds q, so that the sum of two fractions stays
	// below 2^53.
	maxDenominator = 1 << 52

	// coarseDenominator is the q of a rule whose exact q would reach
	// maxDenominator: its T is rounded up to a multiple of 2^-40 µs.
	coarseDenominator = 1 << 40
)

// span is a non-negative duration of us + frac/q microseconds, where q is
// the denominator of the emission interval of the rate that made it, and
// frac < q.
type span struct {
	us   uint64
	frac uint64
}

func (s span) isZero() bool { return s.us == 0 && s.frac == 0 }

// less reports whether s < o.
func (s span) less(o span) bool {
	return s.us < o.us || (s.us == o.us && s.frac < o.frac)
}

// rate is the arithmetic of one rule. It is immutable after newRate.
type rate struct {
	name  string
	limit int64
	burst int64

	// perRequest is set for a rule that counts requests: any positive n
	// costs it one unit.
	perRequest bool

	// p and q are the emission interval T = p/q µs in lowest terms.
	p, q uint64

	// exact is false when T was rounded up because its exact denominator
	// would reach maxDenominator.
	exact bool

	// tau is Burst·T, saturated at maxSpan.
	tau span
}

// newRate returns the arithmetic of rule, which must be valid.
func newRate(rule ratelimit.Rule, perRequest bool) rate {
	r := rate{
		name:       rule.Name,
		limit:      rule.Limit,
		burst:      rule.Burst,
		perRequest: perRequest,
		exact:      true,
	}
	if r.burst == 0 {
		r.burst = rule.Limit
	}

	// T = Window/(1000·Limit) µs. Reduce by gcd(Window, Limit) first, then
	// by what is left of the 1000, so that no product overflows.
	w, l := uint64(rule.Window), uint64(rule.Limit)
	g := gcd(w, l)
	w, l = w/g, l/g
	k := gcd(w, 1000)
	hi, lo := bits.Mul64(l, 1000/k)
	if hi == 0 && lo < maxDenominator {
		r.p, r.q = w/k, lo
	} else {
		r.p, r.q = coarseInterval(rule)
		r.exact = false
	}

	r.tau = r.units(r.burst)
	return r
}

// coarseInterval returns T rounded up to p/q µs with q = coarseDenominator,
// in lowest terms. Rounding up makes the rule admit slightly less, never
// more, than it states: less than 2^-40 µs per unit.
func coarseInterval(rule ratelimit.Rule) (p, q uint64) {
	num := new(big.Int).Lsh(big.NewInt(int64(rule.Window)), 40)
	den := new(big.Int).Mul(big.NewInt(rule.Limit), big.NewInt(1000))
	quo, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if rem.Sign() > 0 {
		quo.Add(quo, big.NewInt(1))
	}
	// The quotient is at most 2^103/2^52: Window < 2^63, and the exact q
	// only reaches 2^52 when 1000·Limit does.
	p, q = quo.Uint64(), coarseDenominator
	g := gcd(p, q)
	return p / g, q / g
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// unitsFor returns the units a request for n units costs the rule.
func (r *rate) unitsFor(n int64) int64 {
	if r.perRequest && n > 0 {
		return 1
	}
	return n
}

// units returns n·T, saturated at maxSpan. n must not be negative.
func (r *rate) units(n int64) span {
	hi, lo := bits.Mul64(uint64(n), r.p)
	if hi >= r.q {
		// The quotient would not fit in 64 bits.
		return span{us: maxSpan}
	}
	quo, rem := bits.Div64(hi, lo, r.q)
	if quo >= maxSpan {
		return span{us: maxSpan}
	}
	return span{us: quo, frac: rem}
}

// add returns a + b, saturated at maxSpan, as the script computes it.
func (r *rate) add(a, b span) span {
	s := span{us: a.us + b.us, frac: a.frac + b.frac}
	if s.frac >= r.q {
		s.frac -= r.q
		s.us++
	}
	if s.us >= maxSpan {
		return span{us: maxSpan}
	}
	return s
}

// sub returns a - b, or the zero span when b >= a.
func (r *rate) sub(a, b span) span {
	if !b.less(a) {
		return span{}
	}
	s := span{us: a.us - b.us}
	if a.frac >= b.frac {
		s.frac = a.frac - b.frac
	} else {
		s.us--
		s.frac = a.frac + r.q - b.frac
	}
	return s
}

// duration returns s rounded up to whole nanoseconds. A span of at most
// maxSpan µs is at most 2^52·1000 ns, which fits in a time.Duration.
func (r *rate) duration(s span) time.Duration {
	ns := s.us * 1000
	if s.frac > 0 {
		// frac < q < 2^52, so frac·1000 fits in 64 bits.
		ns += (s.frac*1000 + r.q - 1) / r.q
	}
	return time.Duration(ns)
}

// unitsIn returns how many whole units refill in s: floor(s / T).
func (r *rate) unitsIn(s span) uint64 {
	hi, lo := bits.Mul64(s.us, r.q)
	lo, carry := bits.Add64(lo, s.frac, 0)
	hi += carry
	if hi >= r.p {
		return 1<<64 - 1
	}
	quo, _ := bits.Div64(hi, lo, r.p)
	return quo
}

// remaining returns the units that could be spent with the key at offset d
// (TAT - now), capped at Limit.
func (r *rate) remaining(d span) int64 {
	if r.tau.less(d) {
		return 0
	}
	u := r.unitsIn(r.sub(r.tau, d))
	if u > uint64(r.limit) {
		return r.limit
	}
	return int64(u)
}

// never reports whether n units can never pass the rule: they are more
// than the burst, or take longer to refill than the tolerance.
func (r *rate) never(n int64) bool {
	return n > r.burst || r.tau.less(r.units(n))
}

// decide returns the rule's decision for n units, already mapped by
// unitsFor, for a key at offset d (TAT - now, the zero span at full burst),
// as the in-memory limiter decides it.
func (r *rate) decide(d span, n int64) ratelimit.Decision {
	dec := ratelimit.Decision{Rule: r.name, Limit: r.limit}

	switch {
	case n == 0:
		// A query: zero units always fit, and nothing is spent.
		dec.Allowed = true
		dec.Remaining = r.remaining(d)
		dec.ResetAfter = r.duration(d)
		return dec

	case r.never(n):
		dec.Remaining = r.remaining(d)
		dec.ResetAfter = r.duration(d)
		dec.RetryAfter = ratelimit.Never
		return dec
	}

	next := r.add(d, r.units(n))
	if r.tau.less(next) {
		// The request passes once next - tau more time has gone by.
		dec.Remaining = r.remaining(d)
		dec.ResetAfter = r.duration(d)
		dec.RetryAfter = r.duration(r.sub(next, r.tau))
		return dec
	}

	dec.Allowed = true
	dec.Remaining = r.remaining(next)
	dec.ResetAfter = r.duration(next)
	return dec
}

// hold returns the decision of a rule that would have admitted a request
// that another rule rejected: allowed, with the state it is still in.
func (r *rate) hold(d span) ratelimit.Decision {
	return ratelimit.Decision{
		Allowed:    true,
		Rule:       r.name,
		Limit:      r.limit,
		Remaining:  r.remaining(d),
		ResetAfter: r.duration(d),
	}
}
