package redislimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aimeter/aimeter/ratelimit"
)

// Keys of the attributes that a Limiter logs.
const (
	logKeyError    = "error"
	logKeyCooldown = "cooldown"
	logKeyPolicy   = "policy"
)

// Limiter is a ratelimit.Limiter whose state lives in Redis, so that every
// replica of a service shares one limit per key. It checks all of its rules
// for a key in one Lua script: a request is admitted only when every rule
// admits it, and a rejection by any rule spends nothing on the others.
//
// Limiter implements ratelimit.MultiLimiter, ratelimit.Settler,
// ratelimit.RuleLister and ratelimit.StatsReporter. Use New to make one,
// because the zero value is not usable. A Limiter is safe for concurrent
// use.
type Limiter struct {
	client redis.UniversalClient

	// honoursDeadlines is set when the client's own calls end at the
	// context's deadline.
	honoursDeadlines bool

	rules []ratelimit.Rule
	rates []rate
	keys  keyLayout

	// scriptSource and scriptHash are the Lua script for the rules and
	// its SHA-1 digest.
	scriptSource, scriptHash string

	timeout time.Duration
	policy  Policy

	// fallback decides under the Fallback policy. It is nil under the
	// others.
	fallback ratelimit.MultiLimiter

	breaker breaker

	// epoch is the breaker's time zero, read from the monotonic clock.
	epoch time.Time

	logger *slog.Logger

	// counts has one entry per rule.
	counts []ruleCounts

	errors, timeouts, skipped, openings, degraded, lostSettlements atomic.Int64
}

// ruleCounts counts one rule's decisions.
type ruleCounts struct {
	// allowed and rejected count the decisions that Redis made.
	allowed, rejected atomic.Int64
	// degradedAllowed and degradedRejected count the decisions that the
	// failure policy made.
	degradedAllowed, degradedRejected atomic.Int64
}

var (
	_ ratelimit.MultiLimiter  = (*Limiter)(nil)
	_ ratelimit.Settler       = (*Limiter)(nil)
	_ ratelimit.RuleLister    = (*Limiter)(nil)
	_ ratelimit.StatsReporter = (*Limiter)(nil)
)

// New returns a Limiter that enforces rules through client. Burst defaults
// to Limit, as in ratelimit.Rule. The client may be a *redis.Client, a
// *redis.ClusterClient, a *redis.Ring or a failover client, and the
// limiter does not close it. The script reads the server's clock before it
// writes, which needs Redis 5 or later, where scripts replicate their
// effects.
//
// New panics on a programmer mistake: a nil client, no rules, a rule whose
// Validate returns an error, two rules with the same Name (they would share
// a Redis key), or a name passed to WithRequestRules that no rule has.
func New(client redis.UniversalClient, rules []ratelimit.Rule, opts ...Option) *Limiter {
	if client == nil {
		panic("redislimit: New: nil client")
	}
	if len(rules) == 0 {
		panic("redislimit: New: no rules")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}

	perRequest := make(map[string]bool, len(cfg.requestRules))
	for _, name := range cfg.requestRules {
		perRequest[name] = true
	}
	names := make([]string, len(rules))
	seen := make(map[string]bool, len(rules))
	l := &Limiter{
		client:           client,
		honoursDeadlines: honoursDeadlines(client),
		rules:            append([]ratelimit.Rule(nil), rules...),
		rates:            make([]rate, len(rules)),
		timeout:          cfg.timeout,
		policy:           cfg.policy,
		breaker:          breaker{threshold: int64(cfg.breakerFailures), cooldown: int64(cfg.breakerCooldown)},
		epoch:            time.Now(),
		logger:           cfg.logger,
		counts:           make([]ruleCounts, len(rules)),
	}
	for i, rule := range rules {
		if err := rule.Validate(); err != nil {
			panic(err)
		}
		if seen[rule.Name] {
			panic(fmt.Sprintf("redislimit: New: two rules named %q", rule.Name))
		}
		seen[rule.Name] = true
		names[i] = rule.Name
		l.rates[i] = newRate(rule, perRequest[rule.Name])
	}
	for name := range perRequest {
		if !seen[name] {
			panic(fmt.Sprintf("redislimit: WithRequestRules: no rule named %q", name))
		}
	}
	l.keys = newKeyLayout(cfg.prefix, names)
	l.scriptSource, l.scriptHash = newScript(l.rates)
	if l.policy == Fallback {
		l.fallback = newFallback(rules, perRequest, cfg.replicas)
	}
	return l
}

// newFallback returns in-memory limiters for rules, each divided by
// replicas, that decide together.
func newFallback(rules []ratelimit.Rule, perRequest map[string]bool, replicas int) ratelimit.MultiLimiter {
	limiters := make([]ratelimit.Limiter, len(rules))
	for i, rule := range rules {
		rule.Limit = max(rule.Limit/int64(replicas), 1)
		if rule.Burst > 0 {
			rule.Burst = max(rule.Burst/int64(replicas), 1)
		}
		var l ratelimit.Limiter = ratelimit.NewMemory(rule)
		if perRequest[rule.Name] {
			l = ratelimit.PerRequest(l)
		}
		limiters[i] = l
	}
	// All returns a composite that implements MultiLimiter and Settler.
	return ratelimit.All(limiters...).(ratelimit.MultiLimiter)
}

// Rules returns the limiter's rules in the order it checks them. The
// caller may keep and change the returned slice.
func (l *Limiter) Rules() []ratelimit.Rule {
	return append([]ratelimit.Rule(nil), l.rules...)
}

// Stats returns one entry per rule with the decisions that Redis made:
// Allowed counts the requests admitted, and Rejected counts the requests
// that this rule rejected. Queries (n of zero) are not counted, and neither
// are the decisions of the failure policy, which Degraded reports.
func (l *Limiter) Stats() []ratelimit.RuleStats {
	stats := make([]ratelimit.RuleStats, len(l.rates))
	for i := range l.rates {
		stats[i] = ratelimit.RuleStats{
			Rule:     l.rates[i].name,
			Allowed:  l.counts[i].allowed.Load(),
			Rejected: l.counts[i].rejected.Load(),
		}
	}
	return stats
}

// Degraded returns a ratelimit.StatsReporter of the decisions that the
// failure policy made while Redis could not decide, counted as Stats counts
// those of Redis, with one entry per rule named after the rule with
// DegradedSuffix. Pass it to analytics beside the limiter to show both.
func (l *Limiter) Degraded() ratelimit.StatsReporter {
	return degradedStats{l: l}
}

// Failures returns the counts of what the limiter did without Redis.
func (l *Limiter) Failures() Failures {
	return Failures{
		Errors:          l.errors.Load(),
		Timeouts:        l.timeouts.Load(),
		Skipped:         l.skipped.Load(),
		BreakerOpenings: l.openings.Load(),
		Degraded:        l.degraded.Load(),
		LostSettlements: l.lostSettlements.Load(),
	}
}

// Allow decides whether key may spend n units under every rule, spends them
// if so, and returns ratelimit.Combine of the rules' decisions: the most
// restrictive one.
//
// An n of zero is a query that spends nothing. A request for more units
// than a rule's burst is rejected with RetryAfter ratelimit.Never, and
// nothing is written. A negative n returns an error wrapping
// ratelimit.ErrNegativeUnits. When Redis cannot decide, the failure policy
// set with WithPolicy does, and only ReturnError returns an error then.
// Allow also returns an error when the caller's context ends before Redis
// replies.
func (l *Limiter) Allow(ctx context.Context, key string, n int64) (ratelimit.Decision, error) {
	var buf [smallRules]ratelimit.Decision
	ds, err := l.allowRules(ctx, key, n, 0, buf[:0])
	if err != nil {
		return ratelimit.Decision{}, err
	}
	return ratelimit.Combine(ds), nil
}

// AllowRules decides like Allow and appends one Decision per rule to dst,
// in rule order. A rule that would have admitted a request that another
// rule rejected reports Allowed with the Remaining it still has, because
// nothing was spent.
func (l *Limiter) AllowRules(ctx context.Context, key string, n int64, dst []ratelimit.Decision) ([]ratelimit.Decision, error) {
	return l.allowRules(ctx, key, n, 0, dst)
}

// Settle corrects the units charged to key under every rule once the real
// cost of a request is known: reserved is what Allow spent, used is what
// the request really cost (see ratelimit.Settler). Rules set with
// WithRequestRules count requests, so settling a token estimate leaves them
// alone.
//
// It returns an error wrapping ratelimit.ErrNegativeUnits when a count is
// negative. When Redis cannot settle, the correction is lost and counted in
// Failures, and Settle returns an error wrapping ErrUnavailable, except
// under the Fallback policy, which settles the in-memory limiters instead.
func (l *Limiter) Settle(ctx context.Context, key string, reserved, used int64) error {
	return l.settleAt(ctx, key, reserved, used, 0)
}

// allowRules is AllowRules at time now, in microseconds since the Unix
// epoch, or at the Redis server's time when now is zero. Tests pass a time;
// every exported method passes zero.
func (l *Limiter) allowRules(ctx context.Context, key string, n, now int64, dst []ratelimit.Decision) ([]ratelimit.Decision, error) {
	if n < 0 {
		return dst, fmt.Errorf("redislimit: allow %d units: %w", n, ratelimit.ErrNegativeUnits)
	}

	// Each rule gets the span of its units, or -1 when it can never admit
	// them.
	c := l.newCall(key, modeAllow, now)
	for i := range l.rates {
		r := &l.rates[i]
		if u := r.unitsFor(n); r.never(u) {
			c.setNever(i)
		} else {
			c.setUnits(i, r.units(u))
		}
	}

	if err := l.call(ctx, c); err != nil {
		if ctx.Err() != nil {
			return dst, fmt.Errorf("redislimit: allow: %w", ctx.Err())
		}
		return l.degrade(ctx, key, n, dst, err)
	}
	return l.decisions(c, n, dst), nil
}

// decisions turns the reply of a decision into one decision per rule,
// appended to dst, and counts them.
func (l *Limiter) decisions(c *call, n int64, dst []ratelimit.Decision) []ratelimit.Decision {
	admitted := c.admitted()
	for i := range l.rates {
		r := &l.rates[i]
		before := c.offset(i)
		d := r.decide(before, r.unitsFor(n))
		if !admitted && d.Allowed {
			// The rule would have admitted the request, but nothing was
			// spent, so it reports the state it is still in.
			d = r.hold(before)
		}
		dst = append(dst, d)

		switch {
		case n == 0:
		case admitted:
			l.counts[i].allowed.Add(1)
		case !d.Allowed:
			l.counts[i].rejected.Add(1)
		}
	}
	return dst
}

// degrade decides under the failure policy after Redis failed with cause,
// appends one decision per rule to dst, and counts them.
func (l *Limiter) degrade(ctx context.Context, key string, n int64, dst []ratelimit.Decision, cause error) ([]ratelimit.Decision, error) {
	l.degraded.Add(1)
	start := len(dst)

	switch l.policy {
	case ReturnError:
		return dst, fmt.Errorf("redislimit: allow: %w: %w", ErrUnavailable, cause)

	case Fallback:
		var err error
		dst, err = l.fallback.AllowRules(ctx, key, n, dst)
		if err != nil {
			// The in-memory limiters fail only for a negative n, which
			// allowRules has already rejected.
			return dst[:start], fmt.Errorf("redislimit: allow in memory: %w", err)
		}

	case FailClosed:
		for i := range l.rates {
			r := &l.rates[i]
			dst = append(dst, r.failClosedDecision(r.unitsFor(n)))
		}

	default:
		admitted := true
		for i := range l.rates {
			r := &l.rates[i]
			d := r.failOpenDecision(r.unitsFor(n))
			admitted = admitted && d.Allowed
			dst = append(dst, d)
		}
		if !admitted {
			// A rule rejected units it can never admit, so the others
			// report a key at its full burst, with nothing spent.
			for i := range l.rates {
				if dst[start+i].Allowed {
					dst[start+i] = l.rates[i].hold(span{})
				}
			}
		}
	}

	if n > 0 {
		l.countDegraded(dst[start:])
	}
	return dst, nil
}

// countDegraded counts one degraded decision per rule.
func (l *Limiter) countDegraded(ds []ratelimit.Decision) {
	admitted := true
	for _, d := range ds {
		admitted = admitted && d.Allowed
	}
	for i, d := range ds {
		switch {
		case admitted:
			l.counts[i].degradedAllowed.Add(1)
		case !d.Allowed:
			l.counts[i].degradedRejected.Add(1)
		}
	}
}

// settleAt is Settle at time now, in microseconds since the Unix epoch, or
// at the Redis server's time when now is zero.
func (l *Limiter) settleAt(ctx context.Context, key string, reserved, used, now int64) error {
	if reserved < 0 || used < 0 {
		return fmt.Errorf("redislimit: settle %d reserved, %d used units: %w", reserved, used, ratelimit.ErrNegativeUnits)
	}
	if reserved == used {
		return nil
	}

	// Each rule gets the span of the units to charge or refund. The
	// direction is the same for all of them, because unitsFor keeps the
	// order of counts.
	mode := modeCharge
	if used < reserved {
		mode = modeRefund
	}
	c := l.newCall(key, mode, now)
	changed := false
	for i := range l.rates {
		r := &l.rates[i]
		diff := r.unitsFor(used) - r.unitsFor(reserved)
		if diff < 0 {
			diff = -diff
		}
		c.setUnits(i, r.units(diff))
		changed = changed || diff != 0
	}
	if !changed {
		return nil
	}

	err := l.call(ctx, c)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("redislimit: settle: %w", ctx.Err())
	}
	l.lostSettlements.Add(1)
	if l.policy == Fallback {
		// The composite of in-memory limiters implements Settler.
		return l.fallback.(ratelimit.Settler).Settle(ctx, key, reserved, used)
	}
	return fmt.Errorf("redislimit: settle: %w: %w", ErrUnavailable, err)
}

// call runs c on Redis within the limiter's timeout, unless the circuit
// breaker is open, and decodes the reply into c. It counts failures and
// moves the breaker, except when the caller's context ended first, which is
// no failure of Redis.
func (l *Limiter) call(ctx context.Context, c *call) error {
	if !l.breaker.allow(l.sinceEpoch()) {
		l.skipped.Add(1)
		return ErrBreakerOpen
	}

	callCtx := ctx
	if l.timeout > 0 {
		if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > l.timeout {
			var cancel context.CancelFunc
			callCtx, cancel = context.WithTimeout(ctx, l.timeout)
			defer cancel()
		}
	}

	err := l.run(callCtx, c)
	if err == nil {
		if l.breaker.success() {
			l.logger.Info("redis rate limiter: circuit breaker closed because redis replied again")
		}
		return nil
	}
	if ctx.Err() != nil {
		return err
	}

	l.errors.Add(1)
	if isTimeout(err) {
		l.timeouts.Add(1)
	}
	if l.breaker.failure(l.sinceEpoch()) {
		l.openings.Add(1)
		l.logger.Warn("redis rate limiter: circuit breaker opened after failed calls to redis",
			logKeyError, err,
			logKeyCooldown, time.Duration(l.breaker.cooldown),
			logKeyPolicy, l.policy.String())
	}
	return err
}

// sinceEpoch returns the nanoseconds since the limiter was created.
func (l *Limiter) sinceEpoch() int64 {
	return int64(time.Since(l.epoch))
}
