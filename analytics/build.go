package analytics

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// Build reads the rollups of the window that q selects from cfg.Store,
// merges them, and returns the Snapshot of the sections q.Type selects.
//
// Build reads the store through usage.ReadRollups with the query's bucket
// width, so a store that keeps wide rollups serves the aligned middle of
// the window from them. Its work grows with the number of rollups read
// (series times buckets of the width read) and of series points, never
// with the number of calls. Breakdown rows keep counters only, and latency
// histograms are merged only for the rows a breakdown lists, so a window
// with thousands of models or keys costs little more than one with a few.
// It returns a *QueryError when q is invalid, ErrNoStore when cfg has no
// Store, and the store's error, wrapped, when the read fails.
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
	// Every later step adds rollups up over the whole window or over one
	// bucket of the series, so rollups as wide as a bucket give the same
	// snapshot as minute rollups.
	rollups, err := usage.ReadRollups(ctx, cfg.Store, q.Since, q.Until, q.Bucket)
	if err != nil {
		return nil, fmt.Errorf("analytics: read rollups: %w", err)
	}

	// Every later step reads only the rollups that pass the filter.
	selected := make([]*usage.Rollup, 0, len(rollups))
	for i := range rollups {
		if q.Filter.matches(&rollups[i].Series) {
			selected = append(selected, &rollups[i])
		}
	}
	agg := newAggregate(selected, &q)
	buckets := bucketRollups(selected, q.Since, q.Until, q.Bucket)

	snap := &Snapshot{
		Type:        q.Type,
		GeneratedAt: now.UTC(),
		Window: Window{
			Since:         q.Since,
			Until:         q.Until,
			Bucket:        formatBucket(q.Bucket),
			BucketSeconds: int64(q.Bucket / time.Second),
		},
	}
	if !q.Filter.IsZero() {
		f := q.Filter
		snap.Filter = &f
	}
	all := q.Type == TypeAll
	if all || q.Type == TypeUsage {
		snap.Usage = buildUsage(&cfg, agg)
		snap.Usage.Series = usageSeries(buckets)
	}
	if all || q.Type == TypeErrors {
		snap.Errors = buildErrors(&cfg, agg, &q)
		snap.Errors.Series = errorSeries(buckets)
	}
	if all || q.Type == TypePerformance {
		snap.Performance = buildPerformance(agg, selected, q.Until.Sub(q.Since))
		snap.Performance.Series = performanceSeries(buckets)
	}
	if all {
		snap.RateLimits = buildRateLimits(&cfg)
		if cfg.Budgets != nil {
			b, err := buildBudgets(ctx, cfg.Budgets)
			if err != nil {
				return nil, err
			}
			snap.Budgets = b
		}
	}
	return snap, nil
}

// buildBudgets reads the budgets section from the guard.
func buildBudgets(ctx context.Context, g BudgetReporter) (*BudgetsSection, error) {
	keys, err := g.Report(ctx)
	if err != nil {
		return nil, fmt.Errorf("analytics: read budgets: %w", err)
	}
	if keys == nil {
		keys = []budget.BudgetStatus{}
	}
	return &BudgetsSection{Budgets: g.Budgets(), Keys: keys, Stats: g.Stats()}, nil
}

// aggregate holds the merged stats of a window: the total, and the ranked
// rows of the breakdowns by provider, model, endpoint and key.
type aggregate struct {
	// total merges every selected rollup, histograms included.
	total usage.Stats
	// totalTally sums the same rollups as total, for the stream speed.
	totalTally tally

	providers []row[string]
	models    []row[modelKey]
	endpoints []row[string]
	keys      []row[string]
}

// newAggregate merges the rollups into the total and into one tally per
// provider, model, endpoint and key, then ranks each breakdown by q.Sort
// and cuts it to q.Top rows. It reads the rollups and never keeps or
// changes them.
func newAggregate(rollups []*usage.Rollup, q *Query) *aggregate {
	providers := make(map[string]*tally)
	models := make(map[modelKey]*tally)
	endpoints := make(map[string]*tally)
	keys := make(map[string]*tally)

	a := &aggregate{}
	for _, r := range rollups {
		s := &r.Stats
		a.total.Merge(s)
		a.totalTally.add(s)
		tallyFor(providers, r.Series.Provider).add(s)
		tallyFor(models, modelKey{r.Series.Provider, r.Series.Model}).add(s)
		tallyFor(endpoints, r.Series.Endpoint).add(s)
		tallyFor(keys, r.Series.Key).add(s)
	}

	a.providers = rank(providers, lessString, q.Sort, q.Top)
	a.models = rank(models, lessModel, q.Sort, q.Top)
	a.endpoints = rank(endpoints, lessString, q.Sort, q.Top)
	a.keys = rank(keys, lessString, q.Sort, q.Top)
	return a
}

func buildUsage(cfg *Config, agg *aggregate) *UsageSection {
	sec := &UsageSection{
		Calls:             agg.total.Calls,
		UnpricedCalls:     agg.total.UnpricedCalls,
		UnknownUsageCalls: agg.total.UnknownUsageCalls,
		Tokens:            tokenCounts(agg.total.Tokens),
		CostUSD:           usd(agg.total.CostNanos),
		CacheHitRatio:     ratio(agg.total.Tokens.CachedInput, agg.total.Tokens.Input),
		ByProvider:        make([]ProviderUsage, 0, len(agg.providers)),
		ByModel:           make([]ModelUsage, 0, len(agg.models)),
		ByEndpoint:        make([]EndpointUsage, 0, len(agg.endpoints)),
		ByKey:             make([]KeyUsage, 0, len(agg.keys)),
	}
	if cfg.Tracker != nil {
		dropped := cfg.Tracker.Stats().Dropped
		sec.DroppedRecords = &dropped
	}

	for _, r := range agg.providers {
		sec.ByProvider = append(sec.ByProvider, ProviderUsage{
			Provider: r.key,
			Calls:    r.tally.calls,
			Tokens:   tokenCounts(r.tally.tokens),
			CostUSD:  usd(r.tally.costNanos),
			OtherRow: r.other,
		})
	}
	for _, r := range agg.models {
		sec.ByModel = append(sec.ByModel, ModelUsage{
			Provider:      r.key.provider,
			Model:         r.key.model,
			Calls:         r.tally.calls,
			Tokens:        tokenCounts(r.tally.tokens),
			CostUSD:       usd(r.tally.costNanos),
			UnpricedCalls: r.tally.unpriced,
			OtherRow:      r.other,
		})
	}
	for _, r := range agg.endpoints {
		sec.ByEndpoint = append(sec.ByEndpoint, EndpointUsage{
			Endpoint: r.key,
			Calls:    r.tally.calls,
			Tokens:   tokenCounts(r.tally.tokens),
			CostUSD:  usd(r.tally.costNanos),
			OtherRow: r.other,
		})
	}
	for _, r := range agg.keys {
		sec.ByKey = append(sec.ByKey, KeyUsage{
			Key:           r.key,
			Calls:         r.tally.calls,
			Errors:        r.tally.errors,
			Tokens:        tokenCounts(r.tally.tokens),
			CostUSD:       usd(r.tally.costNanos),
			UnpricedCalls: r.tally.unpriced,
			OtherRow:      r.other,
		})
	}
	return sec
}

func buildErrors(cfg *Config, agg *aggregate, q *Query) *ErrorsSection {
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

	for _, r := range agg.endpoints {
		sec.ByEndpoint = append(sec.ByEndpoint, EndpointErrors{
			Endpoint: r.key,
			Calls:    r.tally.calls,
			Errors:   r.tally.errors,
			Rate:     ratio(r.tally.errors, r.tally.calls),
			OtherRow: r.other,
		})
	}

	// Events carry no caller key, so none can be shown as a key's.
	if cfg.Errors == nil || q.Filter.Key != "" {
		return sec
	}
	fingerprints := make(map[string]bool)
	// NOTE: only the newest RecentErrors events are asked for, so a window
	// that ends well in the past, or a filter that matches few of them,
	// may list fewer events than it had.
	for _, ev := range cfg.Errors.Recent(cfg.recentErrors()) {
		if ev.Time.Before(q.Since) || !ev.Time.Before(q.Until) {
			continue
		}
		if !q.Filter.matches(&usage.Series{Endpoint: ev.Endpoint, Provider: ev.Provider, Model: ev.Model}) {
			continue
		}
		fingerprints[ev.Fingerprint] = true
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
		if g.LastSeen.Before(q.Since) || !g.FirstSeen.Before(q.Until) {
			continue
		}
		if !q.Filter.IsZero() && !fingerprints[g.Fingerprint] {
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

// buildPerformance summarizes the latencies of the window. Only the rows
// that the endpoint and model breakdowns list get histograms, which takes
// one more pass over the rollups.
func buildPerformance(agg *aggregate, rollups []*usage.Rollup, window time.Duration) *PerformanceSection {
	sec := &PerformanceSection{
		Calls:                       agg.total.Calls,
		SuccessRate:                 successRate(agg.total.Calls, agg.total.Errors),
		Latency:                     latencyOf(&agg.total.Latency),
		TTFT:                        ttftOf(&agg.total.TTFT),
		CallsPerMinute:              float64(agg.total.Calls) / window.Minutes(),
		StreamCalls:                 agg.total.StreamCalls,
		StreamOutputTokensPerSecond: agg.totalTally.streamSpeed(),
		ByEndpoint:                  make([]EndpointPerformance, 0, len(agg.endpoints)),
		ByModel:                     make([]ModelPerformance, 0, len(agg.models)),
	}

	endpointHist := rowHistograms(rollups, agg.endpoints, func(s *usage.Series) string { return s.Endpoint })
	for i, r := range agg.endpoints {
		sec.ByEndpoint = append(sec.ByEndpoint, EndpointPerformance{
			Endpoint:    r.key,
			Calls:       r.tally.calls,
			SuccessRate: successRate(r.tally.calls, r.tally.errors),
			Latency:     latencyOf(&endpointHist[i].latency),
			TTFT:        ttftOf(&endpointHist[i].ttft),
			OtherRow:    r.other,
		})
	}
	modelHist := rowHistograms(rollups, agg.models, func(s *usage.Series) modelKey { return modelKey{s.Provider, s.Model} })
	for i, r := range agg.models {
		sec.ByModel = append(sec.ByModel, ModelPerformance{
			Provider:                    r.key.provider,
			Model:                       r.key.model,
			Calls:                       r.tally.calls,
			SuccessRate:                 successRate(r.tally.calls, r.tally.errors),
			Latency:                     latencyOf(&modelHist[i].latency),
			TTFT:                        ttftOf(&modelHist[i].ttft),
			StreamOutputTokensPerSecond: r.tally.streamSpeed(),
			OtherRow:                    r.other,
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
	q := h.Quantiles(0.50, 0.95, 0.99)
	return Latency{
		P50:  millis(q[0]),
		P95:  millis(q[1]),
		P99:  millis(q[2]),
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
func successRate(calls, errors int64) float64 {
	if calls == 0 {
		return 1
	}
	return float64(calls-errors) / float64(calls)
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
