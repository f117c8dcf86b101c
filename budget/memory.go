package budget

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of keys a Memory ledger holds unless
// MemoryConfig.MaxKeys sets another cap.
const DefaultMaxKeys = 1_000_000

// DefaultSlack is how long a ledger keeps a calendar window after it ends
// unless configured otherwise.
const DefaultSlack = time.Hour

const (
	// memShards splits a ledger's keys so that callers on different keys
	// rarely wait for the same mutex.
	memShards = 64

	// evictScan is how many entries an insertion into a full shard
	// examines for one it can drop.
	evictScan = 32
)

// MemoryConfig configures NewMemory. The zero value is ready to use.
type MemoryConfig struct {
	// MaxKeys caps the number of keys held, split evenly over 64 shards.
	// A key whose windows have all ended costs nothing to drop. When a new
	// key arrives at a full shard and the first few entries examined all
	// have live windows, Reserve returns ErrLedgerFull. The default is
	// DefaultMaxKeys.
	MaxKeys int
	// Slack is how long a calendar window is kept after it ends, so that
	// calls reserved near its end settle into it. A settlement that comes
	// later changes nothing. The default is DefaultSlack.
	Slack time.Duration
}

// Memory is a Ledger in the process's memory, for one process.
//
// Keys are spread over 64 shards, each behind its own mutex, so a
// reservation for several budgets of one key is atomic. State is bounded:
// a calendar window is dropped Slack after it ends, a rolling bucket as
// soon as it leaves its window, and a key with nothing left at the next
// insertion into its shard or on Sweep. A key with one budget and one
// window in use takes about 180 bytes (measured with 11-byte keys on
// amd64), and each further window or bucket about 48 more.
//
// Memory is safe for concurrent use. Use NewMemory to make one; the zero
// value is not usable.
type Memory struct {
	slack       int64 // nanoseconds
	maxPerShard int
	seed        maphash.Seed
	shards      [memShards]memShard
}

var _ Ledger = (*Memory)(nil)

type memShard struct {
	mu   sync.Mutex
	keys map[string]*keyState

	// The padding keeps neighbouring shards' mutexes off one cache line.
	_ [48]byte
}

// keyState is one key's state under every budget. Times are Unix
// nanoseconds.
type keyState struct {
	lines []lineState
	// expires is when no window of the key matters any more, so that the
	// key can be dropped.
	expires int64
}

// lineState is one key's state under one budget.
type lineState struct {
	name    string
	rolling bool
	// fired has bit i set when threshold i of a rolling budget fired and
	// the spend has not fallen below it since.
	fired uint32
	// wins are calendar windows or rolling buckets, oldest first.
	wins []winState
}

// winState is one calendar window or rolling bucket.
type winState struct {
	start, end      int64
	spent, reserved int64
	// fired has bit i set when threshold i fired in this calendar window.
	fired uint32
}

// NewMemory returns an empty in-memory ledger. It panics if MaxKeys or
// Slack is negative, which is a programmer mistake.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.MaxKeys < 0 || cfg.Slack < 0 {
		panic(fmt.Sprintf("budget: NewMemory: MaxKeys %d and Slack %v must not be negative", cfg.MaxKeys, cfg.Slack))
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Slack == 0 {
		cfg.Slack = DefaultSlack
	}
	m := &Memory{
		slack:       int64(cfg.Slack),
		maxPerShard: (cfg.MaxKeys + memShards - 1) / memShards,
		seed:        maphash.MakeSeed(),
	}
	for i := range m.shards {
		m.shards[i].keys = make(map[string]*keyState)
	}
	return m
}

func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%memShards]
}

// Reserve implements Ledger. It returns an error when an Amount is
// negative, and ErrLedgerFull when the key is new and its shard is full.
// The context is not used, because Reserve waits only for a shard's
// mutex.
func (m *Memory) Reserve(_ context.Context, key string, now time.Time, holds []Hold) (Admission, error) {
	for i := range holds {
		if holds[i].Amount < 0 {
			return Admission{}, fmt.Errorf("reserve %d under budget %q: amount is negative", holds[i].Amount, holds[i].Budget.Name)
		}
	}
	t := now.UnixNano()
	s := m.shard(key)

	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[key]

	// Check every hold before changing anything.
	remaining := make([]int64, len(holds))
	for i := range holds {
		h := &holds[i]
		ls := ks.line(&h.Budget)
		ls.prune(&h.Budget, h.Span, t, m.slack)
		spent, reserved := ls.sums(&h.Budget, h.Span)
		used := addSat(spent, reserved)
		if !fits(used, h.Amount, h.Budget.Limit) {
			return Admission{
				Denied:  i,
				Status:  NewStatus(h.Budget, key, h.Span, spent, reserved),
				RetryAt: ls.retryAt(&h.Budget, h.Span, used, h.Amount),
			}, nil
		}
		remaining[i] = max(h.Budget.Limit-used-h.Amount, 0)
	}

	// Charge them.
	if ks == nil {
		if !anyAmount(holds) {
			return Admission{OK: true, Remaining: remaining}, nil
		}
		var err error
		if ks, err = m.insert(s, key, t); err != nil {
			return Admission{}, err
		}
	}
	for i := range holds {
		h := &holds[i]
		if h.Amount == 0 {
			continue
		}
		w := ks.lineFor(&h.Budget).window(h.Span, true)
		w.reserved = addSat(w.reserved, h.Amount)
		ks.keepUntil(m.expiry(&h.Budget, w))
	}
	return Admission{OK: true, Remaining: remaining}, nil
}

func anyAmount(holds []Hold) bool {
	for i := range holds {
		if holds[i].Amount > 0 {
			return true
		}
	}
	return false
}

// insert adds an empty state for key, first dropping an expired entry
// when the shard is full. The caller holds s.mu.
func (m *Memory) insert(s *memShard, key string, t int64) (*keyState, error) {
	if len(s.keys) >= m.maxPerShard {
		scanned, dropped := 0, 0
		for k, ks := range s.keys {
			if t >= ks.expires {
				delete(s.keys, k)
				dropped++
			}
			if scanned++; scanned == evictScan {
				break
			}
		}
		if dropped == 0 {
			return nil, fmt.Errorf("reserve for a new key: %w (%d keys per shard)", ErrLedgerFull, m.maxPerShard)
		}
	}
	ks := &keyState{}
	s.keys[key] = ks
	return ks, nil
}

// expiry returns when w stops mattering: Slack after a calendar window
// ends, or when a rolling bucket leaves its window.
func (m *Memory) expiry(b *Budget, w *winState) int64 {
	if b.Window.IsRolling() {
		return w.start + int64(b.Window.Length())
	}
	return w.end + m.slack
}

// Settle implements Ledger. It returns an error when a Reserved or Used
// amount is negative.
func (m *Memory) Settle(_ context.Context, key string, now time.Time, entries []Entry) ([]Alert, error) {
	for i := range entries {
		if entries[i].Reserved < 0 || entries[i].Used < 0 {
			return nil, fmt.Errorf("settle under budget %q: reserved %d and used %d must not be negative",
				entries[i].Budget.Name, entries[i].Reserved, entries[i].Used)
		}
	}
	t := now.UnixNano()
	s := m.shard(key)

	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[key]
	var alerts []Alert
	for i := range entries {
		e := &entries[i]
		cur := e.Span
		if e.Budget.Window.IsRolling() {
			cur = e.Budget.Window.Span(now)
		}
		ls := ks.line(&e.Budget)
		ls.prune(&e.Budget, cur, t, m.slack)
		var w *winState
		if ls != nil && ls.rolling == e.Budget.Window.IsRolling() {
			w = ls.window(e.Span, false)
		}
		if w == nil {
			// Nothing is reserved there: the window was dropped, or the
			// reservation failed open. Charge what was used while the
			// window is still kept.
			if e.Used == 0 || !m.keeps(&e.Budget, e.Span, cur, t) {
				continue
			}
			if ks == nil {
				var err error
				if ks, err = m.insert(s, key, t); err != nil {
					return alerts, err
				}
			}
			ls = ks.lineFor(&e.Budget)
			w = ls.window(e.Span, true)
		}
		w.reserved = max(w.reserved-e.Reserved, 0)
		w.spent = addSat(w.spent, e.Used)
		ks.keepUntil(m.expiry(&e.Budget, w))
		alerts = ls.alerts(alerts, &e.Budget, key, w, cur)
	}
	return alerts, nil
}

// keeps reports whether the ledger still keeps the window or bucket that
// starts span at t, when cur is the budget's span at t.
func (m *Memory) keeps(b *Budget, span, cur Span, t int64) bool {
	if b.Window.IsRolling() {
		return !span.Start.Before(cur.From)
	}
	return span.End.UnixNano()+m.slack > t
}

// Status implements Ledger. It never returns an error.
func (m *Memory) Status(_ context.Context, key string, now time.Time, budgets []Budget) ([]BudgetStatus, error) {
	t := now.UnixNano()
	spans := make([]Span, len(budgets))
	for i := range budgets {
		spans[i] = budgets[i].Window.Span(now)
	}
	out := make([]BudgetStatus, len(budgets))

	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := s.keys[key]
	for i := range budgets {
		b := &budgets[i]
		ls := ks.line(b)
		ls.prune(b, spans[i], t, m.slack)
		spent, reserved := ls.sums(b, spans[i])
		out[i] = NewStatus(*b, key, spans[i], spent, reserved)
	}
	return out, nil
}

// Sweep drops every key whose windows have all ended at now (calendar
// windows Slack after their end) and returns how many it dropped. Memory
// also drops such keys as new ones arrive in a full shard, so Sweep is
// needed only to give memory back after a burst of keys that went quiet.
func (m *Memory) Sweep(now time.Time) int {
	t := now.UnixNano()
	dropped := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, ks := range s.keys {
			if t >= ks.expires {
				delete(s.keys, k)
				dropped++
			}
		}
		s.mu.Unlock()
	}
	return dropped
}

// Len returns the number of keys the ledger holds, including those that
// Sweep would drop.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}

func (ks *keyState) keepUntil(t int64) {
	if t > ks.expires {
		ks.expires = t
	}
}

// line returns the key's state under b, or nil. A nil ks has none.
func (ks *keyState) line(b *Budget) *lineState {
	if ks == nil {
		return nil
	}
	for i := range ks.lines {
		if ks.lines[i].name == b.Name {
			return &ks.lines[i]
		}
	}
	return nil
}

// lineFor returns the key's state under b, adding it when missing. A
// budget whose window changed kind since the state was written starts
// afresh.
func (ks *keyState) lineFor(b *Budget) *lineState {
	ls := ks.line(b)
	if ls == nil {
		ks.lines = append(ks.lines, lineState{name: b.Name, rolling: b.Window.IsRolling()})
		return &ks.lines[len(ks.lines)-1]
	}
	if ls.rolling != b.Window.IsRolling() {
		*ls = lineState{name: b.Name, rolling: b.Window.IsRolling()}
	}
	return ls
}

// prune drops the windows that no longer matter at t: rolling buckets
// older than span.From, and calendar windows that ended more than slack
// ago. A nil ls has nothing to prune.
func (ls *lineState) prune(b *Budget, span Span, t, slack int64) {
	if ls == nil || ls.rolling != b.Window.IsRolling() {
		return
	}
	from := span.From.UnixNano()
	n := 0
	for _, w := range ls.wins {
		keep := w.end+slack > t
		if ls.rolling {
			keep = w.start >= from
		}
		if keep {
			ls.wins[n] = w
			n++
		}
	}
	ls.wins = ls.wins[:n]
}

// sums returns what is spent and reserved in the window of span: the one
// calendar window that starts at span.Start, or every rolling bucket from
// span.From on. A nil ls has nothing.
func (ls *lineState) sums(b *Budget, span Span) (spent, reserved int64) {
	if ls == nil || ls.rolling != b.Window.IsRolling() {
		return 0, 0
	}
	if !ls.rolling {
		if w := ls.window(span, false); w != nil {
			return w.spent, w.reserved
		}
		return 0, 0
	}
	from := span.From.UnixNano()
	for _, w := range ls.wins {
		if w.start >= from {
			spent = addSat(spent, w.spent)
			reserved = addSat(reserved, w.reserved)
		}
	}
	return spent, reserved
}

// window returns the window or bucket that starts at span.Start, adding
// it in order when create is set, or nil.
func (ls *lineState) window(span Span, create bool) *winState {
	start := span.Start.UnixNano()
	i := len(ls.wins)
	for i > 0 && ls.wins[i-1].start >= start {
		i--
		if ls.wins[i].start == start {
			return &ls.wins[i]
		}
	}
	if !create {
		return nil
	}
	ls.wins = append(ls.wins, winState{})
	copy(ls.wins[i+1:], ls.wins[i:])
	ls.wins[i] = winState{start: start, end: span.End.UnixNano()}
	return &ls.wins[i]
}

// retryAt returns when a hold of amount fits, as Admission.RetryAt.
func (ls *lineState) retryAt(b *Budget, span Span, used, amount int64) time.Time {
	var starts []time.Time
	var totals []int64
	if ls != nil && ls.rolling {
		from := span.From.UnixNano()
		for _, w := range ls.wins {
			if w.start >= from {
				starts = append(starts, time.Unix(0, w.start))
				totals = append(totals, addSat(w.spent, w.reserved))
			}
		}
	}
	return retryAt(b, span, used, amount, starts, totals)
}

// alerts appends the alerts of thresholds that the spend after a
// settlement into w reached for the first time, and marks them fired. In
// a rolling window it re-arms the thresholds that the spend has fallen
// below. cur is the budget's span at the settlement.
func (ls *lineState) alerts(dst []Alert, b *Budget, key string, w *winState, cur Span) []Alert {
	if len(b.Thresholds) == 0 {
		return dst
	}
	fired := &w.fired
	level := w.spent
	start, end := time.Unix(0, w.start), time.Unix(0, w.end)
	if ls.rolling {
		fired = &ls.fired
		level, _ = ls.sums(b, cur)
		start, end = cur.From, cur.End
	}
	for i, p := range b.Thresholds {
		bit := uint32(1) << i
		if level < percentOf(b.Limit, p) {
			if ls.rolling {
				*fired &^= bit
			}
			continue
		}
		if *fired&bit != 0 {
			continue
		}
		*fired |= bit
		dst = append(dst, Alert{
			Budget: b.Name, Key: key, Unit: b.Unit, Threshold: p,
			Limit: b.Limit, Spent: level, WindowStart: start, WindowEnd: end,
		})
	}
	return dst
}
