// Package errmon classifies the errors of calls to AI providers, records
// them as events with redacted messages and stack traces, groups events of
// the same failure, counts error rates over sliding windows and sends
// alerts when they pass a threshold.
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
// another place in the code gets a group of its own. The fingerprint is the
// first 16 bytes of a SHA-256 hash, so it is the same in every process.
//
// Errors repeat, so Record caches what repeats cost: the frames of up to
// 256 distinct stacks, shared by every Monitor of the process, and the
// fingerprints of up to 128 distinct failures per Monitor. Both caches have
// a fixed number of entries, whatever the number of errors.
//
// # Redaction
//
// Provider messages can echo the API key that failed ("Incorrect API key
// provided: sk-proj-..."). [Redact] replaces:
//
//   - keys and tokens by their format: OpenAI and Anthropic (sk-), Google
//     (AIza), Groq (gsk_), Hugging Face (hf_), xAI (xai-), Perplexity
//     (pplx-), Replicate (r8_), NVIDIA (nvapi-), ElevenLabs (sk_),
//     Fireworks (fw_) and Cerebras (csk-) keys, GitHub tokens (ghp_,
//     github_pat_), Google OAuth tokens (ya29.), JSON Web Tokens, AWS
//     access key IDs (AKIA, ASIA), PEM private key blocks and bearer
//     tokens;
//   - the values of credential headers, parameters and fields, such as
//     api-key, x-api-key, Ocp-Apim-Subscription-Key, access_token,
//     password, secret, private_key, credentials, auth and sig, also in
//     escaped or twice-escaped JSON, URL-encoded (once or twice) text,
//     HTML entities and Go's %#v syntax;
//   - the whole value of an Authorization or Proxy-Authorization header,
//     whatever its scheme (AWS4-HMAC-SHA256 included), up to the end of
//     the line, a quote or a closing bracket;
//   - the password of a URL, as in "postgres://user:password@host".
//
// A value that is a common English word ("Authorization: header missing",
// "Bearer token is invalid") is left alone, and so is a hyphenated
// lowercase name such as "sk-learning-assistant-v2-large". A Monitor
// applies the patterns in [Config].Redact to the original text and then
// Redact, to every string of an event before the event is fingerprinted,
// stored, logged or returned. Redact cannot find a secret of an unknown
// format, a key cut below its format's minimum length, or the rest of a
// value after a ',', ';' or '&'.
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
// # Error rates
//
// A Monitor counts every call: [Monitor.RecordSuccess] a success and
// [Monitor.Record] a failure. A canceled call counts as a call but not as
// an error. Calls are counted per series, the calls with the same
// [CallInfo], in buckets of [RateBucket] (10 seconds) that cover the last
// [MaxRateWindow] (1 hour). [Monitor.Rate] sums the series that match a
// filter, such as one endpoint, provider or model, over any window up to
// an hour, and [Monitor.Rates] lists the series. A window is a whole number
// of buckets, the current one included, so its start is exact to one
// bucket: a 1-minute window reaches back between 50 and 60 seconds.
//
// RecordSuccess is on the path of every provider call, so it allocates
// nothing and takes a map lookup and a few atomic additions. Memory stays
// bounded: a series is a fixed ring of buckets, at most
// [Config].MaxSeries series are kept apart (the calls of further series
// are counted in one series named [OtherSeries]), and a series without
// calls for an hour is dropped.
//
// # Alerts
//
// An [AlertRule] in [Config].Rules is either an error-rate rule ("more than
// 5% of the calls to /api/ai/chat failed over 5 minutes, out of at least 20
// calls") or a category rule ("at least one auth error over 15 minutes").
// A rule sends one [Firing] [Alert] when its condition starts to be met and
// one [Resolved] Alert when it stops. Each waits until the condition has
// been met, or not met, for the rule's Hold, so a rate that wavers around
// the threshold does not flap.
//
// Rules are evaluated as calls are recorded, with no goroutine of their
// own: Record evaluates the rules that count its call, and the first call
// of each bucket evaluates every rule, so a change that only successes
// cause shows up within a bucket. Without calls nothing is evaluated, so a
// rule whose window has emptied resolves at the next call, or at the next
// [Monitor.Evaluate] for a caller that runs one from a ticker.
//
// Alerts go to the [Config].OnAlert callbacks on a goroutine of the
// Monitor, through a bounded queue, so recording never waits for a
// callback. [LogAlerts] logs alerts, and a [Webhook] posts them as JSON
// from its own bounded queue, with a timeout and retries.
//
// # Concurrency
//
// The functions of this package and the methods of a Monitor and a Webhook
// are safe for concurrent use by multiple goroutines. [Monitor.Record] and
// [Monitor.RecordSuccess] call [Config].Clock and the [Config].Logger's
// handler from the calling goroutine, so those must be safe for concurrent
// use as well, as time.Now and the log/slog handlers are. The OnAlert
// callbacks run on one goroutine, one alert at a time.
package errmon
