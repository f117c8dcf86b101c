package usage

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"
)

func TestDenseIndexCoversEveryBucket(t *testing.T) {
	last := -1
	for us := int64(0); us < 1<<32; us = nextBucket(us) {
		i, ok := denseIndex(us)
		if !ok {
			t.Fatalf("denseIndex(%d) is out of range", us)
		}
		if i != last+1 {
			t.Fatalf("denseIndex(%d) = %d, want %d, the index after the previous bucket's", us, i, last+1)
		}
		if got := denseValue(i); got != us {
			t.Fatalf("denseValue(%d) = %d, want %d", i, got, us)
		}
		last = i
	}
	if last != denseBuckets-1 {
		t.Errorf("last index = %d, want %d", last, denseBuckets-1)
	}

	rng := rand.New(rand.NewSource(3))
	for n := 0; n < 100000; n++ {
		us := rng.Int63n(1 << 32)
		i, _ := denseIndex(us)
		if got := denseValue(i); got != bucketOf(us) {
			t.Fatalf("denseValue(denseIndex(%d)) = %d, want bucketOf = %d", us, got, bucketOf(us))
		}
	}
	for _, us := range []int64{-1, 1 << 32, 1 << 40} {
		if _, ok := denseIndex(us); ok {
			t.Errorf("denseIndex(%d) is in range, want out of range", us)
		}
	}
}

// nextBucket returns the lowest value of the HDR bucket after the one
// that starts at us.
func nextBucket(us int64) int64 {
	next := us + 1
	for bucketOf(next) == us {
		next += max(1, (next-us)/2)
	}
	for bucketOf(next-1) != us {
		next--
	}
	return next
}

// randomHistogram records n latencies from 1 µs to about 10 s and returns
// the histogram and the durations.
func randomHistogram(rng *rand.Rand, n int) (Histogram, []time.Duration) {
	var h Histogram
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = time.Duration(rng.ExpFloat64() * float64(500*time.Millisecond))
		h.Record(ds[i])
	}
	return h, ds
}

func TestHistogramMergeMatchesRecording(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, tt := range []struct {
		name  string
		sizes []int
		form  func(h *Histogram)
	}{
		{"small compact", []int{1, 3, 5, 2}, func(h *Histogram) { h.Compact() }},
		{"large compact", []int{3000, 2000, 5000, 1, 4000}, func(h *Histogram) { h.Compact() }},
		{"many large from bins", []int{4000, 4000, 4000, 4000, 4000, 4000}, func(h *Histogram) {
			*h = HistogramFromBins(h.Bins(), h.Sum(), h.Max())
		}},
		{"live", []int{300, 3000, 7}, func(h *Histogram) {}},
		{"mixed", []int{3000, 10, 3000, 2, 8000}, func(h *Histogram) {
			if h.Count()%2 == 0 {
				h.Compact()
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var merged, want Histogram
			for _, n := range tt.sizes {
				h, ds := randomHistogram(rng, n)
				tt.form(&h)
				merged.Merge(&h)
				for _, d := range ds {
					want.Record(d)
				}
			}
			checkSameHistogram(t, &merged, &want)
			merged.Compact()
			checkSameHistogram(t, &merged, &want)
		})
	}
}

func TestHistogramMergeIntoDenseThenRecord(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	a, da := randomHistogram(rng, 5000)
	b, db := randomHistogram(rng, 5000)
	a.Compact()
	b.Compact()
	var merged, want Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	if merged.dense == nil {
		t.Fatalf("merging %d and %d buckets did not use the dense array", len(a.bins), len(b.bins))
	}
	merged.Record(42 * time.Millisecond)
	for _, d := range append(da, db...) {
		want.Record(d)
	}
	want.Record(42 * time.Millisecond)
	checkSameHistogram(t, &merged, &want)

	var into Histogram
	into.Record(time.Second)
	into.Merge(&merged)
	want.Record(time.Second)
	checkSameHistogram(t, &into, &want)
}

func TestHistogramMergeOutOfDenseRange(t *testing.T) {
	// Bins that a store read back may lie outside what Record keeps.
	huge := HistogramFromBins([]Bin{{Micros: 5, Count: 1}, {Micros: 1 << 40, Count: 2}}, 0, 0)
	var merged Histogram
	for i := 0; i < 3; i++ {
		rng := rand.New(rand.NewSource(int64(i)))
		h, _ := randomHistogram(rng, 3000)
		h.Compact()
		merged.Merge(&h)
	}
	merged.Merge(&huge)
	bins := merged.Bins()
	if got := bins[len(bins)-1]; got != (Bin{Micros: 1 << 40, Count: 2}) {
		t.Errorf("last bin = %+v, want {Micros: 1<<40, Count: 2}", got)
	}
	if merged.Count() != 9003 {
		t.Errorf("Count = %d, want 9003", merged.Count())
	}
}

func TestHistogramFromBinsFastPathMatchesRebuild(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	h, _ := randomHistogram(rng, 2000)
	canonical := h.Bins()

	shuffled := slices.Clone(canonical)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	split := append(slices.Clone(shuffled), Bin{Micros: canonical[0].Micros, Count: 0}, Bin{Micros: -3, Count: -1})

	for _, tt := range []struct {
		name string
		bins []Bin
	}{
		{"canonical", canonical},
		{"shuffled", shuffled},
		{"with empty and negative counts", split},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := HistogramFromBins(tt.bins, h.Sum(), h.Max())
			checkSameHistogram(t, &got, &h)
		})
	}

	// A value inside a bucket moves to the bucket's lowest value, and two
	// values of one bucket add up.
	inner := HistogramFromBins([]Bin{{Micros: 1000, Count: 1}, {Micros: 1001, Count: 2}, {Micros: 1005, Count: 4}}, 0, 0)
	if got, want := fmt.Sprint(inner.Bins()), "[{1000 3} {1004 4}]"; got != want {
		t.Errorf("bins = %s, want %s", got, want)
	}

	// The fast path copies the caller's bins.
	bins := []Bin{{Micros: 7, Count: 1}}
	copied := HistogramFromBins(bins, 0, 0)
	bins[0].Count = 100
	if copied.Count() != 1 || copied.Bins()[0].Count != 1 {
		t.Errorf("HistogramFromBins kept the caller's slice: bins = %v", copied.Bins())
	}
}

func checkSameHistogram(t *testing.T, got, want *Histogram) {
	t.Helper()
	if got.Count() != want.Count() || got.Sum() != want.Sum() || got.Max() != want.Max() {
		t.Errorf("Count, Sum, Max = %d, %v, %v; want %d, %v, %v", got.Count(), got.Sum(), got.Max(), want.Count(), want.Sum(), want.Max())
	}
	if g, w := got.Bins(), want.Bins(); !slices.Equal(g, w) {
		t.Errorf("bins differ: got %d buckets, want %d\n got %v\nwant %v", len(g), len(w), g, w)
	}
	if g, w := got.Quantiles(0.5, 0.99), want.Quantiles(0.5, 0.99); !slices.Equal(g, w) {
		t.Errorf("Quantiles(0.5, 0.99) = %v, want %v", g, w)
	}
}
