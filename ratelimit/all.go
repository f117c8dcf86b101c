package ratelimit

import (
	"context"
	"errors"
	"fmt"
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
	c := &composite{clock: time.Now}
	for _, l := range limiters {
		c.members = c.flatten(l, false, c.members)
	}
	c.allowed = make([]atomic.Int64, len(c.members))
	c.rejected = make([]atomic.Int64, len(c.members))

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
	}
	return c
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
	best := -1
	for i, d := range decisions {
		if !d.Allowed && (best < 0 || d.RetryAfter > decisions[best].RetryAfter) {
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
	for i, d := range decisions {
		b := decisions[best]
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

	// allowed and rejected count decisions per member.
	allowed, rejected []atomic.Int64
}

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

// memberResult is one member's part in a request.
type memberResult struct {
	d Decision
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
	var buf [smallComposite]Decision
	ds, err := c.AllowRules(ctx, key, n, buf[:0])
	if err != nil {
		return Decision{}, err
	}
	return Combine(ds), nil
}

// AllowRules decides for all rules and appends one Decision per rule that
// decided to dst. It returns an error wrapping ErrNegativeUnits when n < 0,
// and the first error of a limiter outside the locked check, after refunding
// the others.
func (c *composite) AllowRules(ctx context.Context, key string, n int64, dst []Decision) ([]Decision, error) {
	if n < 0 {
		return dst, fmt.Errorf("ratelimit: allow %d units: %w", n, ErrNegativeUnits)
	}

	var buf [smallComposite]memberResult
	results := buf[:]
	if len(c.members) > len(buf) {
		results = make([]memberResult, len(c.members))
	}
	results = results[:len(c.members)]

	// The limiters that cannot join the locked check spend first, because
	// no lock may be held while they talk to their backends.
	admitted, err := c.allowOthers(ctx, key, n, results)
	if err != nil {
		return dst, err
	}

	// The in-memory limiters decide together. They spend only when every
	// rule, including those above, admits the request.
	if len(c.mems) > 0 {
		admitted = c.allowMemories(key, n, c.clock(), results, admitted)
	}
	if !admitted {
		c.refundOthers(ctx, key, n, results)
	}

	for i := range results {
		r := &results[i]
		if !r.checked {
			continue
		}
		dst = append(dst, r.d)
		switch {
		case n == 0:
		case admitted:
			c.allowed[i].Add(1)
		case !r.d.Allowed:
			c.rejected[i].Add(1)
		}
	}
	return dst, nil
}

// allowOthers calls Allow on the members outside the locked check, in order,
// until one rejects. It reports whether all of them admitted the request.
func (c *composite) allowOthers(ctx context.Context, key string, n int64, results []memberResult) (bool, error) {
	for i := range c.members {
		mb := &c.members[i]
		if mb.mem != nil {
			continue
		}
		d, err := mb.limiter.Allow(ctx, key, mb.units(n))
		if err != nil {
			c.refundOthers(ctx, key, n, results)
			return false, fmt.Errorf("ratelimit: rule %s: %w", mb.name, err)
		}
		results[i] = memberResult{d: d, checked: true, spent: d.Allowed}
		if !d.Allowed {
			return false, nil
		}
	}
	return true, nil
}

// refundOthers gives back what the members outside the locked check spent.
func (c *composite) refundOthers(ctx context.Context, key string, n int64, results []memberResult) {
	for i := range results {
		if !results[i].spent {
			continue
		}
		results[i].spent = false
		mb := &c.members[i]
		if s, ok := mb.limiter.(Settler); ok {
			// NOTE: a failed refund leaves the units spent. Its error is
			// dropped, because the caller gets the rejection or the error
			// that caused the refund.
			_ = s.Settle(ctx, key, mb.units(n), 0)
		}
	}
}

// allowMemories decides for the in-memory members with all their shard locks
// held, and spends on every one of them only when commit is set and all of
// them admit the request. It reports whether they spent.
func (c *composite) allowMemories(key string, n int64, now time.Time, results []memberResult, commit bool) bool {
	// One entry per distinct limiter, in lock order. A limiter that
	// appears twice decides twice against the same running offset, as two
	// Allow calls in a row would.
	var (
		shardBuf  [smallComposite]*shard
		timeBuf   [smallComposite]int64
		slotBuf   [smallComposite]slot
		offsetBuf [smallComposite]span
		dirtyBuf  [smallComposite]bool
	)
	shards, times, slots, offsets, dirty := shardBuf[:], timeBuf[:], slotBuf[:], offsetBuf[:], dirtyBuf[:]
	if k := len(c.mems); k > smallComposite {
		shards, times, slots = make([]*shard, k), make([]int64, k), make([]slot, k)
		offsets, dirty = make([]span, k), make([]bool, k)
	}

	for j, m := range c.mems {
		s := m.shardFor(key)
		s.mu.Lock()
		shards[j] = s
		times[j] = s.observe(m.sinceEpoch(now))
		slots[j] = s.find(key, times[j], m.maxPerShard)
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
		d, next, write := mb.mem.gcra.decide(before, mb.units(n))
		if write {
			offsets[j], dirty[j] = next, true
		}
		results[i] = memberResult{d: d, checked: true}
		if !d.Allowed {
			admitted = false
		}
	}

	c.finishMemories(key, n, admitted, shards, times, slots, offsets, dirty, results)
	return admitted
}

// finishMemories writes the new offsets when the request was admitted,
// reports nothing spent when it was not, and counts the decisions in the
// limiters' own shards. The caller holds every shard lock.
func (c *composite) finishMemories(key string, n int64, admitted bool, shards []*shard, times []int64, slots []slot, offsets []span, dirty []bool, results []memberResult) {
	if admitted {
		for j := range c.mems {
			if dirty[j] {
				shards[j].store(key, slots[j], offsets[j], times[j])
			}
		}
	}

	for i := range c.members {
		mb := &c.members[i]
		if mb.mem == nil {
			continue
		}
		j, r := mb.lock, &results[i]
		if !admitted && r.d.Allowed {
			// The rule would have admitted the request, but nothing was
			// spent, so it reports the state it is still in.
			before := slots[j].offset(times[j])
			r.d.Remaining = mb.mem.gcra.remaining(before)
			r.d.ResetAfter = before.ceil()
		}
		if mb.units(n) == 0 {
			continue
		}
		switch {
		case admitted:
			shards[j].allowed.Add(1)
		case !r.d.Allowed:
			shards[j].rejected.Add(1)
		}
		if slots[j].overflow {
			shards[j].overflowed.Add(1)
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
		stats[i] = RuleStats{
			Rule:     c.members[i].name,
			Allowed:  c.allowed[i].Load(),
			Rejected: c.rejected[i].Load(),
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
