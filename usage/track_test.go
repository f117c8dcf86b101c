package usage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// fixedServer answers every request with status and body, as a provider
// would. Bodies of text/event-stream are sent as they are.
func fixedServer(t *testing.T, status int, contentType, body string) *openai.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	cfg := openai.DefaultConfig("sk-test")
	cfg.BaseURL = srv.URL + "/v1"
	return openai.NewClientWithConfig(cfg)
}

// newTracker returns a tracker on a fresh memory store and a function that
// flushes it and returns the newest record.
func newTracker(t *testing.T, opts ...usage.TrackerOption) (*usage.Tracker, func() usage.Record) {
	t.Helper()
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store, opts...)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	last := func() usage.Record {
		t.Helper()
		if err := tr.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		recs, err := store.Recent(context.Background(), 1)
		if err != nil || len(recs) != 1 {
			t.Fatalf("Recent = %d records, %v; want 1", len(recs), err)
		}
		return recs[0]
	}
	return tr, last
}

func chatBody(model, usageJSON string) string {
	return `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"` + model +
		`","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":` + usageJSON + `}`
}

func trackChat(t *testing.T, tr *usage.Tracker, client *openai.Client, model string) error {
	t.Helper()
	call := usage.Call{Endpoint: "/chat", Provider: "openai", Model: model}
	_, err := usage.TrackCall(context.Background(), tr, call, func(ctx context.Context) (openai.ChatCompletionResponse, error) {
		return client.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: model, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}})
	})
	return err
}

func TestTrackCallChatUsageAndCost(t *testing.T) {
	tests := []struct {
		name      string
		model     string
		usage     string
		want      usage.Tokens
		wantNanos int64
	}{
		{
			name:      "cached prompt tokens are discounted once",
			model:     "gpt-4o",
			usage:     `{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920}}`,
			want:      usage.Tokens{Input: 2006, CachedInput: 1920, Output: 300},
			wantNanos: 5_615_000, // 86·2.5e-6 + 1920·1.25e-6 + 300·1e-5 USD
		},
		{
			name:      "cached tokens stay inside the prompt count",
			model:     "gpt-4o",
			usage:     `{"prompt_tokens":17903,"completion_tokens":0,"total_tokens":17903,"prompt_tokens_details":{"cached_tokens":17817}}`,
			want:      usage.Tokens{Input: 17903, CachedInput: 17817},
			wantNanos: 86*2500 + 17817*1250,
		},
		{
			name:      "reasoning tokens are inside completion tokens",
			model:     "o3-mini",
			usage:     `{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":400}}`,
			want:      usage.Tokens{Input: 1000, Output: 500, Reasoning: 400},
			wantNanos: 3_300_000, // 1000·1.1e-6 + 500·4.4e-6 USD
		},
		{
			name:      "null detail objects",
			model:     "gpt-4o-mini",
			usage:     `{"prompt_tokens":500,"completion_tokens":200,"total_tokens":700,"prompt_tokens_details":{"cached_tokens":null},"completion_tokens_details":null}`,
			want:      usage.Tokens{Input: 500, Output: 200},
			wantNanos: 500*150 + 200*600,
		},
		{
			name:      "per-token units: a million prompt tokens",
			model:     "gpt-4o-mini",
			usage:     `{"prompt_tokens":1000000,"completion_tokens":1000,"total_tokens":1001000}`,
			want:      usage.Tokens{Input: 1_000_000, Output: 1000},
			wantNanos: 150_000_000 + 600_000, // $0.15 + $0.0006
		},
		{
			name:      "dated snapshot resolves to its own entry",
			model:     "gpt-4o-2024-05-13",
			usage:     `{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}`,
			want:      usage.Tokens{Input: 1000, Output: 100},
			wantNanos: 1000*5000 + 100*15000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fixedServer(t, 200, "application/json", chatBody(tt.model, tt.usage))
			tr, last := newTracker(t)
			if err := trackChat(t, tr, client, tt.model); err != nil {
				t.Fatalf("call: %v", err)
			}
			r := last()
			if !r.UsageKnown {
				t.Fatalf("UsageKnown = false, want true")
			}
			if r.Tokens != tt.want {
				t.Errorf("Tokens = %+v, want %+v", r.Tokens, tt.want)
			}
			if !r.Priced {
				t.Fatalf("Priced = false, want true")
			}
			if r.CostNanos != tt.wantNanos {
				t.Errorf("CostNanos = %d, want %d", r.CostNanos, tt.wantNanos)
			}
			if r.Call.Operation != usage.OperationChat {
				t.Errorf("Operation = %q, want %q", r.Call.Operation, usage.OperationChat)
			}
		})
	}
}

// TestTrackCallWithoutUsageIsUnknown checks that a response without a
// usage object, which go-openai decodes as zero counts, is recorded as
// unknown usage with no cost rather than as a free call.
func TestTrackCallWithoutUsageIsUnknown(t *testing.T) {
	body := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`
	client := fixedServer(t, 200, "application/json", body)
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store)
	if err := trackChat(t, tr, client, "gpt-4o-mini"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	recs, err := store.Recent(context.Background(), 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Recent = %d records, %v; want 1", len(recs), err)
	}
	if r := recs[0]; r.UsageKnown || r.Priced || r.CostNanos != 0 || r.Tokens != (usage.Tokens{}) {
		t.Errorf("record = known %v, priced %v, cost %d, tokens %+v; want unknown usage, unpriced, no cost",
			r.UsageKnown, r.Priced, r.CostNanos, r.Tokens)
	}
	rollups, err := store.Rollups(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(rollups) != 1 {
		t.Fatalf("Rollups = %d, %v; want 1", len(rollups), err)
	}
	if st := rollups[0].Stats; st.Calls != 1 || st.UnknownUsageCalls != 1 || st.UnpricedCalls != 0 || st.CostNanos != 0 {
		t.Errorf("rollup = %d calls, %d unknown usage, %d unpriced, cost %d; want 1, 1, 0, 0",
			st.Calls, st.UnknownUsageCalls, st.UnpricedCalls, st.CostNanos)
	}
}

func TestTrackCallUnknownModelIsUnpriced(t *testing.T) {
	client := fixedServer(t, 200, "application/json", chatBody("prod-chat-eu", `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`))
	tr, last := newTracker(t)
	if err := trackChat(t, tr, client, "prod-chat-eu"); err != nil {
		t.Fatal(err)
	}
	r := last()
	if r.Priced {
		t.Errorf("Priced = true, want false for a model missing from the table")
	}
	if r.CostNanos != 0 {
		t.Errorf("CostNanos = %d, want 0", r.CostNanos)
	}
	if got := r.Tokens.Total(); got != 15 {
		t.Errorf("tokens total = %d, want 15 (tokens of unpriced calls are kept)", got)
	}
}

func TestTrackCallAliasPricesDeployment(t *testing.T) {
	client := fixedServer(t, 200, "application/json", chatBody("prod-chat-eu", `{"prompt_tokens":1000,"completion_tokens":0,"total_tokens":1000}`))
	prices := usage.DefaultTable()
	prices.Alias("prod-chat-eu", "gpt-4o")
	tr, last := newTracker(t, usage.WithPrices(prices))
	if err := trackChat(t, tr, client, "prod-chat-eu"); err != nil {
		t.Fatal(err)
	}
	if got, want := last().CostNanos, int64(1000*2500); got != want {
		t.Errorf("CostNanos = %d, want %d", got, want)
	}
}

func TestTrackCallFailedCallHasNoUsage(t *testing.T) {
	body := `{"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	client := fixedServer(t, 429, "application/json", body)
	tr, last := newTracker(t)
	err := trackChat(t, tr, client, "gpt-4o-mini")
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *openai.APIError", err)
	}
	r := last()
	if r.Error != errmon.RateLimited {
		t.Errorf("Error = %q, want %q", r.Error, errmon.RateLimited)
	}
	if r.HTTPStatus != 429 {
		t.Errorf("HTTPStatus = %d, want 429", r.HTTPStatus)
	}
	if r.UsageKnown || r.CostNanos != 0 || r.Tokens != (usage.Tokens{}) {
		t.Errorf("record = known %v, cost %d, tokens %+v; want unknown usage, no cost, no tokens", r.UsageKnown, r.CostNanos, r.Tokens)
	}
}

func TestTrackCallEmbeddings(t *testing.T) {
	body := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":15,"total_tokens":15}}`
	client := fixedServer(t, 200, "application/json", body)
	tr, last := newTracker(t)
	call := usage.Call{Endpoint: "/embed", Provider: "openai", Model: "text-embedding-3-small"}
	_, err := usage.TrackCall(context.Background(), tr, call, func(ctx context.Context) (openai.EmbeddingResponse, error) {
		return client.CreateEmbeddings(ctx, openai.EmbeddingRequestStrings{Input: []string{"hello"}, Model: openai.SmallEmbedding3})
	})
	if err != nil {
		t.Fatal(err)
	}
	r := last()
	if want := (usage.Tokens{Input: 15}); r.Tokens != want {
		t.Errorf("Tokens = %+v, want %+v", r.Tokens, want)
	}
	if r.Call.Operation != usage.OperationEmbeddings {
		t.Errorf("Operation = %q, want %q", r.Call.Operation, usage.OperationEmbeddings)
	}
	if got, want := r.CostNanos, int64(15*20); got != want {
		t.Errorf("CostNanos = %d, want %d", got, want)
	}
}

type ownResponse struct{ in, out int64 }

func (o ownResponse) TokenUsage() (usage.Tokens, bool) {
	return usage.Tokens{Input: o.in, Output: o.out}, true
}

func TestTrackCallReadsOwnTypes(t *testing.T) {
	tr, last := newTracker(t)
	call := usage.Call{Endpoint: "/own", Provider: "acme", Model: "gpt-4o-mini", Operation: "chat"}
	_, _ = usage.TrackCall(context.Background(), tr, call, func(context.Context) (ownResponse, error) {
		return ownResponse{in: 7, out: 3}, nil
	})
	if got, want := last().Tokens, (usage.Tokens{Input: 7, Output: 3}); got != want {
		t.Errorf("Tokens = %+v, want %+v", got, want)
	}

	_, _ = usage.TrackCallFunc(context.Background(), tr, call, func(context.Context) (string, error) {
		return "twelve", nil
	}, func(s string) (usage.Tokens, bool) { return usage.Tokens{Input: int64(len(s))}, true })
	if got, want := last().Tokens, (usage.Tokens{Input: 6}); got != want {
		t.Errorf("Tokens with extractor = %+v, want %+v", got, want)
	}
}

func TestTrackCallPanicIsRecordedAndRepanics(t *testing.T) {
	tr, last := newTracker(t)
	call := usage.Call{Endpoint: "/boom", Provider: "openai", Model: "gpt-4o-mini"}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the original panic value %q", v, "boom")
			}
		}()
		_, _ = usage.TrackCall(context.Background(), tr, call, func(context.Context) (int, error) { panic("boom") })
	}()
	if got := last().Error; got != errmon.Panic {
		t.Errorf("Error = %q, want %q", got, errmon.Panic)
	}
}

// sse renders stream chunks as server-sent events ending with [DONE].
func sse(chunks ...string) string {
	var b strings.Builder
	for _, c := range chunks {
		fmt.Fprintf(&b, "data: %s\n\n", c)
	}
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func chunk(content, finish, usageJSON string) string {
	choices := `[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":` + finish + `}]`
	if content == "" && finish == "" {
		choices = `[]`
	}
	return `{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":` + choices + `,"usage":` + usageJSON + `}`
}

func TestChatStreamUsage(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantKnown bool
		want      usage.Tokens
	}{
		{
			name: "usage only on the last chunk, which has no choices",
			body: sse(chunk("Hel", "null", "null"), chunk("lo", "null", "null"), chunk("", `"stop"`, "null"),
				chunk("", "", `{"prompt_tokens":24,"completion_tokens":58,"total_tokens":82}`)),
			wantKnown: true,
			want:      usage.Tokens{Input: 24, Output: 58},
		},
		{
			name: "zero usage on every chunk, real usage last",
			body: sse(chunk("a", "null", `{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}`),
				chunk("b", `"stop"`, `{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}`),
				chunk("", "", `{"prompt_tokens":14,"completion_tokens":42,"total_tokens":56}`)),
			wantKnown: true,
			want:      usage.Tokens{Input: 14, Output: 42},
		},
		{
			name:      "no usage at all is unknown usage",
			body:      sse(chunk("a", "null", "null"), chunk("b", `"stop"`, "null")),
			wantKnown: false,
		},
		{
			name: "only zero usage is unknown usage",
			body: sse(chunk("a", "null", `{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}`),
				chunk("b", `"stop"`, `{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}`)),
			wantKnown: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fixedServer(t, 200, "text/event-stream", tt.body)
			tr, last := newTracker(t)
			call := usage.Call{Endpoint: "/stream", Provider: "openai"}
			req := openai.ChatCompletionRequest{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}}
			s, err := usage.TrackChatStream(context.Background(), tr, call, client, req)
			if err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := s.Recv(); err != nil {
					if !errors.Is(err, io.EOF) {
						t.Fatalf("Recv: %v", err)
					}
					break
				}
			}
			_ = s.Close()
			r := last()
			if r.UsageKnown != tt.wantKnown {
				t.Fatalf("UsageKnown = %v, want %v", r.UsageKnown, tt.wantKnown)
			}
			if r.Tokens != tt.want {
				t.Errorf("Tokens = %+v, want %+v", r.Tokens, tt.want)
			}
			if r.Error != "" {
				t.Errorf("Error = %q, want none", r.Error)
			}
			if !r.Stream || r.TTFT <= 0 || r.TTFT > r.Latency {
				t.Errorf("Stream = %v, TTFT = %v, Latency = %v; want a streamed record with 0 < TTFT <= Latency", r.Stream, r.TTFT, r.Latency)
			}
		})
	}
}

func TestChatStreamCloseBeforeEOFIsCanceled(t *testing.T) {
	client := fixedServer(t, 200, "text/event-stream", sse(chunk("a", "null", "null"), chunk("b", `"stop"`, "null")))
	tr, last := newTracker(t)
	req := openai.ChatCompletionRequest{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}}
	s, err := usage.TrackChatStream(context.Background(), tr, usage.Call{Endpoint: "/stream"}, client, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_ = s.Close()
	r := last()
	if r.Error != errmon.Canceled {
		t.Errorf("Error = %q, want %q", r.Error, errmon.Canceled)
	}
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := tr.Stats().Written; got != 1 {
		t.Errorf("records written = %d, want exactly 1", got)
	}
}

func TestTrackerCloseFlushesAndDropsLater(t *testing.T) {
	store := usage.NewMemoryStore()
	tr := usage.NewTracker(store)
	for i := 0; i < 100; i++ {
		tr.Record(usage.Record{Time: time.Unix(0, 0), Call: usage.Call{Model: "gpt-4o-mini"}})
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Record(usage.Record{Time: time.Unix(0, 0)})
	st := tr.Stats()
	if st.Written != 100 || st.Dropped != 1 {
		t.Errorf("Stats = %+v, want 100 written and 1 dropped", st)
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestTrackCallPriceOverride(t *testing.T) {
	client := fixedServer(t, 200, "application/json", chatBody("gpt-4o", `{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}`))
	tr, last := newTracker(t)
	negotiated := usage.Price{Input: usage.PerMillion(1), Output: usage.PerMillion(4)}
	call := usage.Call{Endpoint: "/chat", Provider: "openai", Model: "gpt-4o", Price: &negotiated}
	_, err := usage.TrackCall(context.Background(), tr, call, func(ctx context.Context) (openai.ChatCompletionResponse, error) {
		return client.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "gpt-4o", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := last().CostNanos, int64(1000*1000+100*4000); got != want {
		t.Errorf("CostNanos = %d, want %d from the call's own price", got, want)
	}
}

func TestChatStreamContextCancelIsCanceled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", chunk("Hel", "null", "null"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	cfg := openai.DefaultConfig("sk-test")
	cfg.BaseURL = srv.URL + "/v1"
	client := openai.NewClientWithConfig(cfg)

	tr, last := newTracker(t)
	ctx, cancel := context.WithCancel(context.Background())
	req := openai.ChatCompletionRequest{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}}
	s, err := usage.TrackChatStream(ctx, tr, usage.Call{Endpoint: "/stream"}, client, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel() // the caller gives up while nobody reads
	<-s.Recorded()
	r := last()
	if r.Error != errmon.Canceled {
		t.Errorf("Error = %q, want %q", r.Error, errmon.Canceled)
	}
	if r.UsageKnown {
		t.Errorf("UsageKnown = true, want unknown usage for a canceled stream")
	}
	if r.TTFT <= 0 || r.Latency < r.TTFT {
		t.Errorf("TTFT = %v, Latency = %v; want the first token and the latency up to the cancel", r.TTFT, r.Latency)
	}
	// Reading after the cancel fails and records nothing more.
	_, _ = s.Recv()
	_ = s.Close()
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := tr.Stats().Written; got != 1 {
		t.Errorf("records written = %d, want exactly 1", got)
	}
}
