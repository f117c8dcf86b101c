package usage

import (
	"math/bits"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: values are recorded in microseconds from 1 µs to one
// hour with two significant digits, so every quantile is within 1% of the
// true value. Longer durations are recorded as one hour.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 2

	// histSubBucketBits is log2 of the sub-buckets per power of two that
	// an HDR histogram with histDigits significant digits has: 256.
	histSubBucketBits = 8
)

// Histogram is a latency distribution with a relative error of at most 1%,
// bucketed exactly as an HDR histogram of two significant digits, whose
// quantiles it reports through hdrhistogram-go. Count, Sum and Max are
// exact.
//
// The zero value is an empty histogram. Only non-empty buckets take memory:
// a map while recording, about a kilobyte for a typical minute of one
// series, and a sorted slice once compacted, which is how stores keep
// closed minutes. Histogram is not safe for concurrent use.
type Histogram struct {
	live  map[int64]int64 // lowest equivalent value in µs → count
	bins  []Bin
	count int64
	sum   time.Duration
	max   time.Duration
}

// Bin is one non-empty bucket of a compact Histogram: Count values whose
// lowest equivalent value is Micros microseconds.
type Bin struct {
	Micros int64
	Count  int64
}

// bucketOf returns the lowest value, in microseconds, of the HDR bucket that
// holds us. Within each power of two above 256 µs there are 128 buckets of
// equal width, so a bucket is at most 1/128 of its values wide.
func bucketOf(us int64) int64 {
	if us < 1<<histSubBucketBits {
		return us
	}
	shift := bits.Len64(uint64(us)) - histSubBucketBits
	return us >> shift << shift
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.ensureLive()
	h.live[bucketOf(clampMicros(d))]++
	h.count++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds every value of o into h.
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	h.ensureLive()
	for v, n := range o.live {
		h.live[v] += n
	}
	for _, b := range o.bins {
		h.live[b.Micros] += b.Count
	}
	h.count += o.count
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Compact turns a live histogram into its compact form, a sorted slice of
// its non-empty buckets.
func (h *Histogram) Compact() {
	if h.live == nil {
		return
	}
	h.bins = sortedBins(h.live)
	h.live = nil
}

func sortedBins(m map[int64]int64) []Bin {
	bins := make([]Bin, 0, len(m))
	for v, n := range m {
		if n > 0 {
			bins = append(bins, Bin{Micros: v, Count: n})
		}
	}
	sort.Slice(bins, func(i, j int) bool { return bins[i].Micros < bins[j].Micros })
	return bins
}

// Bins returns the non-empty buckets in increasing order of value, for
// stores that persist histograms.
func (h *Histogram) Bins() []Bin {
	if h.live != nil {
		return sortedBins(h.live)
	}
	return append([]Bin(nil), h.bins...)
}

// HistogramFromBins rebuilds a compact histogram from its buckets and its
// exact sum and maximum, as a store read them back. Each bucket's value is
// moved to the lowest value of its HDR bucket, so bins written by other
// means merge with recorded ones.
func HistogramFromBins(bins []Bin, sum, max time.Duration) Histogram {
	m := make(map[int64]int64, len(bins))
	var count int64
	for _, b := range bins {
		if b.Count > 0 {
			m[bucketOf(b.Micros)] += b.Count
			count += b.Count
		}
	}
	return Histogram{bins: sortedBins(m), count: count, sum: sum, max: max}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() int64 { return h.count }

// Sum returns the exact sum of the recorded values.
func (h *Histogram) Sum() time.Duration { return h.sum }

// Max returns the exact largest recorded value.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the exact mean, or 0 for an empty histogram.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return h.sum / time.Duration(h.count)
}

// Quantile returns the value at quantile q (0 < q <= 1), such as 0.99 for
// p99, within 1% of the true value and never above Max. It returns 0 for an
// empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	return h.Quantiles(q)[0]
}

// Quantiles returns the values at several quantiles at once, each as
// Quantile returns it; one call costs about as much as one Quantile.
func (h *Histogram) Quantiles(qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if h.count == 0 {
		return out
	}
	hdr := hdrhistogram.New(histLowest, histHighest, histDigits)
	for v, n := range h.live {
		_ = hdr.RecordValues(v, n)
	}
	for _, b := range h.bins {
		_ = hdr.RecordValues(b.Micros, b.Count)
	}
	for i, q := range qs {
		d := time.Duration(hdr.ValueAtQuantile(q*100)) * time.Microsecond
		if d > h.max {
			d = h.max
		}
		out[i] = d
	}
	return out
}

// Clone returns an independent copy of h in compact form.
func (h *Histogram) Clone() Histogram {
	return Histogram{bins: h.Bins(), count: h.count, sum: h.sum, max: h.max}
}

func (h *Histogram) ensureLive() {
	if h.live != nil {
		return
	}
	h.live = make(map[int64]int64, len(h.bins)+4)
	for _, b := range h.bins {
		h.live[b.Micros] += b.Count
	}
	h.bins = nil
}

func clampMicros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if us < histLowest {
		return histLowest
	}
	if us > histHighest {
		return histHighest
	}
	return us
}
