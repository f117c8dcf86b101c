package redislimit_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/ratelimit/redislimit"
)

// This example needs a Redis server at localhost:6379, so it is compiled
// but not run by go test.
func Example() {
	// ContextTimeoutEnabled lets a call end at the limiter's timeout
	// without a goroutine per call.
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer client.Close()

	// 100 requests and 40,000 tokens per minute per client, checked
	// together in one script: a request over either limit spends nothing.
	limiter := redislimit.New(client, []ratelimit.Rule{
		ratelimit.APIRule,
		{Name: "tokens", Limit: 40_000, Window: time.Minute},
	}, redislimit.WithRequestRules(ratelimit.APIRule.Name))

	d, err := limiter.Allow(context.Background(), "client-42", 1_200)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Allowed, d.Rule, d.Remaining)
}

// This example falls back to in-memory limits while Redis is down, for a
// service that runs as three replicas: each replica then admits a third of
// each limit on its own.
func ExampleWithPolicy() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer client.Close()

	limiter := redislimit.New(client, []ratelimit.Rule{ratelimit.APIRule},
		redislimit.WithPolicy(redislimit.Fallback),
		redislimit.WithReplicas(3),
		redislimit.WithTimeout(20*time.Millisecond))

	mux := http.NewServeMux()
	mux.HandleFunc("/api/ai/chat", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	handler := ratelimit.Middleware(limiter, ratelimit.KeyByIP())(mux)

	// Failures and the degraded decisions show how often Redis was not
	// there to decide.
	go func() {
		for range time.Tick(time.Minute) {
			log.Printf("redis limiter failures: %+v, degraded decisions: %+v",
				limiter.Failures(), limiter.Degraded().Stats())
		}
	}()
	log.Fatal(http.ListenAndServe("localhost:3000", handler))
}
