package dashboardtest

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
)

// fixtureNow is the fixed time of the store's and the snapshots' clocks, so
// the page shows the same data on every run.
var fixtureNow = time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)

func fixtureClock() time.Time { return fixtureNow }

// xssModel is a model name that runs script if a page inserts it as markup.
const xssModel = "<img src=x onerror=alert(1)>"

// xssMessage is an error message that runs script if a page inserts it as
// markup.
const xssMessage = `upstream said: <script>alert(2)</script><b onmouseover=alert(3)>bold</b>`

// modelSpec describes the calls the fixture makes to one model. Rates are
// nano-dollars per token (USD per million tokens times 1,000), and zero
// rates leave the model unpriced.
type modelSpec struct {
	provider, model, endpoint, operation string
	share                                float64 // fraction of all calls
	input, output, reasoning, cached     int64
	inputRate, outputRate                int64
	latency                              time.Duration
	stream                               bool
}

var fixtureModels = []modelSpec{
	{provider: "openai", model: "gpt-4o-mini", endpoint: "/api/ai/chat", operation: "chat", share: 0.45,
		input: 1400, output: 320, cached: 600, inputRate: 150, outputRate: 600, latency: 3200 * time.Millisecond, stream: true},
	{provider: "openai", model: "gpt-4o", endpoint: "/api/ai/agent", operation: "chat", share: 0.18,
		input: 3200, output: 700, inputRate: 2500, outputRate: 10000, latency: 2400 * time.Millisecond},
	{provider: "openai", model: "o3-mini", endpoint: "/api/ai/agent", operation: "chat", share: 0.05,
		input: 1800, output: 2600, reasoning: 1900, inputRate: 1100, outputRate: 4400, latency: 6500 * time.Millisecond},
	{provider: "anthropic", model: "claude-3-5-haiku", endpoint: "/api/ai/summarize", operation: "chat", share: 0.14,
		input: 5200, output: 400, cached: 2000, inputRate: 800, outputRate: 4000, latency: 4100 * time.Millisecond, stream: true},
	{provider: "openai", model: "text-embedding-3-small", endpoint: "/api/ai/embed", operation: "embeddings", share: 0.12,
		input: 800, inputRate: 20, latency: 180 * time.Millisecond},
	{provider: "openai", model: "ft:gpt-4o-mini:acme::7p2k", endpoint: "/api/ai/chat", operation: "chat", share: 0.03,
		input: 900, output: 150, latency: 1100 * time.Millisecond},
	{provider: "selfhosted", model: xssModel, endpoint: "/api/ai/chat", operation: "chat", share: 0.03,
		input: 600, output: 200, inputRate: 50, outputRate: 50, latency: 700 * time.Millisecond},
}

var fixtureKeys = []string{"team-search", "team-support", "team-search", "mobile-app", "batch-jobs", "team-support", ""}

// fixtureRecords returns seven days of calls, busier in the afternoon (UTC)
// than at night, with failures of several categories. It is deterministic:
// the spread of latencies and tokens comes from the call's index.
func fixtureRecords() []usage.Record {
	var records []usage.Record
	n := 0
	for h := 7 * 24; h >= 1; h-- {
		hourStart := fixtureNow.Add(-time.Duration(h) * time.Hour)
		// 20 to 70 calls an hour, peaking at 15:00 UTC.
		load := 45 + 25*math.Cos(2*math.Pi*float64(hourStart.Hour()-15)/24)
		perHour := int(load)
		for i := 0; i < perHour; i++ {
			n++
			spec := pickModel(n)
			at := hourStart.Add(time.Duration(i) * time.Hour / time.Duration(perHour)).Add(time.Duration(n%50) * time.Second)
			records = append(records, fixtureCall(spec, at, n))
		}
	}
	return records
}

// pickModel spreads the calls over the models by their shares. The golden
// ratio scatters consecutive calls evenly over [0, 1), so each model's
// calls fall at different minutes of every hour.
func pickModel(n int) modelSpec {
	pos := math.Mod(float64(n)*0.6180339887498949, 1)
	var sum float64
	for _, m := range fixtureModels {
		sum += m.share
		if pos < sum {
			return m
		}
	}
	return fixtureModels[0]
}

func fixtureCall(spec modelSpec, at time.Time, n int) usage.Record {
	// A spread of 0.6 to 1.6 around the model's typical latency and tokens.
	spread := 0.6 + float64((n*37)%100)/100
	r := usage.Record{
		Time: at,
		Call: usage.Call{
			Endpoint: spec.endpoint, Provider: spec.provider, Model: spec.model, Operation: spec.operation,
			Key: fixtureKeys[n%len(fixtureKeys)],
		},
		Latency: time.Duration(float64(spec.latency) * spread),
		Stream:  spec.stream && n%3 != 0,
	}
	if r.Stream {
		r.TTFT = time.Duration(float64(r.Latency) * 0.18)
		r.Chunks = 40
	}

	switch {
	case n%97 == 0:
		r.Error, r.HTTPStatus, r.Latency = errmon.RateLimited, 429, 120*time.Millisecond
	case n%131 == 0:
		r.Error, r.HTTPStatus = errmon.ProviderError, 502
	case n%509 == 0:
		r.Error, r.Latency = errmon.Timeout, 30*time.Second
	case n%211 == 0:
		r.Error = errmon.Canceled
	case n%251 == 0:
		r.Error, r.HTTPStatus, r.Latency = errmon.ContextLength, 400, 300*time.Millisecond
	}
	if r.Error != "" {
		r.Stream, r.TTFT, r.Chunks = false, 0, 0
		return r
	}

	r.UsageKnown = true
	r.Tokens = usage.Tokens{
		Input:       int64(float64(spec.input) * spread),
		CachedInput: int64(float64(spec.cached) * spread),
		Output:      int64(float64(spec.output) * spread),
		Reasoning:   int64(float64(spec.reasoning) * spread),
	}
	if spec.inputRate > 0 {
		r.Priced = true
		r.CostNanos = r.Tokens.Input*spec.inputRate + r.Tokens.Output*spec.outputRate
	}
	return r
}

// fixedErrors is an analytics.ErrorSource over a fixed list of events.
type fixedErrors struct{ events []errmon.Event }

func (f fixedErrors) Recent(limit int) []errmon.Event {
	if limit < len(f.events) {
		return f.events[:limit]
	}
	return f.events
}

// Groups returns one group per fingerprint, in the order of first sight.
func (f fixedErrors) Groups(limit int) []errmon.Group {
	var groups []errmon.Group
	index := make(map[string]int)
	for _, ev := range f.events {
		i, ok := index[ev.Fingerprint]
		if !ok {
			i = len(groups)
			index[ev.Fingerprint] = i
			groups = append(groups, errmon.Group{Fingerprint: ev.Fingerprint, Category: ev.Category, Message: ev.Message, FirstSeen: ev.Time, LastSeen: ev.Time})
		}
		g := &groups[i]
		g.Count++
		if ev.Time.Before(g.FirstSeen) {
			g.FirstSeen = ev.Time
		}
		if ev.Time.After(g.LastSeen) {
			g.LastSeen = ev.Time
		}
	}
	if limit < len(groups) {
		groups = groups[:limit]
	}
	return groups
}

func fixtureErrors() fixedErrors {
	ev := func(ago time.Duration, id string, cat errmon.Category, status int, endpoint, model, msg, fp string) errmon.Event {
		return errmon.Event{ID: id, Time: fixtureNow.Add(-ago), Category: cat, HTTPStatus: status,
			Endpoint: endpoint, Provider: "openai", Model: model, Message: msg, Fingerprint: fp}
	}
	return fixedErrors{events: []errmon.Event{
		ev(3*time.Minute, "ev-7", errmon.RateLimited, 429, "/api/ai/chat", "gpt-4o-mini",
			"Rate limit reached for gpt-4o-mini on requests per min. Please try again in 1.2s.", "fp-rate"),
		ev(9*time.Minute, "ev-6", errmon.ProviderError, 502, "/api/ai/chat", xssModel, xssMessage, "fp-xss"),
		ev(26*time.Minute, "ev-5", errmon.RateLimited, 429, "/api/ai/chat", "gpt-4o-mini",
			"Rate limit reached for gpt-4o-mini on requests per min. Please try again in 0.8s.", "fp-rate"),
		ev(2*time.Hour, "ev-4", errmon.ContextLength, 400, "/api/ai/agent", "gpt-4o",
			"This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens.", "fp-context"),
		ev(5*time.Hour, "ev-3", errmon.Timeout, 0, "/api/ai/summarize", "claude-3-5-haiku", "context deadline exceeded", "fp-timeout"),
		ev(11*time.Hour, "ev-2", errmon.ProviderError, 502, "/api/ai/agent", "gpt-4o", "<html>502 Bad Gateway</html>", "fp-502"),
	}}
}

// fixedLimiter reports fixed rate-limit counts.
type fixedLimiter []ratelimit.RuleStats

func (f fixedLimiter) Stats() []ratelimit.RuleStats { return f }

// newFixtureServer starts a loopback server with the JSON API at
// /api/analytics and the dashboard at /dashboard over the records, the
// fixture's error events and fixed rate-limit counts.
func newFixtureServer(t *testing.T, records []usage.Record) *httptest.Server {
	t.Helper()

	store := usage.NewMemoryStore(usage.WithRetention(7*24*time.Hour), usage.WithStoreClock(fixtureClock))
	t.Cleanup(func() { _ = store.Close() })
	if len(records) > 0 {
		if err := store.Write(context.Background(), records); err != nil {
			t.Fatalf("write fixture records: %v", err)
		}
	}

	cfg := analytics.Config{
		Store:  store,
		Errors: fixtureErrors(),
		Limiters: []ratelimit.StatsReporter{fixedLimiter{
			{Rule: "api", Allowed: 5120, Rejected: 37},
			{Rule: "agent", Allowed: 812, Rejected: 12},
			{Rule: "stream", Allowed: 1433, Rejected: 0},
		}},
		Clock: fixtureClock,
	}
	mux := http.NewServeMux()
	mux.Handle("/api/analytics", analytics.Handler(cfg))
	// An hour between refreshes keeps the page still while the test reads
	// it.
	mux.Handle("/dashboard", analytics.Dashboard(analytics.DashboardConfig{APIPath: "/api/analytics", RefreshInterval: time.Hour}))

	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
