package analytics

import (
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// bucket is one point of a time series before conversion: its start and
// the rollups that start inside it.
type bucket struct {
	start   time.Time
	rollups []*usage.Rollup
}

// bucketRollups splits [since, until) into buckets of width w and places
// each rollup in the bucket its start falls in. Buckets start at multiples
// of w since the zero time, so minutes, hours and days start on UTC
// boundaries, and a bucket keeps its start from one request to the next.
// The first bucket starts at or before since, and there is a bucket for
// every width up to until, with or without rollups.
func bucketRollups(rollups []*usage.Rollup, since, until time.Time, w time.Duration) []bucket {
	first := since.Truncate(w)
	buckets := make([]bucket, pointCount(since, until, w))
	for i := range buckets {
		buckets[i].start = first.Add(time.Duration(i) * w)
	}
	for _, r := range rollups {
		// The Store contract allows only rollups that start in [since,
		// until). One outside that range is left out of the series rather
		// than indexed out of range.
		if r.Start.Before(first) {
			continue
		}
		i := int(r.Start.Sub(first) / w)
		if i >= len(buckets) {
			continue
		}
		buckets[i].rollups = append(buckets[i].rollups, r)
	}
	return buckets
}

func usageSeries(buckets []bucket) []UsagePoint {
	points := make([]UsagePoint, len(buckets))
	for i, b := range buckets {
		var t tally
		for _, r := range b.rollups {
			t.add(&r.Stats)
		}
		points[i] = UsagePoint{
			Start:   b.start,
			Calls:   t.calls,
			Tokens:  tokenCounts(t.tokens),
			CostUSD: usd(t.costNanos),
		}
	}
	return points
}

func errorSeries(buckets []bucket) []ErrorPoint {
	points := make([]ErrorPoint, len(buckets))
	for i, b := range buckets {
		p := ErrorPoint{Start: b.start}
		for _, r := range b.rollups {
			p.Calls += r.Stats.Calls
			p.Errors += r.Stats.Errors
			for c, n := range r.Stats.ErrorsByCategory {
				if n == 0 {
					continue
				}
				if p.ByCategory == nil {
					p.ByCategory = make(map[errmon.Category]int64)
				}
				p.ByCategory[c] += n
			}
		}
		p.Rate = ratio(p.Errors, p.Calls)
		points[i] = p
	}
	return points
}

// performanceSeries merges the histograms of one bucket at a time, so the
// memory it holds does not grow with the number of points.
func performanceSeries(buckets []bucket) []PerformancePoint {
	points := make([]PerformancePoint, len(buckets))
	for i, b := range buckets {
		var calls int64
		var h histograms
		for _, r := range b.rollups {
			calls += r.Stats.Calls
			h.latency.Merge(&r.Stats.Latency)
			h.ttft.Merge(&r.Stats.TTFT)
		}
		points[i] = PerformancePoint{
			Start:   b.start,
			Calls:   calls,
			Latency: latencyOf(&h.latency),
			TTFT:    ttftOf(&h.ttft),
		}
	}
	return points
}
