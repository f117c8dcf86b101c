package usage

import (
	"cmp"
	"math/bits"
	"slices"
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
// closed minutes. A histogram that Merge adds many large histograms into
// holds an array of all 3,328 buckets (26 KB) until Compact. Histogram is
// not safe for concurrent use.
type Histogram struct {
	live map[int64]int64 // lowest equivalent value in µs → count
	bins []Bin
	// dense, when not nil, has one count per HDR bucket, indexed by
	// denseIndex. Merge switches to it to add up many large histograms,
	// as analytics does, and Compact turns it back into bins.
	dense []int64
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
//
// Merge picks the cheapest form for h. A live h stays live and gets o's
// buckets added to its map. Otherwise, when the two hold at least
// denseMergeMin buckets together, h turns into the dense array, to which
// each later merge adds o's buckets without allocating. Small compact
// histograms are merged as sorted slices.
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	switch {
	case h.live == nil && (h.dense != nil || h.size()+o.size() >= denseMergeMin) && h.fitsDense() && o.fitsDense():
		h.ensureDense()
		o.addTo(h.dense)
	case h.live == nil && h.dense == nil && o.live == nil && o.dense == nil && len(o.bins)*mergeSliceRatio >= len(h.bins):
		h.bins = mergeSortedBins(h.bins, o.bins)
	default:
		h.ensureLive()
		for v, n := range o.live {
			h.live[v] += n
		}
		for _, b := range o.bins {
			h.live[b.Micros] += b.Count
		}
		for i, n := range o.dense {
			if n != 0 {
				h.live[denseValue(i)] += n
			}
		}
	}
	h.count += o.count
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// denseMergeMin is the number of buckets of two histograms from which
// Merge adds them up in the dense array. Below it, clearing and scanning
// the 26 KB array costs more than merging the buckets as slices.
const denseMergeMin = 512

// mergeSliceRatio bounds how much larger h may be than o for Merge to
// merge their sorted bins. The linear pass copies all of h, so it then
// costs at most this many steps per bucket of o.
const mergeSliceRatio = 8

// denseBuckets is the number of HDR buckets from 0 µs to histHighest: 256
// of width one, then 128 per power of two up to 2^32 µs.
const denseBuckets = 1<<histSubBucketBits + 24*(1<<(histSubBucketBits-1))

// denseIndex returns the index in a dense array of the HDR bucket that
// holds us, and false when us lies outside [0, 2^32) µs, which Record
// never stores but HistogramFromBins accepts.
func denseIndex(us int64) (int, bool) {
	if us < 0 || us >= 1<<32 {
		return 0, false
	}
	if us < 1<<histSubBucketBits {
		return int(us), true
	}
	shift := bits.Len64(uint64(us)) - histSubBucketBits
	half := 1 << (histSubBucketBits - 1)
	return 1<<histSubBucketBits + (shift-1)*half + int(us>>shift) - half, true
}

// denseValue returns the lowest value, in microseconds, of the bucket at
// index i of a dense array.
func denseValue(i int) int64 {
	if i < 1<<histSubBucketBits {
		return int64(i)
	}
	half := 1 << (histSubBucketBits - 1)
	i -= 1 << histSubBucketBits
	shift := i/half + 1
	return int64(i%half+half) << shift
}

// size returns the number of non-empty buckets h holds, or the length of
// its dense array.
func (h *Histogram) size() int {
	return len(h.live) + len(h.bins) + len(h.dense)
}

// fitsDense reports whether every bucket of h has an index in a dense
// array.
func (h *Histogram) fitsDense() bool {
	for v := range h.live {
		if _, ok := denseIndex(v); !ok {
			return false
		}
	}
	if n := len(h.bins); n > 0 {
		// Compact bins are in increasing order of value.
		_, lo := denseIndex(h.bins[0].Micros)
		_, hi := denseIndex(h.bins[n-1].Micros)
		return lo && hi
	}
	return true
}

// addTo adds the buckets of h, which fitsDense accepts, to dense.
func (h *Histogram) addTo(dense []int64) {
	for v, n := range h.live {
		i, _ := denseIndex(v)
		dense[i] += n
	}
	for _, b := range h.bins {
		i, _ := denseIndex(b.Micros)
		dense[i] += b.Count
	}
	for i, n := range h.dense {
		dense[i] += n
	}
}

// ensureDense turns a compact h, whose buckets fitsDense accepts, into
// the dense array.
func (h *Histogram) ensureDense() {
	if h.dense != nil {
		return
	}
	h.dense = make([]int64, denseBuckets)
	for _, b := range h.bins {
		i, _ := denseIndex(b.Micros)
		h.dense[i] += b.Count
	}
	h.bins = nil
}

// denseBins returns the non-empty buckets of dense in increasing order
// of value.
func denseBins(dense []int64) []Bin {
	n := 0
	for _, c := range dense {
		if c > 0 {
			n++
		}
	}
	bins := make([]Bin, 0, n)
	for i, c := range dense {
		if c > 0 {
			bins = append(bins, Bin{Micros: denseValue(i), Count: c})
		}
	}
	return bins
}

// mergeSortedBins returns the buckets of a and b, both in strictly
// increasing order of value, with the counts of equal buckets added. It
// allocates a new slice and changes neither input.
func mergeSortedBins(a, b []Bin) []Bin {
	out := make([]Bin, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0].Micros < b[0].Micros:
			out, a = append(out, a[0]), a[1:]
		case a[0].Micros > b[0].Micros:
			out, b = append(out, b[0]), b[1:]
		default:
			out = append(out, Bin{Micros: a[0].Micros, Count: a[0].Count + b[0].Count})
			a, b = a[1:], b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// Compact turns a live or dense histogram into its compact form, a sorted
// slice of its non-empty buckets.
func (h *Histogram) Compact() {
	switch {
	case h.live != nil:
		h.bins = sortedBins(h.live)
		h.live = nil
	case h.dense != nil:
		h.bins = denseBins(h.dense)
		h.dense = nil
	}
}

func sortedBins(m map[int64]int64) []Bin {
	bins := make([]Bin, 0, len(m))
	for v, n := range m {
		if n > 0 {
			bins = append(bins, Bin{Micros: v, Count: n})
		}
	}
	slices.SortFunc(bins, func(a, b Bin) int { return cmp.Compare(a.Micros, b.Micros) })
	return bins
}

// Bins returns the non-empty buckets in increasing order of value, for
// stores that persist histograms.
func (h *Histogram) Bins() []Bin {
	if h.live != nil {
		return sortedBins(h.live)
	}
	if h.dense != nil {
		return denseBins(h.dense)
	}
	return append([]Bin(nil), h.bins...)
}

// HistogramFromBins rebuilds a compact histogram from its buckets and its
// exact sum and maximum, as a store read them back. Each bucket's value is
// moved to the lowest value of its HDR bucket, so bins written by other
// means merge with recorded ones. Buckets with a count of zero or less are
// dropped. Bins already in the form that Bins returns, which is how every
// store of this module writes them, are copied without a rebuild.
func HistogramFromBins(bins []Bin, sum, max time.Duration) Histogram {
	if count, ok := canonicalCount(bins); ok {
		return Histogram{bins: slices.Clone(bins), count: count, sum: sum, max: max}
	}
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

// canonicalCount returns the sum of the counts of bins and true when bins
// are in strictly increasing order of value, each at the lowest value of
// its HDR bucket with a positive count.
func canonicalCount(bins []Bin) (int64, bool) {
	var count int64
	prev := int64(-1)
	for _, b := range bins {
		if b.Micros <= prev || b.Count <= 0 || bucketOf(b.Micros) != b.Micros {
			return 0, false
		}
		prev = b.Micros
		count += b.Count
	}
	return count, true
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
	for i, n := range h.dense {
		if n != 0 {
			_ = hdr.RecordValues(denseValue(i), n)
		}
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
	for i, n := range h.dense {
		if n != 0 {
			h.live[denseValue(i)] += n
		}
	}
	h.bins, h.dense = nil, nil
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
