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

// benchRule refills one unit per nanosecond, so that a benchmark whose clock
// moves one nanosecond per call is admitted on most calls.
var benchRule = ratelimit.Rule{Name: "bench", Limit: 1_000_000_000, Window: time.Second}

// benchKeys returns n distinct keys.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	return keys
}

// runAllowBenchmarks runs allow over one hot key and over 100,000 keys,
// serially and with b.RunParallel. allow gets the key and the call's time.
func runAllowBenchmarks(b *testing.B, allow func(key string, now time.Time)) {
	for _, keyCount := range []int{1, 100_000} {
		keys := benchKeys(keyCount)
		name := "hot-key"
		if keyCount > 1 {
			name = strconv.Itoa(keyCount) + "-keys"
		}

		b.Run(name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				allow(keys[i%len(keys)], start.Add(time.Duration(i)))
			}
		})

		b.Run(name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			var goroutines atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks the keys from its own offset.
				i := int(goroutines.Add(1)) * 7919
				for pb.Next() {
					allow(keys[i%len(keys)], start.Add(time.Duration(i)))
					i++
				}
			})
		})
	}
}

func BenchmarkMemoryAllowAt(b *testing.B) {
	m := ratelimit.NewMemory(benchRule)
	runAllowBenchmarks(b, func(key string, now time.Time) {
		m.AllowAt(key, 1, now)
	})
}

func BenchmarkAllAllow(b *testing.B) {
	clock := newFakeClock()
	requests := ratelimit.NewMemory(benchRule, ratelimit.WithClock(clock.Now))
	tokens := ratelimit.NewMemory(benchRule, ratelimit.WithClock(clock.Now))
	all := ratelimit.All(ratelimit.PerRequest(requests), tokens)
	ctx := context.Background()
	runAllowBenchmarks(b, func(key string, _ time.Time) {
		_, _ = all.Allow(ctx, key, 1)
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
