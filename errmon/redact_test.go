package errmon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

func TestRedactPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"openai project key", "Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl.", "Incorrect API key provided: [REDACTED]."},
		{"openai key masked by provider", "Incorrect API key provided: sk-abc12***************************wxyz. You can find", "Incorrect API key provided: [REDACTED]. You can find"},
		{"anthropic key", "key=sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789-AA", "key=[REDACTED]"},
		{"bearer token", "upstream rejected Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln== for /v1", "upstream rejected Bearer [REDACTED] for /v1"},
		{"authorization header", "Authorization: Bearer abc.def-ghi", "Authorization: [REDACTED]"},
		{"authorization basic", "authorization=Basic dXNlcjpwYXNz", "authorization=[REDACTED]"},
		{"azure api-key header", "api-key: 0123456789abcdef0123456789abcdef", "api-key: [REDACTED]"},
		{"x-api-key header", "X-Api-Key: my-internal-key-42 was rejected", "X-Api-Key: [REDACTED] was rejected"},
		{"json api_key field", `{"api_key": "abc123", "model": "gpt-4o"}`, `{"api_key": "[REDACTED]", "model": "gpt-4o"}`},
		{"query parameter", "GET /v1/models?api_key=abc123&x=1", "GET /v1/models?api_key=[REDACTED]&x=1"},
		{"env style name", "OPENAI_API_KEY=notasecretformat", "OPENAI_API_KEY=[REDACTED]"},
		{"google key", "key AIzaSyA1234567890abcdefghijklmnopqrstuv is invalid", "key [REDACTED] is invalid"},
		{"groq key", "gsk_abcdefghijklmnopqrstuvwxyz0123", "[REDACTED]"},
		{"hugging face token", "token hf_abcdefghijklmnopqrstuvwxyz", "token [REDACTED]"},
		{"two secrets", "sk-AAAAAAAAAAAAAAAAAAAAAAAA and sk-BBBBBBBBBBBBBBBBBBBBBBBB", "[REDACTED] and [REDACTED]"},
		{"no secret", "The server had an error while processing your request.", "The server had an error while processing your request."},
		{"short sk word kept", "task-sk-learn failed", "task-sk-learn failed"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, errmon.Redact(tt.in))
		})
	}
}

func TestTruncateUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "hello", 10, "hello"},
		{"exact", "hello", 5, "hello"},
		{"tiny cap without mark", "hello world", 5, "hello"},
		{"mark within cap", "abcdefghijklmnopqrstuvwxyz", 16, "abcdefghijklm…"},
		{"no split rune", "ééééé", 5, "éé"},
		{"no split rune with mark", strings.Repeat("é", 20), 20, strings.Repeat("é", 8) + "…"},
		{"zero", "hello", 0, ""},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := errmon.TruncateUTF8(tt.in, tt.max)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, len(got), max(tt.max, 0))
			assert.True(t, utf8.ValidString(got))
		})
	}
}

// leakCheck records what a Monitor exposes, to search it for secrets.
type leakCheck struct {
	monitor           *errmon.Monitor
	log               bytes.Buffer
	fingerprintInputs [][]byte
	events            []errmon.Event
}

func newLeakCheck(t *testing.T, cfg errmon.Config) *leakCheck {
	t.Helper()
	c := &leakCheck{}
	cfg.Logger = slog.New(slog.NewJSONHandler(&c.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c.monitor = errmon.NewMonitor(cfg)
	errmon.SetFingerprintInputHook(c.monitor, func(input []byte) {
		c.fingerprintInputs = append(c.fingerprintInputs, append([]byte(nil), input...))
	})
	return c
}

// assertNoSecret fails for every place where secret shows up.
func (c *leakCheck) assertNoSecret(t *testing.T, secret string) {
	t.Helper()
	returned, err := json.Marshal(c.events)
	require.NoError(t, err)
	recent, err := json.Marshal(c.monitor.Recent(0))
	require.NoError(t, err)
	groups, err := json.Marshal(c.monitor.Groups(0))
	require.NoError(t, err)

	assert.NotContains(t, string(returned), secret, "returned events")
	assert.NotContains(t, string(recent), secret, "Recent")
	assert.NotContains(t, string(groups), secret, "Groups")
	assert.NotContains(t, c.log.String(), secret, "log output")
	for i, input := range c.fingerprintInputs {
		assert.NotContains(t, string(input), secret, "fingerprint input %d", i)
	}
}

func TestMonitorRedactsSecrets(t *testing.T) {
	t.Parallel()
	projectKey := "sk-proj-" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2H1g0F9e8D7c6" // 48 characters
	bearerToken := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	anthropicKey := "sk-ant-api03-Qw3rTy7uIoPaSdFgHjKlZxCvBnM1234567890-abcdEFGH"
	azureKey := "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
	inHouseToken := "tok_live_9XkQ2mZ7LpW4"
	panicKey := "sk-svcacct-PanicValueSecret0123456789"
	stackKey := "sk-proj-InStackText0123456789abcdef"
	endpointKey := "endpointsecret42"

	// A real 401 from go-openai, with the key in the provider's message.
	body := `{"error":{"message":"Incorrect API key provided: ` + projectKey + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	authErr := chatError(t, http.StatusUnauthorized, body)
	require.Contains(t, authErr.Error(), projectKey, "the planted key must be in the raw error")

	panicStack := "goroutine 7 [running]:\n" +
		"main.(*Handler)." + stackKey + "(0xc000012345)\n" +
		"\t/srv/app/" + stackKey + "/handler.go:42 +0x1d\n" +
		"main.main()\n" +
		"\t/srv/app/main.go:12 +0x25\n"

	c := newLeakCheck(t, errmon.Config{Redact: []*regexp.Regexp{regexp.MustCompile(`tok_live_[A-Za-z0-9]+`)}})
	errs := []error{
		authErr,
		fmt.Errorf("call upstream with Authorization: Bearer %s: %w", bearerToken, context.DeadlineExceeded),
		fmt.Errorf("proxy: x-api-key: %s rejected: %w", anthropicKey, apiError(403, nil, "permission_error", "forbidden")),
		&openai.RequestError{HTTPStatusCode: 401, Body: []byte(`{"error":"invalid api-key: ` + azureKey + `"}`)},
		&errmon.PanicError{Value: "unexpected key " + panicKey, Stack: []byte(panicStack)},
		fmt.Errorf("billing: token %s expired", inHouseToken),
	}
	info := errmon.CallInfo{Endpoint: "/api/ai/chat?api_key=" + endpointKey, Provider: "openai", Model: "gpt-4o-mini"}
	for _, err := range errs {
		c.events = append(c.events, c.monitor.Record(err, info))
	}

	require.Len(t, c.fingerprintInputs, len(errs))
	require.Equal(t, len(errs), strings.Count(c.log.String(), "\n"), "one log line per event")
	for _, secret := range []string{projectKey, bearerToken, anthropicKey, azureKey, inHouseToken, panicKey, stackKey, endpointKey} {
		c.assertNoSecret(t, secret)
	}

	assert.Equal(t, errmon.Auth, c.events[0].Category)
	assert.Equal(t, "invalid_api_key", c.events[0].Code)
	assert.Contains(t, c.events[0].Message, "Incorrect API key provided: [REDACTED].")
	assert.Contains(t, c.events[1].Message, "Authorization: [REDACTED]")
	assert.Contains(t, c.events[4].Message, "unexpected key [REDACTED]")
	assert.Equal(t, "main.(*Handler).[REDACTED]", c.events[4].Stack[0].Function)
	assert.Equal(t, "/api/ai/chat?api_key=[REDACTED]", c.events[0].Endpoint)
	assert.Contains(t, c.events[5].Message, "token [REDACTED] expired")
	assert.Equal(t, "Incorrect API key provided: [REDACTED]. You can find your API key at https://platform.openai.com/account/api-keys.", errmon.Inspect(authErr).Message)
}

func TestMonitorRedactsBeforeCapping(t *testing.T) {
	t.Parallel()
	key := "sk-proj-" + strings.Repeat("k", 60)
	c := newLeakCheck(t, errmon.Config{MaxMessageBytes: 40})

	// The cap falls inside the key, which must still be recognized whole.
	ev := c.monitor.Record(fmt.Errorf("%s %s", strings.Repeat("a", 20), key), errmon.CallInfo{})
	c.events = append(c.events, ev)

	assert.LessOrEqual(t, len(ev.Message), 40)
	c.assertNoSecret(t, "sk-proj-kkk")
	c.assertNoSecret(t, "kkkkk")
}

func TestMonitorRedactsHugeMessage(t *testing.T) {
	t.Parallel()
	key := "sk-proj-" + strings.Repeat("q", 60)
	c := newLeakCheck(t, errmon.Config{})

	// A key that straddles the end of the text that Record redacts.
	text := strings.Repeat("word ", 64<<10/5) + key + " " + key
	ev := c.monitor.Record(fmt.Errorf("%s", text), errmon.CallInfo{})
	c.events = append(c.events, ev)

	assert.LessOrEqual(t, len(ev.Message), errmon.DefaultMaxMessageBytes)
	c.assertNoSecret(t, "qqqqq")
}
