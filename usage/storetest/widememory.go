package storetest

import (
	"context"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// WideMemoryStore is a usage.WideRollupStore that computes its wide
// rollups of 15 minutes and one hour from the minute rollups of a
// MemoryStore on every read. It lets tests run the code paths of wide
// rollups without a database. It is safe for concurrent use, as the
// MemoryStore is.
type WideMemoryStore struct {
	*usage.MemoryStore
	now func() time.Time
}

var _ usage.WideRollupStore = (*WideMemoryStore)(nil)

// NewWideMemoryStore returns a WideMemoryStore over mem. now must be the
// clock that mem reads, so that WideRollups applies the same retention
// cutoff as mem.
func NewWideMemoryStore(mem *usage.MemoryStore, now func() time.Time) *WideMemoryStore {
	return &WideMemoryStore{MemoryStore: mem, now: now}
}

// RollupWidths returns 15 minutes and one hour.
func (s *WideMemoryStore) RollupWidths() []time.Duration {
	return []time.Duration{15 * time.Minute, time.Hour}
}

// WideRollups merges the minute rollups of [from, until) by series and
// start of width w, where from is since or, when later, the first multiple
// of w at or after the retention cutoff.
func (s *WideMemoryStore) WideRollups(ctx context.Context, w time.Duration, since, until time.Time) ([]usage.Rollup, time.Time, error) {
	from := since
	cutoff := s.now().Add(-s.Retention())
	if first := cutoff.Truncate(w); first.Before(cutoff) {
		cutoff = first.Add(w)
	}
	if from.Before(cutoff) {
		from = cutoff
	}
	if !from.Before(until) {
		return nil, until, nil
	}
	minutes, err := s.Rollups(ctx, from, until)
	if err != nil {
		return nil, from, err
	}

	type key struct {
		start  int64
		series usage.Series
	}
	index := make(map[key]int)
	var out []usage.Rollup
	for i := range minutes {
		m := &minutes[i]
		k := key{m.Start.Truncate(w).Unix(), m.Series}
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, usage.Rollup{Start: m.Start.Truncate(w), Width: w, Series: m.Series})
		}
		out[j].Stats.Merge(&m.Stats)
	}
	return out, from, nil
}
