package errmon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

// Error bodies in the shape OpenAI and Azure OpenAI send them.
const (
	insufficientQuotaBody = `{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`
	rateLimitBody         = `{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-Ab12Cd34Ef56Gh78 on tokens per min (TPM): Limit 200000, Used 199614, Requested 1043. Please try again in 197ms. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`
	azureRateLimitBody    = `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after 20 seconds."}}`
	contextLengthBody     = `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`
	azureContentBody      = `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}}}}`
	modelNotFoundBody     = "{\"error\":{\"message\":\"The model `gpt-9` does not exist or you do not have access to it.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}"
	serverErrorBody       = `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`
	badGatewayHTML        = `<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>`
)

// testKey is the API key the test clients send. It is not a real key.
const testKey = "sk-test-0000000000000000000000"

// chatRequest is a minimal valid chat request.
var chatRequest = openai.ChatCompletionRequest{
	Model:    openai.GPT4oMini,
	Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Hello"}},
}

// newServer starts a loopback server for handler and stops it when the
// test ends.
func newServer(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a go-openai client for srv that uses httpClient, or
// srv's own client when httpClient is nil.
func newClient(srv *httptest.Server, httpClient *http.Client) *openai.Client {
	cfg := openai.DefaultConfig(testKey)
	cfg.BaseURL = srv.URL + "/v1"
	cfg.HTTPClient = srv.Client()
	if httpClient != nil {
		cfg.HTTPClient = httpClient
	}
	return openai.NewClientWithConfig(cfg)
}

// respondWith returns a handler that sends status and a JSON body.
func respondWith(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// chatError sends one chat request to a server that responds with status
// and body, and returns go-openai's error.
func chatError(t *testing.T, status int, body string) error {
	t.Helper()
	srv := newServer(t, respondWith(status, body))
	_, err := newClient(srv, nil).CreateChatCompletion(context.Background(), chatRequest)
	require.Error(t, err)
	return err
}

// newHangingServer starts a server whose handler runs begin, when not nil,
// and then hangs until the client goes away or the test ends.
func newHangingServer(t *testing.T, begin http.HandlerFunc) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if begin != nil {
			begin(w, r)
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	// Cleanups run last first, so this one lets the handler return before
	// srv.Close waits for it.
	t.Cleanup(func() { close(release) })
	return srv
}

func TestOpenAIInsufficientQuota(t *testing.T) {
	t.Parallel()
	err := chatError(t, http.StatusTooManyRequests, insufficientQuotaBody)

	d := errmon.Inspect(err)
	assert.Equal(t, errmon.QuotaExceeded, d.Category)
	assert.Equal(t, http.StatusTooManyRequests, d.HTTPStatus)
	assert.Equal(t, "insufficient_quota", d.Code)
	assert.Equal(t, time.Duration(0), d.RetryAfter)
	assert.False(t, d.Category.Retryable())
	assert.Contains(t, d.Message, "You exceeded your current quota")
}

func TestOpenAIRateLimit(t *testing.T) {
	t.Parallel()
	err := chatError(t, http.StatusTooManyRequests, rateLimitBody)

	d := errmon.Inspect(err)
	assert.Equal(t, errmon.RateLimited, d.Category)
	assert.Equal(t, http.StatusTooManyRequests, d.HTTPStatus)
	assert.Equal(t, "rate_limit_exceeded", d.Code)
	assert.Equal(t, 197*time.Millisecond, d.RetryAfter)
	assert.True(t, d.Category.Retryable())
}

func TestOpenAIAzureStringCode(t *testing.T) {
	t.Parallel()
	srv := newServer(t, respondWith(http.StatusTooManyRequests, azureRateLimitBody))
	cfg := openai.DefaultAzureConfig(testKey, srv.URL)
	cfg.HTTPClient = srv.Client()
	_, err := openai.NewClientWithConfig(cfg).CreateChatCompletion(context.Background(), chatRequest)
	require.Error(t, err)

	var apiErr *openai.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "429", apiErr.Code, "go-openai keeps a string code as a string")

	d := errmon.Inspect(err)
	assert.Equal(t, errmon.RateLimited, d.Category)
	assert.Equal(t, http.StatusTooManyRequests, d.HTTPStatus)
	assert.Equal(t, "429", d.Code)
	assert.Equal(t, 20*time.Second, d.RetryAfter)
	assert.Contains(t, d.Message, "Please retry after 20 seconds.")
}

func TestOpenAIProviderResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		want       errmon.Category
		wantCode   string
		wantInText string
	}{
		{"context length", http.StatusBadRequest, contextLengthBody, errmon.ContextLength, "context_length_exceeded", "maximum context length"},
		{"azure content filter", http.StatusBadRequest, azureContentBody, errmon.ContentFilter, "content_filter", "content management policy"},
		{"model not found", http.StatusNotFound, modelNotFoundBody, errmon.InvalidRequest, "model_not_found", "does not exist"},
		{"server error with null code", http.StatusInternalServerError, serverErrorBody, errmon.ProviderError, "", "Sorry about that"},
		{"bad gateway HTML", http.StatusBadGateway, badGatewayHTML, errmon.ProviderError, "", "502 Bad Gateway"},
		{"plain JSON error string", http.StatusNotFound, `{"error":"model 'llama9' not found"}`, errmon.InvalidRequest, "", "model 'llama9' not found"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := chatError(t, tt.status, tt.body)

			d := errmon.Inspect(err)
			assert.Equal(t, tt.want, d.Category)
			assert.Equal(t, tt.status, d.HTTPStatus)
			assert.Equal(t, tt.wantCode, d.Code)
			assert.Contains(t, d.Message, tt.wantInText)
		})
	}
}

func TestOpenAICanceledMidRequest(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	srv := newHangingServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
	})
	client := newClient(srv, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := client.CreateChatCompletion(ctx, chatRequest)
		errc <- err
	}()
	<-started
	cancel()
	err := <-errc

	require.Error(t, err)
	assert.Equal(t, errmon.Canceled, errmon.Classify(err))
	assert.False(t, errmon.Classify(err).IsProviderFailure())
}

// startStream returns a stream from a server that sends one chunk and then
// runs rest, or hangs when rest is nil.
func startStream(t *testing.T, rest http.HandlerFunc) (*openai.ChatCompletionStream, context.CancelFunc) {
	t.Helper()
	firstChunk := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}`+"\n\n")
		w.(http.Flusher).Flush()
	}
	var srv *httptest.Server
	if rest == nil {
		srv = newHangingServer(t, firstChunk)
	} else {
		srv = newServer(t, func(w http.ResponseWriter, r *http.Request) {
			firstChunk(w, r)
			rest(w, r)
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req := chatRequest
	req.Stream = true
	stream, err := newClient(srv, nil).CreateChatCompletionStream(ctx, req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = stream.Close() })

	chunk, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, "Hi", chunk.Choices[0].Delta.Content)
	return stream, cancel
}

func TestOpenAICanceledMidStream(t *testing.T) {
	t.Parallel()
	stream, cancel := startStream(t, nil)

	cancel()
	_, err := stream.Recv()

	require.Error(t, err)
	assert.Equal(t, errmon.Canceled, errmon.Classify(err))
}

func TestOpenAIErrorInsideStream(t *testing.T) {
	t.Parallel()
	stream, _ := startStream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "data: "+serverErrorBody+"\n\n")
	})

	_, err := stream.Recv()

	require.Error(t, err)
	d := errmon.Inspect(err)
	assert.Equal(t, errmon.ProviderError, d.Category)
	assert.Equal(t, 0, d.HTTPStatus, "the stream started with 200, so the error has no status")
	assert.Contains(t, d.Message, "Sorry about that")
}

func TestOpenAIUnexpectedEOFMidStream(t *testing.T) {
	t.Parallel()
	stream, _ := startStream(t, func(w http.ResponseWriter, r *http.Request) {
		// Send half a chunk of the chunked body and drop the connection.
		_, _ = io.WriteString(w, `data: {"id":"chatcmpl-1","choi`)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})

	_, err := stream.Recv()

	require.Error(t, err)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, errmon.Network, errmon.Classify(err))
}

func TestOpenAITooManyEmptyStreamMessages(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 20; i++ {
			_, _ = io.WriteString(w, ": keep-alive\n")
		}
	})
	cfg := openai.DefaultConfig(testKey)
	cfg.BaseURL = srv.URL + "/v1"
	cfg.HTTPClient = srv.Client()
	cfg.EmptyMessagesLimit = 5
	req := chatRequest
	req.Stream = true
	stream, err := openai.NewClientWithConfig(cfg).CreateChatCompletionStream(context.Background(), req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = stream.Close() })

	_, err = stream.Recv()

	require.ErrorIs(t, err, openai.ErrTooManyEmptyStreamMessages)
	assert.Equal(t, errmon.ProviderError, errmon.Classify(err))
}

func TestOpenAIClientTimeoutAwaitingHeaders(t *testing.T) {
	t.Parallel()
	srv := newHangingServer(t, nil)
	httpClient := srv.Client()
	httpClient.Timeout = 20 * time.Millisecond

	_, err := newClient(srv, httpClient).CreateChatCompletion(context.Background(), chatRequest)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "Client.Timeout exceeded while awaiting headers")
	assert.Equal(t, errmon.Timeout, errmon.Classify(err))
	assert.True(t, errmon.Classify(err).Retryable())
}

func TestOpenAIClientTimeoutReadingBody(t *testing.T) {
	t.Parallel()
	srv := newHangingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion",`)
		w.(http.Flusher).Flush()
	})
	httpClient := srv.Client()
	// Long enough for the headers to arrive first on a loaded machine.
	httpClient.Timeout = 300 * time.Millisecond

	_, err := newClient(srv, httpClient).CreateChatCompletion(context.Background(), chatRequest)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "(Client.Timeout or context cancellation while reading body)")
	assert.Equal(t, errmon.Timeout, errmon.Classify(err))

	// In Go 1.21 this error was a net.Error with Timeout() true that did
	// not match context.DeadlineExceeded, and code that flattens errors
	// with %v keeps only the text. Both still classify as a timeout.
	assert.Equal(t, errmon.Timeout, errmon.Classify(timeoutOnlyError{err.Error()}))
	assert.Equal(t, errmon.Timeout, errmon.Classify(fmt.Errorf("chat: %v", err)))
}

// timeoutOnlyError is a net.Error that times out without matching
// context.DeadlineExceeded.
type timeoutOnlyError struct{ text string }

func (e timeoutOnlyError) Error() string   { return e.text }
func (e timeoutOnlyError) Timeout() bool   { return true }
func (e timeoutOnlyError) Temporary() bool { return true }

var _ net.Error = timeoutOnlyError{}

func TestOpenAIContextDeadlineIsTimeout(t *testing.T) {
	t.Parallel()
	srv := newHangingServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()

	_, err := newClient(srv, nil).CreateChatCompletion(ctx, chatRequest)

	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, errmon.Timeout, errmon.Classify(err))
}

func TestOpenAIConnectionRefused(t *testing.T) {
	t.Parallel()
	// Take a loopback port and free it, so that nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cfg := openai.DefaultConfig(testKey)
	cfg.BaseURL = "http://" + addr + "/v1"
	_, err = openai.NewClientWithConfig(cfg).CreateChatCompletion(context.Background(), chatRequest)

	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "actively refused"), err.Error())
	assert.Equal(t, errmon.Network, errmon.Classify(err))
	assert.Equal(t, errmon.Network, errmon.Classify(errors.New(err.Error())), "flattened text")
}
