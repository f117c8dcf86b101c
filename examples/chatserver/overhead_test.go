package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/internal/simprovider"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// bareChat serves the chat route as a service without aimeter would: the
// same body checks and provider call, with no limiter and no tracking.
func bareChat(client *openai.Client) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := requestOf(r)
		resp, err := client.CreateChatCompletion(r.Context(), req.openai())
		if err != nil {
			writeError(w, http.StatusBadGateway, "provider call failed")
			return
		}
		tokens, _ := usage.TokensFromOpenAI(&resp.Usage)
		writeJSON(w, http.StatusOK, chatReply{Model: resp.Model, Content: firstContent(&resp), Usage: tokens})
	})
	return postOnly(parseChat(h, h))
}

// BenchmarkChatRouteOverhead serves the chat route with and without
// aimeter in front of a simulated provider that responds immediately, over
// loopback HTTP at the same concurrency, and reports the median request
// latency next to the time per request.
func BenchmarkChatRouteOverhead(b *testing.B) {
	sim, err := simprovider.Start(simprovider.Config{Latency: simprovider.Fixed(0)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sim.Close() })
	cfg := openai.DefaultConfig("sk-bench")
	cfg.BaseURL = sim.URL()
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	client := openai.NewClientWithConfig(cfg)

	lifted := ratelimit.Rule{Name: "api", Limit: 1 << 40, Window: time.Hour}
	withAimeter := newApp(config{
		Client: client, Provider: "simulated", Store: usage.NewMemoryStore(),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		APIRule: lifted,
	})
	b.Cleanup(func() { _ = withAimeter.Close(context.Background()) })

	routes := []struct {
		name    string
		handler http.Handler
	}{
		{"bare", bareChat(client)},
		{"aimeter", withAimeter},
	}
	for _, route := range routes {
		b.Run(route.name, func(b *testing.B) {
			srv := httptest.NewServer(route.handler)
			defer srv.Close()
			httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			url := srv.URL + "/api/ai/chat"

			var mu sync.Mutex
			latencies := make([]time.Duration, 0, b.N)
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					start := time.Now()
					resp, err := httpClient.Post(url, "application/json", strings.NewReader(hiBody))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					local = append(local, time.Since(start))
				}
				mu.Lock()
				latencies = append(latencies, local...)
				mu.Unlock()
			})
			b.StopTimer()
			if len(latencies) > 0 {
				sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
				b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
			}
		})
	}
}
