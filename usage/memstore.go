package usage

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryStore is a Store that keeps per-minute rollups and a ring of recent
// records in memory.
//
// Its memory is bounded by the number of series times the minutes of
// retention, whatever the number of calls: a minute's latency histograms
// are compacted once the minute has passed. Callers often control model
// names and keys, so the number of series is capped too (WithMaxSeries):
// past the cap, a new series keeps its endpoint, provider and operation but
// has its model and key replaced by OtherSeries. Rollups older than the
// retention, measured back from the newest record, are dropped. The data
// is lost when the process ends.
//
// A MemoryStore is safe for concurrent use.
type MemoryStore struct {
	retention  time.Duration
	now        func() time.Time
	maxSeries  int
	maxBuckets int

	mu      sync.Mutex
	buckets map[bucketKey]*Stats
	minutes map[int64][]bucketKey // the buckets of each Unix minute, to drop a minute at once
	open    []bucketKey           // buckets whose histograms are still live
	newest  time.Time             // start of the newest minute written
	oldest  time.Time             // start of the oldest minute kept
	series  map[Series]int        // buckets kept per series
	recent  []Record              // ring of the newest records
	next    int                   // ring position of the next record
	filled  bool                  // the ring has wrapped
	closed  bool

	// lastKey and lastStats cache the bucket of the previous record:
	// consecutive records mostly share one, and hashing five strings per
	// record would dominate the cost of a write.
	lastKey   bucketKey
	lastStats *Stats
}

// OtherSeries is the model and key of calls folded together once a store
// holds its maximum number of series.
const OtherSeries = "(other)"

type bucketKey struct {
	start  int64 // Unix minute
	series Series
}

// MemoryOption configures a MemoryStore.
type MemoryOption func(*MemoryStore)

// WithRetention sets how long rollups are kept. The default is 24 hours.
func WithRetention(d time.Duration) MemoryOption {
	return func(s *MemoryStore) {
		if d > 0 {
			s.retention = d
		}
	}
}

// WithMaxSeries sets how many distinct series the store keeps at once.
// The default is 10,000.
func WithMaxSeries(n int) MemoryOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.maxSeries = n
		}
	}
}

// WithMaxBuckets sets how many rollups, one per series and minute, the
// store keeps at most. Past it, the store drops its oldest minute, so the
// history it holds is shorter than the retention while many series are
// busy. A rollup takes about a kilobyte, so the default of 50,000, a day
// of 34 series, bounds the rollups at roughly 50 MiB.
func WithMaxBuckets(n int) MemoryOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.maxBuckets = n
		}
	}
}

// WithRecentRecords sets how many raw records the store keeps for Recent.
// The default is 1,000.
func WithRecentRecords(n int) MemoryOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.recent = make([]Record, n)
		}
	}
}

// WithStoreClock sets the clock that decides which minutes have passed.
// The default is time.Now.
func WithStoreClock(now func() time.Time) MemoryOption {
	return func(s *MemoryStore) { s.now = now }
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	s := &MemoryStore{
		retention:  24 * time.Hour,
		now:        time.Now,
		maxSeries:  10_000,
		maxBuckets: 50_000,
		buckets:    make(map[bucketKey]*Stats),
		minutes:    make(map[int64][]bucketKey),
		series:     make(map[Series]int),
	}
	for _, o := range opts {
		o(s)
	}
	if s.recent == nil {
		s.recent = make([]Record, 1000)
	}
	return s
}

var _ Store = (*MemoryStore)(nil)

// Write adds records to the rollups and the recent ring. A record with a
// zero time, a negative latency or negative token counts is rejected with
// ErrInvalidRecord and nothing of the batch is stored.
func (s *MemoryStore) Write(_ context.Context, records []Record) error {
	for i := range records {
		if err := ValidateRecord(&records[i]); err != nil {
			return err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	now := s.now()
	current := now.Unix() / 60
	for i := range records {
		s.add(&records[i], current)
	}
	s.compact(now)
	return nil
}

// ValidateRecord returns an error wrapping ErrInvalidRecord when no store
// should keep r: a zero time, a negative latency, token count or cost.
// Stores call it on every record of a batch before writing any of them.
func ValidateRecord(r *Record) error {
	switch {
	case r.Time.IsZero():
		return fmt.Errorf("%w: zero time", ErrInvalidRecord)
	case r.Latency < 0 || r.TTFT < 0:
		return fmt.Errorf("%w: negative latency", ErrInvalidRecord)
	case r.Tokens.Input < 0 || r.Tokens.Output < 0 || r.Tokens.CachedInput < 0 || r.Tokens.CacheWrite < 0 || r.Tokens.Reasoning < 0:
		return fmt.Errorf("%w: negative token count", ErrInvalidRecord)
	case r.CostNanos < 0:
		return fmt.Errorf("%w: negative cost", ErrInvalidRecord)
	}
	return nil
}

// add folds one record in; current is the Unix minute of the store's clock.
// s.mu must be held.
func (s *MemoryStore) add(r *Record, current int64) {
	minute := r.Time.Truncate(time.Minute)
	if !s.oldest.IsZero() && minute.Before(s.oldest) {
		// Older than anything kept: it still shows among recent records
		// but no longer in any window.
		s.push(r)
		return
	}
	key := bucketKey{start: minute.Unix() / 60, series: SeriesOf(r)}
	st := s.lastStats
	if st == nil || key != s.lastKey {
		var ok bool
		st, ok = s.buckets[key]
		if !ok {
			key.series = s.admit(key.series)
			if st, ok = s.buckets[key]; !ok {
				st = &Stats{}
				s.buckets[key] = st
				s.minutes[key.start] = append(s.minutes[key.start], key)
				s.series[key.series]++
				s.open = append(s.open, key)
				// The minute being written is never the one dropped.
				if len(s.buckets) > s.maxBuckets && len(s.minutes) > 1 {
					s.dropOldestMinute()
				}
			}
		}
		s.lastKey, s.lastStats = key, st
	}
	st.Add(r)
	if key.start < current {
		// A late record for a minute already compacted: compact it again
		// so the bucket does not keep a live histogram for good.
		st.Latency.Compact()
		st.TTFT.Compact()
	}
	s.push(r)

	if minute.After(s.newest) {
		s.newest = minute
		s.expire()
	}
}

// admit returns the series a new bucket is filed under: sr itself while
// the store holds fewer than its maximum of series, or sr with its model
// and key folded into OtherSeries. s.mu must be held.
func (s *MemoryStore) admit(sr Series) Series {
	if _, ok := s.series[sr]; ok || len(s.series) < s.maxSeries {
		return sr
	}
	sr.Model = OtherSeries
	if sr.Key != "" {
		sr.Key = OtherSeries
	}
	return sr
}

// push puts r in the recent ring. s.mu must be held.
func (s *MemoryStore) push(r *Record) {
	s.recent[s.next] = *r
	s.next++
	if s.next == len(s.recent) {
		s.next, s.filled = 0, true
	}
}

// expire drops the buckets older than the retention before the newest
// minute. s.mu must be held.
func (s *MemoryStore) expire() {
	cut := s.newest.Add(-s.retention)
	if !cut.After(s.oldest) {
		return
	}
	s.oldest = cut
	limit := cut.Unix() / 60
	for minute := range s.minutes {
		if minute < limit {
			s.dropMinute(minute)
		}
	}
}

// dropOldestMinute drops the oldest minute kept, and moves the store's
// oldest time past it so later records for it are not kept either. s.mu
// must be held.
func (s *MemoryStore) dropOldestMinute() {
	oldest := int64(-1)
	for minute := range s.minutes {
		if oldest < 0 || minute < oldest {
			oldest = minute
		}
	}
	if oldest < 0 {
		return
	}
	s.dropMinute(oldest)
	if next := time.Unix((oldest+1)*60, 0); next.After(s.oldest) {
		s.oldest = next
	}
}

// dropMinute deletes every bucket of one Unix minute. s.mu must be held.
func (s *MemoryStore) dropMinute(minute int64) {
	s.lastStats = nil
	for _, k := range s.minutes[minute] {
		delete(s.buckets, k)
		if s.series[k.series]--; s.series[k.series] <= 0 {
			delete(s.series, k.series)
		}
	}
	delete(s.minutes, minute)
}

// compact turns the live histograms of minutes before now's minute into
// their compact form. s.mu must be held.
func (s *MemoryStore) compact(now time.Time) {
	current := now.Unix() / 60
	kept := s.open[:0]
	for _, k := range s.open {
		st, ok := s.buckets[k]
		switch {
		case !ok:
		case k.start < current:
			st.Latency.Compact()
			st.TTFT.Compact()
		default:
			kept = append(kept, k)
		}
	}
	s.open = kept
}

// Rollups returns a copy of every bucket that starts in [since, until).
func (s *MemoryStore) Rollups(_ context.Context, since, until time.Time) ([]Rollup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.compact(s.now())

	out := make([]Rollup, 0, len(s.buckets))
	for k, st := range s.buckets {
		start := time.Unix(k.start*60, 0).UTC()
		if start.Before(since) || !start.Before(until) {
			continue
		}
		out = append(out, Rollup{Start: start, Width: time.Minute, Series: k.series, Stats: st.Clone()})
	}
	return out, nil
}

// Recent returns up to limit of the records written last, the last first.
// A limit of zero or less returns none.
func (s *MemoryStore) Recent(_ context.Context, limit int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	n := s.next
	if s.filled {
		n = len(s.recent)
	}
	if limit > n {
		limit = n
	}
	out := make([]Record, 0, limit)
	for i := 1; i <= limit; i++ {
		out = append(out, s.recent[(s.next-i+len(s.recent))%len(s.recent)])
	}
	return out, nil
}

// Retention returns how long rollups are kept.
func (s *MemoryStore) Retention() time.Duration { return s.retention }

// Close empties the store. Later calls return ErrClosed; calling Close
// again returns nil.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.lastStats = nil
	s.buckets = nil
	s.minutes = nil
	s.series = nil
	s.recent = nil
	s.open = nil
	return nil
}
