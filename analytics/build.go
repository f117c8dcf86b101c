package analytics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// Build reads the rollups of the window that q selects from cfg.Store,
// merges them, and returns the Snapshot of the sections q.Type selects.
//
// Build reads the store once, and its work grows with the number of rollups
// (series times minutes), never with the number of calls. It returns a
// *QueryError when q is invalid, ErrNoStore when cfg has no Store, and the
// store's error, wrapped, when the read fails.
func Build(ctx context.Context, cfg Config, q Query) (*Snapshot, error) {
	if cfg.Store == nil {
		return nil, ErrNoStore
	}
	now := cfg.now()
	q, err := q.resolve(now, cfg.Store.Retention())
	if err != nil {
		return nil, err
	}

	flushTracker(ctx, cfg.Tracker)
	rollups, err := cfg.Store.Rollups(ctx, q.Since, q.Until)
	if err != nil {
		return nil, fmt.Errorf("analytics: read rollups: %w", err)
	}
	agg := newAggregate()
	for i := range rollups {
		agg.add(&rollups[i])
	}

	snap := &Snapshot{
		Type:        q.Type,
		GeneratedAt: now.UTC(),
		Window:      Window{Since: q.Since, Until: q.Until},
	}
	all := q.Type == TypeAll
	if all || q.Type == TypeUsage {
		snap.Usage = buildUsage(&cfg, agg)
	}
	if all || q.Type == TypeErrors {
		snap.Errors = buildErrors(&cfg, agg, q.Since, q.Until)
	}
	if all || q.Type == TypePerformance {
		snap.Performance = buildPerformance(agg)
	}
	if all {
		snap.RateLimits = buildRateLimits(&cfg)
	}
	return snap, nil
}

// modelKey names a model of a provider.
type modelKey struct{ provider, model string }

// aggregate holds the merged stats of a window: the total and one Stats per
// provider, model and endpoint.
type aggregate struct {
	total     usage.Stats
	providers map[string]*usage.Stats
	models    map[modelKey]*usage.Stats
	endpoints map[string]*usage.Stats
}

func newAggregate() *aggregate {
	return &aggregate{
		providers: make(map[string]*usage.Stats),
		models:    make(map[modelKey]*usage.Stats),
		endpoints: make(map[string]*usage.Stats),
	}
}

// add merges one rollup into the total and into its three breakdowns. It
// reads r and never keeps or changes it.
func (a *aggregate) add(r *usage.Rollup) {
	a.total.Merge(&r.Stats)
	statsFor(a.providers, r.Series.Provider).Merge(&r.Stats)
	statsFor(a.models, modelKey{r.Series.Provider, r.Series.Model}).Merge(&r.Stats)
	statsFor(a.endpoints, r.Series.Endpoint).Merge(&r.Stats)
}

func statsFor[K comparable](m map[K]*usage.Stats, k K) *usage.Stats {
	s, ok := m[k]
	if !ok {
		s = new(usage.Stats)
		m[k] = s
	}
	return s
}

// entry is one line of a breakdown before conversion.
type entry[K any] struct {
	key   K
	stats *usage.Stats
}

// sortedEntries returns the entries of m by cost, then calls, both
// descending, and then by key with less, so every breakdown of a snapshot
// lists its lines in the same, deterministic order.
func sortedEntries[K comparable](m map[K]*usage.Stats, less func(a, b K) bool) []entry[K] {
	entries := make([]entry[K], 0, len(m))
	for k, s := range m {
		entries = append(entries, entry[K]{key: k, stats: s})
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i].stats, entries[j].stats
		if a.CostNanos != b.CostNanos {
			return a.CostNanos > b.CostNanos
		}
		if a.Calls != b.Calls {
			return a.Calls > b.Calls
		}
		return less(entries[i].key, entries[j].key)
	})
	return entries
}

func lessString(a, b string) bool { return a < b }

func lessModel(a, b modelKey) bool {
	if a.provider != b.provider {
		return a.provider < b.provider
	}
	return a.model < b.model
}

func buildUsage(cfg *Config, agg *aggregate) *UsageSection {
	sec := &UsageSection{
		Calls:             agg.total.Calls,
		UnpricedCalls:     agg.total.UnpricedCalls,
		UnknownUsageCalls: agg.total.UnknownUsageCalls,
		Tokens:            tokenCounts(agg.total.Tokens),
		CostUSD:           usd(agg.total.CostNanos),
		ByProvider:        make([]ProviderUsage, 0, len(agg.providers)),
		ByModel:           make([]ModelUsage, 0, len(agg.models)),
		ByEndpoint:        make([]EndpointUsage, 0, len(agg.endpoints)),
	}
	if cfg.Tracker != nil {
		dropped := cfg.Tracker.Stats().Dropped
		sec.DroppedRecords = &dropped
	}

	for _, e := range sortedEntries(agg.providers, lessString) {
		sec.ByProvider = append(sec.ByProvider, ProviderUsage{
			Provider: e.key,
			Calls:    e.stats.Calls,
			Tokens:   tokenCounts(e.stats.Tokens),
			CostUSD:  usd(e.stats.CostNanos),
		})
	}
	for _, e := range sortedEntries(agg.models, lessModel) {
		sec.ByModel = append(sec.ByModel, ModelUsage{
			Provider:      e.key.provider,
			Model:         e.key.model,
			Calls:         e.stats.Calls,
			Tokens:        tokenCounts(e.stats.Tokens),
			CostUSD:       usd(e.stats.CostNanos),
			UnpricedCalls: e.stats.UnpricedCalls,
		})
	}
	for _, e := range sortedEntries(agg.endpoints, lessString) {
		sec.ByEndpoint = append(sec.ByEndpoint, EndpointUsage{
			Endpoint: e.key,
			Calls:    e.stats.Calls,
			Tokens:   tokenCounts(e.stats.Tokens),
			CostUSD:  usd(e.stats.CostNanos),
		})
	}
	return sec
}

func buildErrors(cfg *Config, agg *aggregate, since, until time.Time) *ErrorsSection {
	sec := &ErrorsSection{
		Total:      agg.total.Errors,
		Rate:       ratio(agg.total.Errors, agg.total.Calls),
		ByCategory: make(map[errmon.Category]int64, len(errmon.Categories)),
		ByEndpoint: make([]EndpointErrors, 0, len(agg.endpoints)),
		Recent:     []ErrorEvent{},
		Groups:     []ErrorGroup{},
	}

	// Every known category is listed, so clients need not tell a missing
	// key from zero. A category outside errmon.Categories, which a store
	// of another version may return, is listed too.
	for _, c := range errmon.Categories {
		sec.ByCategory[c] = 0
	}
	for c, n := range agg.total.ErrorsByCategory {
		sec.ByCategory[c] += n
	}

	for _, e := range sortedEntries(agg.endpoints, lessString) {
		sec.ByEndpoint = append(sec.ByEndpoint, EndpointErrors{
			Endpoint: e.key,
			Calls:    e.stats.Calls,
			Errors:   e.stats.Errors,
			Rate:     ratio(e.stats.Errors, e.stats.Calls),
		})
	}

	if cfg.Errors == nil {
		return sec
	}
	// NOTE: only the newest RecentErrors events are asked for, so a window
	// that ends well in the past may list fewer events than it had.
	for _, ev := range cfg.Errors.Recent(cfg.recentErrors()) {
		if ev.Time.Before(since) || !ev.Time.Before(until) {
			continue
		}
		sec.Recent = append(sec.Recent, ErrorEvent{
			ID:          ev.ID,
			Time:        ev.Time.UTC(),
			Category:    ev.Category,
			Message:     ev.Message,
			Endpoint:    ev.Endpoint,
			Provider:    ev.Provider,
			Model:       ev.Model,
			HTTPStatus:  ev.HTTPStatus,
			Fingerprint: ev.Fingerprint,
		})
	}
	for _, g := range cfg.Errors.Groups(cfg.errorGroups()) {
		if g.LastSeen.Before(since) || !g.FirstSeen.Before(until) {
			continue
		}
		sec.Groups = append(sec.Groups, ErrorGroup{
			Fingerprint: g.Fingerprint,
			Category:    g.Category,
			Message:     g.Message,
			Count:       g.Count,
			FirstSeen:   g.FirstSeen.UTC(),
			LastSeen:    g.LastSeen.UTC(),
		})
	}
	return sec
}

func buildPerformance(agg *aggregate) *PerformanceSection {
	sec := &PerformanceSection{
		Calls:       agg.total.Calls,
		SuccessRate: successRate(&agg.total),
		Latency:     latencyOf(&agg.total.Latency),
		TTFT:        ttftOf(&agg.total.TTFT),
		ByEndpoint:  make([]EndpointPerformance, 0, len(agg.endpoints)),
		ByModel:     make([]ModelPerformance, 0, len(agg.models)),
	}
	for _, e := range sortedEntries(agg.endpoints, lessString) {
		sec.ByEndpoint = append(sec.ByEndpoint, EndpointPerformance{
			Endpoint:    e.key,
			Calls:       e.stats.Calls,
			SuccessRate: successRate(e.stats),
			Latency:     latencyOf(&e.stats.Latency),
			TTFT:        ttftOf(&e.stats.TTFT),
		})
	}
	for _, e := range sortedEntries(agg.models, lessModel) {
		sec.ByModel = append(sec.ByModel, ModelPerformance{
			Provider:    e.key.provider,
			Model:       e.key.model,
			Calls:       e.stats.Calls,
			SuccessRate: successRate(e.stats),
			Latency:     latencyOf(&e.stats.Latency),
			TTFT:        ttftOf(&e.stats.TTFT),
		})
	}
	return sec
}

// buildRateLimits sums the counts of each rule over every limiter and lists
// the rules by rejections, then by allowed decisions, both descending, then
// by name.
func buildRateLimits(cfg *Config) *RateLimitsSection {
	byName := make(map[string]*RuleCounts)
	for _, l := range cfg.Limiters {
		if l == nil {
			continue
		}
		for _, rs := range l.Stats() {
			c, ok := byName[rs.Rule]
			if !ok {
				c = &RuleCounts{Rule: rs.Rule}
				byName[rs.Rule] = c
			}
			c.Allowed += rs.Allowed
			c.Rejected += rs.Rejected
		}
	}

	rules := make([]RuleCounts, 0, len(byName))
	for _, c := range byName {
		rules = append(rules, *c)
	}
	sort.Slice(rules, func(i, j int) bool {
		a, b := rules[i], rules[j]
		if a.Rejected != b.Rejected {
			return a.Rejected > b.Rejected
		}
		if a.Allowed != b.Allowed {
			return a.Allowed > b.Allowed
		}
		return a.Rule < b.Rule
	})
	return &RateLimitsSection{ByRule: rules}
}

func tokenCounts(t usage.Tokens) TokenCounts {
	return TokenCounts{
		Input:       t.Input,
		CachedInput: t.CachedInput,
		CacheWrite:  t.CacheWrite,
		Output:      t.Output,
		Reasoning:   t.Reasoning,
		Total:       t.Total(),
	}
}

// usd converts nano-dollars to dollars. The division is correctly rounded and
// encoding/json writes the shortest decimal that round-trips, so any amount
// below 10^15 nano-dollars (1 million USD), which has at most 15 significant
// digits, appears in the JSON as its exact decimal value.
func usd(nanos int64) float64 { return float64(nanos) / 1e9 }

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func latencyOf(h *usage.Histogram) Latency {
	if h.Count() == 0 {
		return Latency{}
	}
	return Latency{
		P50:  millis(h.Quantile(0.50)),
		P95:  millis(h.Quantile(0.95)),
		P99:  millis(h.Quantile(0.99)),
		Mean: millis(h.Mean()),
		Max:  millis(h.Max()),
	}
}

// ttftOf returns nil for an empty histogram, which leaves ttft_ms out of the
// JSON.
func ttftOf(h *usage.Histogram) *Latency {
	if h.Count() == 0 {
		return nil
	}
	l := latencyOf(h)
	return &l
}

// ratio returns num/den, or 0 when den is 0.
func ratio(num, den int64) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

// successRate returns the share of calls without a provider failure, or 1
// without calls.
func successRate(s *usage.Stats) float64 {
	if s.Calls == 0 {
		return 1
	}
	return float64(s.Calls-s.Errors) / float64(s.Calls)
}

// flushTimeout bounds how long Build waits for a tracker to write what it
// has queued.
const flushTimeout = time.Second

// flushTracker waits, up to flushTimeout, until the tracker has written the
// records it queued, so that a snapshot shows every call that has already
// returned. A tracker without a Flush method, or one whose store is down,
// costs no more than that wait.
func flushTracker(ctx context.Context, t TrackerStatser) {
	f, ok := t.(interface{ Flush(context.Context) error })
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	_ = f.Flush(ctx)
}
