package otelexport

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// defaultMaxModels is how many distinct model names get their own
// attribute value on the metrics by default.
const defaultMaxModels = 100

// OverflowModel is the gen_ai.request.model and gen_ai.response.model value
// on the metrics of models seen after the cap of WithMaxModels was reached.
// It is the fallback value the semantic conventions use for other
// attributes, such as error.type.
const OverflowModel = "_OTHER"

// Option configures an Observer.
type Option func(*config)

type config struct {
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	maxModels      int
}

// WithMeterProvider sets the provider of the meter that records the
// metrics. The default is the global provider at the time New runs.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}

// WithTracerProvider sets the provider of the tracer that starts the
// spans. The default is the global provider at the time New runs.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// WithMaxModels sets how many distinct model names get their own attribute
// value on the metrics, counting request and response names together.
// Later names are recorded as OverflowModel, while spans always carry the
// real names. A value below 1 keeps the default of 100.
func WithMaxModels(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxModels = n
		}
	}
}
