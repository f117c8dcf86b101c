package usage_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// exampleProvider serves one fixed chat completion or stream, standing in
// for OpenAI.
func exampleProvider(stream bool) (*openai.Client, func()) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if stream {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, sse(
				chunk("Hello", "null", "null"),
				chunk("", `"stop"`, "null"),
				chunk("", "", `{"prompt_tokens":24,"completion_tokens":58,"total_tokens":82}`)))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, chatBody("gpt-4o",
			`{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920}}`))
	}))
	cfg := openai.DefaultConfig("sk-example")
	cfg.BaseURL = srv.URL + "/v1"
	return openai.NewClientWithConfig(cfg), srv.Close
}

func ExampleTrackCall() {
	client, stop := exampleProvider(false)
	defer stop()

	store := usage.NewMemoryStore()
	tracker := usage.NewTracker(store)

	req := openai.ChatCompletionRequest{Model: "gpt-4o", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}}
	_, err := usage.TrackCall(context.Background(), tracker,
		usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: req.Model},
		func(ctx context.Context) (openai.ChatCompletionResponse, error) {
			return client.CreateChatCompletion(ctx, req)
		})
	if err != nil {
		fmt.Println(err)
		return
	}

	_ = tracker.Close(context.Background())
	recent, _ := store.Recent(context.Background(), 1)
	r := recent[0]
	fmt.Println(r.Tokens)
	fmt.Printf("cost: $%.6f\n", float64(r.CostNanos)/1e9)
	// Output:
	// in=2006 (cached 1920) out=300 (reasoning 0)
	// cost: $0.005615
}

func ExampleTrackChatStream() {
	client, stop := exampleProvider(true)
	defer stop()

	store := usage.NewMemoryStore()
	tracker := usage.NewTracker(store)

	req := openai.ChatCompletionRequest{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}}
	stream, err := usage.TrackChatStream(context.Background(), tracker,
		usage.Call{Endpoint: "/api/ai/chat", Provider: "openai"}, client, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	var text strings.Builder
	for {
		chunk, err := stream.Recv()
		if err != nil {
			break // io.EOF at the end; the record is written either way
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	_ = stream.Close()

	_ = tracker.Close(context.Background())
	recent, _ := store.Recent(context.Background(), 1)
	fmt.Println(text.String(), recent[0].Tokens.Input, recent[0].Tokens.Output, recent[0].Stream)
	// Output: Hello 24 58 true
}

func ExampleLoadNative() {
	table, err := usage.LoadNative(strings.NewReader(`{
		"unit": "1M",
		"models": {"acme-large": {"provider": "acme", "input": 3.00, "cached_input": 0.30, "output": 15.00}},
		"aliases": {"prod-large-eu": "acme-large"}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	prices := usage.DefaultTable()
	prices.Merge(table)

	p, entry, _ := prices.Lookup("prod-large-eu")
	nanos := p.Cost(usage.Tokens{Input: 10_000, CachedInput: 8_000, Output: 500})
	fmt.Printf("%s: %d nano-dollars ($%.4f)\n", entry, nanos, float64(nanos)/1e9)
	// Output: acme-large: 15900000 nano-dollars ($0.0159)
}
