package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// All returns a Limiter that admits a request only when every one of
// limiters admits it, and spends n units on each of them.
//
// A rejection by one limiter takes nothing from the others, also under
// concurrent use:
//
//   - *Memory limiters, bare or wrapped by PerRequest, decide together. All
//     locks the key's shard in each of them, in one global order so that two
//     composites never deadlock, checks every rule, and spends only if every
//     rule admits the request.
//   - Any other Limiter decides first, in the order given, before the
//     in-memory ones. When a later rule rejects, the ones that already spent
//     get their units back through Settler with used of zero. A limiter
//     that does not implement Settler keeps what it spent, and between its
//     spend and the refund other callers see less than it really has. The
//     limiters after the first rejection among these are not asked.
//
// The returned Limiter also implements MultiLimiter, Settler, RuleLister and
// StatsReporter. Its Decision is Combine of the rules' decisions. Its Stats
// have one entry per limiter: Allowed counts the requests the composite
// admitted, and Rejected counts the requests that this limiter rejected. The
// limiters keep their own counts as well. In-memory limiters decide at the
// time read from the first one's clock.
//
// A composite passed to All is flattened into its limiters, so All(All(a, b),
// c) behaves like All(a, b, c). The inner composite's Stats do not count the
// requests made through the outer one. All with no limiters admits
// everything. All panics if a limiter is nil.
func All(limiters ...Limiter) Limiter {
	c := &composite{clock: time.Now, seed: maphash.MakeSeed()}
	for _, l := range limiters {
		c.members = c.flatten(l, false, c.members)
	}
	c.stripeLen = (2*len(c.members) + counterLineLen - 1) / counterLineLen * counterLineLen
	c.counts = make([]atomic.Int64, numShards*c.stripeLen)

	// Lock order: each distinct *Memory once, by id.
	for i := range c.members {
		if m := c.members[i].mem; m != nil && !containsMemory(c.mems, m) {
			c.mems = append(c.mems, m)
		}
	}
	sort.Slice(c.mems, func(i, j int) bool { return c.mems[i].id < c.mems[j].id })
	for i := range c.members {
		mb := &c.members[i]
		if mb.mem == nil {
			continue
		}
		for j, m := range c.mems {
			if m == mb.mem {
				mb.lock = j
			}
		}
	}
	if len(c.mems) > 0 {
		c.clock = firstMemory(c.members).clock
		c.setEpochOffsets()
	}
	return c
}

// setEpochOffsets prepares the cheaper clock reading of a composite whose
// in-memory limiters all read time.Now.
func (c *composite) setEpochOffsets() {
	offsets := make([]int64, len(c.mems))
	for j, m := range c.mems {
		if !m.monotonic {
			return
		}
		// Both epochs carry a monotonic reading, so Sub uses it.
		d := int64(c.mems[0].epoch.Sub(m.epoch))
		if d < minClock || d > maxClock {
			return
		}
		offsets[j] = d
	}
	c.epochOffsets = offsets
}

// PerRequest returns a Limiter that spends one unit of l per request,
// whatever n the caller passes: zero for a query (n of zero), and one for any
// positive n. It lets a request-count rule and a token rule share one All,
// where every Allow carries the token estimate. Settle maps its counts the
// same way, so settling a token estimate leaves the request count alone, and
// settling with used of zero refunds the request.
//
// The result implements Settler, RuleLister and StatsReporter by passing the
// calls to l when l implements them. PerRequest panics if l is nil.
func PerRequest(l Limiter) Limiter {
	switch v := l.(type) {
	case nil:
		panic("ratelimit: PerRequest: nil limiter")
	case perRequestLimiter:
		return v
	}
	return perRequestLimiter{l: l}
}

// Combine returns the decision of the most restrictive rule among several
// rules' decisions. When any rule rejected, it is the rejecting decision with
// the longest RetryAfter. Otherwise it is the decision with the least
// Remaining and, among those, the longest ResetAfter. Ties go to the earlier
// decision. Combine of no decisions is an allowed Decision with zero values.
func Combine(decisions []Decision) Decision {
	// The loops index the slice, because ranging over it by value would
	// copy every Decision.
	best := -1
	for i := range decisions {
		if d := &decisions[i]; !d.Allowed && (best < 0 || d.RetryAfter > decisions[best].RetryAfter) {
			best = i
		}
	}
	if best >= 0 {
		return decisions[best]
	}

	if len(decisions) == 0 {
		return Decision{Allowed: true}
	}
	best = 0
	for i := range decisions {
		d, b := &decisions[i], &decisions[best]
		if d.Remaining < b.Remaining || (d.Remaining == b.Remaining && d.ResetAfter > b.ResetAfter) {
			best = i
		}
	}
	return decisions[best]
}

// composite is the Limiter that All returns.
type composite struct {
	members []member

	// mems are the distinct in-memory limiters, sorted by id: the order in
	// which their shard locks are taken.
	mems []*Memory

	clock func() time.Time

	// epochOffsets is set when every limiter in mems reads time.Now. Then
	// epochOffsets[j] is mems[0].epoch.Sub(mems[j].epoch), so one reading of
	// time.Since(mems[0].epoch) gives every limiter the time that
	// now.Sub(epoch) would, without reading the wall clock.
	epochOffsets []int64

	// counts holds numShards stripes of stripeLen counters: for member i,
	// the requests the composite admitted at 2i and those the member
	// rejected at 2i+1. A request counts in the stripe that its key's hash
	// picks, so callers on different keys rarely write the same cache line,
	// and Stats sums the stripes.
	counts    []atomic.Int64
	stripeLen int

	// seed hashes the keys of a composite with no in-memory limiter, to
	// pick their stripe. The others use the first limiter's hash.
	seed maphash.Seed
}

// counterLineLen is the number of counters in a cache line. Each stripe of
// composite.counts fills whole lines.
const counterLineLen = 8

var (
	_ MultiLimiter  = (*composite)(nil)
	_ Settler       = (*composite)(nil)
	_ RuleLister    = (*composite)(nil)
	_ StatsReporter = (*composite)(nil)
)

// member is one limiter inside a composite.
type member struct {
	limiter Limiter

	// mem is set when the limiter is a *Memory, which decides under its
	// shard lock together with the composite's other in-memory limiters.
	mem *Memory

	// lock is the index of mem in composite.mems.
	lock int

	// perRequest is set when the limiter counts requests, not units.
	perRequest bool

	// name labels the member in Stats and errors.
	name string
}

// units returns the units that a request for n units costs this member.
func (mb *member) units(n int64) int64 {
	if mb.perRequest {
		return requestUnits(n)
	}
	return n
}

// flatten appends the members that l stands for to out.
func (c *composite) flatten(l Limiter, perRequest bool, out []member) []member {
	switch v := l.(type) {
	case nil:
		panic("ratelimit: All: nil limiter")
	case *composite:
		for _, mb := range v.members {
			mb.perRequest = mb.perRequest || perRequest
			out = append(out, mb)
		}
		return out
	case perRequestLimiter:
		return c.flatten(v.l, true, out)
	case *Memory:
		return append(out, member{limiter: v, mem: v, perRequest: perRequest, name: v.rule.Name})
	}
	return append(out, member{limiter: l, perRequest: perRequest, name: limiterName(l)})
}

// limiterName returns the names of l's rules joined by "+", or its Go type
// when it does not list them.
func limiterName(l Limiter) string {
	if rl, ok := l.(RuleLister); ok {
		rules := rl.Rules()
		names := make([]string, len(rules))
		for i, r := range rules {
			names[i] = r.Name
		}
		if len(names) > 0 {
			return strings.Join(names, "+")
		}
	}
	return fmt.Sprintf("%T", l)
}

func containsMemory(ms []*Memory, m *Memory) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func firstMemory(members []member) *Memory {
	for i := range members {
		if members[i].mem != nil {
			return members[i].mem
		}
	}
	return nil
}

// memberState is one member's part in a request, beside its Decision.
type memberState struct {
	// checked is set when the member decided.
	checked bool
	// spent is set when a member outside the locked check spent units.
	spent bool
}

// smallComposite is the number of members or in-memory limiters that a
// request handles in arrays on the stack; larger composites allocate.
const smallComposite = 8

// Allow decides for all rules and returns Combine of their decisions.
func (c *composite) Allow(ctx context.Context, key string, n int64) (Decision, error) {
	var (
		decisionBuf [smallComposite]Decision
		stateBuf    [smallComposite]memberState
	)
	ds, states, err := c.decide(ctx, key, n, decisionBuf[:], stateBuf[:])
	if err != nil {
		return Decision{}, err
	}

	// Keep the decisions of the members that decided, in order.
	k := 0
	for i := range ds {
		if states[i].checked {
			if k != i {
				ds[k] = ds[i]
			}
			k++
		}
	}
	return Combine(ds[:k]), nil
}

// AllowRules decides for all rules and appends one Decision per rule that
// decided to dst. It returns an error wrapping ErrNegativeUnits when n < 0,
// and the first error of a limiter outside the locked check, after refunding
// the others.
func (c *composite) AllowRules(ctx context.Context, key string, n int64, dst []Decision) ([]Decision, error) {
	var (
		decisionBuf [smallComposite]Decision
		stateBuf    [smallComposite]memberState
	)
	ds, states, err := c.decide(ctx, key, n, decisionBuf[:], stateBuf[:])
	if err != nil {
		return dst, err
	}
	for i := range ds {
		if states[i].checked {
			dst = append(dst, ds[i])
		}
	}
	return dst, nil
}

// decide decides for all rules and returns one Decision and one state per
// member, in ds and states when they are long enough. It returns the errors
// that AllowRules does.
func (c *composite) decide(ctx context.Context, key string, n int64, ds []Decision, states []memberState) ([]Decision, []memberState, error) {
	if n < 0 {
		return nil, nil, fmt.Errorf("ratelimit: allow %d units: %w", n, ErrNegativeUnits)
	}
	if k := len(c.members); k > len(ds) {
		ds, states = make([]Decision, k), make([]memberState, k)
	}
	ds, states = ds[:len(c.members)], states[:len(c.members)]

	// The limiters that cannot join the locked check spend first, because
	// no lock may be held while they talk to their backends.
	admitted, err := c.allowOthers(ctx, key, n, ds, states)
	if err != nil {
		return nil, nil, err
	}

	// The in-memory limiters decide together. They spend only when every
	// rule, including those above, admits the request.
	var hash uint64
	if len(c.mems) > 0 {
		admitted, hash = c.allowMemories(key, n, ds, states, admitted)
	} else {
		hash = maphash.String(c.seed, key)
	}
	if !admitted {
		c.refundOthers(ctx, key, n, states)
	}

	if n != 0 {
		stripe := c.counts[int(hash>>(64-shardBits))*c.stripeLen:]
		for i := range ds {
			switch {
			case !states[i].checked:
			case admitted:
				stripe[2*i].Add(1)
			case !ds[i].Allowed:
				stripe[2*i+1].Add(1)
			}
		}
	}
	return ds, states, nil
}

// allowOthers calls Allow on the members outside the locked check, in order,
// until one rejects. It reports whether all of them admitted the request.
func (c *composite) allowOthers(ctx context.Context, key string, n int64, ds []Decision, states []memberState) (bool, error) {
	for i := range c.members {
		mb := &c.members[i]
		if mb.mem != nil {
			continue
		}
		d, err := mb.limiter.Allow(ctx, key, mb.units(n))
		if err != nil {
			c.refundOthers(ctx, key, n, states)
			return false, fmt.Errorf("ratelimit: rule %s: %w", mb.name, err)
		}
		ds[i] = d
		states[i] = memberState{checked: true, spent: d.Allowed}
		if !d.Allowed {
			return false, nil
		}
	}
	return true, nil
}

// refundOthers gives back what the members outside the locked check spent.
func (c *composite) refundOthers(ctx context.Context, key string, n int64, states []memberState) {
	for i := range states {
		if !states[i].spent {
			continue
		}
		states[i].spent = false
		mb := &c.members[i]
		if s, ok := mb.limiter.(Settler); ok {
			// NOTE: a failed refund leaves the units spent. Its error is
			// dropped, because the caller gets the rejection or the error
			// that caused the refund.
			_ = s.Settle(ctx, key, mb.units(n), 0)
		}
	}
}

// readClock reads the composite's clock once and stores in times, for each
// limiter in mems, the nanoseconds since its epoch.
func (c *composite) readClock(times []int64) {
	if c.epochOffsets != nil {
		base := clampClock(time.Since(c.mems[0].epoch))
		for j, off := range c.epochOffsets {
			times[j] = clampClock(time.Duration(base + off))
		}
		return
	}
	now := c.clock()
	for j, m := range c.mems {
		times[j] = m.sinceEpoch(now)
	}
}

// allowMemories decides for the in-memory members with all their shard locks
// held, and spends on every one of them only when commit is set and all of
// them admit the request. It reports whether they spent, and returns the
// key's hash in the first in-memory limiter.
func (c *composite) allowMemories(key string, n int64, ds []Decision, states []memberState, commit bool) (bool, uint64) {
	// One entry per distinct limiter, in lock order. A limiter that
	// appears twice decides twice against the same running offset, as two
	// Allow calls in a row would.
	var (
		shardBuf  [smallComposite]*shard
		hashBuf   [smallComposite]uint64
		timeBuf   [smallComposite]int64
		slotBuf   [smallComposite]slot
		offsetBuf [smallComposite]span
		dirtyBuf  [smallComposite]bool
	)
	shards, hashes, times, slots, offsets, dirty := shardBuf[:], hashBuf[:], timeBuf[:], slotBuf[:], offsetBuf[:], dirtyBuf[:]
	if k := len(c.mems); k > smallComposite {
		shards, hashes, times, slots = make([]*shard, k), make([]uint64, k), make([]int64, k), make([]slot, k)
		offsets, dirty = make([]span, k), make([]bool, k)
	}

	c.readClock(times)
	for j, m := range c.mems {
		hashes[j] = m.hash(key)
		s := m.shardOf(hashes[j])
		s.mu.Lock()
		s.flushFront()
		shards[j] = s
		times[j] = s.observe(times[j])
		slots[j] = s.find(key, hashes[j], times[j], m.maxPerShard)
		offsets[j] = slots[j].offset(times[j])
	}
	defer func() {
		for j := len(c.mems) - 1; j >= 0; j-- {
			shards[j].mu.Unlock()
		}
	}()

	admitted := commit
	for i := range c.members {
		mb := &c.members[i]
		if mb.mem == nil {
			continue
		}
		j := mb.lock
		before := offsets[j]
		o, next := mb.mem.gcra.price(mb.units(n))
		if o == outcomeAllowed {
			o, next = mb.mem.gcra.spend(before, next)
		}
		mb.mem.gcra.decision(o, before, next, &ds[i])
		if o == outcomeAllowed {
			offsets[j], dirty[j] = next, true
		}
		states[i] = memberState{checked: true}
		if o != outcomeAllowed && o != outcomeQuery {
			admitted = false
		}
	}

	c.finishMemories(key, n, admitted, shards, hashes, times, slots, offsets, dirty, ds)
	return admitted, hashes[0]
}

// finishMemories writes the new offsets when the request was admitted,
// reports nothing spent when it was not, and counts the decisions in the
// limiters' own shards. The caller holds every shard lock.
func (c *composite) finishMemories(key string, n int64, admitted bool, shards []*shard, hashes []uint64, times []int64, slots []slot, offsets []span, dirty []bool, ds []Decision) {
	if admitted {
		for j := range c.mems {
			if dirty[j] {
				shards[j].store(key, hashes[j], slots[j], offsets[j], times[j])
			}
		}
	}

	for i := range c.members {
		mb := &c.members[i]
		if mb.mem == nil {
			continue
		}
		j, d := mb.lock, &ds[i]
		if !admitted && d.Allowed {
			// The rule would have admitted the request, but nothing was
			// spent, so it reports the state it is still in.
			before := slots[j].offset(times[j])
			d.Remaining = mb.mem.gcra.remaining(before)
			d.ResetAfter = before.ceil()
		}
		if mb.units(n) == 0 {
			continue
		}
		switch {
		case admitted:
			shards[j].allowed++
		case !d.Allowed:
			shards[j].rejected++
		}
		if slots[j].overflow {
			shards[j].overflowed++
		}
	}
}

// Settle settles every member: in-memory ones at the time read from the
// first one's clock, others through Settler. Members that do not implement
// Settler keep what they spent. The error joins the members' errors.
func (c *composite) Settle(ctx context.Context, key string, reserved, used int64) error {
	if reserved < 0 || used < 0 {
		return fmt.Errorf("ratelimit: settle %d reserved, %d used units: %w", reserved, used, ErrNegativeUnits)
	}

	now := c.clock()
	var errs []error
	for i := range c.members {
		mb := &c.members[i]
		r, u := mb.units(reserved), mb.units(used)
		if r == u {
			continue
		}
		var err error
		if mb.mem != nil {
			err = mb.mem.SettleAt(key, r, u, now)
		} else if s, ok := mb.limiter.(Settler); ok {
			err = s.Settle(ctx, key, r, u)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("ratelimit: settle rule %s: %w", mb.name, err))
		}
	}
	return errors.Join(errs...)
}

// Rules returns the rules of every member that lists them, in order.
func (c *composite) Rules() []Rule {
	var rules []Rule
	for i := range c.members {
		if rl, ok := c.members[i].limiter.(RuleLister); ok {
			rules = append(rules, rl.Rules()...)
		}
	}
	return rules
}

// Stats returns one entry per member, named after its rule.
func (c *composite) Stats() []RuleStats {
	stats := make([]RuleStats, len(c.members))
	for i := range c.members {
		stats[i].Rule = c.members[i].name
	}
	for s := 0; s < len(c.counts); s += c.stripeLen {
		for i := range stats {
			stats[i].Allowed += c.counts[s+2*i].Load()
			stats[i].Rejected += c.counts[s+2*i+1].Load()
		}
	}
	return stats
}

// perRequestLimiter is the Limiter that PerRequest returns.
type perRequestLimiter struct {
	l Limiter
}

var (
	_ Settler       = perRequestLimiter{}
	_ RuleLister    = perRequestLimiter{}
	_ StatsReporter = perRequestLimiter{}
)

// requestUnits maps a request for n units to the one unit a request costs.
// A negative n stays negative, so that the limiter reports it.
func requestUnits(n int64) int64 {
	if n > 0 {
		return 1
	}
	return n
}

// Allow spends one unit of the wrapped limiter, or none for a query.
func (p perRequestLimiter) Allow(ctx context.Context, key string, n int64) (Decision, error) {
	return p.l.Allow(ctx, key, requestUnits(n))
}

// Settle maps both counts to requests and settles the difference, if any.
func (p perRequestLimiter) Settle(ctx context.Context, key string, reserved, used int64) error {
	if reserved < 0 || used < 0 {
		return fmt.Errorf("ratelimit: settle %d reserved, %d used units: %w", reserved, used, ErrNegativeUnits)
	}
	r, u := requestUnits(reserved), requestUnits(used)
	if r == u {
		return nil
	}
	s, ok := p.l.(Settler)
	if !ok {
		return ErrSettleUnsupported
	}
	return s.Settle(ctx, key, r, u)
}

// Rules returns the wrapped limiter's rules, or nil.
func (p perRequestLimiter) Rules() []Rule {
	if rl, ok := p.l.(RuleLister); ok {
		return rl.Rules()
	}
	return nil
}

// Stats returns the wrapped limiter's counts, or nil.
func (p perRequestLimiter) Stats() []RuleStats {
	if sr, ok := p.l.(StatsReporter); ok {
		return sr.Stats()
	}
	return nil
}
