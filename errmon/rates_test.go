package errmon_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

// Set moves the clock to t.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var (
	chatMini = errmon.CallInfo{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"}
	chat4o   = errmon.CallInfo{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o", Operation: "chat"}
	agent    = errmon.CallInfo{Endpoint: "/api/ai/agent", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"}
	claude   = errmon.CallInfo{Endpoint: "/api/ai/chat", Provider: "anthropic", Model: "claude-sonnet-4", Operation: "chat"}
	embed    = errmon.CallInfo{Endpoint: "/api/ai/search", Provider: "openai", Model: "text-embedding-3-small", Operation: "embeddings"}
)

// errServer is a provider failure, which counts as an error.
var errServer = errors.New("error, status code: 500, status: 500 Internal Server Error, message: server error")

// record counts successes and failures of info at the clock's time.
func record(m *errmon.Monitor, info errmon.CallInfo, successes, failures int) {
	for i := 0; i < successes; i++ {
		m.RecordSuccess(info)
	}
	for i := 0; i < failures; i++ {
		m.Record(errServer, info)
	}
}

func TestRateWindows(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	t0 := clock.Now() // a bucket boundary
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})

	// The calls are placed by their age at now = t0+61m, on bucket
	// boundaries, so each is inside the windows that reach back to it.
	clock.Set(t0) // 61 minutes old: outside every window
	record(m, chatMini, 16, 0)
	clock.Set(t0.Add(2 * time.Minute)) // 59 minutes old
	record(m, chatMini, 5, 3)
	clock.Set(t0.Add(47 * time.Minute)) // 14 minutes old
	record(m, chatMini, 4, 0)
	clock.Set(t0.Add(57 * time.Minute)) // 4 minutes old
	record(m, chatMini, 1, 1)
	clock.Set(t0.Add(60*time.Minute + 30*time.Second)) // 30 seconds old
	record(m, chatMini, 1, 0)
	clock.Set(t0.Add(61 * time.Minute))

	tests := []struct {
		name       string
		window     time.Duration
		wantCalls  int64
		wantErrors int64
	}{
		{"1m", time.Minute, 1, 0},
		{"5m", 5 * time.Minute, 3, 1},
		{"15m", 15 * time.Minute, 7, 1},
		{"1h", time.Hour, 15, 4},
		{"longer than 1h counts 1h", 24 * time.Hour, 15, 4},
		{"zero", 0, 0, 0},
		{"negative", -time.Minute, 0, 0},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := m.Rate(tt.window, errmon.CallInfo{})
			assert.Equal(t, tt.wantCalls, got.Calls, "calls")
			assert.Equal(t, tt.wantErrors, got.Errors, "errors")
			if tt.wantCalls > 0 {
				assert.InDelta(t, float64(tt.wantErrors)/float64(tt.wantCalls), got.ErrorRate, 1e-12)
			} else {
				assert.Zero(t, got.ErrorRate)
			}
		})
	}
}

func TestRateBucketEdges(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	t0 := clock.Now()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})

	// One call in the last nanosecond of bucket 0, one in the first of
	// bucket 1.
	clock.Set(t0.Add(errmon.RateBucket - 1))
	m.RecordSuccess(chatMini)
	clock.Set(t0.Add(errmon.RateBucket))
	m.RecordSuccess(chatMini)

	// A 1-minute window is the current bucket and the five before it.
	tests := []struct {
		name string
		now  time.Duration // after t0
		want int64
	}{
		{"end of bucket 5 reaches bucket 0", 6*errmon.RateBucket - 1, 2},
		{"start of bucket 6 leaves bucket 0", 6 * errmon.RateBucket, 1},
		{"end of bucket 6 keeps bucket 1", 7*errmon.RateBucket - 1, 1},
		{"start of bucket 7 leaves bucket 1", 7 * errmon.RateBucket, 0},
	}
	for _, tt := range tests {
		clock.Set(t0.Add(tt.now))
		assert.Equal(t, tt.want, m.Rate(time.Minute, errmon.CallInfo{}).Calls, tt.name)
	}
}

func TestRateHourEdgeAndBucketReuse(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	t0 := clock.Now()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})
	record(m, chatMini, 2, 1)

	clock.Set(t0.Add(time.Hour - 1))
	assert.Equal(t, int64(3), m.Rate(time.Hour, errmon.CallInfo{}).Calls, "last nanosecond of the hour")

	clock.Set(t0.Add(time.Hour))
	assert.Zero(t, m.Rate(time.Hour, errmon.CallInfo{}).Calls, "an hour later")

	// The new call reuses the bucket of t0, which must start from zero.
	m.RecordSuccess(chatMini)
	got := m.Rate(time.Hour, errmon.CallInfo{})
	assert.Equal(t, int64(1), got.Calls)
	assert.Zero(t, got.Errors)
	assert.Nil(t, got.ByCategory)
}

func TestRateFilters(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})
	record(m, chatMini, 8, 2)
	record(m, chat4o, 4, 1)
	record(m, agent, 3, 0)
	record(m, claude, 2, 2)
	record(m, embed, 5, 0)

	tests := []struct {
		name       string
		filter     errmon.CallInfo
		wantCalls  int64
		wantErrors int64
	}{
		{"all", errmon.CallInfo{}, 27, 5},
		{"endpoint", errmon.CallInfo{Endpoint: "/api/ai/chat"}, 19, 5},
		{"provider", errmon.CallInfo{Provider: "openai"}, 23, 3},
		{"model", errmon.CallInfo{Model: "gpt-4o-mini"}, 13, 2},
		{"operation", errmon.CallInfo{Operation: "embeddings"}, 5, 0},
		{"endpoint and model", errmon.CallInfo{Endpoint: "/api/ai/chat", Model: "gpt-4o-mini"}, 10, 2},
		{"provider and model", errmon.CallInfo{Provider: "anthropic", Model: "claude-sonnet-4"}, 4, 2},
		{"full key", chat4o, 5, 1},
		{"no match", errmon.CallInfo{Endpoint: "/missing"}, 0, 0},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := m.Rate(5*time.Minute, tt.filter)
			assert.Equal(t, tt.wantCalls, got.Calls, "calls")
			assert.Equal(t, tt.wantErrors, got.Errors, "errors")
		})
	}
}

func TestRateCanceledIsNotAnError(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{Clock: newFakeClock().Now})
	m.RecordSuccess(chatMini)
	m.Record(fmt.Errorf("chat: %w", context.Canceled), chatMini)
	m.Record(fmt.Errorf("chat: %w", context.DeadlineExceeded), chatMini)
	m.Record(apiError(401, "invalid_api_key", "", "Incorrect API key provided."), chatMini)

	got := m.Rate(time.Minute, errmon.CallInfo{})

	assert.Equal(t, int64(4), got.Calls)
	assert.Equal(t, int64(2), got.Errors)
	assert.InDelta(t, 0.5, got.ErrorRate, 1e-12)
	assert.Equal(t, map[errmon.Category]int64{errmon.Canceled: 1, errmon.Timeout: 1, errmon.Auth: 1}, got.ByCategory)
}

func TestRatesPerSeries(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{Clock: newFakeClock().Now})
	record(m, chat4o, 2, 1)
	record(m, chatMini, 3, 0)
	record(m, agent, 3, 0)
	secret := errmon.CallInfo{Endpoint: "/proxy?api_key=abc123", Provider: "openai"}
	m.RecordSuccess(secret)

	got := m.Rates(time.Minute)

	want := []errmon.SeriesRate{
		{CallInfo: agent, Rate: errmon.Rate{Calls: 3}},
		{CallInfo: chat4o, Rate: errmon.Rate{Calls: 3, Errors: 1, ErrorRate: 1.0 / 3, ByCategory: map[errmon.Category]int64{errmon.ProviderError: 1}}},
		{CallInfo: chatMini, Rate: errmon.Rate{Calls: 3}},
		{CallInfo: errmon.CallInfo{Endpoint: "/proxy?api_key=[REDACTED]", Provider: "openai"}, Rate: errmon.Rate{Calls: 1}},
	}
	assert.Equal(t, want, got)
	assert.Nil(t, m.Rates(0))
}

func TestSeriesCapFoldsIntoOther(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{Clock: newFakeClock().Now, MaxSeries: 2})
	record(m, chatMini, 1, 0)
	record(m, chat4o, 1, 0)
	record(m, agent, 2, 1)
	record(m, embed, 1, 0)

	assert.Equal(t, 2, errmon.SeriesCount(m))
	other := errmon.CallInfo{Endpoint: errmon.OtherSeries, Provider: errmon.OtherSeries, Model: errmon.OtherSeries, Operation: errmon.OtherSeries}
	want := []errmon.SeriesRate{
		{CallInfo: other, Rate: errmon.Rate{Calls: 4, Errors: 1, ErrorRate: 0.25, ByCategory: map[errmon.Category]int64{errmon.ProviderError: 1}}},
		{CallInfo: chat4o, Rate: errmon.Rate{Calls: 1}},
		{CallInfo: chatMini, Rate: errmon.Rate{Calls: 1}},
	}
	assert.Equal(t, want, m.Rates(time.Minute))
	assert.Equal(t, int64(6), m.Rate(time.Minute, errmon.CallInfo{}).Calls, "the total counts folded calls")
	assert.Zero(t, m.Rate(time.Minute, errmon.CallInfo{Endpoint: "/api/ai/agent"}).Calls, "a folded call matches no filter of its own")
	assert.Equal(t, int64(4), m.Rate(time.Minute, errmon.CallInfo{Endpoint: errmon.OtherSeries}).Calls)
}

func TestIdleSeriesDroppedAtCap(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now, MaxSeries: 2})
	record(m, chatMini, 1, 0)
	clock.Advance(30 * time.Minute)
	record(m, chat4o, 1, 0)

	// chatMini has been idle for an hour, chat4o for 30 minutes.
	clock.Advance(30 * time.Minute)
	record(m, agent, 1, 0)

	assert.Equal(t, 2, errmon.SeriesCount(m))
	var got []errmon.CallInfo
	for _, r := range m.Rates(time.Hour) {
		got = append(got, r.CallInfo)
	}
	assert.Equal(t, []errmon.CallInfo{agent, chat4o}, got, "agent took the place of chatMini")
}

func TestIdleSeriesDroppedBySweep(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})
	record(m, chatMini, 1, 0)
	record(m, chat4o, 1, 0)
	clock.Advance(10 * time.Minute)
	record(m, agent, 1, 0)
	require.Equal(t, 3, errmon.SeriesCount(m))

	// The first call of a later minute sweeps. chatMini and chat4o have
	// had no call since the start.
	clock.Advance(49 * time.Minute)
	record(m, agent, 1, 0)
	assert.Equal(t, 3, errmon.SeriesCount(m), "59 minutes idle")

	clock.Advance(time.Minute)
	record(m, agent, 1, 0)
	assert.Equal(t, 1, errmon.SeriesCount(m), "60 minutes idle")

	// A dropped series comes back with a clean count.
	record(m, chatMini, 2, 0)
	assert.Equal(t, int64(2), m.Rate(time.Hour, chatMini).Calls)
}

func TestIdleSeriesDroppedByEvaluate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})
	record(m, chatMini, 1, 0)

	m.EvaluateAt(clock.Now().Add(time.Hour))

	assert.Zero(t, errmon.SeriesCount(m))
}

func TestRecordSuccessConcurrent(t *testing.T) {
	t.Parallel()
	const goroutines, perGoroutine = 8, 2000
	m := errmon.NewMonitor(errmon.Config{Clock: newFakeClock().Now, MaxSeries: 2})
	infos := []errmon.CallInfo{chatMini, chat4o, agent, embed}

	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		g := g
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perGoroutine; i++ {
				m.RecordSuccess(infos[(g+i)%len(infos)])
				if i%500 == 0 {
					m.Rates(time.Minute)
				}
			}
		}()
	}
	wg.Wait()

	assert.Equal(t, int64(goroutines*perGoroutine), m.Rate(time.Minute, errmon.CallInfo{}).Calls)
	var sum int64
	for _, r := range m.Rates(time.Minute) {
		sum += r.Calls
	}
	assert.Equal(t, int64(goroutines*perGoroutine), sum)
	assert.Equal(t, 2, errmon.SeriesCount(m))
}

func TestRecordSuccessDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := errmon.NewMonitor(errmon.Config{
		Clock: newFakeClock().Now,
		Rules: []errmon.AlertRule{
			{Name: "all", Window: 5 * time.Minute, ErrorRate: 0.05, MinCalls: 20},
			{Name: "chat", Filter: errmon.CallInfo{Endpoint: chatMini.Endpoint}, Window: time.Minute, ErrorRate: 0.1},
			{Name: "auth", Window: 15 * time.Minute, Category: errmon.Auth},
		},
		OnAlert: []func(errmon.Alert){func(errmon.Alert) {}},
	})
	m.RecordSuccess(chatMini) // creates the series

	allocs := testing.AllocsPerRun(1000, func() { m.RecordSuccess(chatMini) })

	assert.Zero(t, allocs)
}
