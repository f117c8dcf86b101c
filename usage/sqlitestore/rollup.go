package sqlitestore

import (
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// bucketKey names one row of the rollups table.
type bucketKey struct {
	minute int64 // Unix seconds of the minute's start
	series usage.Series
}

// histogramData is a histogram as the rollups table keeps it.
type histogramData struct {
	bins []usage.Bin
	sum  time.Duration
	max  time.Duration
}

func histogramDataOf(h *usage.Histogram) histogramData {
	return histogramData{bins: h.Bins(), sum: h.Sum(), max: h.Max()}
}

func (h *histogramData) merge(o *histogramData) {
	h.bins = usage.MergeBins(h.bins, o.bins)
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

func (h *histogramData) histogram() usage.Histogram {
	return usage.HistogramFromBins(h.bins, h.sum, h.max)
}

// rollupRow is one row of the rollups table without its key. Merging two
// rows adds every count and sum and keeps the larger maximum, so it is
// exact in any order.
type rollupRow struct {
	calls, errors, unpriced, unknownUsage, streams int64
	errorsByCategory                               map[errmon.Category]int64
	tokens                                         usage.Tokens
	costNanos                                      int64
	latency, ttft                                  histogramData
	streamOutput                                   int64
	streamLatency                                  time.Duration
}

func rowOf(s *usage.Stats) rollupRow {
	return rollupRow{
		calls:            s.Calls,
		errors:           s.Errors,
		unpriced:         s.UnpricedCalls,
		unknownUsage:     s.UnknownUsageCalls,
		streams:          s.StreamCalls,
		errorsByCategory: s.ErrorsByCategory,
		tokens:           s.Tokens,
		costNanos:        s.CostNanos,
		latency:          histogramDataOf(&s.Latency),
		ttft:             histogramDataOf(&s.TTFT),
		streamOutput:     s.StreamOutputTokens,
		streamLatency:    s.StreamLatency,
	}
}

func (r *rollupRow) merge(o *rollupRow) {
	r.calls += o.calls
	r.errors += o.errors
	r.unpriced += o.unpriced
	r.unknownUsage += o.unknownUsage
	r.streams += o.streams
	if len(o.errorsByCategory) > 0 {
		merged := make(map[errmon.Category]int64, len(r.errorsByCategory)+len(o.errorsByCategory))
		for c, n := range r.errorsByCategory {
			merged[c] += n
		}
		for c, n := range o.errorsByCategory {
			merged[c] += n
		}
		r.errorsByCategory = merged
	}
	r.tokens = r.tokens.Add(o.tokens)
	r.costNanos += o.costNanos
	r.latency.merge(&o.latency)
	r.ttft.merge(&o.ttft)
	r.streamOutput += o.streamOutput
	r.streamLatency += o.streamLatency
}

func (r *rollupRow) stats() usage.Stats {
	return usage.Stats{
		Calls:              r.calls,
		Errors:             r.errors,
		ErrorsByCategory:   r.errorsByCategory,
		UnpricedCalls:      r.unpriced,
		UnknownUsageCalls:  r.unknownUsage,
		StreamCalls:        r.streams,
		Tokens:             r.tokens,
		CostNanos:          r.costNanos,
		Latency:            r.latency.histogram(),
		TTFT:               r.ttft.histogram(),
		StreamOutputTokens: r.streamOutput,
		StreamLatency:      r.streamLatency,
	}
}

// aggregate folds records into one rollup row per minute and series.
func aggregate(records []usage.Record) map[bucketKey]*rollupRow {
	stats := make(map[bucketKey]*usage.Stats)
	for i := range records {
		r := &records[i]
		k := bucketKey{minute: r.Time.Truncate(time.Minute).Unix(), series: usage.SeriesOf(r)}
		st, ok := stats[k]
		if !ok {
			st = &usage.Stats{}
			stats[k] = st
		}
		st.Add(r)
	}
	rows := make(map[bucketKey]*rollupRow, len(stats))
	for k, st := range stats {
		row := rowOf(st)
		rows[k] = &row
	}
	return rows
}
