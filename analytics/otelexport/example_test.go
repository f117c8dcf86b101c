package otelexport_test

import (
	"context"
	"fmt"
	"sort"

	"github.com/aimeter/aimeter/analytics/otelexport"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func Example() {
	// In-memory SDK providers stand in for the application's exporters.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	obs, err := otelexport.New(otelexport.WithMeterProvider(mp), otelexport.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	tracker := usage.NewTracker(usage.NewMemoryStore(), usage.WithObserver(obs))
	defer tracker.Close(context.Background())

	// The service's request span, and a stand-in for a provider call
	// inside it. A real service calls client.CreateChatCompletion(ctx, req).
	ctx, request := tp.Tracer("chatserver").Start(context.Background(), "POST /api/ai/chat")
	_, _ = usage.TrackCall(ctx, tracker, usage.Call{Provider: "openai", Model: "gpt-4o-mini"},
		func(context.Context) (openai.ChatCompletionResponse, error) {
			return openai.ChatCompletionResponse{
				Model: "gpt-4o-mini-2024-07-18",
				Usage: openai.Usage{PromptTokens: 2000, CompletionTokens: 300, TotalTokens: 2300},
			}, nil
		})
	request.End()

	names := make(map[trace.SpanID]string)
	for _, s := range spans.Ended() {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	for _, s := range spans.Ended() {
		if s.Parent().IsValid() {
			fmt.Printf("span %q, kind %s, child of %q\n", s.Name(), s.SpanKind(), names[s.Parent().SpanID()])
		} else {
			fmt.Printf("span %q, root\n", s.Name())
		}
	}

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	var metrics []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		metrics = append(metrics, m.Name+" "+m.Unit)
	}
	sort.Strings(metrics)
	for _, m := range metrics {
		fmt.Println("metric", m)
	}
	// Output:
	// span "chat gpt-4o-mini", kind client, child of "POST /api/ai/chat"
	// span "POST /api/ai/chat", root
	// metric aimeter.client.cost {USD}
	// metric gen_ai.client.operation.duration s
	// metric gen_ai.client.token.usage {token}
}
