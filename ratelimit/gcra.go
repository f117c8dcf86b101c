package ratelimit

import (
	"math/bits"
	"time"
)

// The generic cell rate algorithm (GCRA) keeps one timestamp per key, the
// theoretical arrival time (TAT): the time at which the key would be back to
// its full burst. A request for n units at time now passes when
//
//	max(TAT, now) + n·T - now <= tau
//
// where T = Window/Limit is the emission interval (the time one unit takes to
// refill) and tau = Burst·T is the tolerance. Passing moves TAT to the left
// side of that test.
//
// T is often not a whole number of nanoseconds (7 units per second is
// 142857142 6/7 ns), and rounding it would let the rate drift by up to a
// nanosecond per request. So every duration here is a span: whole
// nanoseconds plus a fraction frac/q, where T = p/q ns in lowest terms. The
// products n·p and ns·q can exceed 64 bits, so they go through math/bits.

// maxSpan bounds every span, in nanoseconds: 2^62 ns is about 146 years.
// Keeping spans and clock readings within ±2^62 means that a timestamp plus a
// span always fits in an int64.
const maxSpan = 1 << 62

// span is a non-negative duration of ns + frac/q nanoseconds, where q is the
// denominator of the emission interval of the gcra that made it. frac < q.
type span struct {
	ns   uint64
	frac uint64
}

// isZero reports whether the span is empty: the key is at its full burst.
func (s span) isZero() bool { return s.ns == 0 && s.frac == 0 }

// less reports whether s < o.
func (s span) less(o span) bool {
	return s.ns < o.ns || (s.ns == o.ns && s.frac < o.frac)
}

// ceil rounds the span up to whole nanoseconds.
func (s span) ceil() time.Duration {
	if s.frac > 0 {
		return time.Duration(s.ns + 1)
	}
	return time.Duration(s.ns)
}

// gcra is the arithmetic of one Rule. It is immutable after newGCRA.
type gcra struct {
	name  string
	limit int64
	burst int64

	// p and q are the emission interval T = p/q ns in lowest terms.
	p, q uint64

	// tau is Burst·T, saturated at maxSpan.
	tau span
}

func newGCRA(r Rule) gcra {
	w, l := uint64(r.Window), uint64(r.Limit)
	g := gcd(w, l)
	c := gcra{
		name:  r.Name,
		limit: r.Limit,
		burst: r.burst(),
		p:     w / g,
		q:     l / g,
	}
	c.tau = c.units(c.burst)
	return c
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// units returns n·T, saturated at maxSpan. n must not be negative.
func (c *gcra) units(n int64) span {
	hi, lo := bits.Mul64(uint64(n), c.p)
	if hi >= c.q {
		// The quotient would not fit in 64 bits.
		return span{ns: maxSpan}
	}
	quo, rem := bits.Div64(hi, lo, c.q)
	if quo >= maxSpan {
		return span{ns: maxSpan}
	}
	return span{ns: quo, frac: rem}
}

// add returns a + b, saturated at maxSpan.
func (c *gcra) add(a, b span) span {
	s := span{ns: a.ns + b.ns, frac: a.frac + b.frac}
	if s.frac >= c.q {
		s.frac -= c.q
		s.ns++
	}
	if s.ns >= maxSpan {
		return span{ns: maxSpan}
	}
	return s
}

// sub returns a - b, or the zero span when b >= a.
func (c *gcra) sub(a, b span) span {
	if !b.less(a) {
		return span{}
	}
	s := span{ns: a.ns - b.ns}
	if a.frac >= b.frac {
		s.frac = a.frac - b.frac
	} else {
		s.ns--
		s.frac = a.frac + c.q - b.frac
	}
	return s
}

// unitsIn returns how many whole units refill in s: floor(s / T).
func (c *gcra) unitsIn(s span) uint64 {
	hi, lo := bits.Mul64(s.ns, c.q)
	lo, carry := bits.Add64(lo, s.frac, 0)
	hi += carry
	if hi >= c.p {
		return 1<<64 - 1
	}
	quo, _ := bits.Div64(hi, lo, c.p)
	return quo
}

// remaining returns the units that could be spent with the key at offset d
// (TAT - now), capped at Limit.
func (c *gcra) remaining(d span) int64 {
	if c.tau.less(d) {
		return 0
	}
	u := c.unitsIn(c.sub(c.tau, d))
	if u > uint64(c.limit) {
		return c.limit
	}
	return int64(u)
}

// never reports whether n units can never pass this rule: they are negative,
// more than the burst, or take longer to refill than the tolerance.
func (c *gcra) never(n int64) bool {
	return n < 0 || n > c.burst || c.tau.less(c.units(n))
}

// decide applies the GCRA test for n units to a key at offset d (TAT - now,
// the zero span when the key is at its full burst). It returns the decision,
// the offset after it, and whether the key's state must be written: true only
// when n > 0 units were admitted.
func (c *gcra) decide(d span, n int64) (Decision, span, bool) {
	dec := Decision{Rule: c.name, Limit: c.limit}

	switch {
	case n == 0:
		// A query: zero units always fit, and nothing is spent.
		dec.Allowed = true
		dec.Remaining = c.remaining(d)
		dec.ResetAfter = d.ceil()
		return dec, d, false

	case c.never(n):
		dec.Remaining = c.remaining(d)
		dec.ResetAfter = d.ceil()
		dec.RetryAfter = Never
		return dec, d, false
	}

	next := c.add(d, c.units(n))
	if c.tau.less(next) {
		// The request passes once next - tau more time has gone by.
		dec.Remaining = c.remaining(d)
		dec.ResetAfter = d.ceil()
		dec.RetryAfter = c.sub(next, c.tau).ceil()
		return dec, d, false
	}

	dec.Allowed = true
	dec.Remaining = c.remaining(next)
	dec.ResetAfter = next.ceil()
	return dec, next, true
}

// settle corrects the offset d of a key that was charged reserved units and
// turned out to use used units: extra use moves TAT later with no burst
// check, and a refund moves it earlier but never before now. Both counts must
// be non-negative.
func (c *gcra) settle(d span, reserved, used int64) span {
	switch {
	case used > reserved:
		return c.add(d, c.units(used-reserved))
	case used < reserved:
		return c.sub(d, c.units(reserved-used))
	}
	return d
}
