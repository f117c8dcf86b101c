// Package otelexport reports the calls a [usage.Tracker] measures as
// OpenTelemetry GenAI client metrics and spans.
//
// An [Observer] is a [usage.Observer]: the tracker calls its StartCall
// before each provider call and its EndCall after it.
//
//	obs, err := otelexport.New(
//		otelexport.WithMeterProvider(meterProvider),
//		otelexport.WithTracerProvider(tracerProvider),
//	)
//	if err != nil {
//		return err
//	}
//	tracker := usage.NewTracker(store, usage.WithObserver(obs))
//
// Without WithMeterProvider or WithTracerProvider, New uses the global
// providers of go.opentelemetry.io/otel as they are when New runs. Until
// the application sets real ones with otel.SetMeterProvider and
// otel.SetTracerProvider, the globals delegate to them when they are set
// later and record nothing before. To turn one signal off, pass a no-op
// provider such as the one in go.opentelemetry.io/otel/trace/noop.
//
// # Conventions
//
// Names, units, attributes and bucket boundaries follow the GenAI semantic
// conventions of OpenTelemetry semantic conventions v1.41.0 (the package
// go.opentelemetry.io/otel/semconv/v1.41.0), whose GenAI parts are still
// in development and may change. Spans and meters carry that version's
// schema URL. The bucket boundaries are advice to the SDK, so a view that
// the application configures takes precedence over them.
//
// Metrics, recorded in EndCall:
//
//	gen_ai.client.operation.duration             histogram  s        every call
//	gen_ai.client.token.usage                    histogram  {token}  calls with known usage, gen_ai.token.type input and output
//	gen_ai.client.operation.time_to_first_chunk  histogram  s        streamed calls that received content
//	aimeter.client.cost                          counter    {USD}    priced calls
//
// They carry gen_ai.operation.name, gen_ai.provider.name,
// gen_ai.request.model and, when the response named one,
// gen_ai.response.model. The duration of a failed call also carries
// error.type. The last metric is aimeter's own, because the conventions
// define no cost metric.
//
// Each tracked call gets a span of kind client, started in StartCall as a
// child of the span in the call's context and ended in EndCall. The
// wrapped function receives a context with this span, so work it does with
// that context, such as a request through an instrumented HTTP client,
// becomes a child of the call in the service's trace. The span is named
// "{gen_ai.operation.name} {gen_ai.request.model}", such as
// "chat gpt-4o-mini", and carries the attributes above plus
// gen_ai.usage.input_tokens, gen_ai.usage.output_tokens,
// gen_ai.usage.cache_read.input_tokens,
// gen_ai.usage.cache_creation.input_tokens,
// gen_ai.usage.reasoning.output_tokens (the last three when not zero),
// gen_ai.response.time_to_first_chunk for streams,
// http.response.status_code for failed calls with one, and
// aimeter.cost.usd for priced calls. Usage attributes are left out when the
// response carried no usage, never set to zero.
//
// # Values
//
// gen_ai.operation.name is the call's operation, except that aimeter's
// "completion" is reported as "text_completion", the conventions' name for
// the legacy completions API. error.type is the [errmon.Category] of the
// failure: rate_limited, quota_exceeded, auth, invalid_request,
// context_length, content_filter, timeout, canceled, network,
// provider_error, panic or unknown. A failed call's span has status Error
// with the category as its description. Canceled calls are included,
// because the operation did not complete.
//
// Request and response model names are capped ([WithMaxModels]) on the
// metrics, because a service may pass a model name from a request body.
// Names past the cap are reported as [OverflowModel]. Spans always carry
// the real names.
//
// # Concurrency
//
// An Observer is safe for concurrent use.
package otelexport
