package promexport

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
	"github.com/prometheus/client_golang/prometheus"
)

// TrackerStatsSource is a source of tracker counters, such as
// *usage.Tracker. Stats must be safe for concurrent use.
type TrackerStatsSource interface {
	Stats() usage.TrackerStats
}

// Exporter is a usage.Observer that keeps Prometheus metrics of every call
// a tracker measures, and a prometheus.Collector that exports them together
// with the counters of the rate limiters and trackers added to it. Create
// it with New and register it with one registry. It is safe for concurrent
// use.
type Exporter struct {
	metrics *metrics

	// cache maps a callKey to its *series. It is the only lookup on the
	// hot path, and misses go through mu.
	cache sync.Map

	mu          sync.Mutex // guards the fields below
	cached      int
	bySeries    map[seriesKey]*series
	byHist      map[histKey]*histSet
	all         []*series // append-only, read by Collect
	models      *boundedSet
	endpoints   *boundedSet
	keys        *boundedSet
	limiters    []ratelimit.StatsReporter
	trackerSrcs []TrackerStatsSource
}

var (
	_ usage.Observer       = (*Exporter)(nil)
	_ prometheus.Collector = (*Exporter)(nil)
)

// New returns an Exporter configured by opts. Register it with a registry
// and pass it to usage.WithObserver.
func New(opts ...Option) *Exporter {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	e := &Exporter{
		metrics:   newMetrics(cfg),
		bySeries:  make(map[seriesKey]*series),
		byHist:    make(map[histKey]*histSet),
		models:    newBoundedSet(cfg.maxModels),
		endpoints: newBoundedSet(cfg.maxEndpoints),
	}
	if cfg.maxKeys > 0 {
		e.keys = newBoundedSet(cfg.maxKeys)
	}
	return e
}

// AddRateLimiter adds a limiter whose decision counts are exported as
// aimeter_ratelimit_decisions_total at every scrape. Counts of limiters that
// report the same rule name are summed. A composite from ratelimit.All
// reports the rules of its members, so add either the composite or its
// members, not both, or the decisions are counted twice. It panics if r is
// nil, which is a programmer mistake.
func (e *Exporter) AddRateLimiter(r ratelimit.StatsReporter) {
	if r == nil {
		panic("promexport: AddRateLimiter with a nil limiter")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.limiters = append(e.limiters, r)
}

// AddTracker adds a tracker whose written, dropped and pending record
// counts are exported at every scrape. The counts of several trackers are
// summed. It panics if t is nil, which is a programmer mistake.
func (e *Exporter) AddTracker(t TrackerStatsSource) {
	if t == nil {
		panic("promexport: AddTracker with a nil tracker")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.trackerSrcs = append(e.trackerSrcs, t)
}

// StartCall returns ctx unchanged: the exporter measures nothing before a
// call ends.
func (e *Exporter) StartCall(ctx context.Context, _ usage.Call) context.Context {
	return ctx
}

// EndCall counts the finished call r in the metrics of its series.
func (e *Exporter) EndCall(_ context.Context, r *usage.Record) {
	s := e.lookup(r)

	// Counters.
	s.calls.Add(1)
	switch {
	case !r.UsageKnown:
		s.unknownUsage.Add(1)
	case !r.Priced:
		s.unpriced.Add(1)
	default:
		s.costNanos.Add(r.CostNanos)
	}
	if r.UsageKnown {
		s.tokens[idxInput].Add(r.Tokens.Input)
		s.tokens[idxOutput].Add(r.Tokens.Output)
		s.tokens[idxCachedInput].Add(r.Tokens.CachedInput)
		s.tokens[idxReasoning].Add(r.Tokens.Reasoning)
		s.tokens[idxCacheWrite].Add(r.Tokens.CacheWrite)
	}

	// Histograms.
	h := s.hist
	if r.Error != "" {
		i := categoryIndex(r.Error)
		s.errors[i].Add(1)
		h.durationErrors[i].observe(r.Latency.Seconds())
	} else {
		h.duration.observe(r.Latency.Seconds())
	}
	if r.UsageKnown {
		h.tokensIn.observe(float64(r.Tokens.Input))
		h.tokensOut.observe(float64(r.Tokens.Output))
	}
	if r.Stream && r.TTFT > 0 {
		h.ttft.observe(r.TTFT.Seconds())
	}
}

// lookup returns the series of r, creating it on first sight.
func (e *Exporter) lookup(r *usage.Record) *series {
	k := callKey{
		endpoint:  r.Call.Endpoint,
		operation: r.Call.Operation,
		provider:  r.Call.Provider,
		model:     r.Call.Model,
	}
	if e.keys != nil {
		k.key = r.Call.Key
	}
	if s, ok := e.cache.Load(k); ok {
		return s.(*series)
	}
	return e.resolve(k)
}

// resolve applies the caps to k and returns its series, creating the
// series and its histogram set when new.
func (e *Exporter) resolve(k callKey) *series {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.cache.Load(k); ok {
		return s.(*series)
	}

	// Map the raw values to exported ones.
	sk := seriesKey{
		endpoint:  e.endpoints.bound(k.endpoint),
		operation: operationName(k.operation),
		provider:  k.provider,
		model:     e.models.bound(k.model),
	}
	if e.keys != nil {
		sk.key = e.keys.bound(k.key)
	}

	// Find or create the series and the histograms it shares.
	s := e.bySeries[sk]
	if s == nil {
		hk := histKey{operation: sk.operation, provider: sk.provider, model: sk.model}
		h := e.byHist[hk]
		if h == nil {
			h = newHistSet(e.metrics, hk)
			e.byHist[hk] = h
		}
		labels := []string{sk.endpoint, sk.operation, sk.provider, sk.model}
		if e.keys != nil {
			labels = append(labels, sk.key)
		}
		s = &series{labels: labels, hist: h, errors: make([]atomic.Int64, len(errmon.Categories))}
		e.bySeries[sk] = s
		e.all = append(e.all, s)
	}

	if e.cached < maxCachedCallKeys {
		e.cache.Store(k, s)
		e.cached++
	}
	return s
}
