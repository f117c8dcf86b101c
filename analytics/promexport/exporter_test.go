package promexport_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics/promexport"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// chatCall is the call most tests record.
var chatCall = usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"}

// knownRecords are four finished calls with every field the exporter reads
// set to a value that is easy to check in the exposition:
//   - a priced chat call with cached input tokens,
//   - a chat call the provider throttled, with unknown usage,
//   - a priced streamed chat call with reasoning tokens,
//   - a completion to a model missing from the price table.
func knownRecords() []usage.Record {
	completion := usage.Call{Endpoint: "/api/ai/agent", Provider: "openai", Model: "my-model", Operation: "completion"}
	return []usage.Record{
		{
			Call: chatCall, UsageKnown: true, Priced: true, CostNanos: 210_000,
			Tokens:  usage.Tokens{Input: 1000, CachedInput: 200, Output: 100},
			Latency: 500 * time.Millisecond,
		},
		{
			Call: chatCall, Error: errmon.RateLimited, HTTPStatus: 429,
			Latency: 50 * time.Millisecond,
		},
		{
			Call: chatCall, UsageKnown: true, Priced: true, CostNanos: 30_000,
			Tokens:  usage.Tokens{Input: 10, Output: 50, Reasoning: 20},
			Latency: 2 * time.Second, Stream: true, TTFT: 300 * time.Millisecond,
		},
		{
			Call: completion, UsageKnown: true,
			Tokens:  usage.Tokens{Input: 5, Output: 5},
			Latency: 100 * time.Millisecond,
		},
	}
}

// endCalls shows each record to exp as a tracker would.
func endCalls(exp *promexport.Exporter, records []usage.Record) {
	for i := range records {
		ctx := exp.StartCall(context.Background(), records[i].Call)
		exp.EndCall(ctx, &records[i])
	}
}

func TestExporterCounters(t *testing.T) {
	t.Parallel()
	exp := promexport.New()
	endCalls(exp, knownRecords())

	const want = `
# HELP aimeter_calls_total Provider calls tracked by aimeter, failed ones included.
# TYPE aimeter_calls_total counter
aimeter_calls_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model"} 1
aimeter_calls_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 3
# HELP aimeter_call_errors_total Failed provider calls by error category.
# TYPE aimeter_call_errors_total counter
aimeter_call_errors_total{endpoint="/api/ai/chat",error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 1
# HELP aimeter_cost_usd_total Cost of priced calls in US dollars.
# TYPE aimeter_cost_usd_total counter
aimeter_cost_usd_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model"} 0
aimeter_cost_usd_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 0.00024
# HELP aimeter_unpriced_calls_total Calls with known usage to a model missing from the price table; their cost is not in aimeter_cost_usd_total.
# TYPE aimeter_unpriced_calls_total counter
aimeter_unpriced_calls_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model"} 1
aimeter_unpriced_calls_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 0
# HELP aimeter_unknown_usage_calls_total Calls whose response carried no token usage, so their tokens and cost are unknown.
# TYPE aimeter_unknown_usage_calls_total counter
aimeter_unknown_usage_calls_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model"} 0
aimeter_unknown_usage_calls_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 1
# HELP aimeter_tokens_total Tokens of calls with known usage by type; cached_input is part of input and reasoning is part of output.
# TYPE aimeter_tokens_total counter
aimeter_tokens_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="cache_write"} 0
aimeter_tokens_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="cached_input"} 0
aimeter_tokens_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input"} 5
aimeter_tokens_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output"} 5
aimeter_tokens_total{endpoint="/api/ai/agent",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="reasoning"} 0
aimeter_tokens_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="cache_write"} 0
aimeter_tokens_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="cached_input"} 200
aimeter_tokens_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input"} 1010
aimeter_tokens_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output"} 150
aimeter_tokens_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="reasoning"} 20
`
	err := testutil.CollectAndCompare(exp, strings.NewReader(want),
		"aimeter_calls_total", "aimeter_call_errors_total", "aimeter_cost_usd_total",
		"aimeter_unpriced_calls_total", "aimeter_unknown_usage_calls_total", "aimeter_tokens_total")
	if err != nil {
		t.Error(err)
	}
}

func TestExporterHistograms(t *testing.T) {
	t.Parallel()
	exp := promexport.New()
	endCalls(exp, knownRecords())

	const want = `
# HELP gen_ai_client_operation_duration_seconds Duration of GenAI operations (provider calls) in seconds; error_type is empty for calls that succeeded.
# TYPE gen_ai_client_operation_duration_seconds histogram
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.01"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.02"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.04"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.08"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.16"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.32"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.64"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="1.28"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="2.56"} 2
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="5.12"} 2
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="10.24"} 2
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="20.48"} 2
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="40.96"} 2
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="81.92"} 2
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="+Inf"} 2
gen_ai_client_operation_duration_seconds_sum{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 2.5
gen_ai_client_operation_duration_seconds_count{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 2
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="0.01"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="0.02"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="0.04"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="0.08"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="0.16"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="0.32"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="0.64"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="1.28"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="2.56"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="5.12"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="10.24"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="20.48"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="40.96"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="81.92"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",le="+Inf"} 1
gen_ai_client_operation_duration_seconds_sum{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model"} 0.1
gen_ai_client_operation_duration_seconds_count{error_type="",gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.01"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.02"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.04"} 0
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.08"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.16"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.32"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.64"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="1.28"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="2.56"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="5.12"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="10.24"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="20.48"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="40.96"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="81.92"} 1
gen_ai_client_operation_duration_seconds_bucket{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="+Inf"} 1
gen_ai_client_operation_duration_seconds_sum{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 0.05
gen_ai_client_operation_duration_seconds_count{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 1
# HELP gen_ai_client_token_usage Number of input and output tokens used per GenAI operation, for calls with known usage.
# TYPE gen_ai_client_token_usage histogram
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="1"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="4"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="16"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="64"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="256"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="1024"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="4096"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="16384"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="65536"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="262144"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="1.048576e+06"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="4.194304e+06"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="1.6777216e+07"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="6.7108864e+07"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input",le="+Inf"} 2
gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input"} 1010
gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="input"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="1"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="4"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="16"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="64"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="256"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="1024"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="4096"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="16384"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="65536"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="262144"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="1.048576e+06"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="4.194304e+06"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="1.6777216e+07"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="6.7108864e+07"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output",le="+Inf"} 2
gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output"} 150
gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",gen_ai_token_type="output"} 2
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="1"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="4"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="16"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="64"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="256"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="1024"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="4096"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="16384"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="65536"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="262144"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="1.048576e+06"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="4.194304e+06"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="1.6777216e+07"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="6.7108864e+07"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input",le="+Inf"} 1
gen_ai_client_token_usage_sum{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input"} 5
gen_ai_client_token_usage_count{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="input"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="1"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="4"} 0
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="16"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="64"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="256"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="1024"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="4096"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="16384"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="65536"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="262144"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="1.048576e+06"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="4.194304e+06"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="1.6777216e+07"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="6.7108864e+07"} 1
gen_ai_client_token_usage_bucket{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output",le="+Inf"} 1
gen_ai_client_token_usage_sum{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output"} 5
gen_ai_client_token_usage_count{gen_ai_operation_name="text_completion",gen_ai_provider_name="openai",gen_ai_request_model="my-model",gen_ai_token_type="output"} 1
# HELP gen_ai_client_operation_time_to_first_chunk_seconds Time from the request to the first streamed chunk with content in seconds, for streamed calls.
# TYPE gen_ai_client_operation_time_to_first_chunk_seconds histogram
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.001"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.005"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.01"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.02"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.04"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.06"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.08"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.1"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.25"} 0
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.5"} 1
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="0.75"} 1
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="1"} 1
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="2.5"} 1
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="5"} 1
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="7.5"} 1
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="10"} 1
gen_ai_client_operation_time_to_first_chunk_seconds_bucket{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",le="+Inf"} 1
gen_ai_client_operation_time_to_first_chunk_seconds_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 0.3
gen_ai_client_operation_time_to_first_chunk_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 1
`
	err := testutil.CollectAndCompare(exp, strings.NewReader(want),
		"gen_ai_client_operation_duration_seconds", "gen_ai_client_token_usage",
		"gen_ai_client_operation_time_to_first_chunk_seconds")
	if err != nil {
		t.Error(err)
	}
}

func TestExporterLint(t *testing.T) {
	t.Parallel()
	exp := promexport.New(promexport.WithCallerKeyLabel(10))
	endCalls(exp, knownRecords())
	exp.AddRateLimiter(fakeLimiter{{Rule: "api", Allowed: 3, Rejected: 1}})
	exp.AddTracker(fakeTracker{Written: 4})

	problems, err := testutil.CollectAndLint(exp)
	if err != nil {
		t.Fatalf("CollectAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestExporterNativeHistograms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       []promexport.Option
		wantNative bool
	}{
		{name: "default", wantNative: true},
		{name: "off", opts: []promexport.Option{promexport.WithNativeHistogramFactor(1)}, wantNative: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			exp := promexport.New(tt.opts...)
			endCalls(exp, knownRecords())

			h := findMetric(t, gather(t, exp), "gen_ai_client_operation_duration_seconds", nil).GetHistogram()
			if got := h.Schema != nil; got != tt.wantNative {
				t.Errorf("native schema present = %v, want %v", got, tt.wantNative)
			}
			if got := len(h.GetBucket()); got != 14 {
				t.Errorf("classic buckets = %d, want 14", got)
			}
		})
	}
}

func TestExporterModelCap(t *testing.T) {
	t.Parallel()
	exp := promexport.New(promexport.WithMaxModels(2))
	for _, model := range []string{"a", "b", "c", "d", "a"} {
		call := chatCall
		call.Model = model
		endCalls(exp, []usage.Record{{Call: call, Latency: time.Second}})
	}

	got := callsByLabel(t, exp, "gen_ai_request_model")
	want := map[string]float64{"a": 2, "b": 1, promexport.OverflowLabelValue: 2}
	assertCounts(t, got, want)
}

// TestExporterManyDistinctModels sends more distinct models than the
// exporter caches, so that later calls take the uncached path.
func TestExporterManyDistinctModels(t *testing.T) {
	t.Parallel()
	exp := promexport.New(promexport.WithMaxModels(2))
	const models = 10100
	for i := 0; i < models; i++ {
		call := chatCall
		call.Model = fmt.Sprintf("m%d", i)
		endCalls(exp, []usage.Record{{Call: call}, {Call: call}})
	}

	got := callsByLabel(t, exp, "gen_ai_request_model")
	want := map[string]float64{"m0": 2, "m1": 2, promexport.OverflowLabelValue: 2 * (models - 2)}
	assertCounts(t, got, want)
}

func TestExporterEndpointCap(t *testing.T) {
	t.Parallel()
	exp := promexport.New(promexport.WithMaxEndpoints(1))
	for _, endpoint := range []string{"/chat", "/agent", "/chat"} {
		call := chatCall
		call.Endpoint = endpoint
		endCalls(exp, []usage.Record{{Call: call}})
	}

	got := callsByLabel(t, exp, "endpoint")
	want := map[string]float64{"/chat": 2, promexport.OverflowLabelValue: 1}
	assertCounts(t, got, want)
}

func TestExporterCallerKey(t *testing.T) {
	t.Parallel()
	keys := []string{"alice", "bob", "carol", "alice"}

	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		exp := promexport.New()
		for _, k := range keys {
			call := chatCall
			call.Key = k
			endCalls(exp, []usage.Record{{Call: call}})
		}
		m := findMetric(t, gather(t, exp), "aimeter_calls_total", nil)
		if v, ok := labelValue(m, "caller_key"); ok {
			t.Errorf("caller_key = %q present, want no caller_key label", v)
		}
		if got := m.GetCounter().GetValue(); got != 4 {
			t.Errorf("calls = %v, want 4", got)
		}
	})

	t.Run("capped", func(t *testing.T) {
		t.Parallel()
		exp := promexport.New(promexport.WithCallerKeyLabel(2))
		for _, k := range keys {
			call := chatCall
			call.Key = k
			endCalls(exp, []usage.Record{{Call: call}})
		}
		got := callsByLabel(t, exp, "caller_key")
		want := map[string]float64{"alice": 2, "bob": 1, promexport.OverflowLabelValue: 1}
		assertCounts(t, got, want)
	})
}

func TestExporterRateLimits(t *testing.T) {
	t.Parallel()
	exp := promexport.New()

	// Two real limiters with the same rule name, as two routes with the
	// API preset have, and a fake one with another rule.
	rule := ratelimit.Rule{Name: "api", Limit: 2, Window: time.Hour}
	first, second := ratelimit.NewMemory(rule), ratelimit.NewMemory(rule)
	for i := 0; i < 3; i++ {
		if _, err := first.Allow(context.Background(), "client", 1); err != nil {
			t.Fatalf("Allow: %v", err)
		}
	}
	if _, err := second.Allow(context.Background(), "client", 1); err != nil {
		t.Fatalf("Allow: %v", err)
	}
	exp.AddRateLimiter(first)
	exp.AddRateLimiter(second)
	exp.AddRateLimiter(fakeLimiter{{Rule: "agent", Allowed: 7, Rejected: 5}})

	const want = `
# HELP aimeter_ratelimit_decisions_total Rate-limit decisions by rule and decision (allowed or rejected).
# TYPE aimeter_ratelimit_decisions_total counter
aimeter_ratelimit_decisions_total{decision="allowed",rule="agent"} 7
aimeter_ratelimit_decisions_total{decision="rejected",rule="agent"} 5
aimeter_ratelimit_decisions_total{decision="allowed",rule="api"} 3
aimeter_ratelimit_decisions_total{decision="rejected",rule="api"} 1
`
	if err := testutil.CollectAndCompare(exp, strings.NewReader(want), "aimeter_ratelimit_decisions_total"); err != nil {
		t.Error(err)
	}
}

func TestExporterTrackerStats(t *testing.T) {
	t.Parallel()
	exp := promexport.New()
	exp.AddTracker(fakeTracker{Written: 10, Dropped: 2, Pending: 1})
	exp.AddTracker(fakeTracker{Written: 5, Dropped: 1, Pending: 3})

	const want = `
# HELP aimeter_tracker_records_dropped_total Usage records the tracker lost because its queue was full or its store kept failing.
# TYPE aimeter_tracker_records_dropped_total counter
aimeter_tracker_records_dropped_total 3
# HELP aimeter_tracker_records_pending Usage records queued for the tracker's store and not yet written.
# TYPE aimeter_tracker_records_pending gauge
aimeter_tracker_records_pending 4
# HELP aimeter_tracker_records_written_total Usage records the tracker's store accepted.
# TYPE aimeter_tracker_records_written_total counter
aimeter_tracker_records_written_total 15
`
	err := testutil.CollectAndCompare(exp, strings.NewReader(want),
		"aimeter_tracker_records_dropped_total", "aimeter_tracker_records_pending", "aimeter_tracker_records_written_total")
	if err != nil {
		t.Error(err)
	}
}

func TestExporterNoSourcesNoSourceMetrics(t *testing.T) {
	t.Parallel()
	exp := promexport.New()
	if n := testutil.CollectAndCount(exp, "aimeter_tracker_records_dropped_total", "aimeter_ratelimit_decisions_total"); n != 0 {
		t.Errorf("collected %d tracker and rate-limit metrics without sources, want 0", n)
	}
}

func TestExporterAddNilPanics(t *testing.T) {
	t.Parallel()
	exp := promexport.New()
	for name, add := range map[string]func(){
		"AddRateLimiter": func() { exp.AddRateLimiter(nil) },
		"AddTracker":     func() { exp.AddTracker(nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s(nil) did not panic", name)
				}
			}()
			add()
		}()
	}
}

// TestExporterThroughTracker runs real calls through usage.TrackCall and
// checks what the tracker handed to the exporter.
func TestExporterThroughTracker(t *testing.T) {
	t.Parallel()
	exp := promexport.New()
	tracker := usage.NewTracker(usage.NewMemoryStore(), usage.WithObserver(exp))
	t.Cleanup(func() { _ = tracker.Close(context.Background()) })
	exp.AddTracker(tracker)

	ctx := context.Background()
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini"}
	for i := 0; i < 3; i++ {
		_, err := usage.TrackCall(ctx, tracker, call, func(context.Context) (ownResponse, error) {
			return ownResponse{in: 1000, out: 10}, nil
		})
		if err != nil {
			t.Fatalf("TrackCall: %v", err)
		}
	}
	_, err := usage.TrackCall(ctx, tracker, call, func(context.Context) (ownResponse, error) {
		return ownResponse{}, context.DeadlineExceeded
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("TrackCall error = %v, want the call's own error", err)
	}
	if err := tracker.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	// gpt-4o-mini costs 150 nano-dollars per input token and 600 per
	// output token in the default price table. The operation is empty in
	// the call and not inferred for a response type of the caller's own.
	const labels = `endpoint="/api/ai/chat",gen_ai_operation_name="",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"`
	want := fmt.Sprintf(`
# HELP aimeter_calls_total Provider calls tracked by aimeter, failed ones included.
# TYPE aimeter_calls_total counter
aimeter_calls_total{%[1]s} 4
# HELP aimeter_call_errors_total Failed provider calls by error category.
# TYPE aimeter_call_errors_total counter
aimeter_call_errors_total{endpoint="/api/ai/chat",error_type="timeout",gen_ai_operation_name="",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 1
# HELP aimeter_cost_usd_total Cost of priced calls in US dollars.
# TYPE aimeter_cost_usd_total counter
aimeter_cost_usd_total{%[1]s} 0.000468
# HELP aimeter_tracker_records_written_total Usage records the tracker's store accepted.
# TYPE aimeter_tracker_records_written_total counter
aimeter_tracker_records_written_total 4
`, labels)
	err = testutil.CollectAndCompare(exp, strings.NewReader(want),
		"aimeter_calls_total", "aimeter_call_errors_total", "aimeter_cost_usd_total", "aimeter_tracker_records_written_total")
	if err != nil {
		t.Error(err)
	}

	h := findMetric(t, gather(t, exp), "gen_ai_client_operation_duration_seconds", map[string]string{"error_type": ""}).GetHistogram()
	if got := h.GetSampleCount(); got != 3 {
		t.Errorf("successful durations observed = %d, want 3", got)
	}
}

// TestExporterConcurrent records from many goroutines while collecting, for
// the race detector, then checks that no call was lost.
func TestExporterConcurrent(t *testing.T) {
	t.Parallel()
	exp := promexport.New(promexport.WithCallerKeyLabel(4))
	const workers, callsEach = 8, 200

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < callsEach; i++ {
				call := chatCall
				call.Model = fmt.Sprintf("model-%d", i%3)
				call.Key = fmt.Sprintf("key-%d", i%6)
				r := usage.Record{Call: call, UsageKnown: true, Tokens: usage.Tokens{Input: 1, Output: 2}, Latency: time.Millisecond}
				exp.EndCall(context.Background(), &r)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			_ = testutil.CollectAndCount(exp)
		}
	}()
	wg.Wait()
	<-done

	var total float64
	for _, v := range callsByLabel(t, exp, "gen_ai_request_model") {
		total += v
	}
	if total != workers*callsEach {
		t.Errorf("calls = %v, want %d", total, workers*callsEach)
	}
}

// ownResponse is a response type of the caller's own that reports usage.
type ownResponse struct{ in, out int64 }

func (r ownResponse) TokenUsage() (usage.Tokens, bool) {
	return usage.Tokens{Input: r.in, Output: r.out}, r.in+r.out > 0
}

// fakeLimiter reports fixed rule counts.
type fakeLimiter []ratelimit.RuleStats

func (f fakeLimiter) Stats() []ratelimit.RuleStats { return f }

// fakeTracker reports fixed tracker counts.
type fakeTracker usage.TrackerStats

func (f fakeTracker) Stats() usage.TrackerStats { return usage.TrackerStats(f) }

// gather collects c through a pedantic registry, which also checks that
// every metric matches its description.
func gather(t *testing.T, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return mfs
}

// findMetric returns the first metric of the family name whose labels
// include every pair of want.
func findMetric(t *testing.T, mfs []*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				if got, _ := labelValue(m, k); got != v {
					continue next
				}
			}
			return m
		}
	}
	t.Fatalf("no %s metric with labels %v", name, want)
	return nil
}

func labelValue(m *dto.Metric, name string) (string, bool) {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue(), true
		}
	}
	return "", false
}

// callsByLabel sums aimeter_calls_total by the value of one label.
func callsByLabel(t *testing.T, exp *promexport.Exporter, label string) map[string]float64 {
	t.Helper()
	sums := make(map[string]float64)
	for _, mf := range gather(t, exp) {
		if mf.GetName() != "aimeter_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			v, _ := labelValue(m, label)
			sums[v] += m.GetCounter().GetValue()
		}
	}
	return sums
}

func assertCounts(t *testing.T, got, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("label values = %v, want %v", got, want)
		return
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("calls[%q] = %v, want %v", k, got[k], w)
		}
	}
}
