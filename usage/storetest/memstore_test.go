package storetest_test

import (
	"testing"

	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/storetest"
)

func openMemory(_ testing.TB, opts storetest.Options) usage.Store {
	memOpts := []usage.MemoryOption{usage.WithStoreClock(opts.Now)}
	if opts.Retention > 0 {
		memOpts = append(memOpts, usage.WithRetention(opts.Retention))
	}
	return usage.NewMemoryStore(memOpts...)
}

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, openMemory)
}

func TestWideMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB, opts storetest.Options) usage.Store {
		return storetest.NewWideMemoryStore(openMemory(tb, opts).(*usage.MemoryStore), opts.Now)
	})
}

func BenchmarkMemoryStore(b *testing.B) {
	storetest.Benchmark(b, openMemory)
}
