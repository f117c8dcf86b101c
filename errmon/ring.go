package errmon

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// RateBucket is the width of the time buckets that count calls. A window
// of rates and alert rules is a whole number of buckets: the bucket that
// contains the current time and the buckets before it, ceil(window /
// RateBucket) in all. So a window's end is the current time, and its start
// is exact to one bucket: a 1-minute window covers between 50 and 60
// seconds back.
const RateBucket = 10 * time.Second

// MaxRateWindow is the longest window of rates and alert rules. Counts of
// older calls are not kept.
const MaxRateWindow = time.Hour

// ringBuckets is the number of buckets in a counterRing.
const ringBuckets = int64(MaxRateWindow / RateBucket)

// noEpoch is the newest epoch of a ring that has counted nothing. It is
// far below any real epoch, and far enough above math.MinInt64 that
// subtracting ringBuckets from it cannot overflow.
const noEpoch = math.MinInt64 / 2

// epochOf returns the number of the bucket that contains t, counting
// buckets from the Unix epoch.
func epochOf(t time.Time) int64 {
	ns := t.UnixNano()
	e := ns / int64(RateBucket)
	if ns%int64(RateBucket) < 0 {
		e-- // round toward minus infinity before 1970
	}
	return e
}

// slotOf returns the index in a ring of the bucket of epoch e.
func slotOf(e int64) int {
	i := e % ringBuckets
	if i < 0 {
		i += ringBuckets
	}
	return int(i)
}

// windowBuckets returns the number of buckets in a window: 0 for a window
// of zero or less, and at most ringBuckets.
func windowBuckets(window time.Duration) int64 {
	if window <= 0 {
		return 0
	}
	if window > MaxRateWindow {
		window = MaxRateWindow
	}
	return int64((window + RateBucket - 1) / RateBucket)
}

// categoryBuckets counts calls by category in each bucket of a ring,
// indexed like categoryIndex.
type categoryBuckets [ringBuckets][numCategories]atomic.Uint32

// counterRing counts calls, and the calls that are hits, in the buckets of
// the last MaxRateWindow. What a hit is depends on the owner: a failed call
// for a series or an error-rate rule, a call of the rule's category for a
// category rule. A bucket is reused
// for the epoch ringBuckets after its own. It is cleared when the ring
// first counts a call of that epoch, and until then readers treat it as
// zero, because its epoch is newer than newest.
//
// Counting in a bucket that is already current takes one atomic load and
// atomic adds.
// Making a new bucket current takes mu, once per bucket per ring. A uint32
// per bucket holds over 400 million calls a second.
type counterRing struct {
	// newest is the newest epoch whose bucket has been cleared for use.
	newest atomic.Int64
	// mu serializes advance and the creation of categories.
	mu         sync.Mutex
	calls      [ringBuckets]atomic.Uint32
	hits       [ringBuckets]atomic.Uint32
	categories atomic.Pointer[categoryBuckets] // nil until the first failed or canceled call
}

func (r *counterRing) init() {
	r.newest.Store(noEpoch)
}

// slot returns the index of the bucket of epoch e, after making it current
// when e is newer than every epoch so far. It returns false when e is too
// old for the ring, as when the clock went back by more than the ring's
// span.
func (r *counterRing) slot(e int64) (int, bool) {
	newest := r.newest.Load()
	if e > newest {
		r.advance(e)
	} else if e <= newest-ringBuckets {
		return 0, false
	}
	return slotOf(e), true
}

// advance clears the buckets of the epochs after newest up to e, then
// publishes e as newest. A call that loads the new newest therefore counts
// in a cleared bucket.
func (r *counterRing) advance(e int64) {
	r.mu.Lock()
	defer r.mu.Unlock()

	newest := r.newest.Load()
	if e <= newest {
		return
	}
	categories := r.categories.Load()
	for epoch := max(newest+1, e-ringBuckets+1); epoch <= e; epoch++ {
		i := slotOf(epoch)
		r.calls[i].Store(0)
		r.hits[i].Store(0)
		if categories != nil {
			for k := range categories[i] {
				categories[i][k].Store(0)
			}
		}
	}
	r.newest.Store(e)
}

// count counts one call in epoch e, as a hit when hit is true. It returns
// the bucket's index, or false when e is too old to count.
func (r *counterRing) count(e int64, hit bool) (int, bool) {
	i, ok := r.slot(e)
	if !ok {
		return 0, false
	}
	r.calls[i].Add(1)
	if hit {
		r.hits[i].Add(1)
	}
	return i, true
}

// countCategory counts one call of category c in the bucket at index i,
// which count returned.
func (r *counterRing) countCategory(i int, c Category) {
	categories := r.categories.Load()
	if categories == nil {
		r.mu.Lock()
		if categories = r.categories.Load(); categories == nil {
			categories = new(categoryBuckets)
			r.categories.Store(categories)
		}
		r.mu.Unlock()
	}
	categories[i][categoryIndex(c)].Add(1)
}

// span returns the first and last epoch of a window of n buckets that ends
// in the bucket of epoch now, limited to the epochs whose buckets hold
// counts. The window is empty when first > last.
func (r *counterRing) span(now, n int64) (first, last int64) {
	newest := r.newest.Load()
	return max(now-n+1, newest-ringBuckets+1), min(now, newest)
}

// sum returns the calls and hits of a window of n buckets that ends in the
// bucket of epoch now.
func (r *counterRing) sum(now, n int64) (calls, hits int64) {
	first, last := r.span(now, n)
	for e := first; e <= last; e++ {
		i := slotOf(e)
		calls += int64(r.calls[i].Load())
		hits += int64(r.hits[i].Load())
	}
	return calls, hits
}

// sumCategories adds the counts by category of a window of n buckets that
// ends in the bucket of epoch now to counts.
func (r *counterRing) sumCategories(now, n int64, counts *[numCategories]int64) {
	categories := r.categories.Load()
	if categories == nil {
		return
	}
	first, last := r.span(now, n)
	for e := first; e <= last; e++ {
		bucket := &categories[slotOf(e)]
		for k := range bucket {
			counts[k] += int64(bucket[k].Load())
		}
	}
}

// numCategories is the number of categories, len(Categories).
const numCategories = 12

// categoryOrder is Categories as it was when the package was built, because
// callers may change the exported slice.
var categoryOrder = [numCategories]Category{
	RateLimited, QuotaExceeded, Auth, InvalidRequest, ContextLength,
	ContentFilter, Timeout, Canceled, Network, ProviderError, Panic, Unknown,
}

// categoryIndex returns the index of c in categoryOrder. A category that is
// not one of them counts as Unknown.
func categoryIndex(c Category) int {
	for i, known := range categoryOrder {
		if c == known {
			return i
		}
	}
	return numCategories - 1
}
