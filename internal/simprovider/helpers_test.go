package simprovider

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// startServer starts a Server on a loopback port with zero latency unless
// cfg sets one, closes it when the test ends, and returns a go-openai client
// for it.
func startServer(t *testing.T, cfg Config) (*Server, *openai.Client) {
	t.Helper()
	if cfg.Latency == nil {
		cfg.Latency = Fixed(0)
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, newClient(s.URL(), "test-key")
}

func newClient(baseURL, key string) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = baseURL
	return openai.NewClientWithConfig(cfg)
}

// userChat returns a one-message chat request.
func userChat(model, content string) openai.ChatCompletionRequest {
	return openai.ChatCompletionRequest{
		Model:    model,
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: content}},
	}
}

// postRaw sends body to path below the server's base URL with the given
// Authorization header (none when empty) and returns the response and its
// body.
func postRaw(t *testing.T, s *Server, path, authorization, body string) (*http.Response, string) {
	t.Helper()
	url := strings.TrimSuffix(s.URL(), "/v1") + path
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of POST %s: %v", path, err)
	}
	return resp, string(data)
}

// asAPIError returns err as an *openai.APIError or fails the test.
func asAPIError(t *testing.T, err error) *openai.APIError {
	t.Helper()
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v (%T), want *openai.APIError", err, err)
	}
	return apiErr
}

// sleepRecorder is a Config.Sleep that returns at once and records the
// requested delays.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

// blockingSleep is a Config.Sleep that blocks delays of exactly d until the
// context is done, closing started when the first such wait begins, and
// returns at once for any other delay.
func blockingSleep(d time.Duration, started chan<- struct{}) func(context.Context, time.Duration) error {
	var once sync.Once
	return func(ctx context.Context, got time.Duration) error {
		if got != d {
			return nil
		}
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	}
}
