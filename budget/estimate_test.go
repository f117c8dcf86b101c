package budget_test

import (
	"testing"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

func TestCharEstimator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want int
	}{
		{"", 0},
		{"abcd", 1},
		{"abcde", 2},
		{"Hello, world!", 4},
		{"日本語", 3}, // nine bytes
	}
	for _, tt := range tests {
		if got := (budget.CharEstimator{}).CountTokens("any-model", tt.text); got != tt.want {
			t.Errorf("CountTokens(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

// byteEstimator counts one token per byte, so that tests can add counts
// up by hand.
type byteEstimator struct{}

func (byteEstimator) CountTokens(_, text string) int { return len(text) }

func TestEstimateTokens(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(1 << 40)}, func(c *budget.Config) {
		c.Estimator = byteEstimator{}
		c.OutputCeiling = 500
	})
	msgs := []openai.ChatCompletionMessage{
		{Role: "system", Content: "Be brief."},     // 3 + 6 + 9
		{Role: "user", Content: "Hi", Name: "ann"}, // 3 + 4 + 2 + 1 + 3
		{Role: "user", MultiContent: []openai.ChatMessagePart{ // 3 + 4 + 4 + 85 + 765
			{Type: openai.ChatMessagePartTypeText, Text: "Look"},
			{Type: openai.ChatMessagePartTypeImageURL, ImageURL: &openai.ChatMessageImageURL{URL: "data:,", Detail: openai.ImageURLDetailLow}},
			{Type: openai.ChatMessagePartTypeImageURL, ImageURL: &openai.ChatMessageImageURL{URL: "data:,"}},
		}},
		{Role: "assistant", ToolCalls: []openai.ToolCall{{Function: openai.FunctionCall{Name: "f", Arguments: "{}"}}}}, // 3 + 9 + 1 + 2
	}
	const chatInput = 18 + 13 + 861 + 15 + 3 // and 3 to prime the reply

	tests := []struct {
		name       string
		req        budget.Request
		wantInput  int64
		wantOutput int64
	}{
		{
			name:       "chat with the ceiling",
			req:        budget.Request{Model: "gpt-4o", Messages: msgs},
			wantInput:  chatInput,
			wantOutput: 500,
		},
		{
			name:       "max_completion_tokens wins over max_tokens",
			req:        budget.ChatRequest(openai.ChatCompletionRequest{Model: "gpt-4o", Messages: msgs, MaxTokens: 900, MaxCompletionTokens: 300}),
			wantInput:  chatInput,
			wantOutput: 300,
		},
		{
			name:       "n choices",
			req:        budget.ChatRequest(openai.ChatCompletionRequest{Model: "gpt-4o", Messages: msgs, MaxTokens: 100, N: 3}),
			wantInput:  chatInput,
			wantOutput: 300,
		},
		{
			name: "tools count as JSON",
			req: budget.ChatRequest(openai.ChatCompletionRequest{Model: "gpt-4o", MaxTokens: 1,
				Tools: []openai.Tool{{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{Name: "f"}}}}),
			wantInput:  int64(len(`[{"type":"function","function":{"name":"f","parameters":null}}]`)),
			wantOutput: 1,
		},
		{
			name:       "embedding strings",
			req:        budget.EmbeddingRequest(openai.EmbeddingRequest{Model: openai.SmallEmbedding3, Input: []string{"abc", "de"}}),
			wantInput:  5,
			wantOutput: 0,
		},
		{
			name:       "embedding token lists",
			req:        budget.EmbeddingRequest(openai.EmbeddingRequest{Model: openai.SmallEmbedding3, Input: [][]int{{1, 2, 3}, {4}}}),
			wantInput:  4,
			wantOutput: 0,
		},
		{
			name:       "completion batch",
			req:        budget.CompletionRequest(openai.CompletionRequest{Model: "gpt-3.5-turbo-instruct", Prompt: []string{"ab", "cde"}, MaxTokens: 10, N: 2}),
			wantInput:  5,
			wantOutput: 40,
		},
		{
			name:       "counted by the caller",
			req:        budget.Request{Model: "gpt-4o", InputTokens: 1234, MaxOutputTokens: 10},
			wantInput:  1234,
			wantOutput: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := g.Estimate(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if e.Tokens.Input != tt.wantInput || e.Tokens.Output != tt.wantOutput {
				t.Errorf("estimate %d in, %d out; want %d, %d", e.Tokens.Input, e.Tokens.Output, tt.wantInput, tt.wantOutput)
			}
			if !e.Priced {
				t.Fatalf("model %q unpriced", tt.req.Model)
			}
			p, _, _ := usage.DefaultTable().Lookup(tt.req.Model)
			if want := p.Cost(e.Tokens); e.CostNanos != want {
				t.Errorf("cost %d, want %d from the table", e.CostNanos, want)
			}
		})
	}
}
