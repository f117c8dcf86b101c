package simprovider

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

func TestFailNextChat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      Fault
		wantStatus int
		wantType   string
		wantCode   any
	}{
		{name: "rate limit", fault: FaultRateLimit, wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded"},
		{name: "quota", fault: FaultQuota, wantStatus: 429, wantType: "insufficient_quota", wantCode: "insufficient_quota"},
		// go-openai v1.43.0 decodes a null code as the integer 0.
		{name: "server error", fault: FaultServerError, wantStatus: 500, wantType: "server_error", wantCode: 0},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += " stream"
			}
			t.Run(name, func(t *testing.T) {
				s, client := startServer(t, Config{})
				s.FailNext(1, tt.fault)

				req := userChat("gpt-4o-mini", "hi")
				var err error
				if stream {
					_, err = client.CreateChatCompletionStream(context.Background(), req)
				} else {
					_, err = client.CreateChatCompletion(context.Background(), req)
				}

				apiErr := asAPIError(t, err)
				if apiErr.HTTPStatusCode != tt.wantStatus {
					t.Errorf("HTTPStatusCode = %d, want %d", apiErr.HTTPStatusCode, tt.wantStatus)
				}
				if apiErr.Type != tt.wantType {
					t.Errorf("Type = %q, want %q", apiErr.Type, tt.wantType)
				}
				if apiErr.Code != tt.wantCode {
					t.Errorf("Code = %v (%T), want %v", apiErr.Code, apiErr.Code, tt.wantCode)
				}
				if apiErr.Message == "" {
					t.Errorf("Message is empty, want a description")
				}

				// The fault was used up, so the next request succeeds.
				if _, err := client.CreateChatCompletion(context.Background(), req); err != nil {
					t.Errorf("next CreateChatCompletion: %v, want success", err)
				}
			})
		}
	}
}

func TestFailNextEmbeddings(t *testing.T) {
	t.Parallel()
	s, client := startServer(t, Config{})
	s.FailNext(1, FaultRateLimit)

	_, err := client.CreateEmbeddings(context.Background(), openai.EmbeddingRequest{Model: openai.SmallEmbedding3, Input: "x"})

	apiErr := asAPIError(t, err)
	if apiErr.HTTPStatusCode != http.StatusTooManyRequests {
		t.Errorf("HTTPStatusCode = %d, want 429", apiErr.HTTPStatusCode)
	}
	if got := s.Stats().RateLimited; got != 1 {
		t.Errorf("Stats().RateLimited = %d, want 1", got)
	}
}

func TestFailNextQueue(t *testing.T) {
	t.Parallel()
	s, client := startServer(t, Config{Faults: FaultRates{ServerError: 1}})
	s.FailNext(2, FaultRateLimit)
	s.FailNext(1, FaultNone)

	want := []int{429, 429, 200, 500}
	for i, status := range want {
		_, err := client.CreateChatCompletion(context.Background(), userChat("gpt-4o-mini", "hi"))
		got := http.StatusOK
		if err != nil {
			got = asAPIError(t, err).HTTPStatusCode
		}
		if got != status {
			t.Errorf("request %d: status = %d, want %d", i, got, status)
		}
	}

	stats := s.Stats()
	if stats.RateLimited != 2 {
		t.Errorf("Stats().RateLimited = %d, want 2", stats.RateLimited)
	}
	if stats.ServerErrors != 1 {
		t.Errorf("Stats().ServerErrors = %d, want 1", stats.ServerErrors)
	}
	if stats.Chat != 1 {
		t.Errorf("Stats().Chat = %d, want 1", stats.Chat)
	}
}

func TestFailNextPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		n     int
		fault Fault
	}{
		{name: "unknown fault", n: 1, fault: Fault("teapot")},
		{name: "negative count", n: -1, fault: FaultRateLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			defer s.Close()
			defer func() {
				if recover() == nil {
					t.Errorf("FailNext(%d, %q) did not panic", tt.n, tt.fault)
				}
			}()
			s.FailNext(tt.n, tt.fault)
		})
	}
}

func TestRateLimitResponse(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})
	s.FailNext(1, FaultRateLimit)

	resp, data := postRaw(t, s, PathChatCompletions, "Bearer k", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429; body %s", resp.StatusCode, data)
	}

	headers := map[string]string{
		"retry-after":                    "2",
		"x-ratelimit-limit-requests":     "500",
		"x-ratelimit-remaining-requests": "0",
		"x-ratelimit-reset-requests":     "1.2s",
	}
	for name, want := range headers {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}

	var body struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(data), &body); err != nil {
		t.Fatalf("decode body %s: %v", data, err)
	}
	message, _ := body.Error["message"].(string)
	for _, want := range []string{"Rate limit reached for gpt-4o-mini", "Please try again in 1.2s."} {
		if !strings.Contains(message, want) {
			t.Errorf("message = %q, want it to contain %q", message, want)
		}
	}
	if _, ok := body.Error["param"]; !ok {
		t.Errorf("error has no param field, want null: %s", data)
	}
	if body.Error["param"] != nil {
		t.Errorf("error.param = %v, want null", body.Error["param"])
	}
}

func TestRateLimitConfig(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{RetryAfter: 20 * time.Millisecond, RateLimitRequests: 3})
	s.FailNext(1, FaultRateLimit)

	resp, data := postRaw(t, s, PathChatCompletions, "Bearer k", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)

	// A wait under a second still requests one whole second in retry-after.
	headers := map[string]string{
		"retry-after":                "1",
		"x-ratelimit-limit-requests": "3",
		"x-ratelimit-reset-requests": "20ms",
	}
	for name, want := range headers {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(data, "Please try again in 20ms.") {
		t.Errorf("body = %s, want it to contain %q", data, "Please try again in 20ms.")
	}
}

func TestQuotaHasNoRetryAfter(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})
	s.FailNext(1, FaultQuota)

	resp, data := postRaw(t, s, PathChatCompletions, "Bearer k", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429; body %s", resp.StatusCode, data)
	}
	if got := resp.Header.Get("retry-after"); got != "" {
		t.Errorf("retry-after = %q, want none", got)
	}
}

func TestFaultHook(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []Request
	)
	s, client := startServer(t, Config{
		Fault: func(_ *http.Request, req Request) Fault {
			mu.Lock()
			seen = append(seen, req)
			mu.Unlock()
			if req.Model == "broken-model" {
				return FaultServerError
			}
			return FaultNone
		},
	})
	ctx := context.Background()

	if _, err := client.CreateChatCompletion(ctx, userChat("gpt-4o-mini", "hi")); err != nil {
		t.Errorf("CreateChatCompletion(gpt-4o-mini): %v, want success", err)
	}
	_, err := client.CreateChatCompletion(ctx, userChat("broken-model", "hi"))
	if got := asAPIError(t, err).HTTPStatusCode; got != http.StatusInternalServerError {
		t.Errorf("CreateChatCompletion(broken-model) status = %d, want 500", got)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("hook saw %d requests, want 2", len(seen))
	}
	want := Request{Path: PathChatCompletions, Model: "gpt-4o-mini", Inputs: 1, PromptTokens: 8}
	if seen[0] != want {
		t.Errorf("hook saw %+v, want %+v", seen[0], want)
	}
	if got := s.Stats().ServerErrors; got != 1 {
		t.Errorf("Stats().ServerErrors = %d, want 1", got)
	}
}

func TestFaultHookUnknownFault(t *testing.T) {
	t.Parallel()
	_, client := startServer(t, Config{
		Fault: func(*http.Request, Request) Fault { return Fault("teapot") },
	})

	_, err := client.CreateChatCompletion(context.Background(), userChat("gpt-4o-mini", "hi"))

	apiErr := asAPIError(t, err)
	if apiErr.HTTPStatusCode != http.StatusInternalServerError {
		t.Errorf("HTTPStatusCode = %d, want 500", apiErr.HTTPStatusCode)
	}
	if !strings.Contains(apiErr.Message, "teapot") {
		t.Errorf("Message = %q, want it to name the unknown fault", apiErr.Message)
	}
}

func TestFaultRates(t *testing.T) {
	t.Parallel()
	const requests = 200
	s, client := startServer(t, Config{Seed: 3, Faults: FaultRates{RateLimit: 0.25, ServerError: 0.25}})

	for i := 0; i < requests; i++ {
		_, _ = client.CreateChatCompletion(context.Background(), userChat("gpt-4o-mini", "hi"))
	}

	// Each count is binomial(200, 0.25): mean 50, standard deviation 6.1.
	stats := s.Stats()
	for _, c := range []struct {
		name string
		got  int64
	}{{"RateLimited", stats.RateLimited}, {"ServerErrors", stats.ServerErrors}} {
		if c.got < 25 || c.got > 75 {
			t.Errorf("Stats().%s = %d, want about 50 of %d", c.name, c.got, requests)
		}
	}
	if got := stats.RateLimited + stats.ServerErrors + stats.Chat; got != requests {
		t.Errorf("RateLimited + ServerErrors + Chat = %d, want %d", got, requests)
	}
}

func TestSlowWithClientDeadline(t *testing.T) {
	t.Parallel()
	// The real timer: the client's deadline, not the hour, must end the call.
	s, client := startServer(t, Config{SlowDelay: time.Hour})
	s.FailNext(1, FaultSlow)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.CreateChatCompletion(ctx, userChat("gpt-4o-mini", "hi"))
	elapsed := time.Since(start)

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	if elapsed > 10*time.Second {
		t.Errorf("call took %v, want it to end at the 50ms deadline", elapsed)
	}

	s.Close()
	stats := s.Stats()
	if stats.Slow != 1 {
		t.Errorf("Stats().Slow = %d, want 1", stats.Slow)
	}
	if stats.Canceled != 1 {
		t.Errorf("Stats().Canceled = %d, want 1", stats.Canceled)
	}
}

func TestSlowWithClientCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	s, client := startServer(t, Config{SlowDelay: time.Hour, Sleep: blockingSleep(time.Hour, started)})
	s.FailNext(1, FaultSlow)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	req := userChat("gpt-4o-mini", "hi")
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	_, err := client.CreateChatCompletionStream(ctx, req)

	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestSlowCompletes(t *testing.T) {
	t.Parallel()
	recorder := &sleepRecorder{}
	s, client := startServer(t, Config{SlowDelay: 5 * time.Second, Sleep: recorder.sleep})
	s.FailNext(1, FaultSlow)

	if _, err := client.CreateChatCompletion(context.Background(), userChat("gpt-4o-mini", "hi")); err != nil {
		t.Fatalf("CreateChatCompletion: %v", err)
	}

	got := recorder.recorded()
	if len(got) == 0 || got[0] != 5*time.Second {
		t.Errorf("sleeps = %v, want the 5s slow delay first", got)
	}
	stats := s.Stats()
	if stats.Slow != 1 {
		t.Errorf("Stats().Slow = %d, want 1", stats.Slow)
	}
	if stats.Chat != 1 {
		t.Errorf("Stats().Chat = %d, want 1", stats.Chat)
	}
}

func TestDisconnectPlain(t *testing.T) {
	t.Parallel()
	s, client := startServer(t, Config{})
	s.FailNext(1, FaultDisconnect)

	_, err := client.CreateChatCompletion(context.Background(), userChat("gpt-4o-mini", "hi"))

	if err == nil {
		t.Fatalf("error = nil, want a connection error")
	}
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		t.Errorf("error = %v, want a connection error, not an API error", err)
	}
	if got := s.Stats().Disconnected; got != 1 {
		t.Errorf("Stats().Disconnected = %d, want 1", got)
	}
}

func TestEvenFaultsMatchRates(t *testing.T) {
	rates := FaultRates{RateLimit: 0.1, ServerError: 0.05, Slow: 0.05}
	s := New(Config{Faults: rates, EvenFaults: true, Latency: Fixed(0)})
	const n = 1000
	counts := map[Fault]int{}
	for i := 0; i < n; i++ {
		counts[s.chooseFault(nil, Request{})]++
	}
	for _, tt := range []struct {
		fault Fault
		rate  float64
	}{{FaultRateLimit, 0.1}, {FaultServerError, 0.05}, {FaultSlow, 0.05}} {
		got := float64(counts[tt.fault]) / n
		if math.Abs(got-tt.rate) > 0.005 {
			t.Errorf("share of %s = %.3f, want %.3f within 0.005", tt.fault, got, tt.rate)
		}
	}
}
