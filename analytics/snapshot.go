package analytics

import (
	"time"

	"github.com/aimeter/aimeter/errmon"
)

// Snapshot is the analytics of one window, shaped as the JSON that Handler
// serves. Build fills only the sections its Query's Type selects and leaves
// the others nil, so they are absent from the JSON.
//
// Latencies are milliseconds and costs are USD, converted from the store's
// integer nano-dollars after summing, so sums are exact before conversion.
// Every slice is non-nil, so it encodes as [] when empty.
type Snapshot struct {
	// Type is the snapshot type, never empty.
	Type Type `json:"type"`
	// GeneratedAt is when Build ran, by the Config's clock, in UTC.
	GeneratedAt time.Time `json:"generated_at"`
	// Window is the time range the snapshot covers.
	Window Window `json:"window"`
	// Usage is the usage section, set for TypeAll and TypeUsage.
	Usage *UsageSection `json:"usage,omitempty"`
	// Errors is the errors section, set for TypeAll and TypeErrors.
	Errors *ErrorsSection `json:"errors,omitempty"`
	// Performance is the performance section, set for TypeAll and
	// TypePerformance.
	Performance *PerformanceSection `json:"performance,omitempty"`
	// RateLimits is the rate_limits section, set for TypeAll only.
	RateLimits *RateLimitsSection `json:"rate_limits,omitempty"`
}

// Window is the time range [Since, Until) of a snapshot, in UTC. The data
// covers whole rollup buckets (minutes): those that start at or after Since
// and before Until.
type Window struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
}

// TokenCounts sums the tokens of calls with known usage. Input includes
// CachedInput and Output includes Reasoning, and Total is Input plus Output.
type TokenCounts struct {
	Input       int64 `json:"input"`
	CachedInput int64 `json:"cached_input"`
	// CacheWrite is the number of prompt tokens written to a provider's
	// prompt cache. It is absent from the JSON when zero.
	CacheWrite int64 `json:"cache_write,omitempty"`
	Output     int64 `json:"output"`
	Reasoning  int64 `json:"reasoning"`
	Total      int64 `json:"total"`
}

// UsageSection sums the calls, tokens and spend of the window.
type UsageSection struct {
	// Calls counts every call, failed ones included.
	Calls int64 `json:"calls"`
	// UnpricedCalls counts calls with known usage to a model missing from
	// the price table. Their tokens are in Tokens, their cost is not in
	// CostUSD.
	UnpricedCalls int64 `json:"unpriced_calls"`
	// UnknownUsageCalls counts calls whose response carried no usage.
	// Neither their tokens nor their cost are known.
	UnknownUsageCalls int64 `json:"unknown_usage_calls"`
	// DroppedRecords counts the records the tracker lost since it started,
	// not only in the window. It is nil, and absent from the JSON, when the
	// Config has no Tracker.
	DroppedRecords *int64 `json:"dropped_records,omitempty"`
	// Tokens sums the tokens of calls with known usage.
	Tokens TokenCounts `json:"tokens"`
	// CostUSD is the spend of priced calls, in USD.
	CostUSD float64 `json:"cost_usd"`
	// ByProvider breaks the usage down by provider.
	ByProvider []ProviderUsage `json:"by_provider"`
	// ByModel breaks the usage down by provider and model.
	ByModel []ModelUsage `json:"by_model"`
	// ByEndpoint breaks the usage down by the caller's endpoint.
	ByEndpoint []EndpointUsage `json:"by_endpoint"`
}

// ProviderUsage is the usage of one provider.
type ProviderUsage struct {
	Provider string      `json:"provider"`
	Calls    int64       `json:"calls"`
	Tokens   TokenCounts `json:"tokens"`
	CostUSD  float64     `json:"cost_usd"`
}

// ModelUsage is the usage of one model of one provider, as the caller
// requested it.
type ModelUsage struct {
	Provider      string      `json:"provider"`
	Model         string      `json:"model"`
	Calls         int64       `json:"calls"`
	Tokens        TokenCounts `json:"tokens"`
	CostUSD       float64     `json:"cost_usd"`
	UnpricedCalls int64       `json:"unpriced_calls"`
}

// EndpointUsage is the usage of one of the caller's endpoints.
type EndpointUsage struct {
	Endpoint string      `json:"endpoint"`
	Calls    int64       `json:"calls"`
	Tokens   TokenCounts `json:"tokens"`
	CostUSD  float64     `json:"cost_usd"`
}

// ErrorsSection counts the failed calls of the window and lists recent
// error events and groups.
type ErrorsSection struct {
	// Total counts provider failures: failed calls other than those the
	// caller canceled.
	Total int64 `json:"total"`
	// Rate is Total divided by the number of calls, or 0 without calls.
	Rate float64 `json:"rate"`
	// ByCategory counts failed calls by category, canceled ones included.
	// Every category of errmon.Categories is present, zero or not.
	ByCategory map[errmon.Category]int64 `json:"by_category"`
	// ByEndpoint breaks the provider failures down by endpoint.
	ByEndpoint []EndpointErrors `json:"by_endpoint"`
	// Recent lists the newest error events inside the window, newest first.
	Recent []ErrorEvent `json:"recent"`
	// Groups lists the error groups seen inside the window, as the
	// ErrorSource orders them. Their counts cover the source's whole
	// history, not only the window.
	Groups []ErrorGroup `json:"groups"`
}

// EndpointErrors counts the calls and provider failures of one endpoint.
type EndpointErrors struct {
	Endpoint string `json:"endpoint"`
	Calls    int64  `json:"calls"`
	Errors   int64  `json:"errors"`
	// Rate is Errors divided by Calls.
	Rate float64 `json:"rate"`
}

// ErrorEvent is one failed call as the ErrorSource recorded it. The stack
// trace is left out.
type ErrorEvent struct {
	ID       string          `json:"id"`
	Time     time.Time       `json:"time"`
	Category errmon.Category `json:"category"`
	// Message is the redacted error message.
	Message  string `json:"message"`
	Endpoint string `json:"endpoint"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// HTTPStatus is the provider's HTTP status, or 0 when there was none.
	HTTPStatus  int    `json:"http_status"`
	Fingerprint string `json:"fingerprint"`
}

// ErrorGroup is the set of error events that share a fingerprint.
type ErrorGroup struct {
	Fingerprint string          `json:"fingerprint"`
	Category    errmon.Category `json:"category"`
	Message     string          `json:"message"`
	Count       int64           `json:"count"`
	FirstSeen   time.Time       `json:"first_seen"`
	LastSeen    time.Time       `json:"last_seen"`
}

// Latency summarizes a latency distribution, in milliseconds. Quantiles are
// within 1% of the true value, and Mean and Max are exact. All fields are 0
// for an empty distribution.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// PerformanceSection summarizes the latency and success of the window's
// calls.
type PerformanceSection struct {
	// Calls counts every call, failed ones included.
	Calls int64 `json:"calls"`
	// SuccessRate is the share of calls that did not fail with a provider
	// failure, or 1 without calls. Canceled calls count as successes.
	SuccessRate float64 `json:"success_rate"`
	// Latency summarizes the wall time of every call, failed ones included.
	Latency Latency `json:"latency_ms"`
	// TTFT summarizes the time to first token of streamed calls. It is nil,
	// and absent from the JSON, when no streamed call received a token.
	TTFT *Latency `json:"ttft_ms,omitempty"`
	// ByEndpoint breaks the performance down by endpoint.
	ByEndpoint []EndpointPerformance `json:"by_endpoint"`
	// ByModel breaks the performance down by provider and model.
	ByModel []ModelPerformance `json:"by_model"`
}

// EndpointPerformance is the performance of one endpoint. TTFT is nil when
// no streamed call of the endpoint received a token.
type EndpointPerformance struct {
	Endpoint    string   `json:"endpoint"`
	Calls       int64    `json:"calls"`
	SuccessRate float64  `json:"success_rate"`
	Latency     Latency  `json:"latency_ms"`
	TTFT        *Latency `json:"ttft_ms,omitempty"`
}

// ModelPerformance is the performance of one model of one provider. TTFT
// is nil when no streamed call to the model received a token.
type ModelPerformance struct {
	Provider    string   `json:"provider"`
	Model       string   `json:"model"`
	Calls       int64    `json:"calls"`
	SuccessRate float64  `json:"success_rate"`
	Latency     Latency  `json:"latency_ms"`
	TTFT        *Latency `json:"ttft_ms,omitempty"`
}

// RateLimitsSection counts rate-limit decisions by rule. The counts cover
// each limiter's whole life, not only the window.
type RateLimitsSection struct {
	ByRule []RuleCounts `json:"by_rule"`
}

// RuleCounts counts the decisions made under one rule.
type RuleCounts struct {
	Rule     string `json:"rule"`
	Allowed  int64  `json:"allowed"`
	Rejected int64  `json:"rejected"`
}
