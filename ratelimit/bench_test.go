package ratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

// benchRule refills one unit per nanosecond, so that a key whose clock
// moves on between its requests is back at its full burst every time, and
// its state is dropped and inserted again.
var benchRule = ratelimit.Rule{Name: "bench", Limit: 1_000_000_000, Window: time.Second}

// benchLiveRule refills one unit per second with a burst of a billion, so
// that every key keeps live state and every request is admitted.
var benchLiveRule = ratelimit.Rule{Name: "bench-live", Limit: 1_000_000_000, Window: 1_000_000_000 * time.Second}

// benchKeys returns n distinct keys.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	return keys
}

// runAllowBenchmarks runs allow over one hot key and over 100,000 keys,
// serially and with b.RunParallel. newAllow is called for every run and
// returns the function to measure, which gets the key and the call's time.
// Every key is used once before the timer starts.
func runAllowBenchmarks(b *testing.B, newAllow func() func(key string, now time.Time)) {
	for _, keyCount := range []int{1, 100_000} {
		keys := benchKeys(keyCount)
		name := "hot-key"
		if keyCount > 1 {
			name = strconv.Itoa(keyCount) + "-keys"
		}

		b.Run(name+"/serial", func(b *testing.B) {
			allow := newAllow()
			for _, k := range keys {
				allow(k, start)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				allow(keys[i%len(keys)], start.Add(time.Duration(i+1)*time.Microsecond))
			}
		})

		b.Run(name+"/parallel", func(b *testing.B) {
			allow := newAllow()
			for _, k := range keys {
				allow(k, start)
			}
			var goroutines atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks the keys from its own offset.
				g := int(goroutines.Add(1))
				for i := 1; pb.Next(); i++ {
					allow(keys[(g*7919+i)%len(keys)], start.Add(time.Duration(i)*time.Microsecond))
				}
			})
		})
	}
}

// BenchmarkMemoryAllowAt measures AllowAt with a clock that moves one
// microsecond per call, with keys that keep live state and with keys that
// have refilled by their next request.
func BenchmarkMemoryAllowAt(b *testing.B) {
	for _, rule := range []ratelimit.Rule{benchLiveRule, benchRule} {
		rule := rule
		b.Run(rule.Name, func(b *testing.B) {
			runAllowBenchmarks(b, func() func(string, time.Time) {
				m := ratelimit.NewMemory(rule)
				return func(key string, now time.Time) { m.AllowAt(key, 1, now) }
			})
		})
	}
}

// BenchmarkMemoryAllow measures Allow, which reads the monotonic clock.
func BenchmarkMemoryAllow(b *testing.B) {
	ctx := context.Background()
	runAllowBenchmarks(b, func() func(string, time.Time) {
		m := ratelimit.NewMemory(benchLiveRule)
		return func(key string, _ time.Time) { _, _ = m.Allow(ctx, key, 1) }
	})
}

func BenchmarkAllAllow(b *testing.B) {
	ctx := context.Background()
	runAllowBenchmarks(b, func() func(string, time.Time) {
		requests := ratelimit.NewMemory(benchLiveRule)
		tokens := ratelimit.NewMemory(benchLiveRule)
		all := ratelimit.All(ratelimit.PerRequest(requests), tokens)
		return func(key string, _ time.Time) { _, _ = all.Allow(ctx, key, 1) }
	})
}

func BenchmarkMiddleware(b *testing.B) {
	limiter := ratelimit.NewMemory(benchRule)
	handler := ratelimit.Middleware(limiter, ratelimit.KeyByIP())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.1:4711"

	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		handler.ServeHTTP(discardWriter{header: http.Header{}}, r)
	}
}

// discardWriter is a ResponseWriter that drops everything, so that the
// benchmark measures the middleware and not a recorder.
type discardWriter struct {
	header http.Header
}

func (w discardWriter) Header() http.Header         { return w.header }
func (w discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w discardWriter) WriteHeader(int)             {}
