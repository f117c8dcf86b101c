package ratelimit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

// A limit of three requests per minute for each user.
func ExampleNewMemory() {
	now := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	limiter := ratelimit.NewMemory(ratelimit.Rule{Name: "per-user", Limit: 3, Window: time.Minute})

	for i := 1; i <= 4; i++ {
		d := limiter.AllowAt("user-42", 1, now)
		fmt.Printf("user-42 request %d: allowed=%v remaining=%d retry after %v\n", i, d.Allowed, d.Remaining, d.RetryAfter)
	}
	d := limiter.AllowAt("user-7", 1, now)
	fmt.Printf("user-7 request 1: allowed=%v remaining=%d\n", d.Allowed, d.Remaining)

	// One unit refills every 20 s.
	d = limiter.AllowAt("user-42", 1, now.Add(20*time.Second))
	fmt.Printf("user-42 20s later: allowed=%v\n", d.Allowed)
	// Output:
	// user-42 request 1: allowed=true remaining=2 retry after 0s
	// user-42 request 2: allowed=true remaining=1 retry after 0s
	// user-42 request 3: allowed=true remaining=0 retry after 0s
	// user-42 request 4: allowed=false remaining=0 retry after 20s
	// user-7 request 1: allowed=true remaining=2
	// user-42 20s later: allowed=true
}

// A tokens-per-minute rule: charge an estimate before the provider call,
// then settle it with the tokens the response reports.
func ExampleMemory_SettleAt() {
	now := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	tokens := ratelimit.NewMemory(ratelimit.Rule{Name: "tokens", Limit: 10_000, Window: time.Minute})

	// Reserve the estimate: prompt tokens plus max_tokens.
	const estimate = 3000
	d := tokens.AllowAt("user-42", estimate, now)
	fmt.Printf("reserved %d: remaining=%d\n", estimate, d.Remaining)

	// The response used 1200 tokens: 1800 go back.
	if err := tokens.SettleAt("user-42", estimate, 1200, now); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("used 1200: remaining=%d\n", tokens.AllowAt("user-42", 0, now).Remaining)

	// A call that used more than reserved is charged in full, past the
	// burst, so the key waits until the debt has refilled.
	tokens.AllowAt("user-42", 8000, now)
	if err := tokens.SettleAt("user-42", 8000, 12_000, now); err != nil {
		fmt.Println(err)
	}
	d = tokens.AllowAt("user-42", 1, now)
	fmt.Printf("used 12000 of 8000: allowed=%v retry after %v\n", d.Allowed, d.RetryAfter)
	// Output:
	// reserved 3000: remaining=7000
	// used 1200: remaining=8800
	// used 12000 of 8000: allowed=false retry after 19.206s
}

// A composite limit: 2 requests and 5000 tokens per minute for each user.
// Each request reserves its token estimate and settles it afterwards.
func ExampleAll() {
	now := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	clock := ratelimit.WithClock(func() time.Time { return now })
	requests := ratelimit.NewMemory(ratelimit.Rule{Name: "requests", Limit: 2, Window: time.Minute}, clock)
	tokens := ratelimit.NewMemory(ratelimit.Rule{Name: "tokens", Limit: 5000, Window: time.Minute}, clock)
	limiter := ratelimit.All(ratelimit.PerRequest(requests), tokens)
	ctx := context.Background()

	for i, call := range []struct{ estimate, used int64 }{{4000, 1500}, {3000, 2500}, {100, 100}} {
		d, err := limiter.Allow(ctx, "user-42", call.estimate)
		if err != nil {
			fmt.Println(err)
			return
		}
		if !d.Allowed {
			fmt.Printf("call %d: rejected by %s, retry after %v\n", i+1, d.Rule, d.RetryAfter)
			continue
		}
		if err := limiter.(ratelimit.Settler).Settle(ctx, "user-42", call.estimate, call.used); err != nil {
			fmt.Println(err)
		}
		fmt.Printf("call %d: allowed, %d tokens used\n", i+1, call.used)
	}
	fmt.Printf("tokens left: %d\n", tokens.AllowAt("user-42", 0, now).Remaining)
	// Output:
	// call 1: allowed, 1500 tokens used
	// call 2: allowed, 2500 tokens used
	// call 3: rejected by requests, retry after 30s
	// tokens left: 1000
}

// The middleware limits each client address to 2 requests per minute and
// rejects the third with status 429.
func ExampleMiddleware() {
	now := time.Unix(1_800_000_000, 0)
	clock := ratelimit.WithClock(func() time.Time { return now })
	limiter := ratelimit.NewMemory(ratelimit.Rule{Name: "api", Limit: 2, Window: time.Minute}, clock)
	hello := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	handler := ratelimit.Middleware(limiter, ratelimit.KeyByIP(), clock)(hello)

	for i := 0; i < 3; i++ {
		r := httptest.NewRequest(http.MethodGet, "/api/ai/chat", nil)
		r.RemoteAddr = "192.0.2.1:4711"
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)

		resp := w.Result()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d remaining=%s reset=%s retry-after=%q\n", resp.StatusCode,
			resp.Header.Get("X-RateLimit-Remaining"), resp.Header.Get("X-RateLimit-Reset"), resp.Header.Get("Retry-After"))
		fmt.Printf("  RateLimit-Policy: %s\n  RateLimit: %s\n  body: %s\n",
			resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"), body)
	}
	// Output:
	// 200 remaining=1 reset=1800000030 retry-after=""
	//   RateLimit-Policy: "api";q=2;w=60
	//   RateLimit: "api";r=1;t=30
	//   body: hello
	//
	// 200 remaining=0 reset=1800000060 retry-after=""
	//   RateLimit-Policy: "api";q=2;w=60
	//   RateLimit: "api";r=0;t=60
	//   body: hello
	//
	// 429 remaining=0 reset=1800000060 retry-after="30"
	//   RateLimit-Policy: "api";q=2;w=60
	//   RateLimit: "api";r=0;t=30
	//   body: {"error":"rate limit exceeded","rule":"api","retry_after_seconds":30}
}
