package simprovider

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	s, client := startServer(t, Config{})

	tests := []struct {
		name       string
		req        openai.EmbeddingRequestConverter
		wantInputs int
		wantDims   int
		wantTokens int
	}{
		{
			// "hello world" is 11 characters, so 3 tokens.
			name:       "one string",
			req:        openai.EmbeddingRequest{Model: openai.SmallEmbedding3, Input: "hello world"},
			wantInputs: 1, wantDims: 8, wantTokens: 3,
		},
		{
			name:       "strings",
			req:        openai.EmbeddingRequestStrings{Model: openai.SmallEmbedding3, Input: []string{"hello world", "abc"}},
			wantInputs: 2, wantDims: 8, wantTokens: 4,
		},
		{
			name:       "token arrays",
			req:        openai.EmbeddingRequestTokens{Model: openai.SmallEmbedding3, Input: [][]int{{1, 2, 3}, {4, 5}}},
			wantInputs: 2, wantDims: 8, wantTokens: 5,
		},
		{
			name:       "one token array",
			req:        openai.EmbeddingRequest{Model: openai.SmallEmbedding3, Input: []int{7, 8, 9, 10}},
			wantInputs: 1, wantDims: 8, wantTokens: 4,
		},
		{
			name:       "dimensions",
			req:        openai.EmbeddingRequestStrings{Model: openai.LargeEmbedding3, Input: []string{"hello world"}, Dimensions: 32},
			wantInputs: 1, wantDims: 32, wantTokens: 3,
		},
		{
			name: "base64",
			req: openai.EmbeddingRequestStrings{Model: openai.SmallEmbedding3, Input: []string{"hello world"},
				EncodingFormat: openai.EmbeddingEncodingFormatBase64},
			wantInputs: 1, wantDims: 8, wantTokens: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.CreateEmbeddings(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("CreateEmbeddings: %v", err)
			}

			if want := tt.req.Convert().Model; resp.Model != want {
				t.Errorf("Model = %q, want %q as requested", resp.Model, want)
			}
			if len(resp.Data) != tt.wantInputs {
				t.Fatalf("len(Data) = %d, want %d", len(resp.Data), tt.wantInputs)
			}
			for i, d := range resp.Data {
				if d.Index != i {
					t.Errorf("Data[%d].Index = %d, want %d", i, d.Index, i)
				}
				if len(d.Embedding) != tt.wantDims {
					t.Errorf("len(Data[%d].Embedding) = %d, want %d", i, len(d.Embedding), tt.wantDims)
				}
				norm := 0.0
				for _, x := range d.Embedding {
					norm += float64(x) * float64(x)
				}
				if math.Abs(norm-1) > 1e-5 {
					t.Errorf("Data[%d] squared norm = %v, want 1", i, norm)
				}
			}

			if resp.Usage.PromptTokens != tt.wantTokens {
				t.Errorf("PromptTokens = %d, want %d", resp.Usage.PromptTokens, tt.wantTokens)
			}
			if resp.Usage.TotalTokens != resp.Usage.PromptTokens {
				t.Errorf("TotalTokens = %d, want PromptTokens %d", resp.Usage.TotalTokens, resp.Usage.PromptTokens)
			}
			if resp.Usage.CompletionTokens != 0 {
				t.Errorf("CompletionTokens = %d, want 0", resp.Usage.CompletionTokens)
			}
		})
	}

	if got := s.Stats().Embeddings; got != int64(len(tests)) {
		t.Errorf("Stats().Embeddings = %d, want %d", got, len(tests))
	}
}

func TestEmbeddingsDeterministic(t *testing.T) {
	t.Parallel()
	_, client := startServer(t, Config{Seed: 1})
	_, other := startServer(t, Config{Seed: 2})
	ctx := context.Background()
	req := openai.EmbeddingRequestStrings{Model: openai.SmallEmbedding3, Input: []string{"same text", "different text"}}

	first, err := client.CreateEmbeddings(ctx, req)
	if err != nil {
		t.Fatalf("first CreateEmbeddings: %v", err)
	}
	second, err := other.CreateEmbeddings(ctx, req)
	if err != nil {
		t.Fatalf("second CreateEmbeddings: %v", err)
	}

	if !reflect.DeepEqual(first.Data[0].Embedding, second.Data[0].Embedding) {
		t.Errorf("embeddings of one text differ between servers:\n%v\n%v", first.Data[0].Embedding, second.Data[0].Embedding)
	}
	if reflect.DeepEqual(first.Data[0].Embedding, first.Data[1].Embedding) {
		t.Errorf("embeddings of two texts are equal: %v", first.Data[0].Embedding)
	}
}

func TestEmbeddingsWireShape(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})

	resp, data := postRaw(t, s, PathEmbeddings, "Bearer k", `{"model":"text-embedding-3-small","input":"abcd"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, data)
	}

	var body struct {
		Object string                     `json:"object"`
		Usage  map[string]json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal([]byte(data), &body); err != nil {
		t.Fatalf("decode body %s: %v", data, err)
	}
	if body.Object != "list" {
		t.Errorf("object = %q, want list", body.Object)
	}
	want := map[string]json.RawMessage{"prompt_tokens": json.RawMessage("1"), "total_tokens": json.RawMessage("1")}
	if !reflect.DeepEqual(body.Usage, want) {
		t.Errorf("usage = %s, want only prompt_tokens and total_tokens of 1", data)
	}
}

func TestEmbeddingsInvalidRequest(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})

	tests := []struct {
		name      string
		body      string
		wantParam string
	}{
		{name: "missing model", body: `{"input":"x"}`, wantParam: "model"},
		{name: "missing input", body: `{"model":"text-embedding-3-small"}`, wantParam: "input"},
		{name: "empty string", body: `{"model":"text-embedding-3-small","input":""}`, wantParam: "input"},
		{name: "empty array", body: `{"model":"text-embedding-3-small","input":[]}`, wantParam: "input"},
		{name: "empty item", body: `{"model":"text-embedding-3-small","input":["a",""]}`, wantParam: "input"},
		{name: "object input", body: `{"model":"text-embedding-3-small","input":{"a":1}}`, wantParam: "input"},
		{name: "zero dimensions", body: `{"model":"text-embedding-3-small","input":"x","dimensions":0}`, wantParam: "dimensions"},
		{name: "unknown format", body: `{"model":"text-embedding-3-small","input":"x","encoding_format":"hex"}`, wantParam: "encoding_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := postRaw(t, s, PathEmbeddings, "Bearer k", tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, data)
			}

			var got struct {
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal([]byte(data), &got); err != nil {
				t.Fatalf("decode body %s: %v", data, err)
			}
			if got.Error["type"] != "invalid_request_error" {
				t.Errorf("error.type = %v, want invalid_request_error", got.Error["type"])
			}
			if got.Error["param"] != tt.wantParam {
				t.Errorf("error.param = %v, want %s", got.Error["param"], tt.wantParam)
			}
		})
	}
}
