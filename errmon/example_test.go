package errmon_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/aimeter/aimeter/errmon"
)

func ExampleClassify() {
	errs := []error{
		&openai.APIError{HTTPStatusCode: 429, Code: "rate_limit_exceeded", Message: "Rate limit reached for gpt-4o-mini."},
		&openai.APIError{HTTPStatusCode: 429, Code: "insufficient_quota", Message: "You exceeded your current quota."},
		&openai.APIError{HTTPStatusCode: 400, Code: "context_length_exceeded", Message: "This model's maximum context length is 128000 tokens."},
		fmt.Errorf("chat: %w", context.Canceled),
		fmt.Errorf("chat: %w", context.DeadlineExceeded),
		errors.New("something else"),
	}
	for _, err := range errs {
		c := errmon.Classify(err)
		fmt.Printf("%s retryable=%t\n", c, c.Retryable())
	}
	// Output:
	// rate_limited retryable=true
	// quota_exceeded retryable=false
	// context_length retryable=false
	// canceled retryable=false
	// timeout retryable=true
	// unknown retryable=false
}

func ExampleInspect() {
	// Azure OpenAI sends its 429 code as a string and the wait in the text.
	err := fmt.Errorf("chat: %w", &openai.APIError{
		HTTPStatusCode: 429,
		Code:           "429",
		Message:        "Requests to the ChatCompletions_Create Operation have exceeded token rate limit. Please retry after 20 seconds.",
	})

	d := errmon.Inspect(err)
	fmt.Println(d.Category, d.HTTPStatus, d.Code, d.RetryAfter)
	// Output:
	// rate_limited 429 429 20s
}

func ExampleMonitor() {
	clock := func() time.Time { return time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC) }
	m := errmon.NewMonitor(errmon.Config{Clock: clock, RecentEvents: 10})
	info := errmon.CallInfo{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini"}

	// The same rate limit three times, with other request IDs and numbers.
	for i, requestID := range []string{"req_1a2b3c", "req_4d5e6f", "req_7a8b9c"} {
		m.Record(&openai.APIError{
			HTTPStatusCode: 429,
			Code:           "rate_limit_exceeded",
			Message:        fmt.Sprintf("Rate limit reached (request %s). Please try again in %dms.", requestID, 100*(i+1)),
		}, info)
	}
	// An auth failure whose message contains the key.
	m.Record(&openai.APIError{
		HTTPStatusCode: 401,
		Code:           "invalid_api_key",
		Message:        "Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345.",
	}, info)

	for _, g := range m.Groups(0) {
		fmt.Println(g.Count, g.Category)
	}
	latest := m.Recent(1)[0]
	fmt.Println(latest.Time.Format(time.RFC3339), latest.Endpoint, latest.HTTPStatus)
	fmt.Println(latest.Message)
	// Output:
	// 3 rate_limited
	// 1 auth
	// 2026-12-04T19:00:00Z /api/ai/chat 401
	// error, status code: 401, status: , message: Incorrect API key provided: [REDACTED].
}

func ExampleRedact() {
	fmt.Println(errmon.Redact("upstream rejected Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"))
	fmt.Println(errmon.Redact("Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345."))
	// Output:
	// upstream rejected Authorization: [REDACTED]
	// Incorrect API key provided: [REDACTED].
}

func ExampleNewPanicError() {
	m := errmon.NewMonitor(errmon.Config{})

	call := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = errmon.NewPanicError(v)
			}
		}()
		var counts map[string]int
		counts["calls"]++ // panics: assignment to entry in nil map
		return nil
	}

	ev := m.Record(call(), errmon.CallInfo{})
	fmt.Println(ev.Category)
	fmt.Println(ev.Message)
	// Output:
	// panic
	// panic: assignment to entry in nil map
}

func ExampleAlertRule() {
	now := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	m := errmon.NewMonitor(errmon.Config{
		Clock: func() time.Time { return now },
		Rules: []errmon.AlertRule{{
			Name:      "chat errors",
			Filter:    errmon.CallInfo{Endpoint: "/api/ai/chat"},
			Window:    5 * time.Minute,
			ErrorRate: 0.05,
			MinCalls:  20,
		}},
		OnAlert: []func(errmon.Alert){func(a errmon.Alert) {
			fmt.Printf("%s %q at %s: %d of %d calls failed\n",
				a.State, a.Rule, a.At.Format("15:04:05"), a.Errors, a.Calls)
		}},
	})
	chat := errmon.CallInfo{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini"}
	serverError := &openai.APIError{HTTPStatusCode: 500, Message: "The server had an error."}

	// 18 successes and 2 failures: 10% of 20 calls, above 5%.
	for i := 0; i < 18; i++ {
		m.RecordSuccess(chat)
	}
	m.Record(serverError, chat)
	m.Record(serverError, chat)
	_ = m.FlushAlerts(context.Background()) // wait for the callback

	r := m.Rate(time.Minute, errmon.CallInfo{Endpoint: "/api/ai/chat"})
	fmt.Printf("last minute: %d calls, %d errors, %.0f%%\n", r.Calls, r.Errors, 100*r.ErrorRate)

	// No calls for five minutes: a periodic Evaluate resolves the alert.
	now = now.Add(5 * time.Minute)
	m.Evaluate()
	_ = m.FlushAlerts(context.Background())
	// Output:
	// firing "chat errors" at 19:00:00: 2 of 20 calls failed
	// last minute: 20 calls, 2 errors, 10%
	// resolved "chat errors" at 19:05:00: 0 of 0 calls failed
}
