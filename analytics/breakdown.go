package analytics

import (
	"sort"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// tally sums the counters of a set of rollups, without their histograms,
// so that a breakdown row costs a few words however many rows there are.
type tally struct {
	calls        int64
	errors       int64
	unpriced     int64
	unknownUsage int64
	streamCalls  int64
	tokens       usage.Tokens
	costNanos    int64

	// streamOutput and streamLatency sum the output tokens and latencies
	// of the streamed calls with known usage.
	streamOutput  int64
	streamLatency time.Duration
}

func (t *tally) add(s *usage.Stats) {
	t.calls += s.Calls
	t.errors += s.Errors
	t.unpriced += s.UnpricedCalls
	t.unknownUsage += s.UnknownUsageCalls
	t.streamCalls += s.StreamCalls
	t.tokens = t.tokens.Add(s.Tokens)
	t.costNanos += s.CostNanos
	t.streamOutput += s.StreamOutputTokens
	t.streamLatency += s.StreamLatency
}

func (t *tally) merge(o *tally) {
	t.calls += o.calls
	t.errors += o.errors
	t.unpriced += o.unpriced
	t.unknownUsage += o.unknownUsage
	t.streamCalls += o.streamCalls
	t.tokens = t.tokens.Add(o.tokens)
	t.costNanos += o.costNanos
	t.streamOutput += o.streamOutput
	t.streamLatency += o.streamLatency
}

// streamSpeed returns the output tokens per second of the streamed calls
// with known usage, or nil when their latencies sum to zero.
// NOTE: rollups written before a store kept stream sums hold zero in both,
// so their calls are left out of the figure.
func (t *tally) streamSpeed() *float64 {
	if t.streamLatency <= 0 {
		return nil
	}
	v := float64(t.streamOutput) / t.streamLatency.Seconds()
	return &v
}

func tallyFor[K comparable](m map[K]*tally, k K) *tally {
	t, ok := m[k]
	if !ok {
		t = new(tally)
		m[k] = t
	}
	return t
}

// modelKey names a model of a provider.
type modelKey struct{ provider, model string }

func lessString(a, b string) bool { return a < b }

func lessModel(a, b modelKey) bool {
	if a.provider != b.provider {
		return a.provider < b.provider
	}
	return a.model < b.model
}

// row is one line of a breakdown before conversion. The other row has the
// zero key and other set.
type row[K comparable] struct {
	key   K
	tally *tally
	other OtherRow
}

// rank returns the rows of m ordered by order, then by key with less, so
// every breakdown lists its rows in the same, deterministic order. When m
// has more than top rows, the first top are kept and one last row sums the
// rest.
func rank[K comparable](m map[K]*tally, less func(a, b K) bool, order Sort, top int) []row[K] {
	rows := make([]row[K], 0, len(m))
	for k, t := range m {
		rows = append(rows, row[K]{key: k, tally: t})
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i].tally, rows[j].tally
		first, second := a.costNanos-b.costNanos, a.calls-b.calls
		if order == SortCalls {
			first, second = second, first
		}
		// Counts are never negative, so their differences cannot
		// overflow.
		if first != 0 {
			return first > 0
		}
		if second != 0 {
			return second > 0
		}
		return less(rows[i].key, rows[j].key)
	})
	if len(rows) <= top {
		return rows
	}

	rest := new(tally)
	for _, r := range rows[top:] {
		rest.merge(r.tally)
	}
	other := row[K]{tally: rest, other: OtherRow{Other: true, OtherRows: len(rows) - top}}
	return append(rows[:top], other)
}

// histograms holds the latency and time-to-first-token distributions of
// one breakdown row.
type histograms struct {
	latency usage.Histogram
	ttft    usage.Histogram
}

// rowHistograms merges the histograms of the rollups into the rows of one
// breakdown: each rollup into the row of its key, or into the other row
// when its key was left out. keyOf returns the breakdown's key of a series.
func rowHistograms[K comparable](rollups []*usage.Rollup, rows []row[K], keyOf func(*usage.Series) K) []histograms {
	index := make(map[K]int, len(rows))
	other := -1
	for i, r := range rows {
		if r.other.Other {
			other = i
			continue
		}
		index[r.key] = i
	}

	out := make([]histograms, len(rows))
	for _, r := range rollups {
		i, ok := index[keyOf(&r.Series)]
		if !ok {
			i = other
		}
		if i < 0 {
			// Every key has a row when nothing was left out, so this is
			// unreachable.
			continue
		}
		out[i].latency.Merge(&r.Stats.Latency)
		out[i].ttft.Merge(&r.Stats.TTFT)
	}
	return out
}
