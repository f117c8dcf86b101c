package promexport_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aimeter/aimeter/analytics/promexport"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	openai "github.com/sashabaranov/go-openai"
)

func Example() {
	exp := promexport.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)

	tracker := usage.NewTracker(usage.NewMemoryStore(), usage.WithObserver(exp))
	defer tracker.Close(context.Background())
	exp.AddTracker(tracker)

	// A stand-in for a provider call. A real service calls
	// client.CreateChatCompletion here.
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini"}
	_, _ = usage.TrackCall(context.Background(), tracker, call,
		func(context.Context) (openai.ChatCompletionResponse, error) {
			return openai.ChatCompletionResponse{
				Model: "gpt-4o-mini-2024-07-18",
				Usage: openai.Usage{PromptTokens: 2000, CompletionTokens: 300, TotalTokens: 2300},
			}, nil
		})

	printMetrics(reg, "aimeter_calls_total", "aimeter_cost_usd_total", "aimeter_tokens_total")
	// Output:
	// aimeter_calls_total{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini"} 1
	// aimeter_cost_usd_total{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini"} 0.00048
	// aimeter_tokens_total{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="cache_write"} 0
	// aimeter_tokens_total{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="cached_input"} 0
	// aimeter_tokens_total{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input"} 2000
	// aimeter_tokens_total{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output"} 300
	// aimeter_tokens_total{gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="reasoning"} 0
}

func ExampleExporter_AddRateLimiter() {
	exp := promexport.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)

	limiter := ratelimit.NewMemory(ratelimit.Rule{Name: "api", Limit: 2, Window: time.Minute})
	exp.AddRateLimiter(limiter)
	for i := 0; i < 3; i++ {
		_, _ = limiter.Allow(context.Background(), "client-1", 1)
	}

	printMetrics(reg, "aimeter_ratelimit_decisions_total")
	// Output:
	// aimeter_ratelimit_decisions_total{decision="allowed",rule="api"} 2
	// aimeter_ratelimit_decisions_total{decision="rejected",rule="api"} 1
}

// printMetrics prints the counters of the named families, leaving out the
// labels the examples do not vary.
func printMetrics(g prometheus.Gatherer, names ...string) {
	mfs, err := g.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	omit := map[string]bool{"endpoint": true, "gen_ai_provider_name": true}
	for _, name := range names {
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				fmt.Printf("%s{%s} %v\n", name, formatLabels(m.GetLabel(), omit), m.GetCounter().GetValue())
			}
		}
	}
}

func formatLabels(pairs []*dto.LabelPair, omit map[string]bool) string {
	var parts []string
	for _, lp := range pairs {
		if !omit[lp.GetName()] {
			parts = append(parts, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
		}
	}
	return strings.Join(parts, ",")
}
