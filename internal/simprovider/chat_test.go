package simprovider

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

// checkUsage checks the invariants every chat usage must keep.
func checkUsage(t *testing.T, u openai.Usage) {
	t.Helper()
	if u.PromptTokens < 1 {
		t.Errorf("PromptTokens = %d, want at least 1", u.PromptTokens)
	}
	if u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("TotalTokens = %d, want PromptTokens + CompletionTokens = %d", u.TotalTokens, u.PromptTokens+u.CompletionTokens)
	}
	if u.PromptTokensDetails == nil {
		t.Fatalf("PromptTokensDetails = nil, want an object")
	}
	if u.CompletionTokensDetails == nil {
		t.Fatalf("CompletionTokensDetails = nil, want an object")
	}
	if got := u.PromptTokensDetails.CachedTokens; got < 0 || got > u.PromptTokens {
		t.Errorf("CachedTokens = %d, want within [0, PromptTokens %d]", got, u.PromptTokens)
	}
	if got := u.CompletionTokensDetails.ReasoningTokens; got < 0 || got > u.CompletionTokens {
		t.Errorf("ReasoningTokens = %d, want within [0, CompletionTokens %d]", got, u.CompletionTokens)
	}
}

func TestChatCompletion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		model         string
		wantReasoning bool
	}{
		{name: "chat model", model: "gpt-4o-mini", wantReasoning: false},
		{name: "dated snapshot", model: "gpt-4o-2024-08-06", wantReasoning: false},
		{name: "unknown alias", model: "prod-chat-eu", wantReasoning: false},
		{name: "o3-mini", model: "o3-mini", wantReasoning: true},
		{name: "o1", model: "o1", wantReasoning: true},
		{name: "o4-mini", model: "o4-mini", wantReasoning: true},
		{name: "gpt-5", model: "gpt-5-mini", wantReasoning: true},
		{name: "gpt-5-chat", model: "gpt-5-chat-latest", wantReasoning: false},
	}
	_, client := startServer(t, Config{})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.CreateChatCompletion(context.Background(), userChat(tt.model, "Say hello."))
			if err != nil {
				t.Fatalf("CreateChatCompletion: %v", err)
			}

			if resp.Model != tt.model {
				t.Errorf("Model = %q, want %q as requested", resp.Model, tt.model)
			}
			if !strings.HasPrefix(resp.ID, "chatcmpl-") {
				t.Errorf("ID = %q, want prefix chatcmpl-", resp.ID)
			}
			if resp.Object != "chat.completion" {
				t.Errorf("Object = %q, want chat.completion", resp.Object)
			}
			if resp.Created == 0 {
				t.Errorf("Created = 0, want a Unix time")
			}
			if len(resp.Choices) != 1 {
				t.Fatalf("len(Choices) = %d, want 1", len(resp.Choices))
			}
			choice := resp.Choices[0]
			if choice.FinishReason != openai.FinishReasonStop {
				t.Errorf("FinishReason = %q, want stop", choice.FinishReason)
			}
			if choice.Message.Role != openai.ChatMessageRoleAssistant {
				t.Errorf("Role = %q, want assistant", choice.Message.Role)
			}
			if !strings.HasPrefix(choice.Message.Content, "This is a simulated reply.") {
				t.Errorf("Content = %q, want the simulated reply opening", choice.Message.Content)
			}

			checkUsage(t, resp.Usage)
			reasoning := resp.Usage.CompletionTokensDetails.ReasoningTokens
			if got := reasoning > 0; got != tt.wantReasoning {
				t.Errorf("ReasoningTokens = %d, want reasoning %v for %s", reasoning, tt.wantReasoning, tt.model)
			}
		})
	}
}

func TestChatPromptTokens(t *testing.T) {
	t.Parallel()
	_, client := startServer(t, Config{})

	tests := []struct {
		name     string
		messages []openai.ChatCompletionMessage
		want     int
	}{
		{
			// 3 per message + "user" 1 + "Hello" 2, then 3 for the reply.
			name:     "one message",
			messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hello"}},
			want:     9,
		},
		{
			// (3 + 2 + 4) + (3 + 1 + 3 + 1 + 1) + 3.
			name: "system and named user",
			messages: []openai.ChatCompletionMessage{
				{Role: "system", Content: "Be brief, please"},
				{Role: "user", Name: "ann", Content: "Hi there!"},
			},
			want: 21,
		},
		{
			// 3 + 1 + "look" 1 + one image 85, then 3.
			name: "text and image parts",
			messages: []openai.ChatCompletionMessage{{Role: "user", MultiContent: []openai.ChatMessagePart{
				{Type: openai.ChatMessagePartTypeText, Text: "look"},
				{Type: openai.ChatMessagePartTypeImageURL, ImageURL: &openai.ChatMessageImageURL{URL: "https://example.com/a.png"}},
			}}},
			want: 93,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
				Model:    "gpt-4o-mini",
				Messages: tt.messages,
			})
			if err != nil {
				t.Fatalf("CreateChatCompletion: %v", err)
			}
			if got := resp.Usage.PromptTokens; got != tt.want {
				t.Errorf("PromptTokens = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestChatCompletionLimit(t *testing.T) {
	t.Parallel()
	_, client := startServer(t, Config{})

	tests := []struct {
		name  string
		req   openai.ChatCompletionRequest
		limit int
	}{
		{name: "max_tokens", req: openai.ChatCompletionRequest{MaxTokens: 5}, limit: 5},
		{name: "max_completion_tokens", req: openai.ChatCompletionRequest{MaxCompletionTokens: 7}, limit: 7},
		{name: "smaller of both", req: openai.ChatCompletionRequest{MaxTokens: 9, MaxCompletionTokens: 4}, limit: 4},
		// o3-mini reasons at least three tokens per visible token, so 10
		// tokens are all spent on reasoning.
		{name: "reasoning model", req: openai.ChatCompletionRequest{Model: "o3-mini", MaxCompletionTokens: 10}, limit: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			if req.Model == "" {
				req.Model = "gpt-4o-mini"
			}
			req.Messages = []openai.ChatCompletionMessage{{Role: "user", Content: "Write a long essay."}}

			resp, err := client.CreateChatCompletion(context.Background(), req)
			if err != nil {
				t.Fatalf("CreateChatCompletion: %v", err)
			}
			checkUsage(t, resp.Usage)
			if got := resp.Usage.CompletionTokens; got != tt.limit {
				t.Errorf("CompletionTokens = %d, want the limit %d", got, tt.limit)
			}
			if got := resp.Choices[0].FinishReason; got != openai.FinishReasonLength {
				t.Errorf("FinishReason = %q, want length", got)
			}
		})
	}
}

func TestChatChoices(t *testing.T) {
	t.Parallel()
	_, client := startServer(t, Config{})

	req := userChat("gpt-4o-mini", "Give me options.")
	req.N = 3
	resp, err := client.CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateChatCompletion: %v", err)
	}

	if len(resp.Choices) != 3 {
		t.Fatalf("len(Choices) = %d, want 3", len(resp.Choices))
	}
	for i, c := range resp.Choices {
		if c.Index != i {
			t.Errorf("Choices[%d].Index = %d, want %d", i, c.Index, i)
		}
	}
	checkUsage(t, resp.Usage)
}

func TestChatCachedTokens(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Keep this system prompt in the cache. ", 200) // 7600 characters
	conversation := []openai.ChatCompletionMessage{
		{Role: "system", Content: long},
		{Role: "user", Content: "First question?"},
	}
	followUp := append(append([]openai.ChatCompletionMessage(nil), conversation...),
		openai.ChatCompletionMessage{Role: "assistant", Content: "First answer."},
		openai.ChatCompletionMessage{Role: "user", Content: "Second question?"},
	)

	tests := []struct {
		name string
		cfg  Config
		// Cached tokens of the first request, its repeat, and a follow-up
		// that extends the conversation.
		wantFirst, wantRepeat, wantFollowUp int
	}{
		{
			// Prefix tokens: system 3+2+1900 = 1905, user 3+1+4 = 8.
			name:         "default any repeat",
			cfg:          Config{},
			wantFirst:    0,
			wantRepeat:   1913,
			wantFollowUp: 1913,
		},
		{
			name:         "openai rule",
			cfg:          Config{CacheMinTokens: 1024, CacheIncrement: 128},
			wantFirst:    0,
			wantRepeat:   1792,
			wantFollowUp: 1792,
		},
		{
			name:         "minimum above prompt",
			cfg:          Config{CacheMinTokens: 5000},
			wantFirst:    0,
			wantRepeat:   0,
			wantFollowUp: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, client := startServer(t, tt.cfg)
			ctx := context.Background()

			for _, step := range []struct {
				name     string
				messages []openai.ChatCompletionMessage
				want     int
			}{
				{"first", conversation, tt.wantFirst},
				{"repeat", conversation, tt.wantRepeat},
				{"follow-up", followUp, tt.wantFollowUp},
			} {
				resp, err := client.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "gpt-4o", Messages: step.messages})
				if err != nil {
					t.Fatalf("%s: CreateChatCompletion: %v", step.name, err)
				}
				checkUsage(t, resp.Usage)
				if got := resp.Usage.PromptTokensDetails.CachedTokens; got != step.want {
					t.Errorf("%s: CachedTokens = %d, want %d (PromptTokens %d)", step.name, got, step.want, resp.Usage.PromptTokens)
				}
				if resp.Usage.PromptTokensDetails.CachedTokens >= resp.Usage.PromptTokens {
					t.Errorf("%s: CachedTokens = %d, want less than PromptTokens %d", step.name,
						resp.Usage.PromptTokensDetails.CachedTokens, resp.Usage.PromptTokens)
				}
			}
		})
	}
}

func TestChatCacheSeparatesModels(t *testing.T) {
	t.Parallel()
	_, client := startServer(t, Config{})
	ctx := context.Background()

	if _, err := client.CreateChatCompletion(ctx, userChat("gpt-4o", "same prompt")); err != nil {
		t.Fatalf("first CreateChatCompletion: %v", err)
	}
	resp, err := client.CreateChatCompletion(ctx, userChat("gpt-4o-mini", "same prompt"))
	if err != nil {
		t.Fatalf("second CreateChatCompletion: %v", err)
	}
	if got := resp.Usage.PromptTokensDetails.CachedTokens; got != 0 {
		t.Errorf("CachedTokens = %d, want 0 for a prompt seen only by another model", got)
	}
}

func TestChatSeedReproducesReplies(t *testing.T) {
	t.Parallel()
	reply := func(seed int64) string {
		t.Helper()
		_, client := startServer(t, Config{Seed: seed})
		resp, err := client.CreateChatCompletion(context.Background(), userChat("gpt-4o-mini", "Tell me something."))
		if err != nil {
			t.Fatalf("CreateChatCompletion: %v", err)
		}
		return resp.Choices[0].Message.Content
	}

	first, second, other := reply(7), reply(7), reply(8)
	if first != second {
		t.Errorf("replies with seed 7 differ:\n%q\n%q", first, second)
	}
	if first == other {
		t.Errorf("replies with seeds 7 and 8 are equal: %q", first)
	}
}

func TestChatInvalidRequestGoOpenAI(t *testing.T) {
	t.Parallel()
	s, client := startServer(t, Config{})

	tests := []struct {
		name      string
		messages  []openai.ChatCompletionMessage
		wantParam string
	}{
		{name: "missing messages", messages: nil, wantParam: "messages"},
		{name: "empty messages", messages: []openai.ChatCompletionMessage{}, wantParam: "messages"},
		{name: "invalid role", messages: []openai.ChatCompletionMessage{{Role: "robot", Content: "hi"}}, wantParam: "messages[0].role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
				Model:    "gpt-4o-mini",
				Messages: tt.messages,
			})

			apiErr := asAPIError(t, err)
			if apiErr.HTTPStatusCode != http.StatusBadRequest {
				t.Errorf("HTTPStatusCode = %d, want 400", apiErr.HTTPStatusCode)
			}
			if apiErr.Type != "invalid_request_error" {
				t.Errorf("Type = %q, want invalid_request_error", apiErr.Type)
			}
			if apiErr.Param == nil || *apiErr.Param != tt.wantParam {
				t.Errorf("Param = %v, want %q", apiErr.Param, tt.wantParam)
			}
		})
	}

	if got, want := s.Stats().InvalidRequests, int64(len(tests)); got != want {
		t.Errorf("Stats().InvalidRequests = %d, want %d", got, want)
	}
}

func TestChatInvalidRequestRaw(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})

	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantParam  any
	}{
		{name: "empty body", body: ``, wantStatus: 400, wantParam: nil},
		{name: "malformed JSON", body: `{"model":`, wantStatus: 400, wantParam: nil},
		{name: "missing model", body: `{"messages":[{"role":"user","content":"hi"}]}`, wantStatus: 400, wantParam: "model"},
		{name: "wrong type", body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":"5"}`, wantStatus: 400, wantParam: "max_tokens"},
		{name: "zero max_tokens", body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, wantStatus: 400, wantParam: "max_tokens"},
		{name: "max_tokens on reasoning model", body: `{"model":"o3-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":50}`, wantStatus: 400, wantParam: "max_tokens"},
		{name: "zero n", body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":0}`, wantStatus: 400, wantParam: "n"},
		{name: "stream_options without stream", body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`, wantStatus: 400, wantParam: "stream_options"},
		{name: "unknown reasoning effort", body: `{"model":"o3-mini","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"extreme"}`, wantStatus: 400, wantParam: "reasoning_effort"},
		{name: "content number", body: `{"model":"m","messages":[{"role":"user","content":5}]}`, wantStatus: 400, wantParam: "messages[0].content"},
		{name: "null content accepted", body: `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}]}`, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := postRaw(t, s, PathChatCompletions, "Bearer k", tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, data)
			}
			if tt.wantStatus == http.StatusOK {
				return
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
				t.Errorf("error.param = %v, want %v", got.Error["param"], tt.wantParam)
			}
			if msg, _ := got.Error["message"].(string); msg == "" {
				t.Errorf("error.message is empty, want a description")
			}
		})
	}
}

func TestChatWireShape(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})

	resp, data := postRaw(t, s, PathChatCompletions, "Bearer k", `{"model":"o3-mini","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, data)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := resp.Header.Get("x-request-id"); !strings.HasPrefix(got, "req_") {
		t.Errorf("x-request-id = %q, want prefix req_", got)
	}

	var body struct {
		Usage map[string]json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal([]byte(data), &body); err != nil {
		t.Fatalf("decode body %s: %v", data, err)
	}
	for _, key := range []string{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details"} {
		if _, ok := body.Usage[key]; !ok {
			t.Errorf("usage has no %q: %s", key, data)
		}
	}
	if !strings.Contains(string(body.Usage["prompt_tokens_details"]), `"cached_tokens"`) {
		t.Errorf("prompt_tokens_details = %s, want cached_tokens", body.Usage["prompt_tokens_details"])
	}
	if !strings.Contains(string(body.Usage["completion_tokens_details"]), `"reasoning_tokens"`) {
		t.Errorf("completion_tokens_details = %s, want reasoning_tokens", body.Usage["completion_tokens_details"])
	}
}

func TestChatStatsTokens(t *testing.T) {
	t.Parallel()
	s, client := startServer(t, Config{})

	var want openai.Usage
	for _, model := range []string{"gpt-4o-mini", "o3-mini", "o3-mini"} {
		resp, err := client.CreateChatCompletion(context.Background(), userChat(model, "Count me."))
		if err != nil {
			t.Fatalf("CreateChatCompletion: %v", err)
		}
		want.PromptTokens += resp.Usage.PromptTokens
		want.CompletionTokens += resp.Usage.CompletionTokens
	}

	stats := s.Stats()
	if stats.Chat != 3 {
		t.Errorf("Stats().Chat = %d, want 3", stats.Chat)
	}
	if stats.PromptTokens != int64(want.PromptTokens) {
		t.Errorf("Stats().PromptTokens = %d, want %d", stats.PromptTokens, want.PromptTokens)
	}
	if stats.CompletionTokens != int64(want.CompletionTokens) {
		t.Errorf("Stats().CompletionTokens = %d, want %d", stats.CompletionTokens, want.CompletionTokens)
	}
	if stats.CachedTokens == 0 {
		t.Errorf("Stats().CachedTokens = 0, want the repeated o3-mini prompt counted")
	}
}

func BenchmarkChatCompletion(b *testing.B) {
	s, err := Start(Config{Latency: Fixed(0)})
	if err != nil {
		b.Fatalf("Start: %v", err)
	}
	defer s.Close()
	client := newClient(s.URL(), "bench-key")
	req := userChat("gpt-4o-mini", "Benchmark me.")

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.CreateChatCompletion(context.Background(), req); err != nil {
				b.Errorf("CreateChatCompletion: %v", err)
				return
			}
		}
	})
}
