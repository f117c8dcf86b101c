//go:build !race

package usage_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// TestHeapStaysBoundedUnderLoad tracks ten million calls across a thousand
// series and checks that the heap does not grow with the number of calls.
// The race detector multiplies memory and time, so this test runs only
// without it.
func TestHeapStaysBoundedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("tracks ten million calls; skipped with -short")
	}
	const calls, series = 10_000_000, 1000
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store, usage.WithFullPolicy(usage.WaitWhenFull, time.Minute))

	models := make([]usage.Call, series)
	for i := range models {
		models[i] = usage.Call{Endpoint: "/chat", Provider: "openai", Model: "model-" + strconv.Itoa(i)}
	}
	resp := openai.ChatCompletionResponse{Usage: openai.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}}
	fn := func(context.Context) (openai.ChatCompletionResponse, error) { return resp, nil }

	ctx := context.Background()
	for i := 0; i < calls; i++ {
		_, _ = usage.TrackCall(ctx, tr, models[i%series], fn)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	const limit = 64 << 20
	if m.HeapInuse > limit {
		t.Errorf("heap in use after %d calls = %d MiB, want under %d MiB", calls, m.HeapInuse>>20, limit>>20)
	}
	t.Logf("heap in use after %d calls across %d series: %.1f MiB", calls, series, float64(m.HeapInuse)/(1<<20))

	if st := tr.Stats(); st.Written != calls {
		t.Errorf("written %d, dropped %d; want all %d written", st.Written, st.Dropped, calls)
	}
	_ = tr.Close(ctx)
}
