package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aimeter/aimeter/analytics/otelexport"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// openOTLP returns an observer that exports the GenAI metrics and a span per
// provider call through OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, a
// base URL to which /v1/traces and /v1/metrics are appended, as the
// OpenTelemetry specification requires. The exporters read the other
// OTEL_EXPORTER_OTLP_* variables, such as headers, themselves. Without an
// endpoint it returns nil. The returned function flushes and stops the
// exporters.
func openOTLP(ctx context.Context, getenv func(string) string) (*otelexport.Observer, func(context.Context) error, error) {
	endpoint := strings.TrimRight(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/")
	if endpoint == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	traceExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"))
	if err != nil {
		return nil, nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	metricExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(endpoint+"/v1/metrics"))
	if err != nil {
		return nil, nil, fmt.Errorf("otlp metric exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExp))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)))
	obs, err := otelexport.New(otelexport.WithTracerProvider(tp), otelexport.WithMeterProvider(mp))
	if err != nil {
		return nil, nil, fmt.Errorf("otel observer: %w", err)
	}
	shutdown := func(ctx context.Context) error {
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
	}
	return obs, shutdown, nil
}
