package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
	"github.com/sethvargo/go-limiter/memorystore"
	"golang.org/x/time/rate"
)

// The limit is high enough that every request is admitted, so each library
// is measured on the same path: read the clock, find the key, spend.
const (
	benchLimit = 1_000_000_000
	manyKeys   = 100_000
)

var keys = func() []string {
	k := make([]string, manyKeys)
	for i := range k {
		k[i] = "user-" + strconv.Itoa(i)
	}
	return k
}()

// allowFunc admits one request for key and reports whether it passed.
type allowFunc func(key string) bool

func aimeterAllow(b *testing.B) allowFunc {
	l := ratelimit.NewMemory(ratelimit.Rule{Name: "bench", Limit: benchLimit, Window: time.Second})
	ctx := context.Background()
	return func(key string) bool {
		d, _ := l.Allow(ctx, key, 1)
		return d.Allowed
	}
}

func sethvargoAllow(b *testing.B) allowFunc {
	store, err := memorystore.New(&memorystore.Config{Tokens: benchLimit, Interval: time.Second})
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

func xtimeAllow(b *testing.B) allowFunc {
	var limiters sync.Map
	return func(key string) bool {
		v, ok := limiters.Load(key)
		if !ok {
			v, _ = limiters.LoadOrStore(key, rate.NewLimiter(rate.Limit(benchLimit), benchLimit))
		}
		return v.(*rate.Limiter).Allow()
	}
}

var limiters = []struct {
	name string
	make func(*testing.B) allowFunc
}{
	{"aimeter", aimeterAllow},
	{"sethvargo-memorystore", sethvargoAllow},
	{"x-time-rate-syncmap", xtimeAllow},
}

// BenchmarkLimiter compares one admission decision per operation, for one
// hot key and for 100,000 keys, serial and parallel.
func BenchmarkLimiter(b *testing.B) {
	for _, lim := range limiters {
		b.Run(lim.name+"/hot-key/serial", func(b *testing.B) {
			allow := lim.make(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				allow("hot")
			}
		})
		b.Run(lim.name+"/hot-key/parallel", func(b *testing.B) {
			allow := lim.make(b)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					allow("hot")
				}
			})
		})
		b.Run(lim.name+"/100k-keys/serial", func(b *testing.B) {
			allow := lim.make(b)
			for _, k := range keys {
				allow(k)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				allow(keys[i%manyKeys])
			}
		})
		b.Run(lim.name+"/100k-keys/parallel", func(b *testing.B) {
			allow := lim.make(b)
			for _, k := range keys {
				allow(k)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				for pb.Next() {
					i++
					allow(keys[i%manyKeys])
				}
			})
		})
	}
}
