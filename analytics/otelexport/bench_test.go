package otelexport_test

import (
	"context"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics/otelexport"
	"github.com/aimeter/aimeter/usage"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
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

// benchResponse reports usage like a small chat completion.
type benchResponse struct{}

func (benchResponse) TokenUsage() (usage.Tokens, bool) {
	return usage.Tokens{Input: 120, Output: 40}, true
}

// benchmarkTrackCall measures usage.TrackCall around a function that does
// nothing, with the given tracker options.
func benchmarkTrackCall(b *testing.B, opts ...usage.TrackerOption) {
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"}
	fn := func(context.Context) (benchResponse, error) { return benchResponse{}, nil }
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
			_, _ = usage.TrackCall(ctx, tr, call, fn)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		tr := newTracker(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = usage.TrackCall(ctx, tr, call, fn)
			}
		})
	})
}

// newBenchObserver returns an Observer on the SDK providers, or on no-op
// providers when sdk is false. The SDK tracer samples every span and sends
// it nowhere, which is the span cost without an exporter's.
func newBenchObserver(b *testing.B, sdk bool) *otelexport.Observer {
	b.Helper()
	opts := []otelexport.Option{
		otelexport.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelexport.WithTracerProvider(tracenoop.NewTracerProvider()),
	}
	if sdk {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
		b.Cleanup(func() {
			_ = mp.Shutdown(context.Background())
			_ = tp.Shutdown(context.Background())
		})
		opts = []otelexport.Option{otelexport.WithMeterProvider(mp), otelexport.WithTracerProvider(tp)}
	}
	obs, err := otelexport.New(opts...)
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	return obs
}

// BenchmarkTrackCall compares TrackCall without an observer to TrackCall
// with the observer on no-op providers and on the SDK. The difference is
// what the observer adds to every call.
func BenchmarkTrackCall(b *testing.B) {
	b.Run("none", func(b *testing.B) {
		benchmarkTrackCall(b)
	})
	b.Run("otel-noop", func(b *testing.B) {
		benchmarkTrackCall(b, usage.WithObserver(newBenchObserver(b, false)))
	})
	b.Run("otel-sdk", func(b *testing.B) {
		benchmarkTrackCall(b, usage.WithObserver(newBenchObserver(b, true)))
	})
}

// BenchmarkEndCallMetrics measures the metrics alone: EndCall with a
// context StartCall did not return, so no span is ended.
func BenchmarkEndCallMetrics(b *testing.B) {
	obs := newBenchObserver(b, true)
	r := usage.Record{
		Call:       usage.Call{Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"},
		UsageKnown: true, Priced: true, CostNanos: 42_000,
		Tokens:  usage.Tokens{Input: 120, Output: 40},
		Latency: 800 * time.Millisecond, Stream: true, TTFT: 200 * time.Millisecond,
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		obs.EndCall(ctx, &r)
	}
}
