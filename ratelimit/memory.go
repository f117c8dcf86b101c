package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the number of keys a Memory limiter tracks unless
// WithMaxKeys sets another cap.
const DefaultMaxKeys = 1_000_000

const (
	// numShards splits a limiter's keys so that callers on different keys
	// rarely wait for the same mutex. The top shardBits bits of a key's hash
	// pick its shard.
	numShards = 1 << shardBits
	shardBits = 6

	// evictScan is how many entries an insertion into a full shard examines
	// for a refilled one it can replace.
	evictScan = 32

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
// Each tracked key takes a 64-byte entry in a hash table that is at most
// 7/8 full, and 7/16 full right after it doubles, plus the key's bytes when
// it is longer than 36 bytes. The tables hold no pointers, so the garbage
// collector does not scan them, and Allow does not allocate once they have
// grown to the number of keys in use.
//
// Memory also implements Settler, StatsReporter and RuleLister. Use
// NewMemory to make one; the zero value is not usable.
type Memory struct {
	// shards come first: see shard for why their alignment matters.
	shards [numShards]shard

	gcra gcra
	rule Rule

	// id orders this limiter's shard locks among those of other limiters.
	id uint64

	clock func() time.Time

	// monotonic is set when clock is time.Now. Allow then reads
	// time.Since(epoch), which is the same duration as
	// time.Now().Sub(epoch) but reads only the monotonic clock, not the
	// wall clock as well.
	monotonic bool

	// epoch is the clock reading at creation. Keys store times as
	// nanoseconds since epoch. When epoch and now both come from time.Now,
	// now.Sub(epoch) uses the monotonic clock and ignores wall-clock steps.
	epoch time.Time

	seed        maphash.Seed
	maxPerShard int
}

type memoryConfig struct {
	// now is the clock set by WithClock, or nil for time.Now.
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

	cfg := memoryConfig{maxKeys: DefaultMaxKeys}
	for _, o := range opts {
		o.applyMemory(&cfg)
	}

	m := &Memory{
		gcra:        newGCRA(rule),
		rule:        rule,
		id:          limiterIDs.Add(1),
		clock:       cfg.now,
		monotonic:   cfg.now == nil,
		seed:        maphash.MakeSeed(),
		maxPerShard: (cfg.maxKeys + numShards - 1) / numShards,
	}
	if m.monotonic {
		m.clock = time.Now
	}
	m.epoch = m.clock()
	for i := range m.shards {
		m.shards[i].keys.maxArena = defaultMaxArena
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

// Allow reads the limiter's clock once and decides as AllowAt does. It
// returns an error wrapping ErrNegativeUnits when n < 0, and no other
// error. The context is not used, because the decision never waits.
func (m *Memory) Allow(_ context.Context, key string, n int64) (d Decision, err error) {
	if n < 0 {
		return Decision{}, fmt.Errorf("ratelimit: allow %d units: %w", n, ErrNegativeUnits)
	}
	// d is filled in place and returned as it is, because copying a
	// Decision that was just written field by field stalls the processor.
	m.allowAt(key, n, m.elapsed(), &d)
	return d, nil
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
func (m *Memory) AllowAt(key string, n int64, now time.Time) (d Decision) {
	m.allowAt(key, n, m.sinceEpoch(now), &d)
	return d
}

// allowAt implements AllowAt at t nanoseconds since the epoch, and sets dec
// to the decision.
func (m *Memory) allowAt(key string, n int64, t int64, dec *Decision) {
	// Everything that needs no state is done before the shard lock is
	// taken, and the decision is built after it is released, because other
	// callers on the shard wait for the locked section.
	h := m.hash(key)
	s := m.shardOf(h)
	h32 := hash32(h)
	o, cost := m.gcra.price(n)
	var d, next span

	s.mu.Lock()
	t = s.observe(t)
	if i, ok := s.keys.lookup32(key, h32); ok {
		// A key with state, the common case, is updated in the front.
		s.toFront(i)
		d = s.front.offset(t)
		if o == outcomeAllowed {
			o, next = m.gcra.spend(d, cost)
			if o == outcomeAllowed {
				s.front = state{tat: t + int64(next.ns), frac: next.frac}
			}
		}
		s.count(o, false)
	} else {
		s.flushFront()
		sl := s.vacancy(key, t, m.maxPerShard)
		d = sl.offset(t)
		if o == outcomeAllowed {
			o, next = m.gcra.spend(d, cost)
			if o == outcomeAllowed {
				s.store(key, h, sl, next, t)
			}
		}
		s.count(o, sl.overflow)
	}
	s.mu.Unlock()

	m.gcra.decision(o, d, next, dec)
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

	h := m.hash(key)
	s := m.shardOf(h)
	t := m.sinceEpoch(now)

	s.mu.Lock()
	t = s.observe(t)
	s.flushFront()
	sl := s.find(key, h, t, m.maxPerShard)
	s.store(key, h, sl, m.gcra.settle(sl.offset(t), reserved, used), t)
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
// An insertion into a shard that is three quarters full drops that shard's
// refilled keys first, so memory stays bounded under steady traffic without
// a background goroutine that would need stopping. A limiter that saw a
// flood of one-time keys and then went quiet keeps their entries until new
// keys arrive on the same shards. Call Sweep from a ticker if that memory
// matters: a shard left empty releases its memory. SweepAt locks one shard
// at a time.
func (m *Memory) SweepAt(now time.Time) int {
	t := m.sinceEpoch(now)
	dropped := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.flushFront()
		dropped += s.keys.sweep(s.observe(t), -1)
		if s.keys.count == 0 {
			s.keys.release()
		} else {
			s.keys.resize()
		}
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
		n += s.keys.count
		s.mu.Unlock()
	}
	return n
}

// Stats returns the limiter's counts of allowed and rejected requests.
// Queries (n of zero) are not counted.
func (m *Memory) Stats() []RuleStats {
	st := RuleStats{Rule: m.rule.Name}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		st.Allowed += s.allowed
		st.Rejected += s.rejected
		s.mu.Unlock()
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
		s := &m.shards[i]
		s.mu.Lock()
		n += s.overflowed
		s.mu.Unlock()
	}
	return n
}

// hash returns the hash of key. Its top shardBits bits pick the shard, and
// the bits below them the key's slot in the shard's table.
func (m *Memory) hash(key string) uint64 {
	return maphash.String(m.seed, key)
}

func (m *Memory) shardOf(hash uint64) *shard {
	return &m.shards[hash>>(64-shardBits)]
}

// elapsed reads the limiter's clock and returns the nanoseconds since its
// epoch, clamped to [minClock, maxClock].
func (m *Memory) elapsed() int64 {
	if m.monotonic {
		return clampClock(time.Since(m.epoch))
	}
	return m.sinceEpoch(m.clock())
}

// sinceEpoch converts now to nanoseconds since the limiter's epoch, clamped
// to [minClock, maxClock].
func (m *Memory) sinceEpoch(now time.Time) int64 {
	return clampClock(now.Sub(m.epoch))
}

func clampClock(d time.Duration) int64 {
	return min(max(int64(d), minClock), maxClock)
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

// refilled reports whether the key is back at its full burst at time t, so
// that its state can be dropped.
func (st state) refilled(t int64) bool {
	return st.tat < t || (st.tat == t && st.frac == 0)
}

// slot is the location of one key's state while its shard is locked: an
// entry of the shard's table, a new entry, or the overflow bucket.
type slot struct {
	st state
	// index is the key's slot in the shard's table when found is set.
	index int
	// found is set when st came from the shard's table.
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

// shard is one lock's share of a limiter's keys. Every field is guarded by
// mu.
//
// The fields that a request for the key in front writes end within the
// first 56 bytes. They then share a cache line with the mutex when the
// shard starts at a line boundary or 8 bytes past one, so a contended key
// moves one line between processors, not two. Go 1.26 puts a Memory 8
// bytes past a boundary, after the header it gives large objects with
// pointers.
type shard struct {
	mu sync.Mutex

	// now is the latest clock reading the shard has seen, so that a clock
	// that steps back cannot move a key's state into the past.
	now int64

	// allowed, rejected and overflowed count decisions. They are plain
	// integers under mu, which every decision holds anyway, so counting
	// costs no atomic instruction.
	allowed int64

	// front is the state of the key in slot frontSlot-1 of keys, and is
	// newer than that entry's own. frontSlot is zero when no key is in
	// front. The last key that AllowAt found in the table stays in front,
	// so a key that callers on several processors hammer is written only
	// in the mutex's cache line, and the line of its entry stays in all
	// their caches. Every other use of the table calls flushFront first.
	frontSlot int
	front     state

	keys keyTable

	rejected, overflowed int64

	// overflow is the state shared by new keys while the shard is full.
	overflow state

	// The padding makes a shard 256 bytes, a whole number of cache lines,
	// and keeps the end of one shard at least a line away from the mutex
	// of the next.
	_ [72]byte
}

// toFront puts the key in slot i in front, after writing the state of the
// key that was there back to its entry. The caller holds s.mu.
func (s *shard) toFront(i int) {
	if s.frontSlot == i+1 {
		return
	}
	s.flushFront()
	s.front = s.keys.slots[i].st
	s.frontSlot = i + 1
}

// flushFront writes the state in front back to its entry, so that the
// table can be read, changed or rearranged. The caller holds s.mu.
func (s *shard) flushFront() {
	if s.frontSlot != 0 {
		s.keys.slots[s.frontSlot-1].st = s.front
		s.frontSlot = 0
	}
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

// find returns the slot of key, whose hash is hash, at time t. When the key is
// new and the shard holds maxKeys entries, find drops a refilled entry to
// make room or, if it finds none, returns the overflow bucket. A key too
// long for the shard's arena shares the overflow bucket too. The caller
// holds s.mu.
func (s *shard) find(key string, hash uint64, t int64, maxKeys int) slot {
	if i, ok := s.keys.lookup(key, hash); ok {
		return slot{st: s.keys.slots[i].st, index: i, found: true}
	}
	return s.vacancy(key, t, maxKeys)
}

// vacancy returns the slot for key, which the shard does not hold, as find
// does. The caller holds s.mu.
func (s *shard) vacancy(key string, t int64, maxKeys int) slot {
	if (s.keys.count < maxKeys || s.keys.sweep(t, evictScan) > 0) && s.keys.fits(key) {
		return slot{}
	}
	return slot{st: s.overflow, overflow: true}
}

// store writes the offset d, measured at time t, to the slot of key. The
// caller holds s.mu and has not changed the shard since find returned sl.
func (s *shard) store(key string, hash uint64, sl slot, d span, t int64) {
	st := state{tat: t + int64(d.ns), frac: d.frac}

	switch {
	case sl.overflow:
		s.overflow = st
	case d.isZero():
		// A key back at its full burst needs no entry.
		if sl.found {
			s.keys.deleteAt(sl.index)
		}
	case sl.found:
		s.keys.slots[sl.index].st = st
	default:
		s.keys.insert(key, hash, st, t)
	}
}

// count adds one decision with outcome o to the shard's counters. Queries
// are not counted. The caller holds s.mu.
func (s *shard) count(o outcome, overflow bool) {
	switch o {
	case outcomeQuery:
		return
	case outcomeAllowed:
		s.allowed++
	default:
		s.rejected++
	}
	if overflow {
		s.overflowed++
	}
}
