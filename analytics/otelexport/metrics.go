package otelexport

import (
	"context"
	"fmt"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"
)

// Bucket boundaries of the histograms, in seconds and tokens.
var (
	// durationBuckets are the boundaries that the GenAI semantic
	// conventions recommend for gen_ai.client.operation.duration.
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	// tokenBuckets are the boundaries that the GenAI semantic conventions
	// recommend for gen_ai.client.token.usage.
	tokenBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	// ttftBuckets are the boundaries that the GenAI semantic conventions
	// recommend for gen_ai.server.time_to_first_token. They recommend none
	// for gen_ai.client.operation.time_to_first_chunk, which measures the
	// same wait from the client's side.
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
)

// Name, unit and description of aimeter's cost counter.
const (
	costName        = "aimeter.client.cost"
	costUnit        = "{USD}"
	costDescription = "Cost of priced GenAI operations in US dollars."
)

// instruments holds the metric instruments of one Observer.
type instruments struct {
	duration metric.Float64Histogram
	tokens   metric.Int64Histogram
	ttft     metric.Float64Histogram
	cost     metric.Float64Counter
}

func newInstruments(meter metric.Meter) (instruments, error) {
	var (
		inst instruments
		err  error
	)
	durationConv := genaiconv.ClientOperationDuration{}
	inst.duration, err = meter.Float64Histogram(durationConv.Name(),
		metric.WithUnit(durationConv.Unit()), metric.WithDescription(durationConv.Description()),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return inst, fmt.Errorf("create %s: %w", durationConv.Name(), err)
	}

	tokensConv := genaiconv.ClientTokenUsage{}
	inst.tokens, err = meter.Int64Histogram(tokensConv.Name(),
		metric.WithUnit(tokensConv.Unit()), metric.WithDescription(tokensConv.Description()),
		metric.WithExplicitBucketBoundaries(tokenBuckets...))
	if err != nil {
		return inst, fmt.Errorf("create %s: %w", tokensConv.Name(), err)
	}

	ttftConv := genaiconv.ClientOperationTimeToFirstChunk{}
	inst.ttft, err = meter.Float64Histogram(ttftConv.Name(),
		metric.WithUnit(ttftConv.Unit()), metric.WithDescription(ttftConv.Description()),
		metric.WithExplicitBucketBoundaries(ttftBuckets...))
	if err != nil {
		return inst, fmt.Errorf("create %s: %w", ttftConv.Name(), err)
	}

	inst.cost, err = meter.Float64Counter(costName, metric.WithUnit(costUnit), metric.WithDescription(costDescription))
	if err != nil {
		return inst, fmt.Errorf("create %s: %w", costName, err)
	}
	return inst, nil
}

// maxCachedAttrKeys bounds each cache of an Observer, the measurement
// options and the span start options, so that a stream of invented model
// names cannot grow memory without limit. Calls with values that did not
// fit build their options on each call.
const maxCachedAttrKeys = 10000

// attrKey holds the raw attribute values of a record, before the caps.
type attrKey struct {
	operation, provider, requestModel, responseModel string
	errorType                                        errmon.Category
}

// measurementOptions holds the attribute sets of one attrKey, resolved once
// and wrapped in option slices so that recording allocates nothing.
type measurementOptions struct {
	duration []metric.RecordOption
	input    []metric.RecordOption
	output   []metric.RecordOption
	ttft     []metric.RecordOption
	cost     []metric.AddOption
}

// record records the metrics of r.
func (o *Observer) record(ctx context.Context, r *usage.Record) {
	k := attrKey{
		operation:     r.Call.Operation,
		provider:      r.Call.Provider,
		requestModel:  r.Call.Model,
		responseModel: r.ResponseModel,
		errorType:     r.Error,
	}
	var m *measurementOptions
	if v, ok := o.cache.Load(k); ok {
		m = v.(*measurementOptions)
	} else {
		m = o.resolve(k)
	}

	inst := &o.instruments
	inst.duration.Record(ctx, r.Latency.Seconds(), m.duration...)
	if r.UsageKnown {
		inst.tokens.Record(ctx, r.Tokens.Input, m.input...)
		inst.tokens.Record(ctx, r.Tokens.Output, m.output...)
	}
	if r.Stream && r.TTFT > 0 {
		inst.ttft.Record(ctx, r.TTFT.Seconds(), m.ttft...)
	}
	if r.Priced {
		inst.cost.Add(ctx, float64(r.CostNanos)/nanosPerUSD, m.cost...)
	}
}

// resolve builds the measurement options of k, applying the model cap.
func (o *Observer) resolve(k attrKey) *measurementOptions {
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.cache.Load(k); ok {
		return v.(*measurementOptions)
	}

	// The attributes every metric shares.
	common := []attribute.KeyValue{
		semconv.GenAIOperationNameKey.String(operationName(k.operation)),
		semconv.GenAIProviderNameKey.String(k.provider),
		semconv.GenAIRequestModelKey.String(o.models.bound(k.requestModel)),
	}
	withResponse := common
	if k.responseModel != "" {
		withResponse = append(common[:len(common):len(common)],
			semconv.GenAIResponseModelKey.String(o.models.bound(k.responseModel)))
	}
	set := func(extra ...attribute.KeyValue) attribute.Set {
		return attribute.NewSet(append(withResponse[:len(withResponse):len(withResponse)], extra...)...)
	}
	record := func(s attribute.Set) []metric.RecordOption {
		return []metric.RecordOption{metric.WithAttributeSet(s)}
	}

	var durationSet attribute.Set
	if k.errorType != "" {
		durationSet = set(semconv.ErrorTypeKey.String(string(k.errorType)))
	} else {
		durationSet = set()
	}
	m := &measurementOptions{
		duration: record(durationSet),
		input:    record(set(semconv.GenAITokenTypeInput)),
		output:   record(set(semconv.GenAITokenTypeOutput)),
		ttft:     record(set()),
		cost:     []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(common...))},
	}

	if o.cached < maxCachedAttrKeys {
		o.cache.Store(k, m)
		o.cached++
	}
	return m
}

// boundedSet admits up to max distinct values and maps later ones to
// OverflowModel. It is not safe for concurrent use.
type boundedSet struct {
	max  int
	seen map[string]struct{}
}

func newBoundedSet(max int) *boundedSet {
	return &boundedSet{max: max, seen: make(map[string]struct{})}
}

// bound returns v when it is admitted and OverflowModel otherwise.
func (b *boundedSet) bound(v string) string {
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return OverflowModel
	}
	b.seen[v] = struct{}{}
	return v
}
