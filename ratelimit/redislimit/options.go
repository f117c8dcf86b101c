package redislimit

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds one decision's call to Redis unless WithTimeout
	// sets another bound.
	DefaultTimeout = 50 * time.Millisecond

	// DefaultBreakerFailures is the number of failed calls in a row that
	// opens the circuit breaker unless WithBreaker sets another count.
	DefaultBreakerFailures = 3

	// DefaultBreakerCooldown is how long an open circuit breaker keeps
	// decisions away from Redis unless WithBreaker sets another time.
	DefaultBreakerCooldown = 250 * time.Millisecond
)

// Option configures New.
type Option func(*config)

type config struct {
	prefix          string
	timeout         time.Duration
	policy          Policy
	replicas        int
	breakerFailures int
	breakerCooldown time.Duration
	requestRules    []string
	logger          *slog.Logger
}

func defaultConfig() config {
	return config{
		prefix:          DefaultPrefix,
		timeout:         DefaultTimeout,
		policy:          FailOpen,
		replicas:        1,
		breakerFailures: DefaultBreakerFailures,
		breakerCooldown: DefaultBreakerCooldown,
		logger:          slog.New(slog.DiscardHandler),
	}
}

// WithPrefix returns an option that starts every Redis key with prefix
// (default DefaultPrefix). Limiters that share a Redis server and a prefix
// share the state of rules with the same name. It panics if prefix contains
// '{' or '}', which would change the Redis Cluster hash tag of the keys.
func WithPrefix(prefix string) Option {
	if strings.ContainsAny(prefix, "{}") {
		panic(fmt.Sprintf("redislimit: WithPrefix(%q): a prefix must not contain '{' or '}'", prefix))
	}
	return func(c *config) { c.prefix = prefix }
}

// WithTimeout returns an option that bounds each call to Redis, for a
// decision or a settlement, by d (default DefaultTimeout). A call that runs
// out of time counts as a failure, and the failure policy decides. A
// deadline in the caller's context that comes sooner still applies. Zero
// leaves only the caller's deadline and the client's own timeouts. It panics
// if d is negative.
//
// A client created with ContextTimeoutEnabled ends the call at the deadline.
// Other go-redis clients ignore context deadlines on the connection, so the
// limiter then waits for the call in a goroutine and stops waiting at the
// deadline. The call goes on until the client's own ReadTimeout, holding a
// connection, and costs a few microseconds more per decision.
func WithTimeout(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("redislimit: WithTimeout(%v): the timeout must not be negative", d))
	}
	return func(c *config) { c.timeout = d }
}

// WithPolicy returns an option that sets what the limiter does when Redis
// cannot decide (default FailOpen). It panics if p is not one of the
// Policy constants.
func WithPolicy(p Policy) Option {
	if p < FailOpen || p > ReturnError {
		panic(fmt.Sprintf("redislimit: WithPolicy(%d): unknown policy", int(p)))
	}
	return func(c *config) { c.policy = p }
}

// WithReplicas returns an option that sets how many processes share the
// limits (default 1). Under the Fallback policy each process limits on its
// own, so its in-memory rules get Limit/n and Burst/n units, rounded down
// but at least one. It panics if n < 1.
func WithReplicas(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("redislimit: WithReplicas(%d): the count must be at least 1", n))
	}
	return func(c *config) { c.replicas = n }
}

// WithBreaker returns an option that opens the circuit breaker after
// failures calls to Redis in a row have failed (default
// DefaultBreakerFailures). While it is open, decisions and settlements do
// not call Redis for cooldown (default DefaultBreakerCooldown) and follow
// the failure policy at once instead of waiting for the timeout. After the
// cool-down one call tries Redis again: success closes the breaker, failure
// keeps it open for another cool-down. A failures of zero disables the
// breaker, so every decision tries Redis. It panics if failures is
// negative, or if failures is positive and cooldown is not.
func WithBreaker(failures int, cooldown time.Duration) Option {
	if failures < 0 || (failures > 0 && cooldown <= 0) {
		panic(fmt.Sprintf("redislimit: WithBreaker(%d, %v): want failures >= 0 and a positive cool-down", failures, cooldown))
	}
	return func(c *config) {
		c.breakerFailures = failures
		c.breakerCooldown = cooldown
	}
}

// WithRequestRules returns an option that makes the named rules count
// requests instead of units: any request for n > 0 units costs them one
// unit, and a query (n of zero) costs nothing, as ratelimit.PerRequest does.
// It lets a request-count rule and a token rule share one limiter, and so
// one atomic script, while every Allow carries the token estimate. New
// panics if a name matches no rule.
func WithRequestRules(names ...string) Option {
	names = append([]string(nil), names...)
	return func(c *config) { c.requestRules = append(c.requestRules, names...) }
}

// WithLogger returns an option that logs when the circuit breaker opens and
// when it closes because Redis replied again (default: no logging). Each failed call is
// counted in Failures but not logged.
func WithLogger(logger *slog.Logger) Option {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(c *config) { c.logger = logger }
}
