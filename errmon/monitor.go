package errmon

import (
	"container/list"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	// DefaultRecentEvents is the default of Config.RecentEvents.
	DefaultRecentEvents = 100
	// DefaultMaxGroups is the default of Config.MaxGroups.
	DefaultMaxGroups = 1000
	// DefaultMaxMessageBytes is the default of Config.MaxMessageBytes.
	DefaultMaxMessageBytes = 1024
)

// minRedactBytes is the least text of an error that Record redacts before
// it cuts the message to Config.MaxMessageBytes. Provider error bodies are
// far shorter, but an HTML error page or a dump can be megabytes.
const minRedactBytes = 64 << 10

// CallInfo describes a call, in the terms of usage.Call. The calls with the
// same CallInfo form a series, whose rates Monitor.Rates returns.
type CallInfo struct {
	// Endpoint is the caller's route or feature, such as "/api/ai/chat".
	Endpoint string
	// Provider is the provider's name, such as "openai".
	Provider string
	// Model is the requested model, such as "gpt-4o-mini".
	Model string
	// Operation is the kind of call, such as "chat" or "embeddings".
	Operation string
}

// Event is one recorded error. Every string in it has been redacted.
type Event struct {
	// ID is a random UUID (version 4).
	ID string `json:"id"`
	// Time is the time of recording, read from Config.Clock, in UTC.
	Time time.Time `json:"time"`
	// Category is the error's category.
	Category Category `json:"category"`
	// HTTPStatus is the status of the provider's response, or 0.
	HTTPStatus int `json:"http_status"`
	// Code is the provider's error code, or empty.
	Code string `json:"code,omitempty"`

	// Endpoint, Provider, Model and Operation come from the CallInfo
	// passed to Record.
	Endpoint  string `json:"endpoint"`
	Provider  string `json:"provider"`
	Model     string `json:"model"`
	Operation string `json:"operation,omitempty"`

	// Message is the error's text, redacted and cut to at most
	// Config.MaxMessageBytes on a UTF-8 boundary.
	Message string `json:"message"`
	// Stack is the call stack at which the error surfaced, innermost frame
	// first. It is the stack of the code that called Record, or for a
	// PanicError with a Stack, the stack of the goroutine that panicked.
	// During a panic it starts at the function that panicked. Frames of the
	// runtime and of aimeter's library packages are left out, and at most
	// 32 frames are kept.
	Stack []Frame `json:"stack,omitempty"`
	// Fingerprint identifies the event's Group, as 32 hex digits.
	Fingerprint string `json:"fingerprint"`
	// RetryAfter is the wait the provider requested, or 0. See Inspect.
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
}

// Group is the count of the events that share a fingerprint. They have the
// same category, status and code, the same message up to its numbers, IDs
// and quoted values, and the same three innermost functions on the stack.
type Group struct {
	// Fingerprint is the Event.Fingerprint of the group's events.
	Fingerprint string `json:"fingerprint"`
	// Category is the category of the group's events.
	Category Category `json:"category"`
	// Message is the message of the group's first event.
	Message string `json:"message"`
	// Count is the number of events since the group was created.
	Count int64 `json:"count"`
	// FirstSeen is the time of the group's first event.
	FirstSeen time.Time `json:"first_seen"`
	// LastSeen is the time of the group's latest event.
	LastSeen time.Time `json:"last_seen"`
}

// Config sets up a Monitor. The zero Config is ready to use.
type Config struct {
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// RecentEvents is the number of latest events that Recent can return.
	// Zero or less selects the default, 100.
	RecentEvents int
	// MaxGroups is the maximum number of groups kept. When a new group
	// would exceed it, the group whose latest event was recorded longest
	// ago is dropped. Zero or less selects the default, 1000.
	MaxGroups int
	// MaxMessageBytes is the maximum length in bytes of Event.Message.
	// Zero or less selects the default, 1024.
	MaxMessageBytes int
	// Redact lists patterns of secrets that Redact does not recognize,
	// such as the format of an in-house token. Each match is replaced by
	// Redacted. They run on the original text, before the built-in
	// patterns, so that a pattern such as `Authorization: Corp \S+` still
	// finds the text that a built-in pattern would rewrite. A nil entry is a programmer
	// mistake, and NewMonitor panics on it. Default: none.
	Redact []*regexp.Regexp
	// Logger receives one record per event (see the LogKey constants) and
	// one per panic in an OnAlert callback. Default: a logger that
	// discards everything.
	Logger *slog.Logger

	// MaxSeries is the maximum number of series whose calls are counted
	// apart, a series being the calls with the same CallInfo. Once it is
	// reached, the calls of new series are counted together in one series
	// whose fields are OtherSeries. A series that has had no calls for
	// MaxRateWindow is dropped by a sweep, which runs once a minute while
	// calls arrive, and once per RateBucket while new series find
	// MaxSeries reached. Each series takes about 3 KB, and 17 KB more from
	// its first failed or canceled call. Zero or less selects the default,
	// 1000.
	MaxSeries int
	// Rules are the alert rules, evaluated as calls are recorded. An
	// invalid rule (see AlertRule.Validate) or two rules with the same
	// Name are programmer mistakes, and NewMonitor panics on them.
	// Default: none.
	Rules []AlertRule
	// OnAlert are the callbacks that receive each Alert, one after
	// another, on one goroutine that the Monitor starts while alerts are
	// queued. Recording never waits for them: while a callback runs,
	// alerts queue, and when AlertQueue alerts are waiting, new ones are
	// dropped and counted (see DroppedAlerts). So a callback that can be
	// slow should hand its work on, as Webhook.Notify does. A panic in a
	// callback is logged to Logger. A nil callback is a programmer
	// mistake, and NewMonitor panics on it. Default: none.
	OnAlert []func(Alert)
	// AlertQueue is the maximum number of alerts that wait for the
	// OnAlert callbacks. Zero or less selects the default, 64.
	AlertQueue int
}

// Monitor records errors as events, keeps the latest of them and counts
// them in groups by fingerprint. It also counts every call, failed or not,
// in time buckets, for error rates over sliding windows (Rate, Rates) and
// for alert rules (Config.Rules).
//
// Rules are evaluated as calls are recorded, on the calling goroutine: the
// rules that count a failed or canceled call at once, in Record, and every
// rule at the first call of each RateBucket, in Record or RecordSuccess.
// An evaluation sums at most MaxRateWindow / RateBucket buckets per rule.
// Evaluate and EvaluateAt evaluate every rule when no calls arrive.
//
// Create a Monitor with NewMonitor, because the zero Monitor is not
// usable. A Monitor is safe for concurrent use.
type Monitor struct {
	now             func() time.Time
	logger          *slog.Logger
	redact          []*regexp.Regexp
	maxMessageBytes int
	maxGroups       int

	// onFingerprintInput, when set, receives the bytes hashed into each
	// fingerprint that is computed, not taken from fingerprints. Test hook.
	onFingerprintInput func([]byte)

	fingerprints *fingerprintCache // of recent events
	ids          eventIDs          // generates Event.ID

	mu     sync.Mutex
	recent []Event // ring buffer of cap RecentEvents
	next   int     // index in recent of the next event to store
	groups map[string]*list.Element
	lru    *list.List // of *Group, most recently seen at the front

	// series maps a CallInfo to its counts. The map is replaced, never
	// changed, so that RecordSuccess reads it without a lock.
	series    atomic.Pointer[map[CallInfo]*series]
	seriesMu  sync.Mutex // serializes the replacement of series
	other     *series    // the calls of series beyond maxSeries
	maxSeries int
	sweptAt   atomic.Int64 // epoch of the latest sweep for idle series
	tickedAt  atomic.Int64 // epoch of the latest evaluation of every rule

	rules   []*ruleState
	onAlert []func(Alert)
	alerts  *asyncQueue[Alert] // nil without onAlert
}

// NewMonitor returns a Monitor set up by cfg. It panics when cfg.Redact
// contains a nil pattern, when a rule of cfg.Rules is invalid or shares
// its Name with another, and when cfg.OnAlert contains a nil callback.
func NewMonitor(cfg Config) *Monitor {
	for i, re := range cfg.Redact {
		if re == nil {
			panic(fmt.Sprintf("errmon: Config.Redact[%d] is nil", i))
		}
	}
	checkAlertConfig(cfg)

	m := &Monitor{
		now:             cfg.Clock,
		logger:          cfg.Logger,
		redact:          append([]*regexp.Regexp(nil), cfg.Redact...),
		maxMessageBytes: positiveOr(cfg.MaxMessageBytes, DefaultMaxMessageBytes),
		maxGroups:       positiveOr(cfg.MaxGroups, DefaultMaxGroups),
		recent:          make([]Event, 0, positiveOr(cfg.RecentEvents, DefaultRecentEvents)),
		groups:          make(map[string]*list.Element),
		lru:             list.New(),
		fingerprints:    newFingerprintCache(),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.logger == nil {
		m.logger = slog.New(discardHandler{})
	}
	m.initRates(cfg)
	return m
}

func positiveOr(n, fallback int) int {
	if n > 0 {
		return n
	}
	return fallback
}

// Record classifies err, stores it as an event, counts it in its group,
// logs it, and returns the event. It also counts the call in the rates,
// as a failure unless the category is Canceled, and evaluates the alert
// rules that count it. The event's stack is the stack of the code that
// called Record. A nil err records nothing and returns the zero Event:
// call RecordSuccess for a call that succeeded.
func (m *Monitor) Record(err error, info CallInfo) Event {
	if err == nil {
		return Event{}
	}
	stack := callerStack()
	return m.record(err, info, stack, m.now())
}

// record is Record with the caller's stack and the time passed in.
func (m *Monitor) record(err error, info CallInfo, stack []Frame, now time.Time) Event {
	typed := findTypedErrors(err)
	d := classifyTyped(err, typed)

	// Redact before anything else reads the text: the fingerprint, the
	// stored event, the log and the caller. The series of info has its
	// fields redacted already.
	epoch := epochOf(now)
	s := m.seriesFor(info, epoch)
	label := s.label
	if s.other {
		label = m.redactInfo(info)
	}
	ev := Event{
		ID:         m.ids.newID(),
		Time:       now.UTC(),
		Category:   d.Category,
		HTTPStatus: d.HTTPStatus,
		Code:       m.redactText(d.Code),
		Endpoint:   label.Endpoint,
		Provider:   label.Provider,
		Model:      label.Model,
		Operation:  label.Operation,
		Message:    m.redactMessage(err.Error()),
		Stack:      stack,
		RetryAfter: retryAfter(err, d.Message),
	}
	if panicStack := m.panicStack(typed.panicErr); len(panicStack) > 0 {
		ev.Stack = panicStack
	}

	key := newFingerprintKey(ev.Category, ev.HTTPStatus, ev.Code, ev.Message, ev.Stack)
	ev.Fingerprint = m.fingerprints.fingerprint(key, m.onFingerprintInput)

	m.mu.Lock()
	m.storeLocked(ev)
	count := m.countLocked(&ev)
	m.mu.Unlock()

	m.logEvent(&ev, count)
	m.countCallIn(s, info, ev.Category, epoch, now)

	ev.Stack = cloneFrames(ev.Stack)
	return ev
}

// redactText applies the configured and then the built-in patterns to s.
func (m *Monitor) redactText(s string) string {
	for _, re := range m.redact {
		// ReplaceAllString copies s even when nothing matches.
		if re.MatchString(s) {
			s = re.ReplaceAllString(s, Redacted)
		}
	}
	return Redact(s)
}

// redactInfo returns info with its fields redacted.
func (m *Monitor) redactInfo(info CallInfo) CallInfo {
	return CallInfo{
		Endpoint:  m.redactText(info.Endpoint),
		Provider:  m.redactText(info.Provider),
		Model:     m.redactText(info.Model),
		Operation: m.redactText(info.Operation),
	}
}

// redactMessage redacts an error's text and cuts it to maxMessageBytes.
// Text past minRedactBytes (or twice maxMessageBytes) is dropped before
// redacting, at the last whitespace, so that a secret cut in half is dropped
// whole instead of left too short for the patterns to match. Text with no
// whitespace there is cut where it is.
func (m *Monitor) redactMessage(text string) string {
	limit := max(minRedactBytes, 2*m.maxMessageBytes)
	if len(text) > limit {
		text = text[:limit]
		if i := strings.LastIndexAny(text, " \t\r\n"); i > 0 {
			text = text[:i]
		}
	}
	return truncateUTF8(m.redactText(text), m.maxMessageBytes)
}

// panicStack returns the redacted frames of the stack of panicErr, or nil
// when panicErr is nil or has no stack. Unlike the frames of
// runtime.Callers, this text comes from a value that anyone could have
// built, so it is redacted too.
func (m *Monitor) panicStack(panicErr *PanicError) []Frame {
	if panicErr == nil || len(panicErr.Stack) == 0 {
		return nil
	}
	// The names are cloned so that the event, the fingerprint cache and the
	// groups do not keep the whole stack text alive.
	frames := parseStack(panicErr.Stack)
	for i := range frames {
		frames[i].Function = strings.Clone(m.redactText(frames[i].Function))
		frames[i].File = strings.Clone(m.redactText(frames[i].File))
	}
	return frames
}

// storeLocked adds ev to the ring of recent events. m.mu must be held.
func (m *Monitor) storeLocked(ev Event) {
	if len(m.recent) < cap(m.recent) {
		m.recent = append(m.recent, ev)
		m.next = len(m.recent) % cap(m.recent)
		return
	}
	m.recent[m.next] = ev
	m.next = (m.next + 1) % len(m.recent)
}

// countLocked counts ev in its group, creating the group and dropping the
// least recently seen one when needed, and returns the group's count.
// m.mu must be held.
func (m *Monitor) countLocked(ev *Event) int64 {
	if elem, ok := m.groups[ev.Fingerprint]; ok {
		g := elem.Value.(*Group)
		g.Count++
		// Concurrent calls read the clock before they take the lock, so
		// events can arrive slightly out of time order.
		if ev.Time.After(g.LastSeen) {
			g.LastSeen = ev.Time
		}
		if ev.Time.Before(g.FirstSeen) {
			g.FirstSeen = ev.Time
		}
		m.lru.MoveToFront(elem)
		return g.Count
	}

	if len(m.groups) >= m.maxGroups {
		oldest := m.lru.Back()
		m.lru.Remove(oldest)
		delete(m.groups, oldest.Value.(*Group).Fingerprint)
	}
	g := &Group{
		Fingerprint: ev.Fingerprint,
		Category:    ev.Category,
		Message:     ev.Message,
		Count:       1,
		FirstSeen:   ev.Time,
		LastSeen:    ev.Time,
	}
	m.groups[ev.Fingerprint] = m.lru.PushFront(g)
	return 1
}

// Recent returns up to limit of the latest events, newest first. A limit of
// zero or less returns every event kept. The events are copies, so the
// caller may change them.
func (m *Monitor) Recent(limit int) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()

	n := len(m.recent)
	if limit <= 0 || limit > n {
		limit = n
	}
	events := make([]Event, 0, limit)
	for i := 1; i <= limit; i++ {
		ev := m.recent[(m.next-i+n)%n]
		ev.Stack = cloneFrames(ev.Stack)
		events = append(events, ev)
	}
	return events
}

// Groups returns up to limit groups, the most frequent first, and among
// groups of equal count the most recently seen first. A limit of zero or
// less returns every group kept.
func (m *Monitor) Groups(limit int) []Group {
	m.mu.Lock()
	groups := make([]Group, 0, len(m.groups))
	for elem := m.lru.Front(); elem != nil; elem = elem.Next() {
		groups = append(groups, *elem.Value.(*Group))
	}
	m.mu.Unlock()

	// The list is in order of recency, which the stable sort keeps among
	// groups of equal count.
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].Count > groups[j].Count })
	if limit > 0 && limit < len(groups) {
		groups = groups[:limit]
	}
	return groups
}
