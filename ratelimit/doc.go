// Package ratelimit limits how many units (requests, or tokens for a
// tokens-per-minute rule) each client may spend on calls to AI providers,
// and reports its decisions as HTTP rate-limit header fields.
//
// # Rules and decisions
//
// A [Rule] admits Limit units per Window, with bursts of up to Burst units.
// [APIRule], [AgentRule] and [StreamRule] are presets for the usual routes.
// A [Limiter] turns a request for n units under a key into a [Decision]: was
// it allowed, how many units remain, and how long to wait before retrying.
// A rejected request spends nothing, and a request for more than the burst
// is rejected with RetryAfter [Never].
//
// # The in-memory limiter
//
// [NewMemory] returns a [Memory] limiter that runs the generic cell rate
// algorithm (GCRA): one timestamp per key, in exact integer arithmetic, and
// no background goroutine. A key that has fully refilled needs no state, so
// it is dropped as new keys arrive or on [Memory.Sweep]. Memory follows the
// number of recently active keys, and a cap bounds it.
// For token rules, charge an estimate before the call and correct it with
// [Memory.Settle] once the real count is known.
//
// # Combining rules
//
// [All] checks several limiters for each request and spends only when every
// one admits it; a rejection by one takes nothing from the others.
// [PerRequest] lets a request-count rule join a token rule in one [All].
// [Combine] picks the decision to report for several rules.
//
// # HTTP
//
// [Middleware] limits an http.Handler. It sets X-RateLimit-Limit,
// X-RateLimit-Remaining, X-RateLimit-Reset and, on 429 responses,
// Retry-After, as well as the RateLimit and RateLimit-Policy fields of the
// IETF draft "RateLimit header fields for HTTP", with one item per rule.
// [SetHeaders], [FormatPolicy] and [FormatRateLimit] write the same fields
// for handlers that decide on their own.
//
// # Keys
//
// A [KeyFunc] returns the key that a request spends under, such as its
// client or its user. [KeyByIP] uses the client
// address, believing X-Forwarded-For or Forwarded only from proxies
// configured with [TrustProxies]. [KeyByHeader] uses a hash of a header such
// as an API key, and [KeyFromContext] uses a key that earlier middleware
// stored with [WithKey].
//
// # Concurrency
//
// Every limiter, key function, middleware and counter in this package is
// safe for concurrent use by multiple goroutines. Rule, Decision, RuleStats
// and Reservation are plain values.
package ratelimit
