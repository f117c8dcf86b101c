package usage

import (
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
)

// Histogram is a latency distribution with a relative error of at most 1%,
// built on an HDR histogram. Count, Sum and Max are exact.
//
// The zero value is an empty histogram. A Histogram is either live (a dense
// HDR histogram, about 25 KiB, used while recording) or compact (only the
// non-empty buckets), which is how stores keep closed minutes. Histogram is
// not safe for concurrent use.
type Histogram struct {
	live  *hdrhistogram.Histogram
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

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.ensureLive()
	_ = h.live.RecordValue(clampMicros(d))
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
	if o.live != nil {
		h.live.Merge(o.live)
	} else {
		for _, b := range o.bins {
			_ = h.live.RecordValues(b.Micros, b.Count)
		}
	}
	h.count += o.count
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Compact turns a live histogram into its compact form, which keeps only the
// non-empty buckets.
func (h *Histogram) Compact() {
	if h.live == nil {
		return
	}
	h.bins = h.bins[:0]
	for _, bar := range h.live.Distribution() {
		if bar.Count > 0 {
			h.bins = append(h.bins, Bin{Micros: bar.From, Count: bar.Count})
		}
	}
	h.live = nil
}

// Bins returns the non-empty buckets in increasing order of value, for
// stores that persist histograms.
func (h *Histogram) Bins() []Bin {
	if h.live != nil {
		c := Histogram{live: h.live}
		c.Compact()
		return c.bins
	}
	return append([]Bin(nil), h.bins...)
}

// HistogramFromBins rebuilds a compact histogram from its buckets and its
// exact sum and maximum, as a store read them back.
func HistogramFromBins(bins []Bin, sum, max time.Duration) Histogram {
	h := Histogram{bins: append([]Bin(nil), bins...), sum: sum, max: max}
	sort.Slice(h.bins, func(i, j int) bool { return h.bins[i].Micros < h.bins[j].Micros })
	for _, b := range h.bins {
		h.count += b.Count
	}
	return h
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
	live := h.live
	if live == nil {
		// A compact histogram answers through a temporary live copy, so
		// both forms round a quantile the same way.
		live = hdrhistogram.New(histLowest, histHighest, histDigits)
		for _, b := range h.bins {
			_ = live.RecordValues(b.Micros, b.Count)
		}
	}
	micros := live.ValueAtQuantile(q * 100)
	d := time.Duration(micros) * time.Microsecond
	if d > h.max {
		d = h.max
	}
	return d
}

func (h *Histogram) ensureLive() {
	if h.live != nil {
		return
	}
	h.live = hdrhistogram.New(histLowest, histHighest, histDigits)
	for _, b := range h.bins {
		_ = h.live.RecordValues(b.Micros, b.Count)
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

// Clone returns an independent copy of h in compact form.
func (h *Histogram) Clone() Histogram {
	return Histogram{bins: h.Bins(), count: h.count, sum: h.sum, max: h.max}
}
