package usage_test

import (
	"context"
	"testing"

	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// benchResponse is a chat completion as go-openai decodes it.
var benchResponse = openai.ChatCompletionResponse{
	Model: "gpt-4o-mini",
	Usage: openai.Usage{PromptTokens: 120, CompletionTokens: 40, TotalTokens: 160},
}

func benchTracker(b *testing.B) *usage.Tracker {
	b.Helper()
	tr := usage.NewTracker(usage.NewMemoryStore(), usage.WithQueueSize(1<<16))
	b.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr
}

// BenchmarkTrackCall measures what TrackCall adds to a call that does
// nothing: timing, usage extraction, pricing and queueing the record.
func BenchmarkTrackCall(b *testing.B) {
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini"}
	fn := func(context.Context) (openai.ChatCompletionResponse, error) { return benchResponse, nil }
	ctx := context.Background()

	b.Run("serial", func(b *testing.B) {
		tr := benchTracker(b)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = usage.TrackCall(ctx, tr, call, fn)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		tr := benchTracker(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = usage.TrackCall(ctx, tr, call, fn)
			}
		})
	})
}
