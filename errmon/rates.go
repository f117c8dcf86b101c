package errmon

import (
	"sort"
	"sync/atomic"
	"time"
)

// DefaultMaxSeries is the default of Config.MaxSeries.
const DefaultMaxSeries = 1000

// OtherSeries is the value of every CallInfo field of the series that
// counts the calls of new series once Config.MaxSeries series exist.
const OtherSeries = "(other)"

// sweepBuckets is the number of buckets between two sweeps for idle
// series, one minute.
const sweepBuckets = int64(time.Minute / RateBucket)

// Rate is the count of calls and failures in a window.
type Rate struct {
	// Calls is the number of calls, successful, failed and canceled.
	Calls int64
	// Errors is the number of failed calls: those whose category counts
	// against the provider (Category.IsProviderFailure), so canceled calls
	// are not errors.
	Errors int64
	// ErrorRate is Errors / Calls, or 0 without calls.
	ErrorRate float64
	// ByCategory counts the failed and canceled calls by category. It
	// leaves out categories with no calls, and it is nil when there are
	// none at all.
	ByCategory map[Category]int64
}

// SeriesRate is the Rate of one series: the calls with the same endpoint,
// provider, model and operation. Its fields are redacted as the fields of
// an Event are.
type SeriesRate struct {
	CallInfo
	Rate
}

// series counts the calls of one CallInfo.
type series struct {
	// key is the CallInfo as callers pass it, and label is key redacted.
	key, label CallInfo
	// other marks the series that counts the calls of series beyond
	// Config.MaxSeries.
	other bool
	// rules are the alert rules whose filter matches key, so that a call
	// finds its rules without comparing strings. The other series has none,
	// because its calls have different keys.
	rules []*ruleState
	// dropped is set while a sweep is dropping the series, and stays set
	// once it has been dropped. See Monitor.dropIdleLocked.
	dropped atomic.Bool
	ring    counterRing
}

// matches reports whether info matches filter: each non-empty field of
// filter equals the field of info.
func (filter CallInfo) matches(info CallInfo) bool {
	return (filter.Endpoint == "" || filter.Endpoint == info.Endpoint) &&
		(filter.Provider == "" || filter.Provider == info.Provider) &&
		(filter.Model == "" || filter.Model == info.Model) &&
		(filter.Operation == "" || filter.Operation == info.Operation)
}

// RecordSuccess counts a call that succeeded. It takes a map lookup and
// two atomic operations for the series and for each alert rule that counts
// the call. It allocates nothing, except when the call starts a new series,
// or when it is the first call of a RateBucket and the evaluation of the
// rules that it runs (see Monitor) sends alerts or drops idle series.
// Record counts failed and canceled calls, so a caller calls one of the two
// for each call.
func (m *Monitor) RecordSuccess(info CallInfo) {
	m.countCall(info, "", m.now())
}

// countCall counts one call of category c ("" for a success) in its
// series and in the alert rules whose filter matches info. It evaluates
// those rules at once for a failed or canceled call, and every rule once
// per RateBucket.
func (m *Monitor) countCall(info CallInfo, c Category, now time.Time) {
	e := epochOf(now)
	m.countCallIn(m.seriesFor(info, e), info, c, e, now)
}

// countCallIn is countCall with the series of info, as seriesFor returns it
// for the epoch e of now.
func (m *Monitor) countCallIn(s *series, info CallInfo, c Category, e int64, now time.Time) {
	m.countIn(s, e, c)
	if s.dropped.Load() {
		m.recount(s, e, c)
	}

	// The rules of the other series are not known in advance, so its calls
	// compare their key with each rule's filter. Rules count every call, so
	// they stay exact when calls fold into the other series.
	for _, r := range s.rules {
		r.count(e, c)
	}
	if s.other {
		for _, r := range m.rules {
			if r.rule.Filter.matches(info) {
				r.count(e, c)
			}
		}
	}

	// A failure may start an alert, so its rules are evaluated now. A
	// success can only fire a rule whose MinCalls it completes, and that
	// waits for the next bucket's evaluation.
	if c != "" {
		for _, r := range s.rules {
			m.evaluateRule(r, now)
		}
		if s.other {
			for _, r := range m.rules {
				if r.rule.Filter.matches(info) {
					m.evaluateRule(r, now)
				}
			}
		}
	}

	m.tick(e, now)
}

// countIn counts one call of category c in the series s.
func (m *Monitor) countIn(s *series, e int64, c Category) {
	i, ok := s.ring.count(e, c.IsProviderFailure())
	if ok && c != "" {
		s.ring.countCategory(i, c)
	}
}

// recount counts a call again when s was dropped as idle while the call
// was counted in it. The sweep holds seriesMu until it has decided, so
// taking the lock waits for that decision.
func (m *Monitor) recount(s *series, e int64, c Category) {
	m.seriesMu.Lock()
	inTable := (*m.series.Load())[s.key] == s
	m.seriesMu.Unlock()
	if !inTable {
		m.countIn(m.seriesFor(s.key, e), e, c)
	}
}

// seriesFor returns the series of info, creating it when there is room.
// Without room it returns the other series.
func (m *Monitor) seriesFor(info CallInfo, e int64) *series {
	table := *m.series.Load()
	if s, ok := table[info]; ok {
		return s
	}
	// A full table gets one sweep per bucket to make room. Past that, new
	// series fold into the other series without taking the lock.
	if len(table) >= m.maxSeries && m.sweptAt.Load() >= e {
		return m.other
	}
	return m.addSeries(info, e)
}

// addSeries returns the series of info, creating it, or the other series
// when the table stays full after a sweep.
func (m *Monitor) addSeries(info CallInfo, e int64) *series {
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()

	table := *m.series.Load()
	if s, ok := table[info]; ok {
		return s
	}
	if len(table) >= m.maxSeries {
		if m.sweptAt.Load() < e {
			m.dropIdleLocked(e)
			table = *m.series.Load()
		}
		if len(table) >= m.maxSeries {
			return m.other
		}
	}

	// Readers use the table without a lock, so it is copied, never
	// changed. Creating a series costs O(MaxSeries), once per series.
	s := m.newSeries(info, info)
	next := make(map[CallInfo]*series, len(table)+1)
	for k, v := range table {
		next[k] = v
	}
	next[info] = s
	m.series.Store(&next)
	return s
}

// newSeries returns a series for calls with the CallInfo key.
func (m *Monitor) newSeries(key, label CallInfo) *series {
	s := &series{key: key, label: m.redactInfo(label)}
	for _, r := range m.rules {
		if r.rule.Filter.matches(key) {
			s.rules = append(s.rules, r)
		}
	}
	s.ring.init()
	return s
}

// newOtherSeries returns the series for calls beyond MaxSeries.
func (m *Monitor) newOtherSeries() *series {
	other := CallInfo{Endpoint: OtherSeries, Provider: OtherSeries, Model: OtherSeries, Operation: OtherSeries}
	s := m.newSeries(other, other)
	s.other, s.rules = true, nil
	return s
}

// dropIdleLocked drops the series without calls in the MaxRateWindow up
// to epoch e. m.seriesMu must be held.
//
// A call may be counting in a series while the sweep drops it. The sweep
// marks the series dropped and then reads its newest epoch again, and the
// call updates the newest epoch before it reads the mark. So either the
// sweep finds the call and keeps the series, or the call finds the mark and
// counts again in the series that replaces it (see recount).
func (m *Monitor) dropIdleLocked(e int64) {
	m.sweptAt.Store(e)
	table := *m.series.Load()
	idle := 0
	for _, s := range table {
		if s.ring.newest.Load() <= e-ringBuckets {
			s.dropped.Store(true)
			idle++
		}
	}
	if idle == 0 {
		return
	}

	next := make(map[CallInfo]*series, len(table)-idle)
	for k, s := range table {
		if s.dropped.Load() {
			if s.ring.newest.Load() <= e-ringBuckets {
				continue
			}
			s.dropped.Store(false)
		}
		next[k] = s
	}
	m.series.Store(&next)
}

// tick evaluates every rule and sweeps idle series, at most once per
// bucket. The first call counted in a new bucket does it.
func (m *Monitor) tick(e int64, now time.Time) {
	last := m.tickedAt.Load()
	if e <= last || !m.tickedAt.CompareAndSwap(last, e) {
		return
	}
	m.evaluateAll(now)
	if e-m.sweptAt.Load() >= sweepBuckets {
		m.seriesMu.Lock()
		m.dropIdleLocked(e)
		m.seriesMu.Unlock()
	}
}

// Rate returns the calls and failures in the window that ends now, of the
// series whose CallInfo matches filter: each non-empty field of filter must
// equal the series' field, so the zero CallInfo matches every call. The
// window is rounded up to whole RateBuckets, and a window longer than
// MaxRateWindow counts only MaxRateWindow. A window of zero or less returns
// the zero Rate.
//
// Calls that were folded into the other series (see Config.MaxSeries)
// match only a filter whose non-empty fields are OtherSeries. Alert rules
// count those calls under their own CallInfo.
func (m *Monitor) Rate(window time.Duration, filter CallInfo) Rate {
	return m.rateAt(m.now(), window, filter)
}

func (m *Monitor) rateAt(now time.Time, window time.Duration, filter CallInfo) Rate {
	e, n := epochOf(now), windowBuckets(window)
	var t tally
	if n == 0 {
		return t.rate()
	}
	for _, s := range *m.series.Load() {
		if filter.matches(s.key) {
			t.add(&s.ring, e, n)
		}
	}
	if filter.matches(m.other.key) {
		t.add(&m.other.ring, e, n)
	}
	return t.rate()
}

// Rates returns the Rate of each series with at least one call in the
// window that ends now, the most calls first, and among equal counts in
// order of endpoint, provider, model and operation. The window is rounded
// as Rate rounds it. The series of calls beyond Config.MaxSeries has
// OtherSeries in each field.
func (m *Monitor) Rates(window time.Duration) []SeriesRate {
	return m.ratesAt(m.now(), window)
}

func (m *Monitor) ratesAt(now time.Time, window time.Duration) []SeriesRate {
	e, n := epochOf(now), windowBuckets(window)
	if n == 0 {
		return nil
	}

	var rates []SeriesRate
	add := func(s *series) {
		var t tally
		t.add(&s.ring, e, n)
		if t.calls > 0 {
			rates = append(rates, SeriesRate{CallInfo: s.label, Rate: t.rate()})
		}
	}
	for _, s := range *m.series.Load() {
		add(s)
	}
	add(m.other)

	sort.Slice(rates, func(i, j int) bool {
		a, b := &rates[i], &rates[j]
		if a.Calls != b.Calls {
			return a.Calls > b.Calls
		}
		if a.Endpoint != b.Endpoint {
			return a.Endpoint < b.Endpoint
		}
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		return a.Operation < b.Operation
	})
	return rates
}

// tally sums the counts of series.
type tally struct {
	calls, errors int64
	categories    [numCategories]int64
}

func (t *tally) add(r *counterRing, e, n int64) {
	calls, errors := r.sum(e, n)
	t.calls += calls
	t.errors += errors
	r.sumCategories(e, n, &t.categories)
}

func (t *tally) rate() Rate {
	r := Rate{Calls: t.calls, Errors: t.errors}
	if t.calls > 0 {
		r.ErrorRate = float64(t.errors) / float64(t.calls)
	}
	for i, count := range t.categories {
		if count == 0 {
			continue
		}
		if r.ByCategory == nil {
			r.ByCategory = make(map[Category]int64)
		}
		r.ByCategory[categoryOrder[i]] = count
	}
	return r
}

// initRates sets up the counting of calls and the alert rules of cfg,
// which checkAlertConfig has checked.
func (m *Monitor) initRates(cfg Config) {
	m.maxSeries = positiveOr(cfg.MaxSeries, DefaultMaxSeries)
	m.sweptAt.Store(noEpoch)
	m.tickedAt.Store(noEpoch)

	for _, rule := range cfg.Rules {
		m.rules = append(m.rules, newRuleState(rule))
	}
	m.other = m.newOtherSeries()
	table := make(map[CallInfo]*series)
	m.series.Store(&table)

	if len(cfg.OnAlert) > 0 {
		m.onAlert = append(make([]func(Alert), 0, len(cfg.OnAlert)), cfg.OnAlert...)
		m.alerts = newAsyncQueue(positiveOr(cfg.AlertQueue, DefaultAlertQueue), m.deliverAlert)
	}
}
