package analytics

import (
	"github.com/aimeter/aimeter/budget"
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
	// Filter is the Query's filter. It is nil, and absent from the JSON,
	// when the snapshot covers every call.
	Filter *Filter `json:"filter,omitempty"`
	// Usage is the usage section, set for TypeAll and TypeUsage.
	Usage *UsageSection `json:"usage,omitempty"`
	// Errors is the errors section, set for TypeAll and TypeErrors.
	Errors *ErrorsSection `json:"errors,omitempty"`
	// Performance is the performance section, set for TypeAll and
	// TypePerformance.
	Performance *PerformanceSection `json:"performance,omitempty"`
	// RateLimits is the rate_limits section, set for TypeAll only.
	RateLimits *RateLimitsSection `json:"rate_limits,omitempty"`
	// Budgets is the budgets section, set for TypeAll when the Config has
	// Budgets.
	Budgets *BudgetsSection `json:"budgets,omitempty"`
}

// Window is the time range [Since, Until) of a snapshot, in UTC. The data
// covers whole rollup buckets (minutes): those that start at or after Since
// and before Until.
type Window struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Bucket is the width of the points of every time series, spelled as
	// the bucket query parameter spells it, such as "15m" or "1d".
	Bucket string `json:"bucket"`
	// BucketSeconds is the same width in seconds.
	BucketSeconds int64 `json:"bucket_seconds"`
}

// OtherRow is embedded in every row of a breakdown. Its fields are set only
// on the row that a breakdown cut to its top rows ends with, which sums the
// rows left out. That row's name fields are empty.
type OtherRow struct {
	// Other is true on the row that sums the rows left out.
	Other bool `json:"other,omitempty"`
	// OtherRows is the number of rows that the other row sums.
	OtherRows int `json:"other_rows,omitempty"`
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
	// CacheHitRatio is the share of input tokens served from the
	// provider's prompt cache: Tokens.CachedInput divided by Tokens.Input,
	// or 0 without input tokens.
	CacheHitRatio float64 `json:"cache_hit_ratio"`
	// ByProvider breaks the usage down by provider.
	ByProvider []ProviderUsage `json:"by_provider"`
	// ByModel breaks the usage down by provider and model.
	ByModel []ModelUsage `json:"by_model"`
	// ByEndpoint breaks the usage down by the caller's endpoint.
	ByEndpoint []EndpointUsage `json:"by_endpoint"`
	// ByKey breaks the usage down by caller key. Calls without a key
	// form the row whose key is empty.
	ByKey []KeyUsage `json:"by_key"`
	// Series is the usage of each bucket of the window, oldest first,
	// with a point for every bucket, empty ones included.
	Series []UsagePoint `json:"series"`
}

// ProviderUsage is the usage of one provider.
type ProviderUsage struct {
	Provider string      `json:"provider"`
	Calls    int64       `json:"calls"`
	Tokens   TokenCounts `json:"tokens"`
	CostUSD  float64     `json:"cost_usd"`
	OtherRow
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
	OtherRow
}

// EndpointUsage is the usage of one of the caller's endpoints.
type EndpointUsage struct {
	Endpoint string      `json:"endpoint"`
	Calls    int64       `json:"calls"`
	Tokens   TokenCounts `json:"tokens"`
	CostUSD  float64     `json:"cost_usd"`
	OtherRow
}

// KeyUsage is the usage and spend of one caller key.
type KeyUsage struct {
	Key string `json:"key"`
	// Calls counts every call, failed ones included.
	Calls int64 `json:"calls"`
	// Errors counts the provider failures among Calls.
	Errors        int64       `json:"errors"`
	Tokens        TokenCounts `json:"tokens"`
	CostUSD       float64     `json:"cost_usd"`
	UnpricedCalls int64       `json:"unpriced_calls"`
	OtherRow
}

// UsagePoint is the usage of one bucket of a time series.
type UsagePoint struct {
	// Start is the start of the bucket, in UTC.
	Start   time.Time   `json:"start"`
	Calls   int64       `json:"calls"`
	Tokens  TokenCounts `json:"tokens"`
	CostUSD float64     `json:"cost_usd"`
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
	// A filter on endpoint, provider or model applies to the events too,
	// but events carry no caller key, so a filter on key leaves Recent
	// empty.
	Recent []ErrorEvent `json:"recent"`
	// Groups lists the error groups seen inside the window, as the
	// ErrorSource orders them. Their counts cover the source's whole
	// history, not only the window. Groups carry no endpoint, provider or
	// model, so under a filter Groups lists only the groups of the events
	// in Recent.
	Groups []ErrorGroup `json:"groups"`
	// Series counts the calls and failures of each bucket of the window,
	// oldest first, with a point for every bucket, empty ones included.
	Series []ErrorPoint `json:"series"`
}

// EndpointErrors counts the calls and provider failures of one endpoint.
type EndpointErrors struct {
	Endpoint string `json:"endpoint"`
	Calls    int64  `json:"calls"`
	Errors   int64  `json:"errors"`
	// Rate is Errors divided by Calls.
	Rate float64 `json:"rate"`
	OtherRow
}

// ErrorPoint counts the calls and failures of one bucket of a time series.
type ErrorPoint struct {
	// Start is the start of the bucket, in UTC.
	Start time.Time `json:"start"`
	Calls int64     `json:"calls"`
	// Errors counts provider failures, as ErrorsSection.Total does.
	Errors int64 `json:"errors"`
	// Rate is Errors divided by Calls, or 0 without calls.
	Rate float64 `json:"rate"`
	// ByCategory counts failed calls by category, canceled ones included.
	// Only categories with failures are listed, and it is absent from the
	// JSON when the bucket has none.
	ByCategory map[errmon.Category]int64 `json:"by_category,omitempty"`
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
	// CallsPerMinute is the throughput: Calls divided by the length of the
	// window in minutes.
	CallsPerMinute float64 `json:"calls_per_minute"`
	// StreamCalls counts the streamed calls among Calls.
	StreamCalls int64 `json:"stream_calls"`
	// StreamOutputTokensPerSecond is the output speed of streamed calls:
	// their output tokens divided by the sum of their latencies (request
	// to last chunk, so time to first token included) in seconds. Only
	// streamed calls that reported usage are measured. It is nil, and
	// absent from the JSON, when there are none or their latencies sum to
	// zero.
	StreamOutputTokensPerSecond *float64 `json:"stream_output_tokens_per_second,omitempty"`
	// ByEndpoint breaks the performance down by endpoint.
	ByEndpoint []EndpointPerformance `json:"by_endpoint"`
	// ByModel breaks the performance down by provider and model.
	ByModel []ModelPerformance `json:"by_model"`
	// Series summarizes the latencies of each bucket of the window, oldest
	// first, with a point for every bucket, empty ones included.
	Series []PerformancePoint `json:"series"`
}

// EndpointPerformance is the performance of one endpoint. TTFT is nil when
// no streamed call of the endpoint received a token.
type EndpointPerformance struct {
	Endpoint    string   `json:"endpoint"`
	Calls       int64    `json:"calls"`
	SuccessRate float64  `json:"success_rate"`
	Latency     Latency  `json:"latency_ms"`
	TTFT        *Latency `json:"ttft_ms,omitempty"`
	OtherRow
}

// ModelPerformance is the performance of one model of one provider. TTFT
// is nil when no streamed call to the model received a token, and
// StreamOutputTokensPerSecond is measured as in PerformanceSection.
type ModelPerformance struct {
	Provider                    string   `json:"provider"`
	Model                       string   `json:"model"`
	Calls                       int64    `json:"calls"`
	SuccessRate                 float64  `json:"success_rate"`
	Latency                     Latency  `json:"latency_ms"`
	TTFT                        *Latency `json:"ttft_ms,omitempty"`
	StreamOutputTokensPerSecond *float64 `json:"stream_output_tokens_per_second,omitempty"`
	OtherRow
}

// PerformancePoint summarizes the latencies of one bucket of a time
// series. All latencies are 0 for a bucket without calls, and TTFT is nil
// when no streamed call of the bucket received a token.
type PerformancePoint struct {
	// Start is the start of the bucket, in UTC.
	Start   time.Time `json:"start"`
	Calls   int64     `json:"calls"`
	Latency Latency   `json:"latency_ms"`
	TTFT    *Latency  `json:"ttft_ms,omitempty"`
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

// BudgetsSection lists the budgets, what each key has spent and reserved of
// them in the current window, and the guard's counters. Amounts are USD for
// spend budgets and tokens for token budgets.
type BudgetsSection struct {
	Budgets []budget.Budget       `json:"budgets"`
	Keys    []budget.BudgetStatus `json:"keys"`
	Stats   budget.Stats          `json:"stats"`
}
