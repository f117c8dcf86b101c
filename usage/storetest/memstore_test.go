package storetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/storetest"
)

func openMemory(_ testing.TB, opts storetest.Options) usage.Store {
	memOpts := []usage.MemoryOption{usage.WithStoreClock(opts.Now)}
	if opts.Retention > 0 {
		memOpts = append(memOpts, usage.WithRetention(opts.Retention))
	}
	return usage.NewMemoryStore(memOpts...)
}

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, openMemory)
}

// wideMemoryStore is a usage.WideRollupStore that computes its wide
// rollups from the minute rollups of a MemoryStore, so that the suite's
// checks of wide rollups run without a database.
type wideMemoryStore struct {
	*usage.MemoryStore
	now func() time.Time
}

func (s *wideMemoryStore) RollupWidths() []time.Duration {
	return []time.Duration{15 * time.Minute, time.Hour}
}

func (s *wideMemoryStore) WideRollups(ctx context.Context, w time.Duration, since, until time.Time) ([]usage.Rollup, time.Time, error) {
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

func TestWideMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB, opts storetest.Options) usage.Store {
		return &wideMemoryStore{MemoryStore: openMemory(tb, opts).(*usage.MemoryStore), now: opts.Now}
	})
}

func BenchmarkMemoryStore(b *testing.B) {
	storetest.Benchmark(b, openMemory)
}
