// Package budget enforces spend and token budgets per key around calls to
// AI providers. It reserves an estimate before each call and rejects the
// call when the estimate does not fit. Once the call ends, it settles the
// reservation with the call's real usage and cost.
//
// # Budgets and windows
//
// A [Budget] allows each key (a user, a tenant, a hash of an API key) a
// Limit per [Window]: nano-dollars for a [Spend] budget, tokens for a
// [Tokens] budget. A window is a calendar hour, day or month in a time
// zone ([Hourly], [Daily], [Monthly]), which resets at the boundary in that
// zone, or a rolling duration ([Rolling]) counted in 60 buckets. [USD]
// turns dollars into nano-dollars.
//
// # Reserving and settling
//
// A [Guard] enforces several budgets together. [Guard.Reserve] estimates a
// [Request] and reserves the estimate under every budget, or under none.
// The estimate counts the input tokens with an [Estimator]: exactly with
// the tokenizer module for OpenAI models, or by [CharEstimator]'s four
// bytes per token. It adds max_tokens, max_completion_tokens or
// Config.OutputCeiling for the output, and prices both with the usage
// price table.
// A reservation that does not fit returns an [*ExceededError] with the
// budget, the limit, what remains and when the window resets.
//
// [Reservation.Settle] replaces the estimate with what the call's
// usage.Record reports: its CostNanos and its tokens. It refunds what
// the estimate over-reserved and charges what it under-reserved, so the
// ledger sums the recorded costs exactly. A failed call is charged its
// real usage when the record has it and nothing otherwise; a successful
// call with unknown usage keeps its estimate. Only the first settlement of
// a reservation counts.
//
// [TrackCall] and [TrackChatStream] do both around usage.TrackCall and
// usage.TrackChatStream. The guard is a usage.Observer: added to the
// tracker with usage.WithObserver, it settles each reservation from the
// record the tracker writes, exactly once, whether the call succeeds,
// fails, is canceled, panics, or is a stream closed early.
//
// # Ledgers
//
// A [Ledger] stores what each key spent and holds in reserve. [Memory]
// keeps it in the process, sharded and bounded; the redisbudget module
// keeps it in Redis with one atomic script per operation, for several
// processes to share.
//
// # Alerts and reports
//
// A budget's Thresholds (such as 50, 80 and 100 percent) call
// Config.OnAlert with an [Alert] once per key, window and threshold, when
// the settled spend reaches them. [Guard.Status] returns a key's
// [BudgetStatus] per budget, and [Guard.Report] those of the keys recently
// seen, for the analytics JSON.
//
// # HTTP
//
// [Guard.Middleware] reserves before a handler runs, and
// [Guard.WriteError] writes the response to a rejection: status 402
// (spend) or 429 (tokens), X-Budget-* header fields, Retry-After and a
// JSON body.
//
// # Concurrency
//
// Guard, Memory, Reservation and the functions of this package are safe
// for concurrent use. Budget, Window, Request and the other structs are
// plain values.
package budget
