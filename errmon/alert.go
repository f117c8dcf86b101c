package errmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultAlertQueue is the default of Config.AlertQueue.
const DefaultAlertQueue = 64

// Errors of alert rules and webhooks.
var (
	// ErrInvalidRule is returned by AlertRule.Validate, wrapped with the
	// rule's name and the reason.
	ErrInvalidRule = errors.New("invalid alert rule")
	// ErrInvalidWebhookURL is returned by WebhookAlerts, wrapped with the
	// reason, for a URL that is not an absolute http or https URL.
	ErrInvalidWebhookURL = errors.New("invalid webhook URL")
)

// AlertRule is a condition on the calls of a window. The rule fires an Alert
// when the condition starts to be met and resolves it when it stops. A rule
// is either an error-rate rule (ErrorRate set) or a category rule (Category
// set).
//
// The condition of an error-rate rule is met when the window has at least
// MinCalls calls and more than ErrorRate of them failed, counting failures
// as Rate.Errors does. For example, "more than 5% of the calls to
// /api/ai/chat failed in the last 5 minutes, out of at least 20":
//
//	AlertRule{Name: "chat errors", Filter: CallInfo{Endpoint: "/api/ai/chat"},
//		Window: 5 * time.Minute, ErrorRate: 0.05, MinCalls: 20}
//
// The condition of a category rule is met when the window has at least
// MinErrors calls of Category. For example, "any auth error in the last 15
// minutes":
//
//	AlertRule{Name: "auth", Window: 15 * time.Minute, Category: Auth}
type AlertRule struct {
	// Name identifies the rule in its alerts. It is required and unique
	// among the rules of a Monitor.
	Name string
	// Filter selects the calls the rule counts: each non-empty field must
	// equal the call's field, so the zero CallInfo selects every call.
	Filter CallInfo
	// Window is the span of calls the rule counts, more than 0 and at most
	// MaxRateWindow. It is rounded up to whole RateBuckets, as Rate rounds
	// it. Required.
	Window time.Duration
	// Hold is how long the condition must be met before the rule fires,
	// and how long it must not be met before the rule resolves, so that a
	// value that wavers around the threshold fires once, not on every
	// call. The condition is checked at each evaluation (see Monitor), so
	// it must be met at every evaluation during Hold. Default: 0, which
	// fires and resolves at the first evaluation that finds the change.
	Hold time.Duration

	// ErrorRate makes an error-rate rule: the fraction of failed calls,
	// more than 0 and less than 1, above which the condition is met. 0.05
	// is 5%.
	ErrorRate float64
	// MinCalls is the minimum number of calls in the window for the
	// condition of an error-rate rule to be met, so that one failure among
	// two calls is not a 50% error rate. Default: 0, which means 1.
	MinCalls int64

	// Category makes a category rule: the category of the calls it
	// counts, one of Categories.
	Category Category
	// MinErrors is the number of calls of Category in the window at which
	// the condition of a category rule is met. Default: 0, which means 1.
	MinErrors int64
}

// Validate returns an error wrapping ErrInvalidRule when r cannot be
// evaluated: a missing Name, a Window out of range, a negative Hold,
// MinCalls or MinErrors, an ErrorRate outside (0, 1), a Category that is
// not one of Categories, or fields of both kinds of rule.
func (r AlertRule) Validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidRule, r.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case r.Name == "":
		return invalid("Name is empty; give the rule a name for its alerts")
	case r.Window <= 0 || r.Window > MaxRateWindow:
		return invalid("Window %v is out of range; use more than 0 and at most %v", r.Window, MaxRateWindow)
	case r.Hold < 0:
		return invalid("Hold %v is negative", r.Hold)
	case r.MinCalls < 0:
		return invalid("MinCalls %d is negative", r.MinCalls)
	case r.MinErrors < 0:
		return invalid("MinErrors %d is negative", r.MinErrors)
	}

	if r.Category != "" {
		switch {
		case r.ErrorRate != 0 || r.MinCalls != 0:
			return invalid("ErrorRate and MinCalls are for error-rate rules, and Category is set; set one kind of rule")
		case categoryOrder[categoryIndex(r.Category)] != r.Category:
			return invalid("Category %q is not one of errmon.Categories", r.Category)
		}
		return nil
	}
	switch {
	case !(r.ErrorRate > 0 && r.ErrorRate < 1):
		return invalid("ErrorRate %v is out of range; set ErrorRate between 0 and 1 exclusive, or Category for a category rule", r.ErrorRate)
	case r.MinErrors != 0:
		return invalid("MinErrors is for category rules, and Category is empty")
	}
	return nil
}

// AlertState is the state of an Alert: Firing when the alert starts,
// Resolved when it ends.
type AlertState string

// The states of an Alert.
const (
	// Firing means the rule's condition has been met for the rule's Hold.
	Firing AlertState = "firing"
	// Resolved means the condition of a firing rule has not been met for
	// the rule's Hold.
	Resolved AlertState = "resolved"
)

// Alert reports that a rule started or stopped firing. A rule sends one
// Firing alert when it starts and one Resolved alert when it stops.
type Alert struct {
	// Rule is the rule's Name.
	Rule string
	// State is Firing or Resolved.
	State AlertState
	// Value is the error rate (0 to 1) for an error-rate rule, or the
	// number of calls of the rule's category for a category rule.
	Value float64
	// Threshold is the rule's ErrorRate, or its MinErrors (at least 1).
	Threshold float64
	// Calls is the number of calls in the window.
	Calls int64
	// Errors is the number of failed calls in the window for an error-rate
	// rule, or of calls of the rule's category for a category rule.
	Errors int64
	// Window is the rule's Window.
	Window time.Duration
	// Since is the time of the first evaluation that found the condition
	// met, for a Firing alert, or not met, for a Resolved one. At is at
	// least Hold later.
	Since time.Time
	// At is the time of the evaluation that sent the alert.
	At time.Time
	// Filter is the rule's Filter.
	Filter CallInfo
	// Category is the rule's Category, empty for an error-rate rule.
	Category Category
}

// ruleStage is the stage of a rule between two alerts.
type ruleStage int

const (
	ruleIdle      ruleStage = iota // condition not met, not firing
	rulePending                    // condition met since since, waiting for Hold to fire
	ruleFiring                     // firing, condition met
	ruleResolving                  // firing, condition not met since since, waiting for Hold to resolve
)

// ruleState is a rule with its counts and stage.
type ruleState struct {
	rule      AlertRule
	buckets   int64
	minCalls  int64
	minErrors int64
	ring      counterRing

	mu          sync.Mutex
	stage       ruleStage
	since       time.Time // start of the current pending or resolving stage
	firingSince time.Time // Since of the latest Firing alert
	evaluatedAt time.Time
	calls, hits int64 // at evaluatedAt
	value       float64
}

func newRuleState(rule AlertRule) *ruleState {
	r := &ruleState{
		rule:      rule,
		buckets:   windowBuckets(rule.Window),
		minCalls:  max(rule.MinCalls, 1),
		minErrors: max(rule.MinErrors, 1),
	}
	r.ring.init()
	return r
}

// count counts one call of category c ("" for a success) in epoch e.
func (r *ruleState) count(e int64, c Category) {
	hit := c.IsProviderFailure()
	if r.rule.Category != "" {
		hit = c == r.rule.Category
	}
	r.ring.count(e, hit)
}

// check returns the rule's value for a window's calls and hits, and
// whether the condition is met.
func (r *ruleState) check(calls, hits int64) (float64, bool) {
	if r.rule.Category != "" {
		return float64(hits), hits >= r.minErrors
	}
	if calls == 0 {
		return 0, false
	}
	rate := float64(hits) / float64(calls)
	return rate, calls >= r.minCalls && rate > r.rule.ErrorRate
}

// alertLocked returns the alert of state with the numbers of the latest
// evaluation. r.mu must be held.
func (r *ruleState) alertLocked(state AlertState, since time.Time) Alert {
	threshold := r.rule.ErrorRate
	if r.rule.Category != "" {
		threshold = float64(r.minErrors)
	}
	return Alert{
		Rule:      r.rule.Name,
		State:     state,
		Value:     r.value,
		Threshold: threshold,
		Calls:     r.calls,
		Errors:    r.hits,
		Window:    r.rule.Window,
		Since:     since,
		At:        r.evaluatedAt,
		Filter:    r.rule.Filter,
		Category:  r.rule.Category,
	}
}

// evaluateRule checks r's condition at now and moves it to its next
// stage, queueing an alert when it fires or resolves.
func (m *Monitor) evaluateRule(r *ruleState, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()

	// Callers read the clock before they get here, so evaluations can
	// arrive slightly out of time order. A rule's time never goes back.
	if now.Before(r.evaluatedAt) {
		now = r.evaluatedAt
	}
	r.evaluatedAt = now
	r.calls, r.hits = r.ring.sum(epochOf(now), r.buckets)
	var met bool
	r.value, met = r.check(r.calls, r.hits)

	// Enter or leave a waiting stage.
	switch {
	case r.stage == ruleIdle && met:
		r.stage, r.since = rulePending, now
	case r.stage == rulePending && !met:
		r.stage = ruleIdle
	case r.stage == ruleFiring && !met:
		r.stage, r.since = ruleResolving, now
	case r.stage == ruleResolving && met:
		r.stage = ruleFiring
	}

	// Leave a waiting stage once it has lasted Hold. The alert is queued
	// under r.mu, so that a rule's alerts are delivered in order.
	if now.Sub(r.since) < r.rule.Hold {
		return
	}
	switch r.stage {
	case rulePending:
		r.stage, r.firingSince = ruleFiring, r.since
		m.sendAlert(r.alertLocked(Firing, r.since))
	case ruleResolving:
		r.stage = ruleIdle
		m.sendAlert(r.alertLocked(Resolved, r.since))
	}
}

// evaluateAll evaluates every rule at now.
func (m *Monitor) evaluateAll(now time.Time) {
	for _, r := range m.rules {
		m.evaluateRule(r, now)
	}
}

// Evaluate evaluates every alert rule at the current time. See EvaluateAt.
func (m *Monitor) Evaluate() {
	m.EvaluateAt(m.now())
}

// EvaluateAt evaluates every alert rule at now, which sends the alerts of
// rules that start or stop firing. At most once a minute, it also drops
// the series that have had no calls for MaxRateWindow.
//
// Record and RecordSuccess evaluate rules as calls arrive, so without
// calls nothing is evaluated: a rule whose window has emptied keeps firing
// until the next call. A caller who needs alerts to resolve on time calls
// Evaluate from a time.Ticker, every RateBucket or so.
func (m *Monitor) EvaluateAt(now time.Time) {
	m.evaluateAll(now)
	if e := epochOf(now); e-m.sweptAt.Load() >= sweepBuckets {
		m.seriesMu.Lock()
		m.dropIdleLocked(e)
		m.seriesMu.Unlock()
	}
}

// ActiveAlerts returns a Firing alert for each rule that is firing, in the
// order of Config.Rules. Since is when the rule started firing, and the
// numbers and At are those of the rule's latest evaluation.
func (m *Monitor) ActiveAlerts() []Alert {
	var alerts []Alert
	for _, r := range m.rules {
		r.mu.Lock()
		if r.stage == ruleFiring || r.stage == ruleResolving {
			alerts = append(alerts, r.alertLocked(Firing, r.firingSince))
		}
		r.mu.Unlock()
	}
	return alerts
}

// sendAlert queues a for the Config.OnAlert callbacks, or drops and counts
// it when the queue is full.
func (m *Monitor) sendAlert(a Alert) {
	if m.alerts != nil {
		m.alerts.push(a)
	}
}

// deliverAlert runs the callbacks for a, on the goroutine of m.alerts.
func (m *Monitor) deliverAlert(a Alert) {
	for _, callback := range m.onAlert {
		m.runCallback(callback, a)
	}
}

// runCallback runs callback, and logs a panic in it instead of crashing
// the program, as net/http does for a handler.
func (m *Monitor) runCallback(callback func(Alert), a Alert) {
	defer func() {
		if v := recover(); v != nil {
			m.logger.Error(logMessageCallbackPanic,
				slog.String(LogKeyRule, a.Rule),
				slog.String(LogKeyAlertState, string(a.State)),
				slog.Any(LogKeyPanic, v))
		}
	}()
	callback(a)
}

// DroppedAlerts returns the number of alerts that the Config.OnAlert
// callbacks did not get because the queue (Config.AlertQueue) was full.
func (m *Monitor) DroppedAlerts() int64 {
	if m.alerts == nil {
		return 0
	}
	return m.alerts.dropped.Load()
}

// FlushAlerts waits until the Config.OnAlert callbacks have returned for
// every queued alert and returns nil, or returns ctx.Err() when ctx is done
// first. Call it before the program exits so that queued alerts are not
// lost. A callback must not call it, because it would wait for itself.
func (m *Monitor) FlushAlerts(ctx context.Context) error {
	if m.alerts == nil {
		return nil
	}
	return m.alerts.flush(ctx)
}

// checkAlertConfig panics on the programmer mistakes in the alert fields
// of cfg that NewMonitor documents.
func checkAlertConfig(cfg Config) {
	names := make(map[string]bool, len(cfg.Rules))
	for i, rule := range cfg.Rules {
		if err := rule.Validate(); err != nil {
			panic(fmt.Sprintf("errmon: Config.Rules[%d]: %v", i, err))
		}
		if names[rule.Name] {
			panic(fmt.Sprintf("errmon: Config.Rules[%d]: another rule is named %q", i, rule.Name))
		}
		names[rule.Name] = true
	}
	for i, callback := range cfg.OnAlert {
		if callback == nil {
			panic(fmt.Sprintf("errmon: Config.OnAlert[%d] is nil", i))
		}
	}
}
