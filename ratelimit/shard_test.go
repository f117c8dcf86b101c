package ratelimit_test

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

// hammer runs 64 goroutines that each call try attempts times, and returns
// how many calls returned true.
func hammer(attempts int, try func() bool) int64 {
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < attempts; i++ {
				if try() {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return admitted.Load()
}

func TestConcurrentCallersAdmitExactlyLimit(t *testing.T) {
	const limit = 1000
	clock := newFakeClock()
	m := newLimiter(t, perMinute(limit), clock)

	got := hammer(100, func() bool { return m.AllowAt("hot", 1, clock.Now()).Allowed })
	if got != limit {
		t.Errorf("admitted with a frozen clock: got %d, want %d", got, limit)
	}
	st := m.Stats()[0]
	if st.Allowed != limit || st.Rejected != 64*100-limit {
		t.Errorf("Stats: got %+v, want %d allowed and %d rejected", st, limit, 64*100-limit)
	}
}

func TestLenReturnsToZeroAfterRefill(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts a million keys")
	}
	const keys = 1_000_000
	clock := newFakeClock()
	rule := ratelimit.Rule{Name: "test", Limit: 10, Window: time.Minute}
	m := newLimiter(t, rule, clock, ratelimit.WithMaxKeys(2*keys))

	names := make([]string, keys)
	for i := range names {
		names[i] = "client-" + strconv.Itoa(i)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	now := clock.Now()
	for _, k := range names {
		m.AllowAt(k, 1, now)
	}
	if got := m.Len(); got != keys {
		t.Fatalf("Len after %d keys: got %d, want %d", keys, got, keys)
	}
	runtime.GC()
	var full runtime.MemStats
	runtime.ReadMemStats(&full)

	// One unit refills in 6s; after that every key is back to its burst.
	clock.Advance(6 * time.Second)
	if dropped := m.Sweep(); dropped != keys {
		t.Errorf("Sweep dropped %d keys, want %d", dropped, keys)
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len after refill and Sweep: got %d, want 0", got)
	}

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(full.HeapAlloc) - int64(before.HeapAlloc)
	left := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap: %d MB with the keys, %d MB left after Sweep", grown>>20, left>>20)
	if grown <= 0 {
		t.Fatalf("heap did not grow with %d keys (%d bytes)", keys, grown)
	}
	if left > grown/10 {
		t.Errorf("heap after Sweep: %d bytes above the start, want at most a tenth of the %d bytes the keys took", left, grown)
	}
	runtime.KeepAlive(names)
}

func TestInsertionsDropRefilledKeys(t *testing.T) {
	// Each key spends one unit that refills in 1s, and a new key arrives
	// every millisecond, so about 1000 keys are live at any time.
	clock := newFakeClock()
	m := newLimiter(t, ratelimit.Rule{Name: "test", Limit: 1, Window: time.Second}, clock)

	maxLen := 0
	for i := 0; i < 100_000; i++ {
		clock.Advance(time.Millisecond)
		m.AllowAt("once-"+strconv.Itoa(i), 1, clock.Now())
		if n := m.Len(); i%1000 == 0 && n > maxLen {
			maxLen = n
		}
	}
	t.Logf("largest Len: %d", maxLen)
	if maxLen > 3000 {
		t.Errorf("largest Len with about 1000 live keys: got %d, want at most 3000", maxLen)
	}
}

func TestKeyCapUsesOverflowBucket(t *testing.T) {
	clock := newFakeClock()
	rule := ratelimit.Rule{Name: "test", Limit: 1, Window: time.Minute}
	// A cap of 64 keys is one key per shard.
	m := newLimiter(t, rule, clock, ratelimit.WithMaxKeys(64))

	admitted := 0
	for i := 0; i < 10_000; i++ {
		if m.AllowAt("flood-"+strconv.Itoa(i), 1, clock.Now()).Allowed {
			admitted++
		}
	}
	if n := m.Len(); n > 64 {
		t.Errorf("Len with a cap of 64: got %d", n)
	}
	// Per shard: one tracked key and the overflow bucket, one unit each.
	if admitted > 128 {
		t.Errorf("admitted new keys past the cap: got %d, want at most 128", admitted)
	}
	if m.Overflowed() == 0 {
		t.Errorf("Overflowed: got 0, want the flood counted")
	}

	// Once the tracked keys have refilled, new keys replace them instead
	// of sharing the overflow bucket.
	clock.Advance(time.Minute)
	overflowed := m.Overflowed()
	for i := 0; i < 64; i++ {
		m.AllowAt("later-"+strconv.Itoa(i), 1, clock.Now())
		clock.Advance(time.Minute)
	}
	if got := m.Overflowed(); got != overflowed {
		t.Errorf("Overflowed after the flood refilled: got %d, want %d", got, overflowed)
	}
}

func TestWithMaxKeysPanicsBelowOne(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("WithMaxKeys(0) did not panic")
		}
	}()
	ratelimit.WithMaxKeys(0)
}
