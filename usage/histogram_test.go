package usage

import (
	"math/rand"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestBucketsMatchHDR checks that the sparse buckets are the buckets of an
// HDR histogram with the same bounds, so quantiles computed through
// hdrhistogram-go are exactly what a dense HDR histogram reports.
func TestBucketsMatchHDR(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20000; i++ {
		us := rng.Int63n(histHighest) + 1
		if i%4 == 0 {
			us = rng.Int63n(5000) + 1
		}
		hdr := hdrhistogram.New(histLowest, histHighest, histDigits)
		_ = hdr.RecordValue(us)
		var from int64 = -1
		for _, bar := range hdr.Distribution() {
			if bar.Count > 0 {
				from = bar.From
			}
		}
		if got := bucketOf(us); got != from {
			t.Fatalf("bucketOf(%d) = %d, want the HDR bucket's lowest value %d", us, got, from)
		}
	}
}

func TestHistogramQuantilesMatchDenseHDR(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var h Histogram
	dense := hdrhistogram.New(histLowest, histHighest, histDigits)
	for i := 0; i < 50000; i++ {
		d := time.Duration(rng.ExpFloat64()*float64(200*time.Millisecond)) + time.Microsecond
		h.Record(d)
		_ = dense.RecordValue(clampMicros(d))
	}
	for _, compact := range []bool{false, true} {
		if compact {
			h.Compact()
		}
		for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
			want := time.Duration(dense.ValueAtQuantile(q*100)) * time.Microsecond
			if want > h.Max() {
				want = h.Max()
			}
			if got := h.Quantile(q); got != want {
				t.Errorf("compact %v: Quantile(%v) = %v, want %v", compact, q, got, want)
			}
		}
	}
}

func TestHistogramRecordDoesNotAllocateInSteadyState(t *testing.T) {
	var h Histogram
	h.Record(time.Millisecond)
	allocs := testing.AllocsPerRun(1000, func() { h.Record(time.Millisecond + 3*time.Microsecond) })
	if allocs != 0 {
		t.Errorf("Record allocates %.1f times per call, want 0", allocs)
	}
}
