package redislimit

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
)

// Policy selects the behaviour of a Limiter when Redis cannot decide,
// because the call failed, ran out of time, or was not made while the
// circuit breaker is open.
type Policy int

const (
	// FailOpen admits the request as if the key had no state: every rule
	// reports the Remaining and ResetAfter of a key at its full burst after
	// spending n. A request for more than a rule's burst is still rejected
	// with RetryAfter ratelimit.Never. It keeps the service up while Redis
	// is down, with no limit but the bursts.
	FailOpen Policy = iota

	// FailClosed rejects the request with a Decision, not an error, so that
	// ratelimit.Middleware responds with 429 whatever its options. Every rule
	// reports Allowed false, Remaining 0, and RetryAfter and ResetAfter of
	// UnavailableRetryAfter (or ratelimit.Never when the request can never
	// pass). A query (n of zero) is allowed, with Remaining 0.
	FailClosed

	// Fallback decides with in-memory limiters (ratelimit.NewMemory) for the
	// same rules, divided by the count set with WithReplicas, so that the
	// replicas together admit about what Redis would. Their state starts
	// empty and is not copied to Redis when it is back.
	Fallback

	// ReturnError returns an error that wraps ErrUnavailable and the cause.
	// ratelimit.Middleware then serves the request without a limit, or
	// responds with 503 when ratelimit.WithFailClosed is set.
	ReturnError
)

// String returns the policy's name, such as "fail-open".
func (p Policy) String() string {
	switch p {
	case FailOpen:
		return "fail-open"
	case FailClosed:
		return "fail-closed"
	case Fallback:
		return "fallback"
	case ReturnError:
		return "return-error"
	}
	return "unknown"
}

// UnavailableRetryAfter is the RetryAfter of a request that the FailClosed
// policy rejects. Redis is tried again on the next decision, or after the
// breaker's cool-down, so a client has nothing better to wait for.
const UnavailableRetryAfter = time.Second

var (
	// ErrUnavailable is returned, wrapped with its cause, when Redis could
	// not decide and the policy is ReturnError, and by Settle when Redis
	// could not settle.
	ErrUnavailable = errors.New("redis rate limiter unavailable")

	// ErrBreakerOpen is the cause when a call was not made because the
	// circuit breaker is open.
	ErrBreakerOpen = errors.New("circuit breaker open")
)

// Failures counts what a Limiter did without Redis since it was created.
// It is a plain value.
type Failures struct {
	// Errors counts calls to Redis that failed, including timeouts. Calls
	// whose own context the caller canceled are not counted.
	Errors int64
	// Timeouts counts the calls among Errors that ran out of the time set
	// by WithTimeout or by the caller's deadline.
	Timeouts int64
	// Skipped counts calls that were not made because the circuit breaker
	// was open.
	Skipped int64
	// BreakerOpenings counts the times the circuit breaker opened.
	BreakerOpenings int64
	// Degraded counts the calls to decide, queries included, that failed or
	// were skipped, so that the failure policy decided instead of Redis. A
	// ReturnError policy turns each of them into an error.
	Degraded int64
	// LostSettlements counts settlements that did not reach Redis. Under
	// the Fallback policy they were applied to the in-memory limiters.
	LostSettlements int64
}

// breaker is a circuit breaker with one probe at a time. Times are
// nanoseconds since the limiter was created, read from the monotonic clock.
type breaker struct {
	threshold int64
	cooldown  int64

	// failures counts failed calls in a row.
	failures atomic.Int64

	// openUntil is when the next probe may start, or zero while the
	// breaker is closed.
	openUntil atomic.Int64
}

// allow reports whether a call may go to Redis at time now. After the
// cool-down exactly one caller gets true, and the next probe waits for
// another cool-down unless a success closes the breaker first.
func (b *breaker) allow(now int64) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now < until {
		return false
	}
	return b.openUntil.CompareAndSwap(until, now+b.cooldown)
}

// success records a call that Redis completed and reports whether it closed
// an open breaker.
func (b *breaker) success() bool {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	return b.openUntil.Load() != 0 && b.openUntil.Swap(0) != 0
}

// failure records a failed call at time now and reports whether it opened
// the breaker.
func (b *breaker) failure(now int64) bool {
	if b.threshold == 0 {
		return false
	}
	if b.failures.Add(1) < b.threshold {
		return false
	}
	return b.openUntil.CompareAndSwap(0, now+b.cooldown)
}

// failOpenDecision returns the FailOpen decision of one rule for n units,
// already mapped by unitsFor.
func (r *rate) failOpenDecision(n int64) ratelimit.Decision {
	return r.decide(span{}, n)
}

// failClosedDecision returns the FailClosed decision of one rule for n
// units, already mapped by unitsFor.
func (r *rate) failClosedDecision(n int64) ratelimit.Decision {
	d := ratelimit.Decision{Rule: r.name, Limit: r.limit}
	switch {
	case n == 0:
		d.Allowed = true
	case r.never(n):
		d.RetryAfter = ratelimit.Never
	default:
		d.RetryAfter = UnavailableRetryAfter
		d.ResetAfter = UnavailableRetryAfter
	}
	return d
}

// DegradedSuffix ends the rule names in the statistics of degraded
// decisions, such as "api:degraded".
const DegradedSuffix = ":degraded"

// degradedStats is the ratelimit.StatsReporter that Limiter.Degraded
// returns.
type degradedStats struct {
	l *Limiter
}

// Stats returns one entry per rule, named after the rule with
// DegradedSuffix.
func (s degradedStats) Stats() []ratelimit.RuleStats {
	stats := make([]ratelimit.RuleStats, len(s.l.rates))
	for i := range s.l.rates {
		c := &s.l.counts[i]
		stats[i] = ratelimit.RuleStats{
			Rule:     s.l.rates[i].name + DegradedSuffix,
			Allowed:  c.degradedAllowed.Load(),
			Rejected: c.degradedRejected.Load(),
		}
	}
	return stats
}
