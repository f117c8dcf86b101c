package otelexport

import (
	"context"
	"fmt"
	"sync"

	"github.com/aimeter/aimeter/usage"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the meter and the tracer.
const instrumentationName = "github.com/aimeter/aimeter/analytics/otelexport"

// Observer is a usage.Observer that records OpenTelemetry GenAI metrics and
// one client span per call. Create it with New. It is safe for concurrent
// use.
type Observer struct {
	tracer      trace.Tracer
	instruments instruments

	// cache maps an attrKey to its *measurementOptions, and starts maps a
	// spanStartKey to its *spanStart. Misses go through mu.
	cache  sync.Map
	starts sync.Map

	mu           sync.Mutex // guards the fields below
	cached       int
	cachedStarts int
	models       *boundedSet
}

var _ usage.Observer = (*Observer)(nil)

// New returns an Observer configured by opts. It returns an error when the
// meter provider fails to create an instrument.
func New(opts ...Option) (*Observer, error) {
	cfg := config{maxModels: defaultMaxModels}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	if cfg.tracerProvider == nil {
		cfg.tracerProvider = otel.GetTracerProvider()
	}

	meter := cfg.meterProvider.Meter(instrumentationName, metric.WithSchemaURL(semconv.SchemaURL))
	inst, err := newInstruments(meter)
	if err != nil {
		return nil, fmt.Errorf("otelexport: %w", err)
	}
	return &Observer{
		tracer:      cfg.tracerProvider.Tracer(instrumentationName, trace.WithSchemaURL(semconv.SchemaURL)),
		instruments: inst,
		models:      newBoundedSet(cfg.maxModels),
	}, nil
}

// spanKey is the context key of the span StartCall started.
type spanKey struct{}

// StartCall starts the call's client span as a child of the span in ctx
// and returns a context that carries it.
func (o *Observer) StartCall(ctx context.Context, call usage.Call) context.Context {
	start := o.spanStart(call)
	ctx, span := o.tracer.Start(ctx, start.name, start.opts...)
	return context.WithValue(ctx, spanKey{}, span)
}

// spanStartKey holds the values of a call that its span starts with.
type spanStartKey struct {
	operation, provider, model string
}

// spanStart holds the name and start options of the spans of one
// spanStartKey, built once so that starting a span allocates less.
type spanStart struct {
	name string
	opts []trace.SpanStartOption
}

// spanStart returns the span name and start options of call, from the
// cache when it has them.
func (o *Observer) spanStart(call usage.Call) *spanStart {
	k := spanStartKey{operation: call.Operation, provider: call.Provider, model: call.Model}
	if v, ok := o.starts.Load(k); ok {
		return v.(*spanStart)
	}
	return o.newSpanStart(k)
}

// newSpanStart builds the span start of k and caches it while the cache
// has room. It is apart from spanStart so that the key escapes to the heap
// only on this path.
func (o *Observer) newSpanStart(k spanStartKey) *spanStart {
	op := operationName(k.operation)
	attrs := make([]attribute.KeyValue, 0, 3)
	if op != "" {
		attrs = append(attrs, semconv.GenAIOperationNameKey.String(op))
	}
	attrs = append(attrs,
		semconv.GenAIProviderNameKey.String(k.provider),
		semconv.GenAIRequestModelKey.String(k.model))
	start := &spanStart{
		name: spanName(op, k.model),
		opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)},
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cachedStarts < maxCachedAttrKeys {
		if v, loaded := o.starts.LoadOrStore(k, start); loaded {
			return v.(*spanStart)
		}
		o.cachedStarts++
	}
	return start
}

// EndCall records the metrics of r and ends the span StartCall started
// with ctx. A ctx that StartCall did not return still gets the metrics.
func (o *Observer) EndCall(ctx context.Context, r *usage.Record) {
	o.record(ctx, r)
	if span, ok := ctx.Value(spanKey{}).(trace.Span); ok {
		endSpan(span, r)
	}
}

// endSpan sets the outcome of r on span and ends it.
func endSpan(span trace.Span, r *usage.Record) {
	if !span.IsRecording() {
		span.End()
		return
	}

	// TrackCall fills in the operation from the response when the call
	// had none, after StartCall named the span.
	attrs := make([]attribute.KeyValue, 0, 10)
	if r.Call.Operation != "" {
		op := operationName(r.Call.Operation)
		span.SetName(spanName(op, r.Call.Model))
		attrs = append(attrs, semconv.GenAIOperationNameKey.String(op))
	}
	if r.ResponseModel != "" {
		attrs = append(attrs, semconv.GenAIResponseModelKey.String(r.ResponseModel))
	}

	// Usage, only when the response carried it.
	if r.UsageKnown {
		t := r.Tokens
		attrs = append(attrs,
			semconv.GenAIUsageInputTokensKey.Int64(t.Input),
			semconv.GenAIUsageOutputTokensKey.Int64(t.Output))
		if t.CachedInput > 0 {
			attrs = append(attrs, semconv.GenAIUsageCacheReadInputTokensKey.Int64(t.CachedInput))
		}
		if t.CacheWrite > 0 {
			attrs = append(attrs, semconv.GenAIUsageCacheCreationInputTokensKey.Int64(t.CacheWrite))
		}
		if t.Reasoning > 0 {
			attrs = append(attrs, semconv.GenAIUsageReasoningOutputTokensKey.Int64(t.Reasoning))
		}
	}
	if r.Priced {
		attrs = append(attrs, attrCostUSD.Float64(float64(r.CostNanos)/nanosPerUSD))
	}
	if r.Stream && r.TTFT > 0 {
		attrs = append(attrs, semconv.GenAIResponseTimeToFirstChunkKey.Float64(r.TTFT.Seconds()))
	}

	// Outcome.
	if r.Error != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(string(r.Error)))
		if r.HTTPStatus != 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCodeKey.Int(r.HTTPStatus))
		}
		span.SetStatus(codes.Error, string(r.Error))
	}
	span.SetAttributes(attrs...)
	span.End()
}

// attrCostUSD is aimeter's span attribute for the call's cost in US
// dollars, because the conventions define none.
const attrCostUSD = attribute.Key("aimeter.cost.usd")

// nanosPerUSD converts nano-dollars to US dollars.
const nanosPerUSD = 1e9

// spanName returns "{operation} {model}", or whichever of the two is not
// empty, or "gen_ai" when both are.
func spanName(op, model string) string {
	switch {
	case op != "" && model != "":
		return op + " " + model
	case op != "":
		return op
	case model != "":
		return model
	}
	return "gen_ai"
}

// operationName returns the GenAI semantic-convention name of an aimeter
// operation: usage.OperationCompletion, the legacy completions API, is
// text_completion there. Other names are already the conventions' names
// (chat, embeddings) or have none (image), and pass through.
func operationName(op string) string {
	if op == usage.OperationCompletion {
		return "text_completion"
	}
	return op
}
