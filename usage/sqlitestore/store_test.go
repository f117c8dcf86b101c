package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/sqlitestore"
	"github.com/aimeter/aimeter/usage/storetest"
)

// openTemp opens a store on a new file in a temporary directory.
func openTemp(tb testing.TB, opts storetest.Options) usage.Store {
	tb.Helper()
	s, err := sqlitestore.Open(filepath.Join(tb.TempDir(), "usage.db"),
		sqlitestore.WithClock(opts.Now), sqlitestore.WithRetention(opts.Retention))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, openTemp)
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, openTemp)
}
