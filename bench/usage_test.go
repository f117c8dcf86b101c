package bench

import (
	"context"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
	"github.com/prometheus/client_golang/prometheus"
	openai "github.com/sashabaranov/go-openai"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// The recorders below keep the same signals for a no-op chat call: its
// latency, a call count, input and output tokens and its cost.

var benchResponse = openai.ChatCompletionResponse{
	Model: "gpt-4o-mini",
	Usage: openai.Usage{PromptTokens: 120, CompletionTokens: 40, TotalTokens: 160},
}

func noopCall(context.Context) (openai.ChatCompletionResponse, error) { return benchResponse, nil }

// recordFunc makes one tracked no-op call.
type recordFunc func(ctx context.Context)

func aimeterTrack(b *testing.B) recordFunc {
	// Waiting for room in the queue, instead of dropping, makes the
	// measure include the writer that folds each record into the store.
	tr := usage.NewTracker(usage.NewMemoryStore(), usage.WithFullPolicy(usage.WaitWhenFull, time.Minute))
	b.Cleanup(func() {
		_ = tr.Close(context.Background())
		if st := tr.Stats(); st.Dropped > 0 {
			b.Errorf("tracker dropped %d records; the comparison is only fair with none dropped", st.Dropped)
		}
	})
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini"}
	return func(ctx context.Context) { _, _ = usage.TrackCall(ctx, tr, call, noopCall) }
}

func prometheusTrack(b *testing.B) recordFunc {
	labels := []string{"endpoint", "provider", "model"}
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latency_seconds", Buckets: prometheus.DefBuckets}, labels)
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total"}, labels)
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tokens_total"}, append(labels, "type"))
	cost := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cost_usd_total"}, labels)
	prices := usage.DefaultTable()
	return func(ctx context.Context) {
		start := time.Now()
		resp, err := noopCall(ctx)
		elapsed := time.Since(start)
		if err != nil {
			return
		}
		latency.WithLabelValues("/api/ai/chat", "openai", "gpt-4o-mini").Observe(elapsed.Seconds())
		calls.WithLabelValues("/api/ai/chat", "openai", "gpt-4o-mini").Inc()
		tokens.WithLabelValues("/api/ai/chat", "openai", "gpt-4o-mini", "input").Add(float64(resp.Usage.PromptTokens))
		tokens.WithLabelValues("/api/ai/chat", "openai", "gpt-4o-mini", "output").Add(float64(resp.Usage.CompletionTokens))
		if p, _, ok := prices.Lookup(resp.Model); ok {
			tok, _ := usage.TokensFromOpenAI(&resp.Usage)
			cost.WithLabelValues("/api/ai/chat", "openai", "gpt-4o-mini").Add(float64(p.Cost(tok)) / 1e9)
		}
	}
}

func otelTrack(b *testing.B) recordFunc {
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	meter := provider.Meter("bench")
	duration, err := meter.Float64Histogram("gen_ai.client.operation.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92))
	if err != nil {
		b.Fatal(err)
	}
	tokenUsage, err := meter.Int64Histogram("gen_ai.client.token.usage", metric.WithUnit("{token}"),
		metric.WithExplicitBucketBoundaries(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864))
	if err != nil {
		b.Fatal(err)
	}
	return func(ctx context.Context) {
		start := time.Now()
		resp, err := noopCall(ctx)
		elapsed := time.Since(start)
		if err != nil {
			return
		}
		attrs := []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", "gpt-4o-mini"),
		}
		duration.Record(ctx, elapsed.Seconds(), metric.WithAttributes(attrs...))
		tokenUsage.Record(ctx, int64(resp.Usage.PromptTokens), metric.WithAttributes(append(attrs, attribute.String("gen_ai.token.type", "input"))...))
		tokenUsage.Record(ctx, int64(resp.Usage.CompletionTokens), metric.WithAttributes(append(attrs, attribute.String("gen_ai.token.type", "output"))...))
	}
}

var recorders = []struct {
	name string
	make func(*testing.B) recordFunc
}{
	{"aimeter", aimeterTrack},
	{"prometheus", prometheusTrack},
	{"opentelemetry", otelTrack},
}

// BenchmarkTrackCall compares what recording one no-op chat call costs.
func BenchmarkTrackCall(b *testing.B) {
	ctx := context.Background()
	for _, r := range recorders {
		b.Run(r.name+"/serial", func(b *testing.B) {
			record := r.make(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				record(ctx)
			}
		})
		b.Run(r.name+"/parallel", func(b *testing.B) {
			record := r.make(b)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					record(ctx)
				}
			})
		})
	}
}
