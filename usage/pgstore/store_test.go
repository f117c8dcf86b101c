package pgstore_test

import (
	"context"
	"testing"

	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/pgstore"
	"github.com/aimeter/aimeter/usage/storetest"
)

// openTemp opens a store with New in a new schema of the test server.
func openTemp(tb testing.TB, opts storetest.Options) usage.Store {
	tb.Helper()
	pool := newPool(tb, newSchema(tb))
	s, err := pgstore.New(context.Background(), pool, pgstore.WithClock(opts.Now), pgstore.WithRetention(opts.Retention))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, openTemp)
}

func BenchmarkStore(b *testing.B) {
	testDSN(b)
	storetest.Benchmark(b, openTemp)
}
