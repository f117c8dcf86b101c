package errmon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"

	"github.com/aimeter/aimeter/errmon"
)

// apiError returns an *openai.APIError as go-openai builds it from an error
// response, wrapped the way calling code usually wraps it.
func apiError(status int, code any, errType, message string) error {
	return fmt.Errorf("chat completion: %w", &openai.APIError{
		Code:           code,
		Message:        message,
		Type:           errType,
		HTTPStatus:     fmt.Sprintf("%d %s", status, "Status"),
		HTTPStatusCode: status,
	})
}

// postError returns the error http.Client.Do returns for a POST that failed
// with err.
func postError(err error) error {
	return &url.Error{Op: "Post", URL: "https://api.openai.com/v1/chat/completions", Err: err}
}

// dialError returns the error of a TCP dial that failed with errno.
func dialError(errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443},
		Err: os.NewSyscallError("connect", errno)}
}

func TestClassifyCategories(t *testing.T) {
	t.Parallel()
	azureFilter := &openai.APIError{
		Code:           "content_filter",
		Message:        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
		HTTPStatusCode: 400,
		InnerError:     &openai.InnerError{Code: "ResponsibleAIPolicyViolation"},
	}
	tests := []struct {
		name string
		err  error
		want errmon.Category
	}{
		// rate_limited
		{"429 rate_limit_exceeded", apiError(429, "rate_limit_exceeded", "tokens", "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s."), errmon.RateLimited},
		{"azure 429 string code", apiError(429, "429", "", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after 20 seconds."), errmon.RateLimited},
		{"azure 429 inside stream", fmt.Errorf("error, %w", &openai.APIError{Code: "429", Message: "Rate limit is exceeded. Try again in 1 seconds."}), errmon.RateLimited},
		{"429 without body", &openai.RequestError{HTTPStatus: "429 Too Many Requests", HTTPStatusCode: 429, Err: errors.New("unexpected end of JSON input")}, errmon.RateLimited},
		// quota_exceeded
		{"429 insufficient_quota", apiError(429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota, please check your plan and billing details."), errmon.QuotaExceeded},
		{"insufficient_quota type only", apiError(429, nil, "insufficient_quota", "You exceeded your current quota."), errmon.QuotaExceeded},
		{"flattened quota", errors.New("chat: error, status code: 429, status: 429 Too Many Requests, message: You exceeded your current quota, please check your plan and billing details."), errmon.QuotaExceeded},
		{"402 payment required", &openai.RequestError{HTTPStatusCode: 402, Body: []byte(`{"error":"Insufficient credits"}`)}, errmon.QuotaExceeded},
		// auth
		{"401 invalid_api_key", apiError(401, "invalid_api_key", "invalid_request_error", "Incorrect API key provided: sk-abc12********************wxyz."), errmon.Auth},
		{"403 unsupported region", apiError(403, "unsupported_country_region_territory", "request_forbidden", "Country, region, or territory not supported"), errmon.Auth},
		// invalid_request
		{"400 invalid value", apiError(400, nil, "invalid_request_error", "Invalid value for 'temperature': must be between 0 and 2."), errmon.InvalidRequest},
		{"404 model_not_found", apiError(404, "model_not_found", "invalid_request_error", "The model `gpt-9` does not exist or you do not have access to it."), errmon.InvalidRequest},
		{"409 conflict", apiError(409, nil, "invalid_request_error", "Another run is already active on this thread."), errmon.InvalidRequest},
		{"413 too large", &openai.RequestError{HTTPStatusCode: 413, Body: []byte("<html><body>413 Request Entity Too Large</body></html>")}, errmon.InvalidRequest},
		{"422 unprocessable", &openai.RequestError{HTTPStatusCode: 422, Body: []byte(`{"detail":[{"loc":["body","messages"],"msg":"field required"}]}`)}, errmon.InvalidRequest},
		{"go-openai client check", fmt.Errorf("chat: %w", openai.ErrO1MaxTokensDeprecated), errmon.InvalidRequest},
		// context_length
		{"400 context_length_exceeded", apiError(400, "context_length_exceeded", "invalid_request_error", "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens."), errmon.ContextLength},
		{"400 context length message only", apiError(400, nil, "BadRequestError", "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion)."), errmon.ContextLength},
		// content_filter
		{"azure ResponsibleAIPolicyViolation", azureFilter, errmon.ContentFilter},
		{"content_policy_violation", apiError(400, "content_policy_violation", "invalid_request_error", "Your request was rejected as a result of our safety system."), errmon.ContentFilter},
		{"content_filter inside stream", fmt.Errorf("error, %w", &openai.APIError{Code: "content_filter", Message: "The response was filtered."}), errmon.ContentFilter},
		{"content policy phrase without code", &openai.RequestError{HTTPStatusCode: 400, Body: []byte(`{"message":"The prompt triggered Azure OpenAI's content management policy."}`)}, errmon.ContentFilter},
		// timeout
		{"context deadline", fmt.Errorf("chat: %w", context.DeadlineExceeded), errmon.Timeout},
		{"post deadline", postError(context.DeadlineExceeded), errmon.Timeout},
		{"read i/o timeout", postError(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), errmon.Timeout},
		{"net.Error timeout only", postError(timeoutOnlyError{"net/http: timeout awaiting response headers"}), errmon.Timeout},
		{"Timeout method without timeout words", postError(timeoutOnlyError{"stalled"}), errmon.Timeout},
		{"408 request timeout", &openai.RequestError{HTTPStatusCode: 408, Body: []byte("stream timeout")}, errmon.Timeout},
		{"flattened client timeout", errors.New(`Post "https://api.openai.com/v1/chat/completions": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`), errmon.Timeout},
		// canceled
		{"context canceled", fmt.Errorf("chat: %w", context.Canceled), errmon.Canceled},
		{"post canceled", postError(context.Canceled), errmon.Canceled},
		{"flattened canceled", errors.New(`Post "https://api.openai.com/v1/chat/completions": context canceled`), errmon.Canceled},
		// network
		{"connection refused", postError(dialError(syscall.ECONNREFUSED)), errmon.Network},
		{"connection reset", postError(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), errmon.Network},
		{"dns not found", postError(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "api.openai.invalid", IsNotFound: true}}), errmon.Network},
		{"unexpected EOF mid-stream", fmt.Errorf("recv: %w", io.ErrUnexpectedEOF), errmon.Network},
		{"EOF before response", postError(io.EOF), errmon.Network},
		{"flattened broken pipe", errors.New("write tcp 10.0.0.2:50412->104.18.7.192:443: write: broken pipe"), errmon.Network},
		{"joined with network error", errors.Join(errors.New("attempt 1"), dialError(syscall.ECONNREFUSED)), errmon.Network},
		{"other url error", postError(errors.New("net/http: HTTP/1.x transport connection broken: malformed HTTP response")), errmon.Network},
		// provider_error
		{"500 server_error", apiError(500, nil, "server_error", "The server had an error while processing your request. Sorry about that!"), errmon.ProviderError},
		{"503 overloaded", apiError(503, nil, "server_error", "The engine is currently overloaded, please try again later."), errmon.ProviderError},
		{"502 HTML", &openai.RequestError{HTTPStatus: "502 Bad Gateway", HTTPStatusCode: 502, Body: []byte("<html><title>502 Bad Gateway</title></html>")}, errmon.ProviderError},
		{"server_error inside stream", fmt.Errorf("error, %w", &openai.APIError{Type: "server_error", Message: "The server had an error while processing your request."}), errmon.ProviderError},
		{"too many empty stream messages", fmt.Errorf("recv: %w", openai.ErrTooManyEmptyStreamMessages), errmon.ProviderError},
		{"gemini quota wording is a rate limit", apiError(429, "429", "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."), errmon.RateLimited},
		{"flattened status 500", errors.New("chat: error, status code: 500, status: 500 Internal Server Error, message: The server had an error"), errmon.ProviderError},
		// panic
		{"panic error", &errmon.PanicError{Value: "assignment to entry in nil map"}, errmon.Panic},
		{"wrapped panic of an error", fmt.Errorf("handler: %w", &errmon.PanicError{Value: context.Canceled}), errmon.Panic},
		// unknown
		{"plain error", errors.New("something odd happened"), errmon.Unknown},
		{"json syntax", &json.SyntaxError{Offset: 3}, errmon.Unknown},
		{"unsupported scheme", postError(errors.New(`unsupported protocol scheme "htp"`)), errmon.Unknown},
		{"api error without status or code", &openai.APIError{Message: "odd"}, errmon.Unknown},
	}

	seen := make(map[errmon.Category]bool)
	for _, tt := range tests {
		tt := tt
		seen[tt.want] = true
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := errmon.Classify(tt.err)
			assert.Equal(t, tt.want, got, "error: %v", tt.err)
			assert.Equal(t, got, errmon.Inspect(tt.err).Category, "Inspect and Classify disagree")
		})
	}
	for _, c := range errmon.Categories {
		assert.True(t, seen[c], "no case for category %s", c)
	}
}

func TestClassifyNil(t *testing.T) {
	t.Parallel()
	assert.Equal(t, errmon.Category(""), errmon.Classify(nil))
	assert.Equal(t, errmon.Details{}, errmon.Inspect(nil))
}

func TestInspectDetails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want errmon.Details
	}{
		{
			name: "numeric code",
			err:  apiError(429, 429, "", "Too many requests"),
			want: errmon.Details{Category: errmon.RateLimited, HTTPStatus: 429, Code: "429", Message: "Too many requests"},
		},
		{
			name: "null code decoded as zero",
			err:  apiError(500, 0, "server_error", "oops"),
			want: errmon.Details{Category: errmon.ProviderError, HTTPStatus: 500, Message: "oops"},
		},
		{
			name: "request error JSON message",
			err:  &openai.RequestError{HTTPStatusCode: 400, Body: []byte(`{"message":"prompt is required"}`)},
			want: errmon.Details{Category: errmon.InvalidRequest, HTTPStatus: 400, Message: "prompt is required"},
		},
		{
			name: "request error without body",
			err:  &openai.RequestError{HTTPStatus: "503 Service Unavailable", HTTPStatusCode: 503},
			want: errmon.Details{Category: errmon.ProviderError, HTTPStatus: 503, Message: "503 Service Unavailable"},
		},
		{
			name: "panic",
			err:  &errmon.PanicError{Value: "boom"},
			want: errmon.Details{Category: errmon.Panic, Message: "panic: boom"},
		},
		{
			name: "transport error keeps its text",
			err:  postError(context.DeadlineExceeded),
			want: errmon.Details{Category: errmon.Timeout, Message: `Post "https://api.openai.com/v1/chat/completions": context deadline exceeded`},
		},
		{
			name: "secret in message",
			err:  apiError(401, "invalid_api_key", "", "Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789."),
			want: errmon.Details{Category: errmon.Auth, HTTPStatus: 401, Code: "invalid_api_key", Message: "Incorrect API key provided: [REDACTED]."},
		},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, errmon.Inspect(tt.err))
		})
	}
}

func TestInspectCapsMessage(t *testing.T) {
	t.Parallel()
	body := make([]byte, 5000)
	for i := range body {
		body[i] = 'x'
	}
	err := &openai.RequestError{HTTPStatusCode: 502, Body: body}

	d := errmon.Inspect(err)

	assert.LessOrEqual(t, len(d.Message), 1024)
	assert.Equal(t, errmon.ProviderError, d.Category)
}

func TestInspectRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"openai milliseconds", apiError(429, "rate_limit_exceeded", "", "Please try again in 197ms. Visit https://platform.openai.com/account/rate-limits to learn more."), 197 * time.Millisecond},
		{"openai fractional seconds", apiError(429, "rate_limit_exceeded", "", "Please try again in 1.898s."), 1898 * time.Millisecond},
		{"openai minutes and seconds", apiError(429, "rate_limit_exceeded", "", "Please try again in 6m0s."), 6 * time.Minute},
		{"azure seconds", apiError(429, "429", "", "Please retry after 20 seconds."), 20 * time.Second},
		{"azure second(s)", apiError(429, "429", "", "Please retry after 5 second(s)."), 5 * time.Second},
		{"bare number is seconds", apiError(503, nil, "", "Overloaded, retry after 30."), 30 * time.Second},
		{"header quoted in message", apiError(429, nil, "", `throttled (Retry-After: 7)`), 7 * time.Second},
		{"milliseconds header quoted", apiError(429, nil, "", `throttled, retry-after-ms=250`), 250 * time.Millisecond},
		{"unknown unit", apiError(429, nil, "", "Please try again in 2 days."), 0},
		{"no hint", apiError(429, "rate_limit_exceeded", "", "Rate limit reached."), 0},
		{"retry after error", &errmon.RetryAfterError{Err: apiError(429, "rate_limit_exceeded", "", "Please try again in 1s."), Delay: 12 * time.Second}, 12 * time.Second},
		{"wrapped retry after error", fmt.Errorf("chat: %w", &errmon.RetryAfterError{Err: context.DeadlineExceeded, Delay: time.Second}), time.Second},
		{"own type with RetryAfter", fmt.Errorf("call: %w", throttledError{3 * time.Second}), 3 * time.Second},
		{"zero RetryAfter falls back to message", &errmon.RetryAfterError{Err: apiError(429, nil, "", "Please try again in 4s.")}, 4 * time.Second},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, errmon.Inspect(tt.err).RetryAfter)
		})
	}
}

// throttledError is an error of the caller's own that carries a wait.
type throttledError struct{ wait time.Duration }

func (e throttledError) Error() string             { return "throttled" }
func (e throttledError) RetryAfter() time.Duration { return e.wait }

func TestRetryAfterErrorUnwraps(t *testing.T) {
	t.Parallel()
	err := &errmon.RetryAfterError{Err: context.Canceled, Delay: time.Second}

	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "context canceled", err.Error())
	assert.Equal(t, "retry after 1s", (&errmon.RetryAfterError{Delay: time.Second}).Error())
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"seconds", "20", 20 * time.Second, true},
		{"seconds with spaces", " 3 ", 3 * time.Second, true},
		{"zero", "0", 0, true},
		{"http date", "Fri, 04 Dec 2026 19:00:30 GMT", 30 * time.Second, true},
		{"date in the past", "Fri, 04 Dec 2026 18:59:00 GMT", 0, true},
		{"negative", "-5", 0, false},
		{"empty", "", 0, false},
		{"garbage", "soon", 0, false},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := errmon.ParseRetryAfter(tt.value, now)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPanicError(t *testing.T) {
	t.Parallel()
	err := &errmon.PanicError{Value: io.ErrClosedPipe}

	assert.Equal(t, "panic: io: read/write on closed pipe", err.Error())
	assert.ErrorIs(t, err, io.ErrClosedPipe)
	assert.Nil(t, (&errmon.PanicError{Value: 42}).Unwrap())
}

func TestCategoryRetryable(t *testing.T) {
	t.Parallel()
	retryable := map[errmon.Category]bool{
		errmon.RateLimited: true, errmon.Timeout: true, errmon.Network: true, errmon.ProviderError: true,
	}
	for _, c := range errmon.Categories {
		assert.Equal(t, retryable[c], c.Retryable(), "category %s", c)
		assert.Equal(t, c != errmon.Canceled, c.IsProviderFailure(), "category %s", c)
	}
	assert.False(t, errmon.Category("").IsProviderFailure())
}
