package budget_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// chatHandler makes one tracked call per request with the request's
// context, as a chat route would, and returns its status. When resp is
// nil it makes no call.
func chatHandler(t *testing.T, tr *usage.Tracker, resp *openai.ChatCompletionResponse) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || !strings.Contains(string(body), "messages") {
			t.Errorf("handler read body %q, %v; want the request's body", body, err)
		}
		if _, ok := budget.ReservationFromContext(r.Context()); !ok {
			t.Error("no reservation in the handler's context")
		}
		if resp != nil {
			_, _ = usage.TrackCall(r.Context(), tr, usage.Call{Model: "gpt-4o"}, respond(*resp))
		}
		w.WriteHeader(http.StatusOK)
	})
}

// post sends a chat body through h as client key and returns the response.
func post(h http.Handler, key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/ai/chat", strings.NewReader(body))
	req.Header.Set("X-Client", key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

const chatBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":1000}`

func TestMiddlewareSpendBudgetAnswers402(t *testing.T) {
	t.Parallel()
	limit := budget.USD(0.015)
	g := newTestGuard(t, []budget.Budget{{Name: "daily", Unit: budget.Spend, Limit: limit, Window: budget.Daily(nil)}}, nil)
	tr, _ := newObservedTracker(t, g.Guard)
	resp := chatResponse(100, 0, 1000) // $0.00025 + $0.01
	h := g.Middleware(ratelimit.KeyByHeader("X-Client"), budget.ChatBody("gpt-4o-mini", 0))(chatHandler(t, tr, &resp))

	first := post(h, "alice", chatBody)
	if first.Code != http.StatusOK {
		t.Fatalf("first request: status %d, body %s", first.Code, first.Body)
	}
	if got := first.Header().Get(budget.HeaderName); got != "daily" {
		t.Errorf("%s = %q on an admitted request, want daily", budget.HeaderName, got)
	}

	w := post(h, "alice", chatBody)
	if w.Code != http.StatusPaymentRequired {
		t.Fatalf("second request: status %d, want 402; body %s", w.Code, w.Body)
	}
	midnight := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	wantHeaders := map[string]string{
		budget.HeaderName:      "daily",
		budget.HeaderUnit:      "usd",
		budget.HeaderLimit:     "0.015",
		budget.HeaderRemaining: "0.00475",
		budget.HeaderReset:     strconv.FormatInt(midnight.Unix(), 10),
		"Retry-After":          strconv.Itoa(int(midnight.Sub(start) / time.Second)),
		"Content-Type":         "application/json",
	}
	for name, want := range wantHeaders {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	var body struct {
		Error             string    `json:"error"`
		Budget            string    `json:"budget"`
		Unit              string    `json:"unit"`
		Limit             float64   `json:"limit"`
		Remaining         float64   `json:"remaining"`
		Requested         float64   `json:"requested"`
		Reset             time.Time `json:"reset"`
		RetryAfterSeconds int64     `json:"retry_after_seconds"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	if body.Error != "budget exceeded" || body.Budget != "daily" || body.Unit != "usd" || body.Limit != 0.015 ||
		body.Remaining != 0.00475 || body.Requested <= 0.01 || !body.Reset.Equal(midnight) || body.RetryAfterSeconds != 5*3600 {
		t.Errorf("body %s: want the daily budget's $0.015 limit, $0.00475 remaining, reset at midnight in 5h", w.Body)
	}

	// Another client has its own budget.
	if w := post(h, "bob", chatBody); w.Code != http.StatusOK {
		t.Errorf("another key: status %d, want 200", w.Code)
	}
}

func TestMiddlewareTokenBudgetAnswers429(t *testing.T) {
	t.Parallel()
	hourly := budget.Budget{Name: "hourly", Unit: budget.Tokens, Limit: 2500, Window: budget.Hourly(nil)}
	g := newTestGuard(t, []budget.Budget{hourly}, nil)
	tr, _ := newObservedTracker(t, g.Guard)
	resp := chatResponse(100, 0, 900)
	spending := g.Middleware(ratelimit.KeyByHeader("X-Client"), budget.ChatBody("", 0))(chatHandler(t, tr, &resp))
	idle := g.Middleware(ratelimit.KeyByHeader("X-Client"), budget.ChatBody("", 0))(chatHandler(t, tr, nil))

	// A handler that makes no tracked call releases its reservation.
	for i := 0; i < 3; i++ {
		if w := post(idle, "alice", chatBody); w.Code != http.StatusOK {
			t.Fatalf("request %d without a call: status %d", i, w.Code)
		}
	}
	if st := g.status(t, "alice"); st.Spent != 0 || st.Reserved != 0 {
		t.Errorf("after requests without calls: spent %d, reserved %d; want 0, 0", st.Spent, st.Reserved)
	}

	for i := 0; i < 2; i++ {
		if w := post(spending, "alice", chatBody); w.Code != http.StatusOK {
			t.Fatalf("call %d: status %d, body %s", i, w.Code, w.Body)
		}
	}
	w := post(spending, "alice", chatBody)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("third call: status %d, want 429; body %s", w.Code, w.Body)
	}
	if got := w.Header().Get(budget.HeaderRemaining); got != "500" {
		t.Errorf("%s = %q, want 500 tokens", budget.HeaderRemaining, got)
	}
	if got := w.Header().Get("Retry-After"); got != "3600" {
		t.Errorf("Retry-After = %q, want 3600", got)
	}
}

func TestMiddlewareBadRequests(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(1000)}, nil)
	h := g.Middleware(ratelimit.KeyByHeader("X-Client"), budget.ChatBody("gpt-4o", 64))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("handler reached by a bad request")
	}))

	tests := []struct {
		name, key, body string
	}{
		{"missing key", "", chatBody},
		{"invalid JSON", "alice", `{"messages":`},
		{"body too large", "alice", `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 100) + `"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := post(h, tt.key, tt.body)
			if w.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", w.Code)
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] == "" {
				t.Errorf("body %s, want {\"error\": ...}", w.Body)
			}
		})
	}
}

func TestMiddlewareReleasesOnPanic(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(100_000)}, nil)
	h := g.Middleware(ratelimit.KeyByHeader("X-Client"), budget.ChatBody("gpt-4o", 0))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() { _ = recover() }()
		post(h, "alice", chatBody)
	}()
	g.checkSettledOnce(t, "alice")
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	g := newTestGuard(t, []budget.Budget{dailyTokens(10)}, nil)

	never := &budget.ExceededError{Budget: "tokens", Unit: budget.Tokens, Limit: 10, Remaining: 10, Requested: 11}
	tests := []struct {
		name       string
		err        error
		status     int
		errorField string
		retryAfter string
	}{
		{"never fits", fmt.Errorf("wrapped: %w", never), http.StatusTooManyRequests, "request exceeds the budget's limit", ""},
		{"unpriced", fmt.Errorf("reserve budget: %w", budget.ErrUnpriced), http.StatusBadRequest, "reserve budget: model has no price", ""},
		{"ledger down", fmt.Errorf("reserve budget: %w: %w", budget.ErrLedger, errLedgerDown), http.StatusServiceUnavailable, "budget ledger unavailable", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if !g.WriteError(w, tt.err) {
				t.Fatal("WriteError returned false")
			}
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if body["error"] != tt.errorField {
				t.Errorf("error field %q, want %q", body["error"], tt.errorField)
			}
		})
	}
	for _, err := range []error{nil, errors.New("provider failed")} {
		w := httptest.NewRecorder()
		if g.WriteError(w, err) || w.Body.Len() > 0 {
			t.Errorf("WriteError(%v) returned true or wrote %q; want false and nothing written", err, w.Body)
		}
	}
}

func TestExceededErrorMessage(t *testing.T) {
	t.Parallel()
	err := &budget.ExceededError{
		Budget: "daily", Unit: budget.Spend, Key: "alice", Limit: budget.USD(1),
		Remaining: 412_000, Requested: 2_100_000, Reset: time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC),
	}
	want := `budget "daily" exceeded: requested $0.0021, remaining $0.000412 of $1 until 2026-12-05T05:00:00Z`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
	if !errors.Is(err, budget.ErrExceeded) {
		t.Error("errors.Is(err, ErrExceeded) = false")
	}
	if got := err.RetryAfter(time.Date(2026, 12, 5, 4, 59, 59, 500_000_000, time.UTC)); got != time.Second {
		t.Errorf("RetryAfter half a second before = %v, want 1s", got)
	}
}

func TestStatusJSON(t *testing.T) {
	t.Parallel()
	st := budget.BudgetStatus{
		Name: "daily", Key: "alice", Unit: budget.Spend, Limit: budget.USD(1),
		Spent: 420_000_001, Reserved: 10_000_000, Remaining: 569_999_999,
		WindowStart: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), WindowEnd: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC),
	}
	got, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"daily","key":"alice","unit":"usd","limit":1,"spent":0.420000001,"reserved":0.01,"remaining":0.569999999,` +
		`"window_start":"2026-12-04T00:00:00Z","window_end":"2026-12-05T00:00:00Z"}`
	if string(got) != want {
		t.Errorf("JSON\n%s\nwant\n%s", got, want)
	}

	b := budget.Budget{Name: "tokens", Unit: budget.Tokens, Limit: 50_000, Window: budget.Rolling(time.Hour), Thresholds: []int{80}}
	got, err = json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"name":"tokens","unit":"tokens","limit":50000,"window":{"period":"rolling","length_seconds":3600},"thresholds":[80]}`
	if string(got) != want {
		t.Errorf("JSON\n%s\nwant\n%s", got, want)
	}
}

func TestFormatUSD(t *testing.T) {
	t.Parallel()
	tests := []struct {
		nanos int64
		want  string
	}{
		{0, "0"},
		{1, "0.000000001"},
		{1_500_000_000, "1.5"},
		{412_000, "0.000412"},
		{-2_000_000_001, "-2.000000001"},
	}
	for _, tt := range tests {
		if got := budget.FormatUSD(tt.nanos); got != tt.want {
			t.Errorf("FormatUSD(%d) = %q, want %q", tt.nanos, got, tt.want)
		}
	}
	if got := budget.USD(0.1); got != 100_000_000 {
		t.Errorf("USD(0.1) = %d, want 100000000", got)
	}
}
