// Package promexport exposes aimeter's live data to Prometheus. It counts
// the calls, tokens, cost, errors, latency and time to first chunk of every
// call a [usage.Tracker] measures. When Prometheus scrapes, it also reads
// the decision counts of rate limiters and the tracker's record counters.
//
// An [Exporter] is both a [usage.Observer], which the tracker calls after
// every call, and a [prometheus.Collector], which a registry scrapes:
//
//	exp := promexport.New()
//	prometheus.MustRegister(exp)
//	tracker := usage.NewTracker(store, usage.WithObserver(exp))
//	exp.AddTracker(tracker)
//	exp.AddRateLimiter(limiter)
//	mux.Handle("/metrics", promhttp.Handler())
//
// # Metrics
//
// The histograms mirror the OpenTelemetry GenAI client metrics under the
// names that the OpenTelemetry-to-Prometheus translation gives them, with the
// bucket boundaries those conventions recommend. Each histogram also has a
// native (sparse) form with a bucket factor of 1.1, which Prometheus servers
// with native histograms enabled scrape over protobuf. Older servers and the
// text format see the classic buckets. The quantile queries of the
// dashboard and alert rules in the repository's deploy folder read the
// classic buckets and fall back to the native histograms, so they work on
// servers that ingest either form.
//
//	gen_ai_client_operation_duration_seconds             histogram  op, provider, model, error_type
//	gen_ai_client_token_usage                            histogram  op, provider, model, gen_ai_token_type (input, output)
//	gen_ai_client_operation_time_to_first_chunk_seconds  histogram  op, provider, model (streamed calls only)
//
// The counters are aimeter's own. They carry the endpoint label, and
// caller_key when enabled with [WithCallerKeyLabel]:
//
//	aimeter_calls_total                endpoint, op, provider, model
//	aimeter_call_errors_total          endpoint, op, provider, model, error_type
//	aimeter_tokens_total               endpoint, op, provider, model, gen_ai_token_type
//	aimeter_cost_usd_total             endpoint, op, provider, model
//	aimeter_unpriced_calls_total       endpoint, op, provider, model
//	aimeter_unknown_usage_calls_total  endpoint, op, provider, model
//
// Here op, provider and model stand for the labels gen_ai_operation_name,
// gen_ai_provider_name and gen_ai_request_model. The token types of
// aimeter_tokens_total are input, output, cached_input, reasoning and
// cache_write. Because cached_input is part of input and reasoning is part
// of output, the types must not be summed. aimeter_cost_usd_total excludes
// unpriced calls and calls with unknown usage, which have their own
// counters. error_type is an [errmon.Category] such as rate_limited or
// timeout, and is empty on the duration of a successful call. A series of
// aimeter_call_errors_total appears when its first error is counted.
//
// Scrape time adds:
//
//	aimeter_ratelimit_decisions_total      rule, decision (allowed, rejected)
//	aimeter_tracker_records_written_total
//	aimeter_tracker_records_dropped_total
//	aimeter_tracker_records_pending        gauge
//
// The operation "completion" is exported as "text_completion", the name the
// GenAI conventions give the legacy completions API. Other operation names
// pass through unchanged.
//
// # Cardinality
//
// Every label value comes from a bounded set. Operation and provider names
// come from the service's code. Models and endpoints are capped
// ([WithMaxModels], [WithMaxEndpoints]), because a service may pass a model
// name from a request body: values past the cap are exported as
// [OverflowLabelValue]. The caller's key is never a label unless
// [WithCallerKeyLabel] turns it on, with its own cap.
//
// # Concurrency
//
// An Exporter is safe for concurrent use: the tracker may call EndCall from
// many goroutines while a registry collects.
package promexport
