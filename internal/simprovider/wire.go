package simprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// systemFingerprint is sent in every chat response, as OpenAI sends one.
const systemFingerprint = "fp_simulated"

// tokenCounts is the usage of one response.
type tokenCounts struct {
	prompt, cached, completion, reasoning int
}

// chatUsage is the usage object of a chat completion. The detail objects
// carry every field that OpenAI sends, so decoders see the same shape.
type chatUsage struct {
	PromptTokens            int                    `json:"prompt_tokens"`
	CompletionTokens        int                    `json:"completion_tokens"`
	TotalTokens             int                    `json:"total_tokens"`
	PromptTokensDetails     promptTokenDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails completionTokenDetails `json:"completion_tokens_details"`
}

type promptTokenDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type completionTokenDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

func (t tokenCounts) chatUsage() chatUsage {
	return chatUsage{
		PromptTokens:            t.prompt,
		CompletionTokens:        t.completion,
		TotalTokens:             t.prompt + t.completion,
		PromptTokensDetails:     promptTokenDetails{CachedTokens: t.cached},
		CompletionTokensDetails: completionTokenDetails{ReasoningTokens: t.reasoning},
	}
}

// chatCompletion is the body of a non-streamed chat completion.
type chatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []chatChoice `json:"choices"`
	Usage             chatUsage    `json:"usage"`
	ServiceTier       string       `json:"service_tier"`
	SystemFingerprint string       `json:"system_fingerprint"`
}

type chatChoice struct {
	Index        int              `json:"index"`
	Message      assistantMessage `json:"message"`
	Logprobs     *struct{}        `json:"logprobs"` // always null
	FinishReason string           `json:"finish_reason"`
}

type assistantMessage struct {
	Role        string     `json:"role"`
	Content     string     `json:"content"`
	Refusal     *string    `json:"refusal"`     // always null
	Annotations []struct{} `json:"annotations"` // always empty
}

// chatChunk is one server-sent event of a streamed chat completion.
type chatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	ServiceTier       string        `json:"service_tier"`
	SystemFingerprint string        `json:"system_fingerprint"`
	Choices           []chunkChoice `json:"choices"` // never nil, so never null
	// Usage is absent without include_usage, and with it null on every
	// chunk but the last, as OpenAI sends it.
	Usage json.RawMessage `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *struct{}  `json:"logprobs"`      // always null
	FinishReason *string    `json:"finish_reason"` // null until the finish chunk
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// embeddingList is the body of an embeddings response.
type embeddingList struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

type embeddingItem struct {
	Object string `json:"object"`
	Index  int    `json:"index"`
	// Embedding is a []float32, or a base64 string of little-endian
	// float32 values when the request set encoding_format "base64".
	Embedding any `json:"embedding"`
}

// embeddingUsage has no completion tokens, as OpenAI sends it.
type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// writeJSON writes v as a 200 JSON response. An error means the client is
// gone.
func writeJSON(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		// The response types hold only strings, numbers and slices.
		panic(fmt.Sprintf("simprovider: marshal response: %v", err))
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(append(body, '\n'))
	return err
}
