package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the number of keys a Memory limiter tracks unless
// WithMaxKeys sets another cap.
const DefaultMaxKeys = 1_000_000

const (
	// numShards splits a limiter's keys so that callers on different keys
	// rarely wait for the same mutex.
	numShards = 64

	// sweepBatch is how many entries an insertion examines, from a random
	// place in its shard, to drop those that have fully refilled. When keys
	// arrive and go idle at a steady pace, examining k entries per insertion
	// keeps the share of stale entries near 1/k. That is an estimate from
	// the steady state, not a bound.
	sweepBatch = 4

	// evictScan is how many entries an insertion into a full shard examines
	// for a refilled one it can replace.
	evictScan = 32

	// shrinkMin is the smallest map size worth rebuilding. Go maps keep
	// their buckets after deletes, so a map that shrank below a quarter of
	// its peak is copied into a new one to give the memory back.
	shrinkMin = 256

	// minClock and maxClock bound a clock reading, in nanoseconds since the
	// limiter's epoch, so that a reading plus any span fits in an int64.
	minClock = -maxSpan
	maxClock = maxSpan - 1
)

// limiterIDs numbers Memory limiters; All locks their shards in that order.
var limiterIDs atomic.Uint64

// Memory is an in-process Limiter for one Rule, using the generic cell rate
// algorithm (GCRA) with one timestamp per key.
//
// Over any interval of length W, the units a key spends, net of refunds by
// Settle, are at most Burst + Limit·W/Window. The one exception is a key that
// spent in an overflow bucket while the key cap was reached (see
// WithMaxKeys) and later got its own entry. The arithmetic is exact: a fractional emission interval (13 units per 16.9 s,
// 7 per second) does not drift, and very slow rules (1 per ten years) do not
// overflow.
//
// Memory also implements Settler, StatsReporter and RuleLister. Use
// NewMemory to make one; the zero value is not usable.
type Memory struct {
	gcra gcra
	rule Rule

	// id orders this limiter's shard locks among those of other limiters.
	id uint64

	clock func() time.Time

	// epoch is the clock reading at creation. Keys store times as
	// nanoseconds since epoch. When epoch and now both come from time.Now,
	// now.Sub(epoch) uses the monotonic clock and ignores wall-clock steps.
	epoch time.Time

	seed        maphash.Seed
	maxPerShard int
	shards      [numShards]shard
}

type memoryConfig struct {
	now     func() time.Time
	maxKeys int
}

// WithMaxKeys returns an option that caps the number of keys a Memory
// limiter tracks at about n (default DefaultMaxKeys). The cap is split evenly
// over the limiter's 64 shards and rounded up, so it is at least 64. It
// panics if n < 1.
//
// When a new key arrives at a full shard, the limiter drops an entry that has
// fully refilled, which changes no decision. When it finds none among the
// first few it examines, the new key shares the shard's overflow bucket: one
// GCRA state, under the same rule, for every key that does not fit. So a
// flood of new keys cannot push out the state of busy keys, and the flood as
// a whole is limited to one rule's rate per shard.
func WithMaxKeys(n int) MemoryOption {
	if n < 1 {
		panic(fmt.Sprintf("ratelimit: WithMaxKeys(%d): the cap must be at least 1", n))
	}
	return memoryOptionFunc(func(c *memoryConfig) { c.maxKeys = n })
}

// NewMemory returns an in-memory GCRA limiter for rule. Burst defaults to
// Limit.
//
// NewMemory panics if rule.Validate returns an error, because an invalid rule
// is a programmer mistake. A rule whose burst takes more than 2^62 ns (about
// 146 years) to refill is treated as if it took 146 years.
func NewMemory(rule Rule, opts ...MemoryOption) *Memory {
	if err := rule.Validate(); err != nil {
		panic(err)
	}

	cfg := memoryConfig{now: time.Now, maxKeys: DefaultMaxKeys}
	for _, o := range opts {
		o.applyMemory(&cfg)
	}

	m := &Memory{
		gcra:        newGCRA(rule),
		rule:        rule,
		id:          limiterIDs.Add(1),
		clock:       cfg.now,
		seed:        maphash.MakeSeed(),
		maxPerShard: (cfg.maxKeys + numShards - 1) / numShards,
	}
	m.epoch = m.clock()
	for i := range m.shards {
		m.shards[i].states = make(map[string]state)
		m.shards[i].now = minClock
		m.shards[i].overflow = state{tat: minClock}
	}
	return m
}

var (
	_ Limiter       = (*Memory)(nil)
	_ Settler       = (*Memory)(nil)
	_ StatsReporter = (*Memory)(nil)
	_ RuleLister    = (*Memory)(nil)
)

// Rule returns the rule the limiter enforces.
func (m *Memory) Rule() Rule { return m.rule }

// Rules returns the limiter's one rule.
func (m *Memory) Rules() []Rule { return []Rule{m.rule} }

// Allow reads the limiter's clock once and calls AllowAt. It returns an
// error wrapping ErrNegativeUnits when n < 0, and no other error. The
// context is not used, because the decision never waits.
func (m *Memory) Allow(_ context.Context, key string, n int64) (Decision, error) {
	if n < 0 {
		return Decision{}, fmt.Errorf("ratelimit: allow %d units: %w", n, ErrNegativeUnits)
	}
	return m.AllowAt(key, n, m.clock()), nil
}

// AllowAt decides whether key may spend n units at time now, and spends them
// if so.
//
// An n of zero is a query: it is allowed, spends nothing, is not counted in
// Stats, and reports the key's current Remaining and ResetAfter. A rejected
// request spends nothing. An n larger than the burst, or a negative n, is
// rejected with RetryAfter Never.
//
// A clock that steps backwards is treated as standing still at the latest
// time the key's shard has seen, so it never admits more than the rule
// allows.
func (m *Memory) AllowAt(key string, n int64, now time.Time) Decision {
	s := m.shardFor(key)
	t := m.sinceEpoch(now)

	s.mu.Lock()
	t = s.observe(t)
	sl := s.find(key, t, m.maxPerShard)
	d, next, write := m.gcra.decide(sl.offset(t), n)
	if write {
		s.store(key, sl, next, t)
	}
	s.count(d, n, sl.overflow)
	s.mu.Unlock()

	return d
}

// Settle reads the limiter's clock once and calls SettleAt.
func (m *Memory) Settle(_ context.Context, key string, reserved, used int64) error {
	return m.SettleAt(key, reserved, used, m.clock())
}

// SettleAt corrects the units charged to key once the real cost of a request
// is known: reserved is what Allow spent, used is what the request really
// cost.
//
// Unused units are refunded, but the key never gets back more than its full
// burst. Extra units are charged even past the burst, so the key's next
// requests wait until the debt has refilled. Settling changes no counter in
// Stats. It returns an error wrapping ErrNegativeUnits when reserved or used
// is negative.
func (m *Memory) SettleAt(key string, reserved, used int64, now time.Time) error {
	if reserved < 0 || used < 0 {
		return fmt.Errorf("ratelimit: settle %d reserved, %d used units: %w", reserved, used, ErrNegativeUnits)
	}
	if reserved == used {
		return nil
	}

	s := m.shardFor(key)
	t := m.sinceEpoch(now)

	s.mu.Lock()
	t = s.observe(t)
	sl := s.find(key, t, m.maxPerShard)
	s.store(key, sl, m.gcra.settle(sl.offset(t), reserved, used), t)
	s.mu.Unlock()

	return nil
}

// Sweep reads the limiter's clock once and calls SweepAt.
func (m *Memory) Sweep() int {
	return m.SweepAt(m.clock())
}

// SweepAt drops every key that has fully refilled at time now and returns how
// many it dropped. Dropping such a key changes no decision.
//
// Insertions already drop a few refilled keys each, so memory stays bounded
// under steady traffic without a background goroutine that would need
// stopping. A limiter that saw a flood of one-time keys and then went quiet
// keeps their entries until new keys arrive on the same shards. Call Sweep
// from a ticker if that memory matters. SweepAt locks one shard at a time.
func (m *Memory) SweepAt(now time.Time) int {
	t := m.sinceEpoch(now)
	dropped := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		dropped += s.sweep(s.observe(t), -1)
		s.mu.Unlock()
	}
	return dropped
}

// Len returns the number of keys the limiter holds state for, including keys
// that have refilled but were not dropped yet.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.states)
		s.mu.Unlock()
	}
	return n
}

// Stats returns the limiter's counts of allowed and rejected requests.
// Queries (n of zero) are not counted.
func (m *Memory) Stats() []RuleStats {
	st := RuleStats{Rule: m.rule.Name}
	for i := range m.shards {
		st.Allowed += m.shards[i].allowed.Load()
		st.Rejected += m.shards[i].rejected.Load()
	}
	return []RuleStats{st}
}

// Overflowed returns the number of decisions made in an overflow bucket
// because the key cap was reached. A non-zero count means that the cap set by
// WithMaxKeys is too small for the traffic, or that a client is inventing
// keys.
func (m *Memory) Overflowed() int64 {
	var n int64
	for i := range m.shards {
		n += m.shards[i].overflowed.Load()
	}
	return n
}

func (m *Memory) shardFor(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%numShards]
}

// sinceEpoch converts now to nanoseconds since the limiter's epoch, clamped
// to [minClock, maxClock].
func (m *Memory) sinceEpoch(now time.Time) int64 {
	d := int64(now.Sub(m.epoch))
	if d < minClock {
		return minClock
	}
	if d > maxClock {
		return maxClock
	}
	return d
}

// state is one key's TAT: tat nanoseconds since the limiter's epoch plus
// frac/q of a nanosecond.
type state struct {
	tat  int64
	frac uint64
}

// offset returns TAT - t, or the zero span when the key is at its full burst.
// It relies on TAT never being more than maxSpan after the latest time its
// shard has seen.
func (st state) offset(t int64) span {
	if st.tat < t {
		return span{}
	}
	return span{ns: uint64(st.tat - t), frac: st.frac}
}

// slot is the location of one key's state while its shard is locked: an
// entry of the shard's map, a new entry, or the overflow bucket.
type slot struct {
	st state
	// found is set when st came from the shard's map.
	found bool
	// overflow is set when the key shares the shard's overflow bucket.
	overflow bool
}

// offset returns TAT - t for the slot: a key that has no state yet is at its
// full burst.
func (sl slot) offset(t int64) span {
	if !sl.found && !sl.overflow {
		return span{}
	}
	return sl.st.offset(t)
}

// shard is one lock's share of a limiter's keys.
type shard struct {
	mu     sync.Mutex
	states map[string]state

	// overflow is the state shared by new keys while the shard is full.
	overflow state

	// now is the latest clock reading the shard has seen, so that a clock
	// that steps back cannot move a key's state into the past.
	now int64

	// peak is the largest len(states) since the map was last rebuilt.
	peak int

	// The counters change under mu but are read without it.
	allowed, rejected, overflowed atomic.Int64

	// The padding keeps neighbouring shards' mutexes off one cache line.
	_ [64]byte
}

// observe returns t, or the latest time the shard has seen if t is earlier,
// and records it. The caller holds s.mu.
func (s *shard) observe(t int64) int64 {
	if t < s.now {
		return s.now
	}
	s.now = t
	return t
}

// find returns the slot of key at time t. When the key is new and the shard
// holds maxKeys entries, find drops a refilled entry to make room or, if it
// finds none, returns the overflow bucket. The caller holds s.mu.
func (s *shard) find(key string, t int64, maxKeys int) slot {
	if st, ok := s.states[key]; ok {
		return slot{st: st, found: true}
	}
	if len(s.states) < maxKeys || s.sweep(t, evictScan) > 0 {
		return slot{}
	}
	return slot{st: s.overflow, overflow: true}
}

// store writes the offset d, measured at time t, to the slot of key. A new
// key costs a copy of its string, so that the map does not keep alive
// whatever larger buffer the caller's string points into. The caller holds
// s.mu.
func (s *shard) store(key string, sl slot, d span, t int64) {
	st := state{tat: t + int64(d.ns), frac: d.frac}

	switch {
	case sl.overflow:
		s.overflow = st
	case d.isZero():
		// A key back at its full burst needs no entry.
		if sl.found {
			delete(s.states, key)
			s.shrink()
		}
	case sl.found:
		s.states[key] = st
	default:
		s.sweep(t, sweepBatch)
		s.states[strings.Clone(key)] = st
		if len(s.states) > s.peak {
			s.peak = len(s.states)
		}
	}
}

// sweep examines up to limit entries, or all of them when limit < 0, from a
// random place in the map (Go randomizes where iteration starts), drops
// those that have fully refilled at time t, and returns how many it dropped.
// The caller holds s.mu.
func (s *shard) sweep(t int64, limit int) int {
	dropped, seen := 0, 0
	for k, st := range s.states {
		if seen == limit {
			break
		}
		seen++
		if st.offset(t).isZero() {
			delete(s.states, k)
			dropped++
		}
	}
	if dropped > 0 {
		s.shrink()
	}
	return dropped
}

// shrink replaces the map with a smaller copy once it holds less than a
// quarter of its peak. Each rebuild copies fewer entries than were deleted
// since the last one, so the cost per delete stays constant. The caller
// holds s.mu.
func (s *shard) shrink() {
	n := len(s.states)
	if s.peak < shrinkMin || n >= s.peak/4 {
		return
	}
	states := make(map[string]state, n)
	for k, st := range s.states {
		states[k] = st
	}
	s.states = states
	s.peak = n
}

// count adds one decision for n units to the shard's counters. Queries are
// not counted. The caller holds s.mu.
func (s *shard) count(d Decision, n int64, overflow bool) {
	if n == 0 {
		return
	}
	if d.Allowed {
		s.allowed.Add(1)
	} else {
		s.rejected.Add(1)
	}
	if overflow {
		s.overflowed.Add(1)
	}
}
