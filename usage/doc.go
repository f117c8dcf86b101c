// Package usage measures calls to AI providers: tokens, cost, latency and
// failures, one Record per call, kept in a Store as per-minute rollups.
//
// # Tracking a call
//
// Wrap each provider call in TrackCall. It returns what the wrapped function
// returns and, on the side, hands one Record to the Tracker:
//
//	store := usage.NewMemoryStore()
//	tracker := usage.NewTracker(store)
//	defer tracker.Close(context.Background())
//
//	resp, err := usage.TrackCall(ctx, tracker,
//		usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: req.Model},
//		func(ctx context.Context) (openai.ChatCompletionResponse, error) {
//			return client.CreateChatCompletion(ctx, req)
//		})
//
// Streams are tracked by TrackChatStream, which asks the provider for the
// usage chunk and records the stream once, however it ends.
//
// # Tokens and cost
//
// Tokens follows OpenAI's convention: Input includes cached prompt tokens
// and Output includes reasoning tokens. Cost is an integer number of
// nano-dollars (1e-9 USD) per call, computed exactly from per-token rates in
// femto-dollars and rounded once, so sums are exact in any order. A call
// whose response carried no usage has unknown usage, and a call to a model
// missing from the price table is unpriced; both are counted apart and never
// reported as zero tokens or $0.
//
// Prices come from a Table: DefaultTable is built in, LoadLiteLLM reads
// LiteLLM's model_prices_and_context_window.json, and LoadNative reads a
// small format of aimeter's own. Lookup tries the exact name, then the name
// without a -YYYY-MM-DD suffix, then aliases, then "ft:BASE" for fine-tuned
// models.
//
// # Recording
//
// The Tracker queues records in a bounded buffer and one goroutine writes
// them to the Store in batches, so the store's speed or failures never reach
// the caller. Records the full queue cannot hold are dropped and counted in
// TrackerStats; Flush and Close write everything queued.
//
// # Concurrency
//
// Tracker, Table, MemoryStore and the functions of this package are safe
// for concurrent use. Stats and Histogram values are not; stores return
// copies of them.
package usage
