package promexport_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics/promexport"
	"github.com/aimeter/aimeter/usage"
	"github.com/prometheus/client_golang/prometheus"
)

// discardStore accepts every record and keeps none, so that the benchmarks
// measure the tracker and its observers rather than a store.
type discardStore struct{}

func (discardStore) Write(context.Context, []usage.Record) error { return nil }
func (discardStore) Rollups(context.Context, time.Time, time.Time) ([]usage.Rollup, error) {
	return nil, nil
}
func (discardStore) Recent(context.Context, int) ([]usage.Record, error) { return nil, nil }
func (discardStore) Retention() time.Duration                            { return 0 }
func (discardStore) Close() error                                        { return nil }

// benchCalls returns n calls that differ only in their model.
func benchCalls(n int) []usage.Call {
	calls := make([]usage.Call, n)
	for i := range calls {
		calls[i] = usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: fmt.Sprintf("gpt-4o-mini-%d", i), Operation: "chat"}
	}
	calls[0].Model = "gpt-4o-mini"
	return calls
}

// benchmarkTrackCall measures usage.TrackCall around a function that does
// nothing, with the given tracker options, cycling through calls.
func benchmarkTrackCall(b *testing.B, calls []usage.Call, opts ...usage.TrackerOption) {
	fn := func(context.Context) (ownResponse, error) { return ownResponse{in: 120, out: 40}, nil }
	ctx := context.Background()
	newTracker := func(b *testing.B) *usage.Tracker {
		tr := usage.NewTracker(discardStore{}, append(opts, usage.WithQueueSize(1<<16))...)
		b.Cleanup(func() { _ = tr.Close(context.Background()) })
		return tr
	}

	b.Run("serial", func(b *testing.B) {
		tr := newTracker(b)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = usage.TrackCall(ctx, tr, calls[i%len(calls)], fn)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		tr := newTracker(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_, _ = usage.TrackCall(ctx, tr, calls[i%len(calls)], fn)
				i++
			}
		})
	})
}

// BenchmarkTrackCall compares TrackCall without an observer to TrackCall
// with the exporter, for one series and for 16 series. The difference is
// what the exporter adds to every call.
func BenchmarkTrackCall(b *testing.B) {
	b.Run("none", func(b *testing.B) {
		benchmarkTrackCall(b, benchCalls(1))
	})
	b.Run("prometheus", func(b *testing.B) {
		benchmarkTrackCall(b, benchCalls(1), usage.WithObserver(promexport.New()))
	})
	b.Run("prometheus-16-models", func(b *testing.B) {
		benchmarkTrackCall(b, benchCalls(16), usage.WithObserver(promexport.New()))
	})
}

// BenchmarkEndCall measures the exporter alone on a priced, streamed call.
func BenchmarkEndCall(b *testing.B) {
	exp := promexport.New()
	r := usage.Record{
		Call: benchCalls(1)[0], UsageKnown: true, Priced: true, CostNanos: 42_000,
		Tokens:  usage.Tokens{Input: 120, CachedInput: 64, Output: 40},
		Latency: 800 * time.Millisecond, Stream: true, TTFT: 200 * time.Millisecond,
	}
	ctx := context.Background()

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			exp.EndCall(ctx, &r)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := r
			for pb.Next() {
				exp.EndCall(ctx, &r)
			}
		})
	})
}

// BenchmarkCollect measures one scrape of an exporter with 100 models.
func BenchmarkCollect(b *testing.B) {
	exp := promexport.New()
	for _, call := range benchCalls(100) {
		r := usage.Record{Call: call, UsageKnown: true, Priced: true, CostNanos: 1, Latency: time.Second}
		exp.EndCall(context.Background(), &r)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)

	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
