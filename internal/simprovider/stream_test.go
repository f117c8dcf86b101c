package simprovider

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// readStream reads a chat stream to its end and returns its chunks.
func readStream(t *testing.T, stream *openai.ChatCompletionStream) []openai.ChatCompletionStreamResponse {
	t.Helper()
	var chunks []openai.ChatCompletionStreamResponse
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return chunks
		}
		if err != nil {
			t.Fatalf("Recv after %d chunks: %v", len(chunks), err)
		}
		chunks = append(chunks, chunk)
	}
}

func TestStreamUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		model        string
		includeUsage bool
	}{
		{name: "with include_usage", model: "gpt-4o-mini", includeUsage: true},
		{name: "without include_usage", model: "gpt-4o-mini", includeUsage: false},
		{name: "reasoning with include_usage", model: "o3-mini", includeUsage: true},
	}
	s, client := startServer(t, Config{})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := userChat(tt.model, "Stream to me.")
			if tt.includeUsage {
				req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
			}
			stream, err := client.CreateChatCompletionStream(context.Background(), req)
			if err != nil {
				t.Fatalf("CreateChatCompletionStream: %v", err)
			}
			defer stream.Close()
			chunks := readStream(t, stream)
			if len(chunks) < 3 {
				t.Fatalf("got %d chunks, want at least a role, a content and a finish chunk", len(chunks))
			}

			// Every chunk but a final usage chunk has one choice, and
			// only the finish chunk has a finish reason.
			body := chunks
			if tt.includeUsage {
				body = chunks[:len(chunks)-1]
			}
			var content strings.Builder
			for i, c := range body {
				if c.Model != tt.model {
					t.Errorf("chunk %d: Model = %q, want %q", i, c.Model, tt.model)
				}
				if c.Usage != nil {
					t.Errorf("chunk %d: Usage = %+v, want nil before the last chunk", i, *c.Usage)
				}
				if len(c.Choices) != 1 {
					t.Fatalf("chunk %d: len(Choices) = %d, want 1", i, len(c.Choices))
				}
				content.WriteString(c.Choices[0].Delta.Content)
			}
			if got := body[0].Choices[0].Delta.Role; got != openai.ChatMessageRoleAssistant {
				t.Errorf("first chunk Role = %q, want assistant", got)
			}
			finish := body[len(body)-1].Choices[0]
			if finish.FinishReason != openai.FinishReasonStop {
				t.Errorf("finish chunk FinishReason = %q, want stop", finish.FinishReason)
			}
			if !strings.HasPrefix(content.String(), "This is a simulated reply.") {
				t.Errorf("content = %q, want the simulated reply opening", content.String())
			}

			if !tt.includeUsage {
				return
			}
			last := chunks[len(chunks)-1]
			if len(last.Choices) != 0 {
				t.Errorf("last chunk len(Choices) = %d, want 0", len(last.Choices))
			}
			if last.Usage == nil {
				t.Fatalf("last chunk Usage = nil, want the usage")
			}
			checkUsage(t, *last.Usage)

			// One content chunk per visible token.
			contentChunks := len(body) - 2
			visible := last.Usage.CompletionTokens - last.Usage.CompletionTokensDetails.ReasoningTokens
			if contentChunks != visible {
				t.Errorf("content chunks = %d, want one per visible completion token (%d)", contentChunks, visible)
			}
		})
	}

	if got := s.Stats().ChatStreams; got != int64(len(tests)) {
		t.Errorf("Stats().ChatStreams = %d, want %d", got, len(tests))
	}
}

func TestStreamWireShape(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{ReplyTokens: 4})

	tests := []struct {
		name         string
		body         string
		includeUsage bool
	}{
		{name: "with include_usage", body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, includeUsage: true},
		{name: "without include_usage", body: `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := postRaw(t, s, PathChatCompletions, "Bearer k", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, data)
			}
			if got := resp.Header.Get("Content-Type"); got != "text/event-stream" {
				t.Errorf("Content-Type = %q, want text/event-stream", got)
			}
			if !strings.HasSuffix(data, "data: [DONE]\n\n") {
				t.Errorf("stream does not end with data: [DONE]: %q", data)
			}

			events := strings.Split(strings.TrimSuffix(data, "\n\n"), "\n\n")
			for i, event := range events {
				if !strings.HasPrefix(event, "data: ") {
					t.Errorf("event %d = %q, want a data: line", i, event)
				}
			}
			chunks := events[:len(events)-1]

			if !tt.includeUsage {
				for i, chunk := range chunks {
					if strings.Contains(chunk, `"usage"`) {
						t.Errorf("chunk %d has a usage field without include_usage: %s", i, chunk)
					}
				}
				return
			}
			for i, chunk := range chunks[:len(chunks)-1] {
				if !strings.Contains(chunk, `"usage":null`) {
					t.Errorf("chunk %d has no \"usage\":null: %s", i, chunk)
				}
			}
			last := chunks[len(chunks)-1]
			if !strings.Contains(last, `"choices":[]`) {
				t.Errorf("last chunk has no \"choices\":[]: %s", last)
			}
			// "hi": 3 per message + "user" 1 + "hi" 1, then 3 for the reply.
			if !strings.Contains(last, `"prompt_tokens":8`) {
				t.Errorf("last chunk has no \"prompt_tokens\":8: %s", last)
			}
			finish := chunks[len(chunks)-2]
			if !strings.Contains(finish, `"finish_reason":"stop"`) || !strings.Contains(finish, `"delta":{}`) {
				t.Errorf("finish chunk = %s, want an empty delta and finish_reason stop", finish)
			}
		})
	}
}

func TestStreamChoices(t *testing.T) {
	t.Parallel()
	_, client := startServer(t, Config{})

	req := userChat("gpt-4o-mini", "Options, streamed.")
	req.N = 2
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	stream, err := client.CreateChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateChatCompletionStream: %v", err)
	}
	defer stream.Close()
	chunks := readStream(t, stream)

	finished := map[int]bool{}
	tokens := 0
	for _, c := range chunks {
		for _, choice := range c.Choices {
			if choice.FinishReason != "" {
				finished[choice.Index] = true
			} else if choice.Delta.Role == "" {
				tokens++
			}
		}
	}
	if len(finished) != 2 {
		t.Errorf("finished choices = %v, want 0 and 1", finished)
	}
	usage := chunks[len(chunks)-1].Usage
	if usage == nil {
		t.Fatalf("last chunk Usage = nil, want the usage")
	}
	if usage.CompletionTokens != tokens {
		t.Errorf("CompletionTokens = %d, want the %d content chunks of both choices", usage.CompletionTokens, tokens)
	}
}

func TestStreamDisconnect(t *testing.T) {
	t.Parallel()
	s, client := startServer(t, Config{DisconnectAfter: 2})
	s.FailNext(1, FaultDisconnect)

	req := userChat("gpt-4o-mini", "Stream, then fail.")
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	stream, err := client.CreateChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateChatCompletionStream: %v", err)
	}
	defer stream.Close()

	// The role chunk and two content chunks arrive, then the stream breaks.
	var received int
	var recvErr error
	for {
		_, recvErr = stream.Recv()
		if recvErr != nil {
			break
		}
		received++
	}
	if errors.Is(recvErr, io.EOF) {
		t.Fatalf("Recv error = io.EOF after %d chunks, want a broken stream", received)
	}
	if received != 3 {
		t.Errorf("received %d chunks, want 3 (role and two content chunks)", received)
	}

	stats := s.Stats()
	if stats.Disconnected != 1 {
		t.Errorf("Stats().Disconnected = %d, want 1", stats.Disconnected)
	}
	if stats.ChatStreams != 0 {
		t.Errorf("Stats().ChatStreams = %d, want 0", stats.ChatStreams)
	}
	if stats.PromptTokens != 0 {
		t.Errorf("Stats().PromptTokens = %d, want 0 because no usage was sent", stats.PromptTokens)
	}
}

func TestStreamDelays(t *testing.T) {
	t.Parallel()
	const (
		first = 100 * time.Millisecond
		chunk = 10 * time.Millisecond
	)
	tests := []struct {
		name   string
		model  string
		stream bool
	}{
		{name: "stream", model: "gpt-4o-mini", stream: true},
		{name: "stream reasoning", model: "o3-mini", stream: true},
		{name: "plain", model: "gpt-4o-mini", stream: false},
		{name: "plain reasoning", model: "o3-mini", stream: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recorder := &sleepRecorder{}
			_, client := startServer(t, Config{Latency: Fixed(first), ChunkDelay: Fixed(chunk), Sleep: recorder.sleep})

			req := userChat(tt.model, "Time me.")
			var usage openai.Usage
			if tt.stream {
				req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
				stream, err := client.CreateChatCompletionStream(context.Background(), req)
				if err != nil {
					t.Fatalf("CreateChatCompletionStream: %v", err)
				}
				chunks := readStream(t, stream)
				stream.Close()
				usage = *chunks[len(chunks)-1].Usage
			} else {
				resp, err := client.CreateChatCompletion(context.Background(), req)
				if err != nil {
					t.Fatalf("CreateChatCompletion: %v", err)
				}
				usage = resp.Usage
			}

			// Time to first token covers the reasoning; each further
			// visible token takes one chunk delay.
			reasoning := usage.CompletionTokensDetails.ReasoningTokens
			visible := usage.CompletionTokens - reasoning
			wantFirst := first + chunk*time.Duration(reasoning)
			got := recorder.recorded()
			if tt.stream {
				if len(got) != visible {
					t.Fatalf("got %d sleeps, want %d: %v", len(got), visible, got)
				}
				if got[0] != wantFirst {
					t.Errorf("first sleep = %v, want %v", got[0], wantFirst)
				}
				for i, d := range got[1:] {
					if d != chunk {
						t.Errorf("sleep %d = %v, want %v", i+1, d, chunk)
					}
				}
				return
			}
			want := wantFirst + chunk*time.Duration(visible-1)
			if len(got) != 1 || got[0] != want {
				t.Errorf("sleeps = %v, want one of %v", got, want)
			}
		})
	}
}
