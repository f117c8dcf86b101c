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

	// unit is T as a span, the cost of the most common request, kept to
	// spare a 128-bit division per decision.
	unit span

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
	c.unit = c.product(1)
	c.tau = c.product(c.burst)
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
	if n == 1 {
		return c.unit
	}
	return c.product(n)
}

// product computes units(n) with no shortcut.
func (c *gcra) product(n int64) span {
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

// never reports whether n units can never pass this rule: they are negative
// or more than the burst. No n up to the burst takes longer to refill than
// the tolerance, because units(n) does not decrease as n grows, saturation
// included, and tau is units(burst).
func (c *gcra) never(n int64) bool {
	return n < 0 || n > c.burst
}

// outcome is the result of the GCRA test for one request.
type outcome uint8

const (
	// outcomeQuery is a request for zero units: allowed, nothing spent.
	outcomeQuery outcome = iota
	// outcomeNever is a request that can never pass.
	outcomeNever
	// outcomeRejected is a request that may pass later.
	outcomeRejected
	// outcomeAllowed is a request that spent its units.
	outcomeAllowed
)

// price classifies a request for n units before the key's state is read,
// so that its arithmetic stays out of the shard lock. It returns
// outcomeQuery for n of zero and outcomeNever for n that can never pass,
// which need no state, and otherwise outcomeAllowed with n·T for spend to
// test.
func (c *gcra) price(n int64) (outcome, span) {
	switch {
	case n == 0:
		return outcomeQuery, span{}
	case c.never(n):
		return outcomeNever, span{}
	}
	return outcomeAllowed, c.units(n)
}

// spend applies the GCRA test to a request that costs cost, as price
// returned it, for a key at offset d (TAT - now, the zero span when the key
// is at its full burst). It returns outcomeAllowed or outcomeRejected, and
// next, the offset after spending: the one to store when allowed.
func (c *gcra) spend(d, cost span) (outcome, span) {
	next := c.add(d, cost)
	if c.tau.less(next) {
		return outcomeRejected, next
	}
	return outcomeAllowed, next
}

// decision sets dec to the Decision for the outcome o of a key at offset
// d, and for next as spend returned it. It fills a Decision in place, because
// building one in a local variable and copying it out stalls the processor
// on the copy.
func (c *gcra) decision(o outcome, d, next span, dec *Decision) {
	dec.Rule = c.name
	dec.Limit = c.limit
	switch o {
	case outcomeAllowed:
		dec.Allowed = true
		dec.Remaining = c.remaining(next)
		dec.ResetAfter = next.ceil()
		dec.RetryAfter = 0
		return
	case outcomeQuery:
		// Zero units always fit, and nothing is spent.
		dec.Allowed = true
		dec.RetryAfter = 0
	case outcomeNever:
		dec.Allowed = false
		dec.RetryAfter = Never
	case outcomeRejected:
		// The request passes once next - tau more time has gone by.
		dec.Allowed = false
		dec.RetryAfter = c.sub(next, c.tau).ceil()
	}
	dec.Remaining = c.remaining(d)
	dec.ResetAfter = d.ceil()
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
