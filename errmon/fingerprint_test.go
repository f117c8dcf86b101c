package errmon_test

import (
	"errors"
	"fmt"
	"testing"

	openai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

func TestNormalizeMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"numbers", "Limit 200000, Used 199614, Requested 1043.", "Limit <n>, Used <n>, Requested <n>."},
		{"request id", "request req_abc123 failed", "request <id> failed"},
		{"uuid", "run 0f8fad5b-d9cb-469f-a165-70867728950e expired", "run <id> expired"},
		{"hex hash", "blob 9f86d081884c7d65 missing", "blob <id> missing"},
		{"double quoted", `Invalid value for "temperature": 3`, `Invalid value for "<q>": <n>`},
		{"backquoted", "The model `gpt-9` does not exist", "The model `<q>` does not exist"},
		{"single quoted", "Invalid value for 'top_p': must be at most 1", "Invalid value for '<q>': must be at most <n>"},
		{"apostrophes are not quotes", "This model's maximum context length isn't 8192", "This model's maximum context length isn't <n>"},
		{"escaped quote", `body: {"error":"say \"hi\""}`, `body: {"<q>":"<q>"}`},
		{"unmatched quote", `unexpected " in input`, `unexpected " in input`},
		{"duration", "Please try again in 1.898s.", "Please try again in <id>."},
		{"redacted key", "Incorrect API key provided: [REDACTED].", "Incorrect API key provided: [REDACTED]."},
		{"url", `Post "http://127.0.0.1:41877/v1/chat/completions": dial tcp 127.0.0.1:41877: connect: connection refused`, `Post "<q>": dial tcp <n>:<n>: connect: connection refused`},
		{"words kept", "The server had an error", "The server had an error"},
		{"non-ASCII kept", "délai dépassé après 30 s", "délai dépassé après <n> s"},
		{"completion id without digit", "completion chatcmpl-AbCdEfGhIjKlMnOp failed", "completion <id> failed"},
		{"request id without digit", "request req_AbcDefGhiJkl failed", "request <id> failed"},
		{"organization without digit", "in organization org-XyZabcDEFghiJKL on tokens", "in organization <id> on tokens"},
		{"prefixed ids without digit", "run_QwRtYpLkJhGf file-ZxCvBnMlKjHg call_PqWrTsVxZbNm msg_MnBvCxZlKjHg", "<id> <id> <id> <id>"},
		{"random run without prefix", "object XqTrWpLmKzVbNcGhJd expired", "object <id> expired"},
		{"words after prefix kept", "run_background file-not-found call_Transcription", "run_background file-not-found call_Transcription"},
		{"CamelCase kept", "InvalidRequestError: ContentPolicyViolation in ChatCompletionRequest", "InvalidRequestError: ContentPolicyViolation in ChatCompletionRequest"},
		{"uppercase words kept", "SERVICE UNAVAILABLE", "SERVICE UNAVAILABLE"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, errmon.NormalizeMessage(tt.in))
		})
	}
}

func TestFingerprintGroupsSameFailure(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	errs := []error{
		apiError(429, "rate_limit_exceeded", "tokens", "Rate limit reached for gpt-4o-mini in organization org-Ab12Cd34 on tokens per min (TPM): Limit 200000, Used 199614, Requested 1043. Please try again in 197ms."),
		apiError(429, "rate_limit_exceeded", "tokens", "Rate limit reached for gpt-4o-mini in organization org-Ab12Cd34 on tokens per min (TPM): Limit 200000, Used 199990, Requested 2210. Please try again in 663ms."),
		apiError(429, "rate_limit_exceeded", "tokens", "Rate limit reached for gpt-4o-mini in organization org-Zz98Yy76 on tokens per min (TPM): Limit 30000, Used 29000, Requested 1500. Please try again in 1.2s."),
		fmt.Errorf("request req_7f3a9c1b: %w", apiError(429, "rate_limit_exceeded", "tokens", "Rate limit reached for gpt-4o-mini in organization org-Ab12Cd34 on tokens per min (TPM): Limit 200000, Used 1, Requested 2. Please try again in 3s.")),
	}

	var fingerprints []string
	for _, err := range errs[:3] {
		fingerprints = append(fingerprints, m.Record(err, errmon.CallInfo{}).Fingerprint)
	}

	assert.Equal(t, fingerprints[0], fingerprints[1], "different numbers")
	assert.Equal(t, fingerprints[0], fingerprints[2], "different organization and limits")
	groups := m.Groups(0)
	require.Len(t, groups, 1)
	assert.Equal(t, int64(3), groups[0].Count)

	// A wrapping layer with a request ID groups by itself, whatever the ID.
	a := m.Record(errs[3], errmon.CallInfo{}).Fingerprint
	b := m.Record(fmt.Errorf("request req_0b1c2d3e: %w", errs[3].(interface{ Unwrap() error }).Unwrap()), errmon.CallInfo{}).Fingerprint
	assert.Equal(t, a, b)
}

func TestFingerprintGroupsDigitlessIDs(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	var fingerprints []string
	for _, id := range []string{"chatcmpl-9xYz8WvU7tS6rQ5pO4nM3", "chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz", "chatcmpl-QwErTyUiOpAsDfGhJkLzXcVbNm"} {
		err := apiError(500, "", "server_error", "The server had an error processing completion "+id+" in organization org-XyZabcDEFghiJKL.")
		fingerprints = append(fingerprints, m.Record(err, errmon.CallInfo{}).Fingerprint)
	}

	assert.Equal(t, fingerprints[0], fingerprints[1], "ID with and without digits")
	assert.Equal(t, fingerprints[0], fingerprints[2], "two IDs without digits")
	assert.Len(t, m.Groups(0), 1)
}

func TestFingerprintSplitsDifferentWords(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	messages := []string{
		"The model gpt-4o-mini is currently overloaded with other requests.",
		"The model gpt-4o-mini is currently unavailable for other requests.",
		"Upstream returned InvalidRequestError for the request.",
		"Upstream returned AuthenticationError for the request.",
		"Failed in StreamingResponseWriter while sending.",
		"Failed in ChatCompletionRequest while sending.",
	}
	seen := map[string]string{}
	for _, message := range messages {
		fingerprint := recordFromSiteA(m, apiError(500, "", "server_error", message)).Fingerprint
		if other, ok := seen[fingerprint]; ok {
			t.Errorf("%q and %q share a fingerprint", other, message)
		}
		seen[fingerprint] = message
	}
}

func TestFingerprintGroupsRequestIDs(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	first := m.Record(&openai.RequestError{HTTPStatusCode: 500, Body: []byte(`{"error":"upstream failed","request_id":"req_abc123"}`)}, errmon.CallInfo{})
	second := m.Record(&openai.RequestError{HTTPStatusCode: 500, Body: []byte(`{"error":"upstream failed","request_id":"req_def456"}`)}, errmon.CallInfo{})

	assert.Equal(t, first.Fingerprint, second.Fingerprint)
}

func TestFingerprintIgnoresLineNumbers(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	err := errors.New("same failure")

	first := m.Record(err, errmon.CallInfo{})
	second := m.Record(err, errmon.CallInfo{})

	require.NotEqual(t, first.Stack[0].Line, second.Stack[0].Line)
	assert.Equal(t, first.Fingerprint, second.Fingerprint)
}

func TestFingerprintIgnoresCallInfo(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	err := errors.New("same failure")
	var fingerprints []string
	for _, info := range []errmon.CallInfo{{Endpoint: "/a", Model: "gpt-4o"}, {Endpoint: "/b", Model: "gpt-4o-mini"}} {
		fingerprints = append(fingerprints, m.Record(err, info).Fingerprint)
	}

	assert.Equal(t, fingerprints[0], fingerprints[1])
}

func TestFingerprintSplitsDifferentFailures(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	base := m.Record(apiError(429, "rate_limit_exceeded", "", "Rate limit reached."), errmon.CallInfo{}).Fingerprint
	tests := []struct {
		name string
		err  error
	}{
		{"other code", apiError(429, "insufficient_quota", "", "Rate limit reached.")},
		{"other status", apiError(503, "rate_limit_exceeded", "", "Rate limit reached.")},
		{"other words", apiError(429, "rate_limit_exceeded", "", "Rate limit exceeded.")},
	}
	for _, tt := range tests {
		got := m.Record(tt.err, errmon.CallInfo{}).Fingerprint
		assert.NotEqual(t, base, got, tt.name)
	}

	fromA := recordFromSiteA(m, errors.New("boom")).Fingerprint
	fromB := recordFromSiteB(m, errors.New("boom")).Fingerprint
	assert.NotEqual(t, fromA, fromB, "other call site")
	assert.Len(t, m.Groups(0), 6)
}

//go:noinline
func recordFromSiteA(m *errmon.Monitor, err error) errmon.Event {
	return m.Record(err, errmon.CallInfo{})
}

//go:noinline
func recordFromSiteB(m *errmon.Monitor, err error) errmon.Event {
	return m.Record(err, errmon.CallInfo{})
}

func TestFingerprintInputUsesThreeFrames(t *testing.T) {
	t.Parallel()
	frames := []errmon.Frame{
		{Function: "app.a", File: "/a.go", Line: 1},
		{Function: "app.b", File: "/b.go", Line: 2},
		{Function: "app.c", File: "/c.go", Line: 3},
		{Function: "app.d", File: "/d.go", Line: 4},
	}
	other := append([]errmon.Frame(nil), frames...)
	other[3].Function = "app.other"
	moved := append([]errmon.Frame(nil), frames...)
	moved[0].Line = 99

	input := errmon.FingerprintInput(errmon.Auth, 401, "invalid_api_key", "Incorrect API key provided: [REDACTED].", frames)

	assert.Equal(t, string(input), string(errmon.FingerprintInput(errmon.Auth, 401, "invalid_api_key", "Incorrect API key provided: [REDACTED].", other)), "fourth frame")
	assert.Equal(t, string(input), string(errmon.FingerprintInput(errmon.Auth, 401, "invalid_api_key", "Incorrect API key provided: [REDACTED].", moved)), "line number")
	assert.Contains(t, string(input), "app.c")
	assert.NotContains(t, string(input), "/a.go")
}
