package promexport

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label names. The gen_ai_* names and error_type are the Prometheus forms of
// the OpenTelemetry GenAI attributes gen_ai.operation.name,
// gen_ai.provider.name, gen_ai.request.model, gen_ai.token.type and
// error.type.
const (
	labelOperation = "gen_ai_operation_name"
	labelProvider  = "gen_ai_provider_name"
	labelModel     = "gen_ai_request_model"
	labelTokenType = "gen_ai_token_type"
	labelErrorType = "error_type"
	labelEndpoint  = "endpoint"
	labelCallerKey = "caller_key"
	labelRule      = "rule"
	labelDecision  = "decision"
)

// Values of the gen_ai_token_type label.
const (
	tokenInput       = "input"
	tokenOutput      = "output"
	tokenCachedInput = "cached_input"
	tokenReasoning   = "reasoning"
	tokenCacheWrite  = "cache_write"
)

// Indexes of series.tokens.
const (
	idxInput = iota
	idxOutput
	idxCachedInput
	idxReasoning
	idxCacheWrite
	numTokenTypes
)

// tokenTypes lists the values of gen_ai_token_type on aimeter_tokens_total,
// indexed like series.tokens.
var tokenTypes = [numTokenTypes]string{
	idxInput:       tokenInput,
	idxOutput:      tokenOutput,
	idxCachedInput: tokenCachedInput,
	idxReasoning:   tokenReasoning,
	idxCacheWrite:  tokenCacheWrite,
}

// Bucket boundaries of the classic histograms, in seconds and tokens.
var (
	// durationBuckets are the boundaries that the GenAI semantic
	// conventions recommend for gen_ai.client.operation.duration.
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	// tokenBuckets are the boundaries that the GenAI semantic conventions
	// recommend for gen_ai.client.token.usage.
	tokenBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	// ttftBuckets are the boundaries that the GenAI semantic conventions
	// recommend for gen_ai.server.time_to_first_token. They recommend none
	// for the client's time to first chunk, which measures the same wait
	// from the other end.
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
)

// Limits of every native histogram. When a histogram would need more than
// nativeMaxBuckets buckets, client_golang resets it if the last reset was
// at least nativeMinResetPeriod ago. Otherwise it doubles the bucket width
// until the buckets fit, and keeps the coarser buckets until the period
// has passed.
const (
	nativeMaxBuckets     = 160
	nativeMinResetPeriod = time.Hour
)

// Metric names.
const (
	nameDuration       = "gen_ai_client_operation_duration_seconds"
	nameTokenUsage     = "gen_ai_client_token_usage"
	nameTTFT           = "gen_ai_client_operation_time_to_first_chunk_seconds"
	nameCalls          = "aimeter_calls_total"
	nameErrors         = "aimeter_call_errors_total"
	nameTokens         = "aimeter_tokens_total"
	nameCost           = "aimeter_cost_usd_total"
	nameUnpriced       = "aimeter_unpriced_calls_total"
	nameUnknownUsage   = "aimeter_unknown_usage_calls_total"
	nameRateLimit      = "aimeter_ratelimit_decisions_total"
	nameRecordsWritten = "aimeter_tracker_records_written_total"
	nameRecordsDropped = "aimeter_tracker_records_dropped_total"
	nameRecordsPending = "aimeter_tracker_records_pending"
)

// metrics holds the descriptors and histogram vectors of one Exporter.
type metrics struct {
	duration   *prometheus.HistogramVec
	tokenUsage *prometheus.HistogramVec
	ttft       *prometheus.HistogramVec

	calls        *prometheus.Desc
	errors       *prometheus.Desc
	tokens       *prometheus.Desc
	cost         *prometheus.Desc
	unpriced     *prometheus.Desc
	unknownUsage *prometheus.Desc

	rateLimit      *prometheus.Desc
	recordsWritten *prometheus.Desc
	recordsDropped *prometheus.Desc
	recordsPending *prometheus.Desc
}

// newMetrics builds the descriptors and vectors for cfg.
func newMetrics(cfg config) *metrics {
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		opts := prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}
		if cfg.nativeFactor > 1 {
			opts.NativeHistogramBucketFactor = cfg.nativeFactor
			// Bounding the bucket count bounds memory whatever values
			// arrive.
			opts.NativeHistogramMaxBucketNumber = nativeMaxBuckets
			opts.NativeHistogramMinResetDuration = nativeMinResetPeriod
		}
		return prometheus.NewHistogramVec(opts, labels)
	}

	// The call counters share their labels: one series of each per
	// endpoint, operation, provider, model and, when enabled, caller key.
	callLabels := []string{labelEndpoint, labelOperation, labelProvider, labelModel}
	if cfg.maxKeys > 0 {
		callLabels = append(callLabels, labelCallerKey)
	}
	with := func(extra string) []string {
		return append(callLabels[:len(callLabels):len(callLabels)], extra)
	}

	return &metrics{
		duration: histogram(nameDuration,
			"Duration of GenAI operations (provider calls) in seconds; error_type is empty for calls that succeeded.",
			durationBuckets, labelOperation, labelProvider, labelModel, labelErrorType),
		tokenUsage: histogram(nameTokenUsage,
			"Number of input and output tokens used per GenAI operation, for calls with known usage.",
			tokenBuckets, labelOperation, labelProvider, labelModel, labelTokenType),
		ttft: histogram(nameTTFT,
			"Time from the request to the first streamed chunk with content in seconds, for streamed calls.",
			ttftBuckets, labelOperation, labelProvider, labelModel),

		calls: prometheus.NewDesc(nameCalls,
			"Provider calls tracked by aimeter, failed ones included.", callLabels, nil),
		errors: prometheus.NewDesc(nameErrors,
			"Failed provider calls by error category.", with(labelErrorType), nil),
		tokens: prometheus.NewDesc(nameTokens,
			"Tokens of calls with known usage by type; cached_input is part of input and reasoning is part of output.",
			with(labelTokenType), nil),
		cost: prometheus.NewDesc(nameCost,
			"Cost of priced calls in US dollars.", callLabels, nil),
		unpriced: prometheus.NewDesc(nameUnpriced,
			"Calls with known usage to a model missing from the price table; their cost is not in aimeter_cost_usd_total.",
			callLabels, nil),
		unknownUsage: prometheus.NewDesc(nameUnknownUsage,
			"Calls whose response carried no token usage, so their tokens and cost are unknown.", callLabels, nil),

		rateLimit: prometheus.NewDesc(nameRateLimit,
			"Rate-limit decisions by rule and decision (allowed or rejected).", []string{labelRule, labelDecision}, nil),
		recordsWritten: prometheus.NewDesc(nameRecordsWritten,
			"Usage records the tracker's store accepted.", nil, nil),
		recordsDropped: prometheus.NewDesc(nameRecordsDropped,
			"Usage records the tracker lost because its queue was full or its store kept failing.", nil, nil),
		recordsPending: prometheus.NewDesc(nameRecordsPending,
			"Usage records queued for the tracker's store and not yet written.", nil, nil),
	}
}
