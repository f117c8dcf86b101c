package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Never is the RetryAfter of a request that can never pass, such as one for
// more units than the rule's burst. It is the largest time.Duration.
const Never time.Duration = math.MaxInt64

// Rule is a rate: Limit units per Window, with bursts of up to Burst units.
//
// A unit is whatever the caller counts: one request, or one token for a
// tokens-per-minute rule. The zero Burst means Burst equals Limit.
type Rule struct {
	// Name identifies the rule in decisions, headers and statistics.
	Name string
	// Limit is the number of units that refill over one Window.
	Limit int64
	// Window is the period over which Limit units refill.
	Window time.Duration
	// Burst is the maximum number of units that can be spent at once after
	// an idle period. Zero means Limit.
	Burst int64
}

// Validate reports whether the rule can be used: a positive Limit and Window,
// a Burst that is zero or positive, and a refill interval of at least one
// nanosecond per unit.
func (r Rule) Validate() error {
	switch {
	case r.Limit <= 0:
		return fmt.Errorf("ratelimit: rule %q: limit %d must be positive", r.Name, r.Limit)
	case r.Window <= 0:
		return fmt.Errorf("ratelimit: rule %q: window %v must be positive", r.Name, r.Window)
	case r.Burst < 0:
		return fmt.Errorf("ratelimit: rule %q: burst %d must not be negative", r.Name, r.Burst)
	case int64(r.Window) < r.Limit:
		return fmt.Errorf("ratelimit: rule %q: %d units per %v is finer than one nanosecond per unit", r.Name, r.Limit, r.Window)
	}
	return nil
}

// burst returns Burst, or Limit when Burst is zero.
func (r Rule) burst() int64 {
	if r.Burst == 0 {
		return r.Limit
	}
	return r.Burst
}

// Presets for the three kinds of routes an AI service usually has. Each is a
// per-client request rule; copy one and change Limit or Window to tune it.
var (
	// APIRule admits 100 requests per minute: ordinary API calls.
	APIRule = Rule{Name: "api", Limit: 100, Window: time.Minute}
	// AgentRule admits 20 requests per minute: agent runs, which chain
	// several provider calls each.
	AgentRule = Rule{Name: "agent", Limit: 20, Window: time.Minute}
	// StreamRule admits 50 requests per minute: streaming sessions.
	StreamRule = Rule{Name: "stream", Limit: 50, Window: time.Minute}
)

// Decision is the outcome of one Allow call.
//
// No duration in a Decision is negative, and Remaining is never negative.
type Decision struct {
	// Allowed is true when the units were spent.
	Allowed bool
	// Rule is the name of the rule that decided. For a composite limiter it
	// is the most restrictive rule.
	Rule string
	// Limit is the rule's Limit, in units per window.
	Limit int64
	// Remaining is the number of units that could be spent right now after
	// this decision, between 0 and Limit.
	Remaining int64
	// ResetAfter is the time until the key is back to its full burst.
	ResetAfter time.Duration
	// RetryAfter is zero when Allowed, the wait until the same request
	// would pass when rejected, and Never when it can never pass.
	RetryAfter time.Duration
}

// Limiter decides whether a key may spend n units now.
//
// Implementations must be safe for concurrent use. A rejected request spends
// nothing. An n of zero should spend nothing and report the key's current
// state, and a negative n should return an error. The error is non-nil only
// when the limiter could not decide, for example because its backing store is
// unreachable. The Decision is then meaningless, and the caller chooses
// whether to fail open or closed.
type Limiter interface {
	Allow(ctx context.Context, key string, n int64) (Decision, error)
}

// RuleStats counts the decisions made under one rule since the limiter was
// created.
type RuleStats struct {
	// Rule is the rule's Name.
	Rule string
	// Allowed counts requests that spent units.
	Allowed int64
	// Rejected counts requests that this rule rejected.
	Rejected int64
}

// StatsReporter is implemented by limiters that count their decisions, for
// reports such as the rate_limits section of the analytics JSON.
type StatsReporter interface {
	// Stats returns one entry per rule; it must be safe for concurrent use.
	Stats() []RuleStats
}

// Settler is implemented by limiters that can correct a spend after the
// fact, for rules whose real cost is known only when the request is done,
// such as tokens per minute.
//
// Settle is called with the units that Allow spent (reserved) and the units
// the request really used. Unused units go back to the key, but never past
// its full burst. Extra units are charged even past the burst, so the key's
// next requests wait. Settle with used of zero refunds a request.
// Implementations must be safe for concurrent use and return an error for
// negative counts.
type Settler interface {
	Settle(ctx context.Context, key string, reserved, used int64) error
}

// RuleLister is implemented by limiters that can list the rules they
// enforce. Middleware uses it to send the RateLimit-Policy field.
type RuleLister interface {
	// Rules returns the rules in the order the limiter checks them. The
	// caller may keep and change the returned slice.
	Rules() []Rule
}

// MultiLimiter is implemented by limiters that check several rules for each
// request, such as the one All returns, so that a caller can report each
// rule's decision, as Middleware does in the RateLimit field.
type MultiLimiter interface {
	Limiter

	// AllowRules decides like Allow, appends one Decision per rule it
	// checked to dst, in rule order, and returns the extended slice.
	// Combine of the appended decisions is what Allow returns. A rule that
	// would have admitted a request that another rule rejected reports
	// Allowed with the Remaining it still has, because nothing was spent.
	AllowRules(ctx context.Context, key string, n int64, dst []Decision) ([]Decision, error)
}
