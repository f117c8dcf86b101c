package pgstore

import (
	"fmt"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// storedRollup is a rollup row as the lock statement of
// rollupStatements returns it.
type storedRollup struct {
	minute                                         time.Time
	hash                                           []byte
	calls, errors, unpriced, unknownUsage, streams int64
	errorsByCategory                               []byte // JSON object
	tokens                                         usage.Tokens
	costNanos                                      int64
	latencySum, latencyMax                         int64
	latencyBins                                    []int64 // written by version 1 of the schema
	latencyHist                                    []byte
	ttftSum, ttftMax                               int64
	ttftBins                                       []int64
	ttftHist                                       []byte
	streamOutput, streamLatency                    int64
}

// rollupUpdate holds the arguments of the update statement of
// rollupStatements, one slice per column.
type rollupUpdate struct {
	minutes                                                      []time.Time
	hashes                                                       [][]byte
	calls, errors                                                []int64
	errorsByCategory                                             []string
	unpriced, unknownUsage, streams                              []int64
	input, cachedInput, cacheWrite, output, reasoning, costNanos []int64
	latencySum, latencyMax, ttftSum, ttftMax                     []int64
	latencyHist, ttftHist                                        [][]byte
	streamOutput, streamLatency                                  []int64
}

func (u *rollupUpdate) args() []any {
	return []any{
		u.minutes, u.hashes,
		u.calls, u.errors, u.errorsByCategory, u.unpriced, u.unknownUsage, u.streams,
		u.input, u.cachedInput, u.cacheWrite, u.output, u.reasoning, u.costNanos,
		u.latencySum, u.latencyMax, u.latencyHist, u.ttftSum, u.ttftMax, u.ttftHist,
		u.streamOutput, u.streamLatency,
	}
}

// mergeRollups adds each delta to its stored row and returns the merged
// rows. Every count and sum is added and every maximum kept, so the merge
// is exact in any order. A delta whose row is missing is left out: only a
// prune, which deletes rows past the retention, removes a row between its
// creation and its lock.
func mergeRollups(deltas []rollupDelta, stored []storedRollup) (*rollupUpdate, error) {
	type key struct {
		minute int64
		hash   string
	}
	byKey := make(map[key]*storedRollup, len(stored))
	for i := range stored {
		byKey[key{stored[i].minute.Unix(), string(stored[i].hash)}] = &stored[i]
	}

	u := &rollupUpdate{}
	for i := range deltas {
		d := &deltas[i]
		r, ok := byKey[key{d.minute.Unix(), string(d.hash)}]
		if !ok {
			continue
		}
		if err := u.add(r, &d.stats); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// add appends the merge of the stored row r and the delta st.
func (u *rollupUpdate) add(r *storedRollup, st *usage.Stats) error {
	counts, err := mergeCounts(r.errorsByCategory, st.ErrorsByCategory)
	if err != nil {
		return err
	}
	u.minutes = append(u.minutes, r.minute)
	u.hashes = append(u.hashes, r.hash)
	u.calls = append(u.calls, r.calls+st.Calls)
	u.errors = append(u.errors, r.errors+st.Errors)
	u.errorsByCategory = append(u.errorsByCategory, counts)
	u.unpriced = append(u.unpriced, r.unpriced+st.UnpricedCalls)
	u.unknownUsage = append(u.unknownUsage, r.unknownUsage+st.UnknownUsageCalls)
	u.streams = append(u.streams, r.streams+st.StreamCalls)
	tokens := r.tokens.Add(st.Tokens)
	u.input = append(u.input, tokens.Input)
	u.cachedInput = append(u.cachedInput, tokens.CachedInput)
	u.cacheWrite = append(u.cacheWrite, tokens.CacheWrite)
	u.output = append(u.output, tokens.Output)
	u.reasoning = append(u.reasoning, tokens.Reasoning)
	u.costNanos = append(u.costNanos, r.costNanos+st.CostNanos)
	u.latencySum = append(u.latencySum, r.latencySum+int64(st.Latency.Sum()))
	u.latencyMax = append(u.latencyMax, max(r.latencyMax, int64(st.Latency.Max())))
	u.ttftSum = append(u.ttftSum, r.ttftSum+int64(st.TTFT.Sum()))
	u.ttftMax = append(u.ttftMax, max(r.ttftMax, int64(st.TTFT.Max())))
	u.streamOutput = append(u.streamOutput, r.streamOutput+st.StreamOutputTokens)
	u.streamLatency = append(u.streamLatency, r.streamLatency+int64(st.StreamLatency))

	latency, err := mergeHistogram(r.latencyBins, r.latencyHist, st.Latency.Bins())
	if err != nil {
		return fmt.Errorf("latency histogram: %w", err)
	}
	ttft, err := mergeHistogram(r.ttftBins, r.ttftHist, st.TTFT.Bins())
	if err != nil {
		return fmt.Errorf("ttft histogram: %w", err)
	}
	u.latencyHist, u.ttftHist = append(u.latencyHist, latency), append(u.ttftHist, ttft)
	return nil
}

// mergeCounts adds the error counts of a batch to a stored JSON object of
// counts and returns the sum as JSON.
func mergeCounts(stored []byte, add map[errmon.Category]int64) (string, error) {
	if len(add) == 0 {
		return string(stored), nil
	}
	m, err := decodeCounts(stored)
	if err != nil {
		return "", err
	}
	if m == nil {
		m = make(map[errmon.Category]int64, len(add))
	}
	for c, n := range add {
		m[c] += n
	}
	b, err := encodeCounts(m)
	return string(b), err
}

// mergeHistogram returns the encoding of a stored histogram, given as the
// pairs of version 1 and the encoding of version 2, merged with bins.
func mergeHistogram(pairs []int64, encoded []byte, bins []usage.Bin) ([]byte, error) {
	stored, err := storedBins(pairs, encoded)
	if err != nil {
		return nil, err
	}
	return usage.EncodeBins(usage.MergeBins(stored, bins)), nil
}

// storedBins returns the buckets of a stored histogram in increasing order
// of value: those of its encoding and of its pairs added up.
func storedBins(pairs []int64, encoded []byte) ([]usage.Bin, error) {
	bins, err := decodeBins(encoded)
	if err != nil || len(pairs) == 0 {
		return bins, err
	}
	old, err := unflattenBins(pairs)
	if err != nil {
		return nil, err
	}
	if len(bins) == 0 && increasing(old) {
		return old, nil
	}
	// Pairs that aimeter_merge_bins of version 1 left out of order, or
	// both forms at once, are put in order by rebuilding the histogram.
	h := usage.HistogramFromBins(append(bins, old...), 0, 0)
	return h.Bins(), nil
}

// increasing reports whether the buckets are in strictly increasing order
// of value.
func increasing(bins []usage.Bin) bool {
	for i := 1; i < len(bins); i++ {
		if bins[i].Micros <= bins[i-1].Micros {
			return false
		}
	}
	return true
}
