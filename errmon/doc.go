// Package errmon classifies the errors of calls to AI providers, records
// them as events with redacted messages and stack traces, and groups events
// of the same failure.
//
// # Classification
//
// [Classify] puts any error into one of twelve categories: [RateLimited],
// [QuotaExceeded], [Auth], [InvalidRequest], [ContextLength],
// [ContentFilter], [Timeout], [Canceled], [Network], [ProviderError],
// [Panic] and [Unknown]. [Inspect] also returns the HTTP status, the
// provider's error code and message, and the wait the provider requested.
// Both read go-openai's *openai.APIError and *openai.RequestError, context
// errors, net.Error and the system errors of broken connections, through
// any number of wrapping layers. A 429 with the code insufficient_quota is
// QuotaExceeded, not RateLimited, and a call canceled by its caller is
// Canceled, which [Category.IsProviderFailure] does not count against the
// provider.
//
//	_, err := client.CreateChatCompletion(ctx, req)
//	switch errmon.Classify(err) {
//	case errmon.RateLimited:
//		// back off for errmon.Inspect(err).RetryAfter
//	case errmon.ContextLength:
//		// shorten the prompt
//	}
//
// # Events and groups
//
// A [Monitor] turns each error passed to [Monitor.Record] into an [Event]
// with a UUID, the time from its clock, the category, the call's endpoint,
// provider and model, the redacted message, the caller's stack and a
// fingerprint. It keeps the latest events in a ring of fixed size
// ([Monitor.Recent]) and counts events by fingerprint in a bounded set of
// groups ([Monitor.Groups]). The fingerprint hashes the category, status
// and code, the message with its numbers, IDs and quoted values replaced,
// and the names of the three innermost functions on the stack. So the same
// failure with another request ID lands in the same group, and a failure at
// another place in the code gets a group of its own.
//
// # Redaction
//
// Provider messages can echo the API key that failed ("Incorrect API key
// provided: sk-proj-..."). [Redact] replaces API keys, bearer tokens and
// credential header values, and a Monitor applies it, plus the patterns in
// [Config].Redact, to every string of an event before the event is
// fingerprinted, stored, logged or returned.
//
// # Stack traces
//
// Event.Stack comes from runtime.Callers at the call to Record, innermost
// frame first, without the runtime's frames or those of aimeter's library
// packages, at most 32 frames. For a [PanicError] that carries the
// panicking goroutine's stack, the event's stack is that one instead. A
// stack taken during a panic starts at the function that panicked, not at
// the deferred call that recovered.
//
// # Concurrency
//
// The functions of this package and the methods of a Monitor are safe for
// concurrent use by multiple goroutines. [Monitor.Record] calls
// [Config].Clock and the [Config].Logger's handler from the calling
// goroutine, so those must be safe for concurrent use as well, as time.Now
// and the log/slog handlers are.
package errmon
