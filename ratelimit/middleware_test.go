package ratelimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

// okHandler responds with status 200 and counts its calls.
type okHandler struct {
	calls int
}

func (h *okHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.calls++
	w.WriteHeader(http.StatusOK)
}

// serve sends one request from remoteAddr through handler and returns the
// response.
func serve(handler http.Handler, remoteAddr string) *http.Response {
	r := httptest.NewRequest(http.MethodPost, "/api/ai/chat", nil)
	r.RemoteAddr = remoteAddr
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	return w.Result()
}

func checkHeaders(t *testing.T, resp *http.Response, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := resp.Header.Get(name); got != v {
			t.Errorf("%s: got %q, want %q", name, got, v)
		}
	}
}

func decodeBody(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return body
}

func TestMiddlewareHeadersAndRejection(t *testing.T) {
	clock := newFakeClock()
	clock.Set(time.Unix(1_800_000_000, 0))
	rule := ratelimit.Rule{Name: "api", Limit: 10, Window: time.Minute}
	limiter := ratelimit.NewMemory(rule, ratelimit.WithClock(clock.Now))
	next := &okHandler{}
	handler := ratelimit.Middleware(limiter, ratelimit.KeyByIP(), ratelimit.WithClock(clock.Now))(next)

	// Ten requests pass; the first one leaves 9 and the key full again
	// in 6 s.
	resp := serve(handler, "192.0.2.1:1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: got status %d, want 200", resp.StatusCode)
	}
	checkHeaders(t, resp, map[string]string{
		"X-RateLimit-Limit":     "10",
		"X-RateLimit-Remaining": "9",
		"X-RateLimit-Reset":     "1800000006",
		"Retry-After":           "",
		"RateLimit-Policy":      `"api";q=10;w=60`,
		"RateLimit":             `"api";r=9;t=6`,
	})
	for i := 0; i < 9; i++ {
		serve(handler, "192.0.2.1:1")
	}

	// One second later, the 11th request waits 5 s for the next unit.
	clock.Advance(time.Second)
	resp = serve(handler, "192.0.2.1:1")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("11th request: got status %d, want 429", resp.StatusCode)
	}
	checkHeaders(t, resp, map[string]string{
		"X-RateLimit-Limit":     "10",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     "1800000060",
		"Retry-After":           "5",
		"RateLimit-Policy":      `"api";q=10;w=60`,
		"RateLimit":             `"api";r=0;t=5`,
	})
	body := decodeBody(t, resp)
	want := map[string]any{"error": "rate limit exceeded", "rule": "api", "retry_after_seconds": float64(5)}
	if len(body) != len(want) {
		t.Errorf("429 body: got %v, want %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("429 body field %s: got %v, want %v", k, body[k], v)
		}
	}
	if next.calls != 10 {
		t.Errorf("handler calls: got %d, want 10", next.calls)
	}

	// Another client has its own bucket.
	if resp := serve(handler, "192.0.2.2:1"); resp.StatusCode != http.StatusOK {
		t.Errorf("other client: got status %d, want 200", resp.StatusCode)
	}
}

func TestMiddlewareNeverOmitsRetryAfter(t *testing.T) {
	limiter := ratelimit.NewMemory(ratelimit.Rule{Name: "tokens", Limit: 100, Window: time.Minute})
	cost := func(*http.Request) (int64, error) { return 101, nil }
	handler := ratelimit.Middleware(limiter, ratelimit.KeyByIP(), ratelimit.WithCost(cost))(&okHandler{})

	resp := serve(handler, "192.0.2.1:1")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status: got %d, want 429", resp.StatusCode)
	}
	if v, ok := resp.Header["Retry-After"]; ok {
		t.Errorf("Retry-After: got %q, want no field", v)
	}
	body := decodeBody(t, resp)
	if body["error"] != "rate limit exceeded" {
		t.Errorf("error field: got %v", body["error"])
	}
	if _, ok := body["retry_after_seconds"]; ok {
		t.Errorf("retry_after_seconds: got %v, want no field", body["retry_after_seconds"])
	}
}

func TestMiddlewareOneItemPerRule(t *testing.T) {
	clock := newFakeClock()
	requests := ratelimit.NewMemory(ratelimit.Rule{Name: "api", Limit: 100, Window: time.Minute}, ratelimit.WithClock(clock.Now))
	tokens := ratelimit.NewMemory(ratelimit.Rule{Name: "tokens", Limit: 10_000, Window: time.Minute}, ratelimit.WithClock(clock.Now))
	cost := func(*http.Request) (int64, error) { return 4000, nil }
	handler := ratelimit.Middleware(ratelimit.All(ratelimit.PerRequest(requests), tokens), ratelimit.KeyByIP(),
		ratelimit.WithCost(cost), ratelimit.WithClock(clock.Now))(&okHandler{})

	resp := serve(handler, "192.0.2.1:1")
	checkHeaders(t, resp, map[string]string{
		"RateLimit-Policy":      `"api";q=100;w=60, "tokens";q=10000;w=60`,
		"RateLimit":             `"api";r=99;t=1, "tokens";r=6000;t=24`,
		"X-RateLimit-Limit":     "100",
		"X-RateLimit-Remaining": "99",
	})

	serve(handler, "192.0.2.1:1")
	resp = serve(handler, "192.0.2.1:1")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third request for 4000 tokens: got status %d, want 429", resp.StatusCode)
	}
	// The request rule would admit it, and reports what it still has.
	checkHeaders(t, resp, map[string]string{
		"RateLimit":             `"api";r=98;t=2, "tokens";r=2000;t=12`,
		"X-RateLimit-Limit":     "10000",
		"X-RateLimit-Remaining": "2000",
		"Retry-After":           "12",
	})
}

func TestMiddlewareBadRequests(t *testing.T) {
	failingKey := func(*http.Request) (string, error) { return "", errors.New("no user") }
	tests := []struct {
		name         string
		key          ratelimit.KeyFunc
		cost         ratelimit.CostFunc
		wantError    string
		wantKeyErrs  int64
		wantCostErrs int64
	}{
		{name: "key error", key: failingKey, wantError: "no user", wantKeyErrs: 1},
		{name: "missing header", key: ratelimit.KeyByHeader("X-Api-Key"), wantError: "ratelimit: header X-Api-Key: missing rate limit key", wantKeyErrs: 1},
		{
			name: "cost error", key: ratelimit.KeyByIP(),
			cost:      func(*http.Request) (int64, error) { return 0, errors.New("body too large") },
			wantError: "body too large", wantCostErrs: 1,
		},
		{
			name: "negative cost", key: ratelimit.KeyByIP(),
			cost:      func(*http.Request) (int64, error) { return -1, nil },
			wantError: "ratelimit: request cost -1: negative number of units", wantCostErrs: 1,
		},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			counters := &ratelimit.MiddlewareCounters{}
			opts := []ratelimit.MiddlewareOption{ratelimit.WithCounters(counters)}
			if tt.cost != nil {
				opts = append(opts, ratelimit.WithCost(tt.cost))
			}
			next := &okHandler{}
			limiter := ratelimit.NewMemory(ratelimit.APIRule)
			resp := serve(ratelimit.Middleware(limiter, tt.key, opts...)(next), "192.0.2.1:1")

			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status: got %d, want 400", resp.StatusCode)
			}
			if body := decodeBody(t, resp); body["error"] != tt.wantError {
				t.Errorf("error field: got %v, want %q", body["error"], tt.wantError)
			}
			if next.calls != 0 {
				t.Errorf("handler calls: got %d, want 0", next.calls)
			}
			if got := counters.KeyErrors(); got != tt.wantKeyErrs {
				t.Errorf("KeyErrors: got %d, want %d", got, tt.wantKeyErrs)
			}
			if got := counters.CostErrors(); got != tt.wantCostErrs {
				t.Errorf("CostErrors: got %d, want %d", got, tt.wantCostErrs)
			}
		})
	}
}

func TestMiddlewareLimiterError(t *testing.T) {
	broken := &remoteLimiter{err: errors.New("connection refused")}
	tests := []struct {
		name        string
		opts        []ratelimit.MiddlewareOption
		wantStatus  int
		wantCalls   int
		wantOpen    int64
		wantClosed  int64
		wantJSONErr string
	}{
		{name: "fail open by default", wantStatus: http.StatusOK, wantCalls: 2, wantOpen: 2},
		{name: "fail closed", opts: []ratelimit.MiddlewareOption{ratelimit.WithFailClosed()}, wantStatus: http.StatusServiceUnavailable, wantClosed: 2, wantJSONErr: "rate limiter unavailable"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			counters := &ratelimit.MiddlewareCounters{}
			next := &okHandler{}
			handler := ratelimit.Middleware(broken, ratelimit.KeyByIP(), append(tt.opts, ratelimit.WithCounters(counters))...)(next)

			var resp *http.Response
			for i := 0; i < 2; i++ {
				resp = serve(handler, "192.0.2.1:1")
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if v := resp.Header.Get("X-RateLimit-Limit"); v != "" {
				t.Errorf("X-RateLimit-Limit without a decision: got %q, want no field", v)
			}
			if tt.wantJSONErr != "" {
				if body := decodeBody(t, resp); body["error"] != tt.wantJSONErr {
					t.Errorf("error field: got %v, want %q", body["error"], tt.wantJSONErr)
				}
			}
			if next.calls != tt.wantCalls {
				t.Errorf("handler calls: got %d, want %d", next.calls, tt.wantCalls)
			}
			if got := counters.FailedOpen(); got != tt.wantOpen {
				t.Errorf("FailedOpen: got %d, want %d", got, tt.wantOpen)
			}
			if got := counters.FailedClosed(); got != tt.wantClosed {
				t.Errorf("FailedClosed: got %d, want %d", got, tt.wantClosed)
			}
		})
	}
}

func TestMiddlewareLogsErrorsOncePerSecond(t *testing.T) {
	clock := newFakeClock()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	broken := &remoteLimiter{err: errors.New("connection refused")}
	handler := ratelimit.Middleware(broken, ratelimit.KeyByIP(), ratelimit.WithLogger(logger), ratelimit.WithClock(clock.Now))(&okHandler{})

	for i := 0; i < 3; i++ {
		serve(handler, "192.0.2.1:1")
	}
	clock.Advance(time.Second)
	serve(handler, "192.0.2.1:1")

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log records: got %d, want 2:\n%s", len(lines), logs.String())
	}
	for _, want := range []string{"connection refused", "path=/api/ai/chat", "suppressed=0"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("first record %q does not contain %q", lines[0], want)
		}
	}
	if !strings.Contains(lines[1], "suppressed=2") {
		t.Errorf("second record %q does not count the 2 left out", lines[1])
	}
}

func TestMiddlewareReservationSettles(t *testing.T) {
	clock := newFakeClock()
	tokens := ratelimit.NewMemory(ratelimit.Rule{Name: "tokens", Limit: 1000, Window: time.Minute}, ratelimit.WithClock(clock.Now))
	estimate := func(*http.Request) (int64, error) { return 300, nil }
	var settleErr error
	handler := ratelimit.Middleware(tokens, ratelimit.KeyByIP(), ratelimit.WithCost(estimate))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res, ok := ratelimit.ReservationFromContext(r.Context())
			if !ok {
				settleErr = errors.New("no reservation in the context")
				return
			}
			if res.Key != "192.0.2.1" || res.Units != 300 || !res.Decision.Allowed {
				settleErr = errors.New("unexpected reservation")
				return
			}
			// The call used 120 tokens, not the 300 estimated.
			settleErr = res.Settle(r.Context(), 120)
		}))

	serve(handler, "192.0.2.1:1")
	if settleErr != nil {
		t.Fatalf("Settle: %v", settleErr)
	}
	if got := tokens.AllowAt("192.0.2.1", 0, clock.Now()).Remaining; got != 880 {
		t.Errorf("Remaining after settling: got %d, want 880", got)
	}

	var res ratelimit.Reservation
	if err := res.Settle(context.Background(), 1); !errors.Is(err, ratelimit.ErrSettleUnsupported) {
		t.Errorf("Settle without a limiter: got error %v, want ErrSettleUnsupported", err)
	}
}

func TestMiddlewareCustomRejectHandler(t *testing.T) {
	limiter := ratelimit.NewMemory(ratelimit.Rule{Name: "api", Limit: 1, Window: time.Minute})
	var got ratelimit.Decision
	reject := func(w http.ResponseWriter, _ *http.Request, d ratelimit.Decision) {
		got = d
		w.WriteHeader(http.StatusTeapot)
	}
	handler := ratelimit.Middleware(limiter, ratelimit.KeyByIP(), ratelimit.WithRejectHandler(reject))(&okHandler{})

	serve(handler, "192.0.2.1:1")
	resp := serve(handler, "192.0.2.1:1")
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("status: got %d, want 418", resp.StatusCode)
	}
	if got.Allowed || got.Rule != "api" {
		t.Errorf("decision passed to the handler: got %+v", got)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("Retry-After: got no field, want it set before the reject handler")
	}
}

func TestMiddlewarePanicsOnNil(t *testing.T) {
	tests := []struct {
		name string
		call func()
	}{
		{name: "nil limiter", call: func() { ratelimit.Middleware(nil, ratelimit.KeyByIP()) }},
		{name: "nil key", call: func() { ratelimit.Middleware(ratelimit.NewMemory(ratelimit.APIRule), nil) }},
		{name: "nil cost", call: func() { ratelimit.WithCost(nil) }},
		{name: "nil clock", call: func() { ratelimit.WithClock(nil) }},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("did not panic")
				}
			}()
			tt.call()
		})
	}
}
