package tokenizer_test

import (
	"sync"
	"testing"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/budget/tokenizer"
	openai "github.com/sashabaranov/go-openai"
)

// estimator is shared by the tests, so each encoding loads once.
var estimator = tokenizer.New(nil)

// The token ids below are those that OpenAI's tiktoken gives for the same
// strings, as its cookbook "How to count tokens with tiktoken" shows them.
func TestCountKnownStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		encoding string
		text     string
		want     int
	}{
		{tokenizer.O200kBase, "hello world", 2},
		{tokenizer.O200kBase, "tiktoken is great!", 6},
		{tokenizer.O200kBase, "antidisestablishmentarianism", 6},
		{tokenizer.O200kBase, "2 + 2 = 4", 7},
		{tokenizer.O200kBase, "お誕生日おめでとう", 8},
		{tokenizer.O200kBase, "", 0},
		{tokenizer.Cl100kBase, "hello world", 2},
		{tokenizer.Cl100kBase, "tiktoken is great!", 6},
		{tokenizer.Cl100kBase, "antidisestablishmentarianism", 6},
		{tokenizer.Cl100kBase, "2 + 2 = 4", 7},
		{tokenizer.Cl100kBase, "お誕生日おめでとう", 9},
		{tokenizer.Cl100kBase, "<|endoftext|>", 7}, // plain text, not the special token
	}
	for _, tt := range tests {
		got, err := estimator.Count(tt.encoding, tt.text)
		if err != nil {
			t.Fatalf("Count(%s, %q): %v", tt.encoding, tt.text, err)
		}
		if got != tt.want {
			t.Errorf("Count(%s, %q) = %d, want %d", tt.encoding, tt.text, got, tt.want)
		}
	}
}

func TestEncodingOfModels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model, want string
	}{
		{"gpt-4o", tokenizer.O200kBase},
		{"gpt-4o-mini-2024-07-18", tokenizer.O200kBase},
		{"chatgpt-4o-latest", tokenizer.O200kBase},
		{"gpt-4.1-nano", tokenizer.O200kBase},
		{"gpt-5", tokenizer.O200kBase},
		{"gpt-5.1-codex", tokenizer.O200kBase},
		{"o1", tokenizer.O200kBase},
		{"o3-mini", tokenizer.O200kBase},
		{"o4-mini-2025-04-16", tokenizer.O200kBase},
		{"ft:gpt-4o-mini-2024-07-18:acme::abc123", tokenizer.O200kBase},
		{"gpt-4", tokenizer.Cl100kBase},
		{"gpt-4-turbo-2024-04-09", tokenizer.Cl100kBase},
		{"gpt-3.5-turbo", tokenizer.Cl100kBase},
		{"gpt-35-turbo", tokenizer.Cl100kBase},
		{"text-embedding-3-small", tokenizer.Cl100kBase},
		{"text-embedding-ada-002", tokenizer.Cl100kBase},
		{"o1x", ""},
		{"gpt-4x", ""},
		{"claude-sonnet-4-5", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := tokenizer.Encoding(tt.model); got != tt.want {
			t.Errorf("Encoding(%q) = %q, want %q", tt.model, got, tt.want)
		}
	}
}

func TestCountTokensFallsBack(t *testing.T) {
	t.Parallel()
	text := "tiktoken is great!" // 18 bytes
	if got := estimator.CountTokens("gpt-4o", text); got != 6 {
		t.Errorf("gpt-4o: %d tokens, want 6", got)
	}
	if got := estimator.CountTokens("claude-sonnet-4-5", text); got != 5 {
		t.Errorf("unknown model: %d tokens, want ⌈18/4⌉ = 5 from chars/4", got)
	}
	custom := tokenizer.New(fixedEstimator(42))
	if got := custom.CountTokens("llama-3", text); got != 42 {
		t.Errorf("custom fallback: %d tokens, want 42", got)
	}
}

type fixedEstimator int

func (f fixedEstimator) CountTokens(string, string) int { return int(f) }

func TestUnknownEncoding(t *testing.T) {
	t.Parallel()
	if _, err := estimator.Count("p50k_base", "hi"); err == nil {
		t.Error("Count with p50k_base returned no error")
	}
	if err := estimator.Load("r50k_base"); err == nil {
		t.Error("Load of r50k_base returned no error")
	}
}

func TestConcurrentCounts(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if got := estimator.CountTokens("gpt-4o-mini", "hello world"); got != 2 {
					t.Errorf("CountTokens = %d, want 2", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestGuardEstimate checks the chat framing on top of exact counts: each
// message costs 3 tokens plus its role and content, and the reply 3 more.
func TestGuardEstimate(t *testing.T) {
	t.Parallel()
	g := budget.MustNew(budget.Config{
		Budgets:   []budget.Budget{{Name: "tokens", Unit: budget.Tokens, Limit: 1 << 30, Window: budget.Daily(nil)}},
		Estimator: estimator,
	})
	req := budget.ChatRequest(openai.ChatCompletionRequest{
		Model:     "gpt-4o",
		Messages:  []openai.ChatCompletionMessage{{Role: "user", Content: "tiktoken is great!"}},
		MaxTokens: 100,
	})
	e, err := g.Estimate(req)
	if err != nil {
		t.Fatal(err)
	}
	// "user" is one token in o200k_base.
	if want := int64(3 + 1 + 6 + 3); e.Tokens.Input != want {
		t.Errorf("input %d tokens, want %d", e.Tokens.Input, want)
	}
}

func BenchmarkCountTokens(b *testing.B) {
	text := "Summarise the following report in three bullet points, keeping every figure exact. "
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		b.Run(model, func(b *testing.B) {
			estimator.CountTokens(model, text) // load the encoding first
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for i := 0; i < b.N; i++ {
				estimator.CountTokens(model, text)
			}
		})
	}
}
