package budget_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

const streamUsage = `{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}`

// sseChunk returns one chat.completion.chunk event's data.
func sseChunk(content string) string {
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"` +
		content + `"},"finish_reason":null}]}`
}

// sseUsageChunk is the last chunk of a stream with include_usage: no
// choices, only usage.
const sseUsageChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":` + streamUsage + `}`

// streamServer starts a loopback server that speaks OpenAI's chat stream:
// a first chunk, and then, unless hang is set, two more chunks, the usage
// chunk and [DONE]. A hanging server holds the stream open until the
// client goes away.
func streamServer(t *testing.T, hang bool) *openai.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		send := func(data string) {
			fmt.Fprintf(w, "data: %s\n\n", data)
			w.(http.Flusher).Flush()
		}
		send(sseChunk("Hel"))
		if hang {
			<-r.Context().Done()
			return
		}
		send(sseChunk("lo"))
		send(sseChunk("!"))
		send(sseUsageChunk)
		send("[DONE]")
	}))
	t.Cleanup(srv.Close)
	cfg := openai.DefaultConfig("sk-test")
	cfg.BaseURL = srv.URL + "/v1"
	return openai.NewClientWithConfig(cfg)
}

func streamRequest() openai.ChatCompletionRequest {
	return openai.ChatCompletionRequest{
		Model:     "gpt-4o-mini",
		Messages:  []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Say hello"}},
		MaxTokens: 200,
	}
}

func spendDaily() budget.Budget {
	return budget.Budget{Name: "spend", Unit: budget.Spend, Limit: budget.USD(1), Window: budget.Daily(nil)}
}

func TestStreamSettlesRealCostAtEOF(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{spendDaily()}, nil)
	tr, _ := newObservedTracker(t, g.Guard)

	s, err := budget.TrackChatStream(context.Background(), g.Guard, tr, usage.Call{Key: "k"}, streamServer(t, false), streamRequest())
	if err != nil {
		t.Fatal(err)
	}
	if st := g.status(t, "k"); st.Reserved == 0 {
		t.Error("nothing reserved while the stream is open")
	}
	for {
		if _, err := s.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	waitRecorded(t, s)

	g.checkSettledOnce(t, "k")
	price, _, _ := usage.DefaultTable().Lookup("gpt-4o-mini")
	want := price.Cost(usage.Tokens{Input: 12, Output: 30})
	if st := g.status(t, "k"); st.Spent != want {
		t.Errorf("spent $%s, want the usage chunk's cost $%s", budget.FormatUSD(st.Spent), budget.FormatUSD(want))
	}
}

func TestStreamSettlesOnceWhenClosedEarly(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{spendDaily()}, nil)
	tr, _ := newObservedTracker(t, g.Guard)

	s, err := budget.TrackChatStream(context.Background(), g.Guard, tr, usage.Call{Key: "k"}, streamServer(t, true), streamRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_ = s.Close()
	waitRecorded(t, s)

	g.checkSettledOnce(t, "k")
	if st := g.status(t, "k"); st.Spent != 0 {
		t.Errorf("spent $%s on a stream closed before its usage, want $0", budget.FormatUSD(st.Spent))
	}
	if s := g.Stats(); s.UnknownFailures != 1 {
		t.Errorf("UnknownFailures = %d, want 1", s.UnknownFailures)
	}
}

func TestStreamSettlesOnceWhenCanceled(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{spendDaily()}, nil)
	tr, _ := newObservedTracker(t, g.Guard)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s, err := budget.TrackChatStream(ctx, g.Guard, tr, usage.Call{Key: "k"}, streamServer(t, true), streamRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel() // the caller stops reading
	waitRecorded(t, s)
	_, _ = s.Recv()
	_ = s.Close()

	g.checkSettledOnce(t, "k")
}

func TestStreamOpenFailureSettles(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
	}))
	t.Cleanup(srv.Close)
	cfg := openai.DefaultConfig("sk-test")
	cfg.BaseURL = srv.URL + "/v1"
	cfg.EmptyMessagesLimit = 1

	g := newTestGuard(t, []budget.Budget{spendDaily()}, nil)
	tr, _ := newObservedTracker(t, g.Guard)
	_, err := budget.TrackChatStream(context.Background(), g.Guard, tr, usage.Call{Key: "k"}, openai.NewClientWithConfig(cfg), streamRequest())
	if err == nil {
		t.Fatal("opening a stream on a failing server returned no error")
	}
	g.checkSettledOnce(t, "k")
}

func TestStreamRejectedBeforeOpening(t *testing.T) {
	t.Parallel()
	tiny := budget.Budget{Name: "spend", Unit: budget.Spend, Limit: 10, Window: budget.Daily(nil)}
	g := newTestGuard(t, []budget.Budget{tiny}, nil)
	tr, store := newObservedTracker(t, g.Guard)
	opened := false
	client := streamerFunc(func(context.Context, openai.ChatCompletionRequest) (*openai.ChatCompletionStream, error) {
		opened = true
		return nil, errors.New("unreachable")
	})

	_, err := budget.TrackChatStream(context.Background(), g.Guard, tr, usage.Call{Key: "k"}, client, streamRequest())
	if !errors.Is(err, budget.ErrExceeded) {
		t.Fatalf("error %v, want ErrExceeded", err)
	}
	if opened {
		t.Error("the stream was opened after the budget rejected it")
	}
	if recs := recorded(t, tr, store); len(recs) != 0 {
		t.Errorf("%d records of a call never made, want 0", len(recs))
	}
}

type streamerFunc func(context.Context, openai.ChatCompletionRequest) (*openai.ChatCompletionStream, error)

func (f streamerFunc) CreateChatCompletionStream(ctx context.Context, req openai.ChatCompletionRequest) (*openai.ChatCompletionStream, error) {
	return f(ctx, req)
}

func TestStreamOpenPanicSettles(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{spendDaily()}, nil)
	tr, _ := newObservedTracker(t, g.Guard)
	client := streamerFunc(func(context.Context, openai.ChatCompletionRequest) (*openai.ChatCompletionStream, error) {
		panic("boom")
	})

	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the client's panic", v)
			}
		}()
		_, _ = budget.TrackChatStream(context.Background(), g.Guard, tr, usage.Call{Key: "k"}, client, streamRequest())
	}()
	g.checkSettledOnce(t, "k")
}
