package promexport

import (
	"sort"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
	"github.com/prometheus/client_golang/prometheus"
)

// nanosPerUSD converts nano-dollars to US dollars.
const nanosPerUSD = 1e9

// Describe sends the descriptors of every metric the exporter exports.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	m := e.metrics
	m.duration.Describe(ch)
	m.tokenUsage.Describe(ch)
	m.ttft.Describe(ch)
	for _, d := range []*prometheus.Desc{
		m.calls, m.errors, m.tokens, m.cost, m.unpriced, m.unknownUsage,
		m.rateLimit, m.recordsWritten, m.recordsDropped, m.recordsPending,
	} {
		ch <- d
	}
}

// Collect sends the current value of every metric. The rate-limit and
// tracker counters are read from their sources now.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	all := e.all
	limiters := append([]ratelimit.StatsReporter(nil), e.limiters...)
	trackers := append([]TrackerStatsSource(nil), e.trackerSrcs...)
	e.mu.Unlock()

	m := e.metrics
	m.duration.Collect(ch)
	m.tokenUsage.Collect(ch)
	m.ttft.Collect(ch)
	for _, s := range all {
		e.collectSeries(ch, s)
	}
	e.collectRateLimits(ch, limiters)
	if len(trackers) > 0 {
		e.collectTrackers(ch, trackers)
	}
}

// collectSeries sends the call counters of one series.
func (e *Exporter) collectSeries(ch chan<- prometheus.Metric, s *series) {
	m := e.metrics
	counter := func(d *prometheus.Desc, v float64, labels []string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	// withLabel copies the series labels and appends v, so that the
	// series' own slice is never written.
	withLabel := func(v string) []string {
		return append(s.labels[:len(s.labels):len(s.labels)], v)
	}

	counter(m.calls, float64(s.calls.Load()), s.labels)
	counter(m.unpriced, float64(s.unpriced.Load()), s.labels)
	counter(m.unknownUsage, float64(s.unknownUsage.Load()), s.labels)
	counter(m.cost, float64(s.costNanos.Load())/nanosPerUSD, s.labels)
	for i, typ := range tokenTypes {
		counter(m.tokens, float64(s.tokens[i].Load()), withLabel(typ))
	}
	for i, c := range errmon.Categories {
		if n := s.errors[i].Load(); n > 0 {
			counter(m.errors, float64(n), withLabel(string(c)))
		}
	}
}

// collectRateLimits sends the decision counts of every rule, summed over
// the limiters that report it, in rule order.
func (e *Exporter) collectRateLimits(ch chan<- prometheus.Metric, limiters []ratelimit.StatsReporter) {
	type counts struct{ allowed, rejected int64 }
	byRule := make(map[string]*counts)
	for _, l := range limiters {
		for _, st := range l.Stats() {
			c := byRule[st.Rule]
			if c == nil {
				c = &counts{}
				byRule[st.Rule] = c
			}
			c.allowed += st.Allowed
			c.rejected += st.Rejected
		}
	}

	rules := make([]string, 0, len(byRule))
	for r := range byRule {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		c := byRule[r]
		ch <- prometheus.MustNewConstMetric(e.metrics.rateLimit, prometheus.CounterValue, float64(c.allowed), r, "allowed")
		ch <- prometheus.MustNewConstMetric(e.metrics.rateLimit, prometheus.CounterValue, float64(c.rejected), r, "rejected")
	}
}

// collectTrackers sends the record counters summed over the trackers.
func (e *Exporter) collectTrackers(ch chan<- prometheus.Metric, trackers []TrackerStatsSource) {
	var sum usage.TrackerStats
	for _, t := range trackers {
		st := t.Stats()
		sum.Written += st.Written
		sum.Dropped += st.Dropped
		sum.Pending += st.Pending
	}
	m := e.metrics
	ch <- prometheus.MustNewConstMetric(m.recordsWritten, prometheus.CounterValue, float64(sum.Written))
	ch <- prometheus.MustNewConstMetric(m.recordsDropped, prometheus.CounterValue, float64(sum.Dropped))
	ch <- prometheus.MustNewConstMetric(m.recordsPending, prometheus.GaugeValue, float64(sum.Pending))
}
