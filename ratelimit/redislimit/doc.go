// Package redislimit is a rate limiter whose state lives in Redis, so that
// every replica of a service shares one limit per client. It implements the
// interfaces of package ratelimit and decides as ratelimit.NewMemory does.
//
// # Decisions
//
// [New] takes a go-redis client and one or more ratelimit.Rule values. Each
// decision is one EVALSHA of one Lua script, which checks every rule for the
// caller's key and spends n units on all of them only when all of them admit
// the request. The script reads the Redis server's clock, so the clocks of
// the service's own processes do not matter. After a Redis failover, the
// new primary's clock takes over: if it is behind, limits get stricter by
// the difference for a while, and if it is ahead, stored states refill early
// by the difference.
//
// The script runs the generic cell rate algorithm (GCRA) in exact integer
// arithmetic at the microsecond resolution of the Redis TIME command: the
// emission interval Window/Limit is kept as a fraction, so 7 units per
// second do not drift. At the same whole-microsecond instants, decisions
// equal those of the in-memory limiter field for field, which a test checks
// on random requests and settlements. Two kinds of rules differ slightly.
// Spans are capped at 2^52 µs (about 142 years, where the in-memory limiter
// caps at 146) so that Lua's doubles hold every value exactly. A rule whose
// interval needs a denominator of 2^52 or more (over 4.5·10^12 units per
// window) has its interval rounded up by less than 2^-40 µs per unit.
//
// # Keys
//
// Every rule has one Redis key per caller:
//
//	PREFIX{HASH}:RULE
//
// PREFIX is [DefaultPrefix] unless [WithPrefix] sets another, HASH is the
// first 128 bits of the SHA-256 digest of the caller's key in hex, so no
// API key or other secret becomes a Redis key, and RULE is the rule's Name.
// The braces make HASH the Redis Cluster hash tag, so all of one caller's
// keys share a slot. A key that can take few values, such as an IPv4
// address, can be recovered from its digest by trying them all.
//
// Each key contains one timestamp, as 16 bytes of binary doubles, and
// expires when the caller is back to its full burst. So every key that the
// limiter writes has a TTL of at least one millisecond, and a settlement
// that refills a key fully deletes it.
//
// # When Redis fails
//
// Each call to Redis has a deadline ([WithTimeout], [DefaultTimeout]),
// which costs least with a client created with ContextTimeoutEnabled.
// When a call fails, the [Policy] set with [WithPolicy] decides: [FailOpen]
// (the default) admits, [FailClosed] rejects, [Fallback] decides with
// in-memory limiters, and [ReturnError] returns an error for the caller,
// such as ratelimit.Middleware, to handle. After a few failures in a row a
// circuit breaker ([WithBreaker]) stops calling Redis for a short cool-down,
// so that decisions do not each wait for the timeout. Then it tries again,
// so no restart is needed when Redis comes back. [Limiter.Failures] counts
// the failures, and [Limiter.Degraded] reports the decisions made without
// Redis in the form that analytics reads.
//
// # Concurrency
//
// A [Limiter] is safe for concurrent use by multiple goroutines. [Failures]
// is a plain value.
package redislimit
