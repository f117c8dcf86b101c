package otelexport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics/otelexport"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// harness is an Observer wired to in-memory OpenTelemetry SDK providers.
type harness struct {
	obs    *otelexport.Observer
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tracer trace.Tracer // for parent spans the test starts itself
}

func newHarness(t *testing.T, opts ...otelexport.Option) *harness {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})

	opts = append([]otelexport.Option{otelexport.WithMeterProvider(mp), otelexport.WithTracerProvider(tp)}, opts...)
	obs, err := otelexport.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &harness{obs: obs, reader: reader, spans: spans, tracer: tp.Tracer("test")}
}

// endCalls shows each record to the observer as a tracker would.
func (h *harness) endCalls(records ...usage.Record) {
	for i := range records {
		ctx := h.obs.StartCall(context.Background(), records[i].Call)
		h.obs.EndCall(ctx, &records[i])
	}
}

// metrics collects every metric, by name.
func (h *harness) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	byName := make(map[string]metricdata.Metrics)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/aimeter/aimeter/analytics/otelexport" {
			t.Errorf("scope name = %q, want the package path", sm.Scope.Name)
		}
		if sm.Scope.SchemaURL != "https://opentelemetry.io/schemas/1.41.0" {
			t.Errorf("scope schema URL = %q, want semantic conventions 1.41.0", sm.Scope.SchemaURL)
		}
		for _, m := range sm.Metrics {
			byName[m.Name] = m
		}
	}
	return byName
}

// span returns the only ended span with the given name.
func (h *harness) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	var names []string
	for _, s := range h.spans.Ended() {
		names = append(names, s.Name())
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ended spans named %q, want 1; ended spans: %q", len(found), name, names)
	}
	return found[0]
}

var chatCall = usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"}

// pricedChat is a successful chat call with cached input tokens.
var pricedChat = usage.Record{
	Call: chatCall, ResponseModel: "gpt-4o-mini-2024-07-18",
	UsageKnown: true, Priced: true, CostNanos: 250_000_000,
	Tokens:  usage.Tokens{Input: 1000, CachedInput: 200, Output: 100},
	Latency: 500 * time.Millisecond,
}

func TestInstrumentDefinitions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	stream := pricedChat
	stream.Stream, stream.TTFT = true, 300*time.Millisecond
	h.endCalls(stream)
	got := h.metrics(t)

	durationBounds := []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	tokenBounds := []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	ttftBounds := []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	tests := []struct {
		name   string
		unit   string
		bounds []float64 // nil for the counter
	}{
		{name: "gen_ai.client.operation.duration", unit: "s", bounds: durationBounds},
		{name: "gen_ai.client.token.usage", unit: "{token}", bounds: tokenBounds},
		{name: "gen_ai.client.operation.time_to_first_chunk", unit: "s", bounds: ttftBounds},
		{name: "aimeter.client.cost", unit: "{USD}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := got[tt.name]
			if !ok {
				t.Fatalf("metric %s not recorded", tt.name)
			}
			if m.Unit != tt.unit {
				t.Errorf("unit = %q, want %q", m.Unit, tt.unit)
			}
			if m.Description == "" {
				t.Errorf("description is empty")
			}
			if tt.bounds == nil {
				sum, ok := m.Data.(metricdata.Sum[float64])
				if !ok || !sum.IsMonotonic {
					t.Errorf("data = %T (monotonic %v), want a monotonic float64 sum", m.Data, ok && sum.IsMonotonic)
				}
				return
			}
			for _, bounds := range histogramBounds(t, m) {
				if !slices.Equal(bounds, tt.bounds) {
					t.Errorf("bounds = %v, want %v", bounds, tt.bounds)
				}
			}
		})
	}
	if len(got) != len(tests) {
		t.Errorf("recorded %d metrics, want %d", len(got), len(tests))
	}
}

// histogramBounds returns the bucket bounds of each data point of m, which
// must be a histogram of either number type.
func histogramBounds(t *testing.T, m metricdata.Metrics) [][]float64 {
	t.Helper()
	var bounds [][]float64
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			bounds = append(bounds, dp.Bounds)
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			bounds = append(bounds, dp.Bounds)
		}
	default:
		t.Fatalf("%s data = %T, want a histogram", m.Name, m.Data)
	}
	if len(bounds) == 0 {
		t.Fatalf("%s has no data points", m.Name)
	}
	return bounds
}

// point is a histogram data point reduced to what the tests compare.
type point struct {
	attrs string
	count uint64
	sum   float64
}

// points returns the data points of a histogram metric sorted by their
// attributes, written as key=value pairs.
func points(t *testing.T, m metricdata.Metrics) []point {
	t.Helper()
	var ps []point
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			ps = append(ps, point{attrs: encode(dp.Attributes), count: dp.Count, sum: dp.Sum})
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			ps = append(ps, point{attrs: encode(dp.Attributes), count: dp.Count, sum: float64(dp.Sum)})
		}
	default:
		t.Fatalf("%s data = %T, want a histogram", m.Name, m.Data)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].attrs < ps[j].attrs })
	return ps
}

func encode(s attribute.Set) string {
	return s.Encoded(attribute.DefaultEncoder())
}

func TestDurationAttributes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	failed := usage.Record{Call: chatCall, Error: errmon.RateLimited, HTTPStatus: 429, Latency: 50 * time.Millisecond}
	completion := usage.Record{
		Call:    usage.Call{Provider: "openai", Model: "gpt-3.5-turbo-instruct", Operation: "completion"},
		Latency: 2 * time.Second,
	}
	h.endCalls(pricedChat, pricedChat, failed, completion)

	want := []point{
		{attrs: "error.type=rate_limited,gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o-mini", count: 1, sum: 0.05},
		{attrs: "gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o-mini,gen_ai.response.model=gpt-4o-mini-2024-07-18", count: 2, sum: 1},
		{attrs: "gen_ai.operation.name=text_completion,gen_ai.provider.name=openai,gen_ai.request.model=gpt-3.5-turbo-instruct", count: 1, sum: 2},
	}
	got := points(t, h.metrics(t)["gen_ai.client.operation.duration"])
	if !slices.Equal(got, want) {
		t.Errorf("duration points:\n got %+v\nwant %+v", got, want)
	}
}

func TestTokenUsageAttributes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	unknown := usage.Record{Call: chatCall, Latency: time.Second}
	h.endCalls(pricedChat, unknown)

	base := "gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o-mini,gen_ai.response.model=gpt-4o-mini-2024-07-18,gen_ai.token.type="
	want := []point{
		{attrs: base + "input", count: 1, sum: 1000},
		{attrs: base + "output", count: 1, sum: 100},
	}
	got := points(t, h.metrics(t)["gen_ai.client.token.usage"])
	if !slices.Equal(got, want) {
		t.Errorf("token usage points:\n got %+v\nwant %+v", got, want)
	}
}

func TestTimeToFirstChunkOnlyForStreams(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	stream := pricedChat
	stream.Stream, stream.TTFT = true, 250*time.Millisecond
	noContent := stream
	noContent.TTFT = 0 // a stream that ended before any content
	h.endCalls(pricedChat, stream, noContent)

	want := []point{{
		attrs: "gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o-mini,gen_ai.response.model=gpt-4o-mini-2024-07-18",
		count: 1, sum: 0.25,
	}}
	got := points(t, h.metrics(t)["gen_ai.client.operation.time_to_first_chunk"])
	if !slices.Equal(got, want) {
		t.Errorf("time to first chunk points:\n got %+v\nwant %+v", got, want)
	}
}

func TestCostCountsPricedCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	unpriced := pricedChat
	unpriced.Priced, unpriced.CostNanos = false, 0
	h.endCalls(pricedChat, pricedChat, unpriced)

	sum, ok := h.metrics(t)["aimeter.client.cost"].Data.(metricdata.Sum[float64])
	if !ok || len(sum.DataPoints) != 1 {
		t.Fatalf("cost data = %+v, want one float64 sum point", sum)
	}
	dp := sum.DataPoints[0]
	if dp.Value != 0.5 {
		t.Errorf("cost = %v USD, want 0.5", dp.Value)
	}
	if got, want := encode(dp.Attributes), "gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o-mini"; got != want {
		t.Errorf("cost attributes = %s, want %s", got, want)
	}
}

func TestModelCap(t *testing.T) {
	t.Parallel()
	h := newHarness(t, otelexport.WithMaxModels(2))
	for _, model := range []string{"a", "b", "c"} {
		call := chatCall
		call.Model = model
		h.endCalls(usage.Record{Call: call, Latency: time.Second})
	}

	var models []string
	for _, p := range points(t, h.metrics(t)["gen_ai.client.operation.duration"]) {
		models = append(models, p.attrs[strings.LastIndex(p.attrs, "=")+1:])
	}
	if want := []string{"_OTHER", "a", "b"}; !slices.Equal(models, want) {
		t.Errorf("request models = %q, want %q", models, want)
	}
	if span := h.span(t, "chat c"); attrValue(span, "gen_ai.request.model") != "c" {
		t.Errorf("span request model = %q, want the real name c", attrValue(span, "gen_ai.request.model"))
	}
}

// TestManyDistinctModels sends more distinct models than the observer
// caches, so that later calls take the uncached path.
func TestManyDistinctModels(t *testing.T) {
	t.Parallel()
	h := newHarness(t, otelexport.WithMaxModels(2))
	const models = 10100
	for i := 0; i < models; i++ {
		call := chatCall
		call.Model = fmt.Sprintf("m%d", i)
		h.endCalls(usage.Record{Call: call}, usage.Record{Call: call})
	}

	counts := make(map[string]uint64)
	for _, p := range points(t, h.metrics(t)["gen_ai.client.operation.duration"]) {
		counts[p.attrs[strings.LastIndex(p.attrs, "=")+1:]] += p.count
	}
	want := map[string]uint64{"m0": 2, "m1": 2, otelexport.OverflowModel: 2 * (models - 2)}
	if !maps.Equal(counts, want) {
		t.Errorf("durations by request model = %v, want %v", counts, want)
	}
	if n := len(h.spans.Ended()); n != 2*models {
		t.Errorf("spans ended = %d, want %d", n, 2*models)
	}
}

// attrValue returns the value of the span attribute key as a string, or ""
// when the span has no such attribute.
func attrValue(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func hasAttr(s sdktrace.ReadOnlySpan, key string) bool {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return true
		}
	}
	return false
}

// newTracker returns a tracker that shows its calls to obs.
func newTracker(t *testing.T, obs usage.Observer) *usage.Tracker {
	t.Helper()
	tr := usage.NewTracker(usage.NewMemoryStore(), usage.WithObserver(obs))
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr
}

func TestSpanParentAndChild(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tracker := newTracker(t, h.obs)

	// The service's request span, the tracked call inside it, and work the
	// wrapped function does with the context it gets.
	ctx, parent := h.tracer.Start(context.Background(), "POST /api/ai/chat")
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini"}
	_, err := usage.TrackCall(ctx, tracker, call, func(ctx context.Context) (openai.ChatCompletionResponse, error) {
		_, inner := h.tracer.Start(ctx, "HTTP POST")
		inner.End()
		return openai.ChatCompletionResponse{
			Model: "gpt-4o-mini-2024-07-18",
			Usage: openai.Usage{
				PromptTokens: 2006, CompletionTokens: 300, TotalTokens: 2306,
				PromptTokensDetails:     &openai.PromptTokensDetails{CachedTokens: 1920},
				CompletionTokensDetails: &openai.CompletionTokensDetails{ReasoningTokens: 64},
			},
		}, nil
	})
	parent.End()
	if err != nil {
		t.Fatalf("TrackCall: %v", err)
	}

	// The operation was inferred from the response, so the span got its
	// full name at the end.
	span := h.span(t, "chat gpt-4o-mini")
	if got, want := span.Parent().SpanID(), parent.SpanContext().SpanID(); got != want {
		t.Errorf("call span parent = %s, want the request span %s", got, want)
	}
	if got, want := span.SpanContext().TraceID(), parent.SpanContext().TraceID(); got != want {
		t.Errorf("call span trace = %s, want the request's trace %s", got, want)
	}
	inner := h.span(t, "HTTP POST")
	if got, want := inner.Parent().SpanID(), span.SpanContext().SpanID(); got != want {
		t.Errorf("inner span parent = %s, want the call span %s", got, want)
	}
	if span.SpanKind() != trace.SpanKindClient {
		t.Errorf("span kind = %v, want client", span.SpanKind())
	}
	if span.Status().Code != codes.Unset {
		t.Errorf("status = %v, want unset for a successful call", span.Status())
	}
	if span.InstrumentationScope().SchemaURL != "https://opentelemetry.io/schemas/1.41.0" {
		t.Errorf("schema URL = %q, want semantic conventions 1.41.0", span.InstrumentationScope().SchemaURL)
	}

	wantAttrs := map[string]string{
		"gen_ai.operation.name":                "chat",
		"gen_ai.provider.name":                 "openai",
		"gen_ai.request.model":                 "gpt-4o-mini",
		"gen_ai.response.model":                "gpt-4o-mini-2024-07-18",
		"gen_ai.usage.input_tokens":            "2006",
		"gen_ai.usage.output_tokens":           "300",
		"gen_ai.usage.cache_read.input_tokens": "1920",
		"gen_ai.usage.reasoning.output_tokens": "64",
	}
	for key, want := range wantAttrs {
		if got := attrValue(span, key); got != want {
			t.Errorf("attribute %s = %q, want %q", key, got, want)
		}
	}
	for _, key := range []string{"error.type", "gen_ai.usage.cache_creation.input_tokens", "gen_ai.response.time_to_first_chunk"} {
		if hasAttr(span, key) {
			t.Errorf("attribute %s = %q, want none", key, attrValue(span, key))
		}
	}
	if !hasAttr(span, "aimeter.cost.usd") {
		t.Errorf("priced call has no aimeter.cost.usd attribute")
	}
}

func TestSpanFailedCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tracker := newTracker(t, h.obs)

	apiErr := &openai.APIError{HTTPStatusCode: 429, Code: "rate_limit_exceeded", Message: "slow down"}
	_, err := usage.TrackCall(context.Background(), tracker, chatCall, func(context.Context) (openai.ChatCompletionResponse, error) {
		return openai.ChatCompletionResponse{}, apiErr
	})
	if !errors.Is(err, apiErr) {
		t.Fatalf("TrackCall error = %v, want the call's own error", err)
	}

	span := h.span(t, "chat gpt-4o-mini")
	if got := span.Status(); got.Code != codes.Error || got.Description != "rate_limited" {
		t.Errorf("status = %+v, want Error with description rate_limited", got)
	}
	if got := attrValue(span, "error.type"); got != "rate_limited" {
		t.Errorf("error.type = %q, want rate_limited", got)
	}
	if got := attrValue(span, "http.response.status_code"); got != "429" {
		t.Errorf("http.response.status_code = %q, want 429", got)
	}
	for _, key := range []string{"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "aimeter.cost.usd"} {
		if hasAttr(span, key) {
			t.Errorf("failed call has %s = %q, want none", key, attrValue(span, key))
		}
	}
}

func TestSpanNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call usage.Call
		want string
	}{
		{name: "both", call: usage.Call{Operation: "embeddings", Model: "text-embedding-3-small"}, want: "embeddings text-embedding-3-small"},
		{name: "completion", call: usage.Call{Operation: "completion", Model: "m"}, want: "text_completion m"},
		{name: "no model", call: usage.Call{Operation: "chat"}, want: "chat"},
		{name: "no operation", call: usage.Call{Model: "m"}, want: "m"},
		{name: "neither", want: "gen_ai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.endCalls(usage.Record{Call: tt.call})
			h.span(t, tt.want)
		})
	}
}

// TestEndCallKeepsForeignSpan checks that EndCall with a context StartCall
// did not return records the metrics and leaves the span in it alone.
func TestEndCallKeepsForeignSpan(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, parent := h.tracer.Start(context.Background(), "request")
	r := pricedChat
	h.obs.EndCall(ctx, &r)

	if n := len(h.spans.Ended()); n != 0 {
		t.Errorf("EndCall ended %d spans, want 0", n)
	}
	parent.End()
	if got := points(t, h.metrics(t)["gen_ai.client.operation.duration"]); len(got) != 1 || got[0].count != 1 {
		t.Errorf("duration points = %+v, want one call", got)
	}
}

// TestStreamSpanAndTTFT tracks a real go-openai stream from a local
// server and checks the span and the time-to-first-chunk metric.
func TestStreamSpanAndTTFT(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tracker := newTracker(t, h.obs)
	client := streamServer(t)

	ctx, parent := h.tracer.Start(context.Background(), "POST /api/ai/chat")
	req := openai.ChatCompletionRequest{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}}
	stream, err := usage.TrackChatStream(ctx, tracker, usage.Call{Provider: "openai"}, client, req)
	if err != nil {
		t.Fatalf("TrackChatStream: %v", err)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Recv: %v", err)
			}
			break
		}
	}
	_ = stream.Close()
	parent.End()

	span := h.span(t, "chat gpt-4o-mini")
	if got, want := span.Parent().SpanID(), parent.SpanContext().SpanID(); got != want {
		t.Errorf("stream span parent = %s, want the request span %s", got, want)
	}
	if !hasAttr(span, "gen_ai.response.time_to_first_chunk") {
		t.Errorf("stream span has no gen_ai.response.time_to_first_chunk")
	}
	for key, want := range map[string]string{
		"gen_ai.usage.input_tokens":  "24",
		"gen_ai.usage.output_tokens": "58",
		"gen_ai.response.model":      "gpt-4o-mini-2024-07-18",
	} {
		if got := attrValue(span, key); got != want {
			t.Errorf("attribute %s = %q, want %q", key, got, want)
		}
	}

	got := points(t, h.metrics(t)["gen_ai.client.operation.time_to_first_chunk"])
	if len(got) != 1 || got[0].count != 1 {
		t.Errorf("time to first chunk points = %+v, want one stream", got)
	}
}

// streamServer returns a go-openai client of a local server that streams
// one chat completion with a usage chunk.
func streamServer(t *testing.T) *openai.Client {
	t.Helper()
	const body = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":58,"total_tokens":82}}

data: [DONE]

`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	cfg := openai.DefaultConfig("sk-test")
	cfg.BaseURL = srv.URL + "/v1"
	return openai.NewClientWithConfig(cfg)
}

// TestDefaultsToGlobalProviders changes the global providers, so it does
// not run in parallel with other tests.
func TestDefaultsToGlobalProviders(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	prevMP, prevTP := otel.GetMeterProvider(), otel.GetTracerProvider()
	otel.SetMeterProvider(mp)
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetMeterProvider(prevMP)
		otel.SetTracerProvider(prevTP)
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})

	obs, err := otelexport.New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := pricedChat
	obs.EndCall(obs.StartCall(context.Background(), r.Call), &r)

	if n := len(spans.Ended()); n != 1 {
		t.Errorf("global tracer provider got %d spans, want 1", n)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if len(rm.ScopeMetrics) != 1 {
		t.Errorf("global meter provider got %d scopes, want 1", len(rm.ScopeMetrics))
	}
}

// TestConcurrentCalls records from many goroutines, for the race detector,
// then checks that no call was lost.
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const workers, callsEach = 8, 100

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < callsEach; i++ {
				r := pricedChat
				if i%2 == 1 {
					r.Call.Model = "gpt-4o"
				}
				h.obs.EndCall(h.obs.StartCall(context.Background(), r.Call), &r)
			}
		}()
	}
	wg.Wait()

	var calls uint64
	for _, p := range points(t, h.metrics(t)["gen_ai.client.operation.duration"]) {
		calls += p.count
	}
	if calls != workers*callsEach {
		t.Errorf("durations recorded = %d, want %d", calls, workers*callsEach)
	}
	if n := len(h.spans.Ended()); n != workers*callsEach {
		t.Errorf("spans ended = %d, want %d", n, workers*callsEach)
	}
}
