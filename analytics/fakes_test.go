package analytics_test

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
)

// testNow is the fixed time of every test clock.
var testNow = time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

// fakeStore is a usage.Store over a fixed set of records, rolled up per
// minute and series the way a real store does it: stats built with
// Stats.Add, histograms compacted, rollups returned in map order.
type fakeStore struct {
	retention time.Duration
	rollups   []usage.Rollup
	err       error

	mu       sync.Mutex
	requests []storeRequest
}

// storeRequest is the window of one Rollups call.
type storeRequest struct{ since, until time.Time }

type rollupKey struct {
	start  time.Time
	series usage.Series
}

func newFakeStore(retention time.Duration, records []usage.Record) *fakeStore {
	byKey := make(map[rollupKey]*usage.Stats)
	for i := range records {
		r := &records[i]
		k := rollupKey{start: r.Time.UTC().Truncate(time.Minute), series: usage.SeriesOf(r)}
		s, ok := byKey[k]
		if !ok {
			s = new(usage.Stats)
			byKey[k] = s
		}
		s.Add(r)
	}

	st := &fakeStore{retention: retention}
	for k, s := range byKey {
		s.Latency.Compact()
		s.TTFT.Compact()
		st.rollups = append(st.rollups, usage.Rollup{Start: k.start, Width: time.Minute, Series: k.series, Stats: *s})
	}
	return st
}

func (s *fakeStore) Write(context.Context, []usage.Record) error {
	return errors.New("fake store is read-only")
}

func (s *fakeStore) Rollups(_ context.Context, since, until time.Time) ([]usage.Rollup, error) {
	s.mu.Lock()
	s.requests = append(s.requests, storeRequest{since: since, until: until})
	s.mu.Unlock()

	if s.err != nil {
		return nil, s.err
	}
	out := make([]usage.Rollup, 0, len(s.rollups))
	for _, r := range s.rollups {
		if !r.Start.Before(since) && r.Start.Before(until) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *fakeStore) Recent(context.Context, int) ([]usage.Record, error) { return nil, nil }

func (s *fakeStore) Retention() time.Duration { return s.retention }

func (s *fakeStore) Close() error { return nil }

func (s *fakeStore) lastRequest() storeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return storeRequest{}
	}
	return s.requests[len(s.requests)-1]
}

func (s *fakeStore) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// fakeErrors is an ErrorSource over fixed events and groups. It records the
// limits it was asked for.
type fakeErrors struct {
	events []errmon.Event
	groups []errmon.Group

	mu          sync.Mutex
	recentLimit int
	groupsLimit int
}

func (f *fakeErrors) Recent(limit int) []errmon.Event {
	f.mu.Lock()
	f.recentLimit = limit
	f.mu.Unlock()
	if limit < len(f.events) {
		return f.events[:limit]
	}
	return f.events
}

func (f *fakeErrors) Groups(limit int) []errmon.Group {
	f.mu.Lock()
	f.groupsLimit = limit
	f.mu.Unlock()
	if limit < len(f.groups) {
		return f.groups[:limit]
	}
	return f.groups
}

type fakeLimiter []ratelimit.RuleStats

func (f fakeLimiter) Stats() []ratelimit.RuleStats { return f }

type fakeTracker usage.TrackerStats

func (f fakeTracker) Stats() usage.TrackerStats { return usage.TrackerStats(f) }

// rec returns a successful, priced, unstreamed record of a call that started
// ago before testNow.
func rec(ago time.Duration, endpoint, provider, model string, latency time.Duration, in, out, costNanos int64) usage.Record {
	return usage.Record{
		Time:       testNow.Add(-ago),
		Call:       usage.Call{Endpoint: endpoint, Provider: provider, Model: model, Operation: "chat"},
		Tokens:     usage.Tokens{Input: in, Output: out},
		UsageKnown: true,
		Priced:     true,
		CostNanos:  costNanos,
		Latency:    latency,
	}
}

// failed returns a failed record with unknown usage.
func failed(ago time.Duration, endpoint, provider, model string, latency time.Duration, cat errmon.Category, status int) usage.Record {
	return usage.Record{
		Time:       testNow.Add(-ago),
		Call:       usage.Call{Endpoint: endpoint, Provider: provider, Model: model, Operation: "chat"},
		Latency:    latency,
		Error:      cat,
		HTTPStatus: status,
	}
}

// withKey sets the caller key of r.
func withKey(r usage.Record, key string) usage.Record {
	r.Call.Key = key
	return r
}

// streamed marks r as a streamed call with the given time to first token.
func streamed(r usage.Record, ttft time.Duration) usage.Record {
	r.Stream = true
	r.TTFT = ttft
	r.Chunks = 12
	return r
}

// fixtureRecords is the data of the golden files: three endpoints, two
// providers, three caller keys and calls without one, priced, unpriced and
// unknown-usage calls, streams, failures of several categories, and calls
// just outside a 24-hour window.
func fixtureRecords() []usage.Record {
	const ms = time.Millisecond
	var rs []usage.Record

	// Chat on gpt-4o-mini: the busiest series, spread over the day.
	for i := 0; i < 40; i++ {
		r := rec(time.Duration(i)*17*time.Minute+5*time.Second, "/api/ai/chat", "openai", "gpt-4o-mini",
			time.Duration(300+i*25)*ms, 1200, 300, 360_000)
		r.Tokens.CachedInput = 512
		if i%4 == 0 {
			r = streamed(r, time.Duration(150+i*5)*ms)
		}
		if i%2 == 0 {
			r = withKey(r, "team-a")
		} else {
			r = withKey(r, "team-b")
		}
		rs = append(rs, r)
	}

	// Agent calls on gpt-4o, with a slow tail.
	for i := 0; i < 12; i++ {
		lat := time.Duration(900+i*40) * ms
		if i == 11 {
			lat = 7200 * ms
		}
		rs = append(rs, withKey(rec(time.Duration(i)*43*time.Minute+20*time.Second, "/api/ai/agent", "openai", "gpt-4o",
			lat, 3000, 800, 5_615_000), "team-a"))
	}

	// A reasoning model with reasoning tokens.
	r := rec(3*time.Minute, "/api/ai/agent", "openai", "o3-mini", 4100*ms, 900, 2400, 11_550_000)
	r.Tokens.Reasoning = 1800
	rs = append(rs, withKey(r, "team-a"))

	// A fine-tuned model missing from the price table.
	for i := 0; i < 3; i++ {
		r := rec(time.Duration(i+1)*2*time.Hour, "/api/ai/chat", "openai", "ft:gpt-4o-mini:acme::abc123", 640*ms, 800, 120, 0)
		r.Priced = false
		rs = append(rs, withKey(r, "team-b"))
	}

	// A second provider on the summarize endpoint, streamed.
	for i := 0; i < 5; i++ {
		r := streamed(rec(time.Duration(i+1)*61*time.Minute, "/api/ai/summarize", "anthropic", "claude-3-5-haiku",
			time.Duration(1500+i*100)*ms, 4000, 250, 4_200_000), time.Duration(400+i*30)*ms)
		rs = append(rs, withKey(r, "svc-batch"))
	}

	// A streamed call whose response carried no usage.
	u := streamed(rec(9*time.Minute, "/api/ai/chat", "openai", "gpt-4o-mini", 2100*ms, 0, 0, 0), 210*ms)
	u.Tokens, u.UsageKnown, u.Priced = usage.Tokens{}, false, false
	rs = append(rs, withKey(u, "team-a"))

	// Failures: throttling, a server error, a timeout, and a canceled call
	// that is not a provider failure.
	// The throttled calls carry no key.
	rs = append(rs,
		failed(2*time.Minute, "/api/ai/chat", "openai", "gpt-4o-mini", 80*ms, errmon.RateLimited, 429),
		failed(4*time.Minute, "/api/ai/chat", "openai", "gpt-4o-mini", 95*ms, errmon.RateLimited, 429),
		withKey(failed(50*time.Minute, "/api/ai/agent", "openai", "gpt-4o", 1300*ms, errmon.ProviderError, 502), "team-a"),
		withKey(failed(7*time.Hour, "/api/ai/summarize", "anthropic", "claude-3-5-haiku", 30000*ms, errmon.Timeout, 0), "svc-batch"),
		withKey(failed(11*time.Minute, "/api/ai/chat", "openai", "gpt-4o-mini", 450*ms, errmon.Canceled, 0), "team-b"),
	)

	// Outside a 24-hour window ending at testNow: one minute too old, and
	// one in the current minute but after testNow's minute ends.
	rs = append(rs,
		rec(24*time.Hour+time.Minute, "/api/ai/chat", "openai", "gpt-4o-mini", 100*ms, 10, 10, 1_000_000_000),
		rec(-2*time.Minute, "/api/ai/chat", "openai", "gpt-4o-mini", 100*ms, 10, 10, 1_000_000_000),
	)
	return rs
}

// fixtureErrors returns the events and groups that match fixtureRecords'
// failures, plus one event and one group older than the 24-hour window.
func fixtureErrors() *fakeErrors {
	return &fakeErrors{
		events: []errmon.Event{
			{ID: "ev-5", Time: testNow.Add(-2 * time.Minute), Category: errmon.RateLimited, HTTPStatus: 429, Code: "rate_limit_exceeded",
				Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat",
				Message: "Rate limit reached for gpt-4o-mini in organization org-[redacted] on requests per min", Fingerprint: "fp-rate"},
			{ID: "ev-4", Time: testNow.Add(-4 * time.Minute), Category: errmon.RateLimited, HTTPStatus: 429, Code: "rate_limit_exceeded",
				Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat",
				Message: "Rate limit reached for gpt-4o-mini in organization org-[redacted] on requests per min", Fingerprint: "fp-rate"},
			{ID: "ev-3", Time: testNow.Add(-11 * time.Minute), Category: errmon.Canceled,
				Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat",
				Message: "context canceled", Fingerprint: "fp-cancel"},
			{ID: "ev-2", Time: testNow.Add(-50 * time.Minute), Category: errmon.ProviderError, HTTPStatus: 502,
				Endpoint: "/api/ai/agent", Provider: "openai", Model: "gpt-4o", Operation: "chat",
				Message: "<html>502 Bad Gateway</html>", Fingerprint: "fp-502"},
			{ID: "ev-1", Time: testNow.Add(-7 * time.Hour), Category: errmon.Timeout,
				Endpoint: "/api/ai/summarize", Provider: "anthropic", Model: "claude-3-5-haiku", Operation: "chat",
				Message: "context deadline exceeded", Fingerprint: "fp-timeout"},
			{ID: "ev-0", Time: testNow.Add(-30 * time.Hour), Category: errmon.Auth, HTTPStatus: 401,
				Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat",
				Message: "Incorrect API key provided: sk-[redacted]", Fingerprint: "fp-auth"},
		},
		groups: []errmon.Group{
			{Fingerprint: "fp-rate", Category: errmon.RateLimited, Message: "Rate limit reached for gpt-4o-mini in organization org-[redacted] on requests per min",
				Count: 2, FirstSeen: testNow.Add(-4 * time.Minute), LastSeen: testNow.Add(-2 * time.Minute)},
			{Fingerprint: "fp-cancel", Category: errmon.Canceled, Message: "context canceled",
				Count: 1, FirstSeen: testNow.Add(-11 * time.Minute), LastSeen: testNow.Add(-11 * time.Minute)},
			{Fingerprint: "fp-502", Category: errmon.ProviderError, Message: "<html>502 Bad Gateway</html>",
				Count: 1, FirstSeen: testNow.Add(-50 * time.Minute), LastSeen: testNow.Add(-50 * time.Minute)},
			{Fingerprint: "fp-timeout", Category: errmon.Timeout, Message: "context deadline exceeded",
				Count: 1, FirstSeen: testNow.Add(-7 * time.Hour), LastSeen: testNow.Add(-7 * time.Hour)},
			{Fingerprint: "fp-auth", Category: errmon.Auth, Message: "Incorrect API key provided: sk-[redacted]",
				Count: 1, FirstSeen: testNow.Add(-30 * time.Hour), LastSeen: testNow.Add(-30 * time.Hour)},
		},
	}
}

// fixtureLimiters returns two limiters that both report the api rule.
func fixtureLimiters() []ratelimit.StatsReporter {
	return []ratelimit.StatsReporter{
		fakeLimiter{{Rule: "api", Allowed: 180, Rejected: 7}, {Rule: "stream", Allowed: 40, Rejected: 0}},
		fakeLimiter{{Rule: "agent", Allowed: 19, Rejected: 7}, {Rule: "api", Allowed: 20, Rejected: 1}},
	}
}

// fixtureConfig returns a Config over the fixture data with a fixed clock.
func fixtureConfig() (analytics.Config, *fakeStore) {
	store := newFakeStore(24*time.Hour, fixtureRecords())
	return analytics.Config{
		Store:    store,
		Errors:   fixtureErrors(),
		Limiters: fixtureLimiters(),
		Tracker:  fakeTracker{Written: 68, Dropped: 3, Pending: 1},
		Clock:    fixedClock,
	}, store
}
