package bench

import (
	"context"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
	"github.com/sethvargo/go-limiter/memorystore"
	"golang.org/x/time/rate"
)

// Every library enforces the same rule: benchLimit units per benchWindow,
// with bursts of benchLimit. One unit refills per second, so no key refills
// while a benchmark runs, and the burst of a billion units is larger than
// any b.N, so every request is admitted. Each library is then measured on
// the same path: read the clock, find the key's live state, spend.
//
// These benchmarks used a billion units per second before. That rule
// refills every key within a nanosecond of its request, and aimeter drops
// the state of refilled keys, which changes no decision. So in the
// 100,000-key cases aimeter inserted each key again into an almost empty
// table while the other libraries searched 100,000 entries.
// BenchmarkLimiterRefilled keeps that rule as a case of its own.
const (
	benchLimit  = 1_000_000_000
	benchWindow = benchLimit * time.Second
	manyKeys    = 100_000
)

// keys are the keys that each limiter learns before the timer starts, in
// this order.
var keys = func() []string {
	k := make([]string, manyKeys)
	for i := range k {
		k[i] = "user-" + strconv.Itoa(i)
	}
	return k
}()

// requestKeys are the keys of the measured requests: the same keys in a
// fixed random order, each a copy of its string in keys.
//
// Requests used to pass the strings in keys, in order. A library that keeps
// the caller's string then compared keys by pointer, without reading their
// bytes, and a library that allocates an object per key found those objects
// in memory in the order of the requests. Neither happens in a server,
// where each request brings a new string and clients come in any order.
var requestKeys = func() []string {
	k := make([]string, manyKeys)
	for i, j := range rand.New(rand.NewSource(1)).Perm(manyKeys) {
		k[i] = strings.Clone(keys[j])
	}
	return k
}()

// allowFunc admits one request for key and reports whether it passed.
type allowFunc func(key string) bool

// newLimiterFunc returns the allowFunc of a new limiter that admits limit
// units per window, with bursts of limit.
type newLimiterFunc func(b *testing.B, limit int64, window time.Duration) allowFunc

func aimeterAllow(_ *testing.B, limit int64, window time.Duration) allowFunc {
	l := ratelimit.NewMemory(ratelimit.Rule{Name: "bench", Limit: limit, Window: window})
	ctx := context.Background()
	return func(key string) bool {
		d, _ := l.Allow(ctx, key, 1)
		return d.Allowed
	}
}

func sethvargoAllow(b *testing.B, limit int64, window time.Duration) allowFunc {
	store, err := memorystore.New(&memorystore.Config{Tokens: uint64(limit), Interval: window})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close(context.Background()) })
	ctx := context.Background()
	return func(key string) bool {
		_, _, _, ok, _ := store.Take(ctx, key)
		return ok
	}
}

func xtimeAllow(_ *testing.B, limit int64, window time.Duration) allowFunc {
	var limiters sync.Map
	every := rate.Every(window / time.Duration(limit))
	return func(key string) bool {
		v, ok := limiters.Load(key)
		if !ok {
			v, _ = limiters.LoadOrStore(key, rate.NewLimiter(every, int(limit)))
		}
		return v.(*rate.Limiter).Allow()
	}
}

var limiters = []struct {
	name string
	make newLimiterFunc
}{
	{"aimeter", aimeterAllow},
	{"sethvargo-memorystore", sethvargoAllow},
	{"x-time-rate-syncmap", xtimeAllow},
}

// BenchmarkLimiter compares one admission decision per operation, for one
// hot key and for 100,000 keys, serial and parallel, with keys whose state
// stays live.
func BenchmarkLimiter(b *testing.B) {
	runLimiterCases(b, benchLimit, benchWindow)
}

// BenchmarkLimiterRefilled is BenchmarkLimiter with a billion units per
// second, under which every key has refilled by its next request.
func BenchmarkLimiterRefilled(b *testing.B) {
	runLimiterCases(b, benchLimit, time.Second)
}

// runLimiterCases runs each case for every library in turn, so that the
// libraries are measured close together in time and a change in the
// machine's load skews them alike. Every key is used once before the timer
// starts, so that no library pays for creating keys.
func runLimiterCases(b *testing.B, limit int64, window time.Duration) {
	cases := []struct {
		name string
		run  func(b *testing.B, allow allowFunc)
	}{
		{"hot-key/serial", func(b *testing.B, allow allowFunc) {
			allow("hot")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				allow("hot")
			}
		}},
		{"hot-key/parallel", func(b *testing.B, allow allowFunc) {
			allow("hot")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					allow("hot")
				}
			})
		}},
		{"100k-keys/serial", func(b *testing.B, allow allowFunc) {
			for _, k := range keys {
				allow(k)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				allow(requestKeys[i%manyKeys])
			}
		}},
		{"100k-keys/parallel", func(b *testing.B, allow allowFunc) {
			for _, k := range keys {
				allow(k)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks the keys from its own offset.
				i := int(next.Add(7919))
				for pb.Next() {
					i++
					allow(requestKeys[i%manyKeys])
				}
			})
		}},
	}

	for _, c := range cases {
		for _, lim := range limiters {
			b.Run(lim.name+"/"+c.name, func(b *testing.B) {
				c.run(b, lim.make(b, limit, window))
			})
		}
	}
}
