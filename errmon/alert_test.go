package errmon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

// alertSink collects the alerts of a Monitor.
type alertSink struct {
	mu     sync.Mutex
	alerts []errmon.Alert
}

func (s *alertSink) add(a errmon.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts = append(s.alerts, a)
}

// take waits for m's callbacks and returns the alerts collected since the
// last take.
func (s *alertSink) take(t *testing.T, m *errmon.Monitor) []errmon.Alert {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, m.FlushAlerts(ctx))

	s.mu.Lock()
	defer s.mu.Unlock()
	alerts := s.alerts
	s.alerts = nil
	return alerts
}

// newAlertMonitor returns a Monitor with rules and a fake clock, whose
// alerts go to the returned sink.
func newAlertMonitor(t *testing.T, rules ...errmon.AlertRule) (*errmon.Monitor, *fakeClock, *alertSink) {
	t.Helper()
	clock := newFakeClock()
	sink := &alertSink{}
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now, Rules: rules, OnAlert: []func(errmon.Alert){sink.add}})
	return m, clock, sink
}

func states(alerts []errmon.Alert) []errmon.AlertState {
	var got []errmon.AlertState
	for _, a := range alerts {
		got = append(got, a.State)
	}
	return got
}

func TestAlertFiresOnceAndResolvesOnce(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "chat errors", Filter: errmon.CallInfo{Endpoint: "/api/ai/chat"}, Window: time.Minute, ErrorRate: 0.1, MinCalls: 5}
	m, clock, sink := newAlertMonitor(t, rule)
	t0 := clock.Now()

	// 1 failure in 11 calls is 9%; 2 in 12 is 17%.
	record(m, chatMini, 10, 0)
	record(m, agent, 0, 5) // another endpoint, outside the filter
	record(m, chatMini, 0, 1)
	assert.Empty(t, sink.take(t, m), "9% is below the threshold")
	record(m, chatMini, 0, 4)

	fired := sink.take(t, m)
	require.Len(t, fired, 1)
	want := errmon.Alert{
		Rule: "chat errors", State: errmon.Firing, Value: 2.0 / 12, Threshold: 0.1,
		Calls: 12, Errors: 2, Window: time.Minute, Since: t0, At: t0,
		Filter: errmon.CallInfo{Endpoint: "/api/ai/chat"},
	}
	assert.Equal(t, want, fired[0])
	assert.Equal(t, []errmon.Alert{{
		Rule: "chat errors", State: errmon.Firing, Value: 5.0 / 15, Threshold: 0.1,
		Calls: 15, Errors: 5, Window: time.Minute, Since: t0, At: t0,
		Filter: errmon.CallInfo{Endpoint: "/api/ai/chat"},
	}}, m.ActiveAlerts())

	// The failures leave the window; the first call after that resolves.
	clock.Advance(time.Minute + 5*time.Second)
	record(m, chatMini, 10, 0)

	resolved := sink.take(t, m)
	require.Len(t, resolved, 1)
	assert.Equal(t, errmon.Resolved, resolved[0].State)
	assert.Equal(t, int64(1), resolved[0].Calls, "evaluated at the first call of the bucket")
	assert.Zero(t, resolved[0].Errors)
	assert.Equal(t, clock.Now(), resolved[0].Since)
	assert.Equal(t, clock.Now(), resolved[0].At)
	assert.Empty(t, m.ActiveAlerts())

	clock.Advance(time.Minute)
	record(m, chatMini, 10, 0)
	assert.Empty(t, sink.take(t, m))
}

// recordBucket records, in the bucket after the clock's, failures and then
// successes of chatMini, and evaluates at the end of the bucket.
func recordBucket(m *errmon.Monitor, clock *fakeClock, failures, successes int) {
	clock.Advance(errmon.RateBucket)
	record(m, chatMini, 0, failures)
	record(m, chatMini, successes, 0)
	m.EvaluateAt(clock.Now().Add(errmon.RateBucket - time.Second))
}

func TestAlertHoldPreventsFlapping(t *testing.T) {
	t.Parallel()
	// The window is one bucket, so each bucket is above 10% (2 failures
	// in 10 calls) or below it (none).
	rule := errmon.AlertRule{Name: "wavering", Window: errmon.RateBucket, ErrorRate: 0.1}

	t.Run("without hold", func(t *testing.T) {
		t.Parallel()
		m, clock, sink := newAlertMonitor(t, rule)
		for i := 0; i < 3; i++ {
			recordBucket(m, clock, 2, 8)
			recordBucket(m, clock, 0, 10)
		}
		want := []errmon.AlertState{errmon.Firing, errmon.Resolved, errmon.Firing, errmon.Resolved, errmon.Firing, errmon.Resolved}
		assert.Equal(t, want, states(sink.take(t, m)))
	})

	t.Run("with hold", func(t *testing.T) {
		t.Parallel()
		withHold := rule
		withHold.Hold = 30 * time.Second
		m, clock, sink := newAlertMonitor(t, withHold)

		for i := 0; i < 3; i++ {
			recordBucket(m, clock, 2, 8)
			recordBucket(m, clock, 0, 10)
		}
		assert.Empty(t, sink.take(t, m), "wavering for 60 s")

		// Above for 30 s of evaluations: the first at the start of the
		// first bucket, the last at the start of the fourth.
		start := clock.Now().Add(errmon.RateBucket)
		for i := 0; i < 3; i++ {
			recordBucket(m, clock, 2, 8)
		}
		assert.Empty(t, sink.take(t, m), "above for 29 s")
		recordBucket(m, clock, 2, 8)
		fired := sink.take(t, m)
		require.Len(t, fired, 1)
		assert.Equal(t, errmon.Firing, fired[0].State)
		assert.Equal(t, start, fired[0].Since)
		assert.Equal(t, start.Add(30*time.Second), fired[0].At)

		for i := 0; i < 3; i++ {
			recordBucket(m, clock, 0, 10)
			recordBucket(m, clock, 2, 8)
		}
		assert.Empty(t, sink.take(t, m), "wavering while firing")

		for i := 0; i < 4; i++ {
			recordBucket(m, clock, 0, 10)
		}
		assert.Equal(t, []errmon.AlertState{errmon.Resolved}, states(sink.take(t, m)))
	})
}

func TestAlertMinCalls(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "guarded", Window: 5 * time.Minute, ErrorRate: 0.05, MinCalls: 20}
	m, _, sink := newAlertMonitor(t, rule)

	record(m, chatMini, 0, 5)
	record(m, chatMini, 14, 0)
	assert.Empty(t, sink.take(t, m), "19 calls are too few")

	// A success is evaluated once per bucket, so the 20th call fires at
	// the next evaluation.
	m.RecordSuccess(chatMini)
	assert.Empty(t, sink.take(t, m))
	m.Evaluate()

	fired := sink.take(t, m)
	require.Len(t, fired, 1)
	assert.Equal(t, int64(20), fired[0].Calls)
	assert.Equal(t, int64(5), fired[0].Errors)
	assert.InDelta(t, 0.25, fired[0].Value, 1e-12)
}

func TestAlertSuccessEvaluatedAtNextBucket(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "guarded", Window: 5 * time.Minute, ErrorRate: 0.05, MinCalls: 20}
	m, clock, sink := newAlertMonitor(t, rule)
	record(m, chatMini, 0, 5)
	record(m, chatMini, 15, 0)
	assert.Empty(t, sink.take(t, m))

	clock.Advance(errmon.RateBucket)
	m.RecordSuccess(chatMini)

	fired := sink.take(t, m)
	require.Len(t, fired, 1)
	assert.Equal(t, int64(21), fired[0].Calls)
}

func TestAlertAnyAuthError(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "auth", Window: 15 * time.Minute, Category: errmon.Auth}
	m, clock, sink := newAlertMonitor(t, rule)
	authErr := apiError(401, "invalid_api_key", "", "Incorrect API key provided.")

	record(m, chatMini, 100, 0)
	m.Record(apiError(429, "rate_limit_exceeded", "", "Rate limit reached."), chatMini)
	assert.Empty(t, sink.take(t, m))

	m.Record(authErr, agent)
	fired := sink.take(t, m)
	require.Len(t, fired, 1, "fires at the first auth error")
	assert.Equal(t, errmon.Alert{
		Rule: "auth", State: errmon.Firing, Value: 1, Threshold: 1, Calls: 102, Errors: 1,
		Window: 15 * time.Minute, Since: clock.Now(), At: clock.Now(), Category: errmon.Auth,
	}, fired[0])

	clock.Advance(time.Minute)
	m.Record(authErr, chatMini)
	assert.Empty(t, sink.take(t, m), "fires once")

	clock.Advance(15 * time.Minute)
	m.Evaluate()
	resolved := sink.take(t, m)
	require.Len(t, resolved, 1)
	assert.Equal(t, errmon.Resolved, resolved[0].State)
	assert.Zero(t, resolved[0].Value)
}

func TestAlertCategoryMinErrors(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "rate limits", Window: time.Minute, Category: errmon.RateLimited, MinErrors: 3}
	m, _, sink := newAlertMonitor(t, rule)
	rateLimit := apiError(429, "rate_limit_exceeded", "", "Rate limit reached.")

	m.Record(rateLimit, chatMini)
	m.Record(rateLimit, chatMini)
	m.Record(errServer, chatMini)
	assert.Empty(t, sink.take(t, m))
	m.Record(rateLimit, chatMini)

	fired := sink.take(t, m)
	require.Len(t, fired, 1)
	assert.Equal(t, float64(3), fired[0].Value)
	assert.Equal(t, float64(3), fired[0].Threshold)
}

func TestAlertCanceledIsNotAnError(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "errors", Window: time.Minute, ErrorRate: 0.1}
	m, _, sink := newAlertMonitor(t, rule)

	for i := 0; i < 5; i++ {
		m.Record(context.Canceled, chatMini)
	}

	assert.Empty(t, sink.take(t, m))
}

func TestAlertResolvesAfterTrafficStops(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "errors", Window: 5 * time.Minute, ErrorRate: 0.5}
	m, clock, sink := newAlertMonitor(t, rule)
	t0 := clock.Now()
	record(m, chatMini, 1, 3)
	require.Equal(t, []errmon.AlertState{errmon.Firing}, states(sink.take(t, m)))

	// Without calls or Evaluate, nothing is evaluated.
	clock.Advance(time.Hour)
	assert.Len(t, m.ActiveAlerts(), 1)

	m.EvaluateAt(t0.Add(5*time.Minute - time.Nanosecond))
	assert.Empty(t, sink.take(t, m), "the failures are still in the window")

	m.EvaluateAt(t0.Add(5 * time.Minute))
	resolved := sink.take(t, m)
	require.Len(t, resolved, 1)
	assert.Equal(t, errmon.Resolved, resolved[0].State)
	assert.Equal(t, t0.Add(5*time.Minute), resolved[0].At)
	assert.Zero(t, resolved[0].Calls)
	assert.Empty(t, m.ActiveAlerts())
}

func TestAlertEvaluationNeverGoesBack(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "errors", Window: 5 * time.Minute, ErrorRate: 0.5, Hold: time.Minute}
	m, clock, sink := newAlertMonitor(t, rule)
	record(m, chatMini, 0, 1)

	// An evaluation with an older time counts as one at the newest time.
	m.EvaluateAt(clock.Now().Add(-time.Hour))
	m.EvaluateAt(clock.Now().Add(59 * time.Second))
	assert.Empty(t, sink.take(t, m))
	m.EvaluateAt(clock.Now().Add(time.Minute))
	assert.Equal(t, []errmon.AlertState{errmon.Firing}, states(sink.take(t, m)))
}

func TestAlertCountsFoldedCalls(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	sink := &alertSink{}
	m := errmon.NewMonitor(errmon.Config{
		Clock:     clock.Now,
		MaxSeries: 1,
		Rules:     []errmon.AlertRule{{Name: "agent", Filter: errmon.CallInfo{Endpoint: "/api/ai/agent"}, Window: time.Minute, ErrorRate: 0.5}},
		OnAlert:   []func(errmon.Alert){sink.add},
	})
	record(m, chatMini, 1, 0) // takes the only series
	record(m, agent, 1, 0)
	record(m, embed, 0, 5)
	assert.Empty(t, sink.take(t, m))

	record(m, agent, 0, 2)

	fired := sink.take(t, m)
	require.Len(t, fired, 1)
	assert.Equal(t, int64(3), fired[0].Calls)
	assert.Equal(t, int64(2), fired[0].Errors)
}

func TestAlertRuleValidate(t *testing.T) {
	t.Parallel()
	valid := errmon.AlertRule{Name: "r", Window: time.Minute, ErrorRate: 0.05}
	tests := []struct {
		name    string
		change  func(r *errmon.AlertRule)
		wantErr string // empty for a valid rule
	}{
		{"error-rate rule", func(r *errmon.AlertRule) {}, ""},
		{"category rule", func(r *errmon.AlertRule) { r.ErrorRate, r.Category, r.MinErrors = 0, errmon.Auth, 2 }, ""},
		{"longest window", func(r *errmon.AlertRule) { r.Window = errmon.MaxRateWindow }, ""},
		{"missing name", func(r *errmon.AlertRule) { r.Name = "" }, "Name is empty"},
		{"zero window", func(r *errmon.AlertRule) { r.Window = 0 }, "Window 0s is out of range"},
		{"window too long", func(r *errmon.AlertRule) { r.Window = 2 * time.Hour }, "Window 2h0m0s is out of range"},
		{"negative hold", func(r *errmon.AlertRule) { r.Hold = -time.Second }, "Hold -1s is negative"},
		{"negative min calls", func(r *errmon.AlertRule) { r.MinCalls = -1 }, "MinCalls -1 is negative"},
		{"no kind", func(r *errmon.AlertRule) { r.ErrorRate = 0 }, "ErrorRate 0 is out of range"},
		{"rate of one", func(r *errmon.AlertRule) { r.ErrorRate = 1 }, "ErrorRate 1 is out of range"},
		{"rate NaN", func(r *errmon.AlertRule) { r.ErrorRate = math.NaN() }, "ErrorRate NaN is out of range"},
		{"both kinds", func(r *errmon.AlertRule) { r.Category = errmon.Auth }, "set one kind of rule"},
		{"min errors on rate rule", func(r *errmon.AlertRule) { r.MinErrors = 3 }, "MinErrors is for category rules"},
		{"unknown category", func(r *errmon.AlertRule) { r.ErrorRate, r.Category = 0, "billing" }, `Category "billing" is not one of errmon.Categories`},
		{"negative min errors", func(r *errmon.AlertRule) { r.ErrorRate, r.Category, r.MinErrors = 0, errmon.Auth, -1 }, "MinErrors -1 is negative"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rule := valid
			tt.change(&rule)
			err := rule.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, errmon.ErrInvalidRule)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestNewMonitorAlertConfigPanics(t *testing.T) {
	t.Parallel()
	rule := errmon.AlertRule{Name: "r", Window: time.Minute, ErrorRate: 0.05}
	tests := []struct {
		name string
		cfg  errmon.Config
		want string
	}{
		{"invalid rule", errmon.Config{Rules: []errmon.AlertRule{rule, {Name: "bad", Window: time.Minute}}},
			`errmon: Config.Rules[1]: invalid alert rule "bad": ErrorRate 0 is out of range; set ErrorRate between 0 and 1 exclusive, or Category for a category rule`},
		{"duplicate name", errmon.Config{Rules: []errmon.AlertRule{rule, rule}},
			`errmon: Config.Rules[1]: another rule is named "r"`},
		{"nil callback", errmon.Config{OnAlert: []func(errmon.Alert){nil}},
			"errmon: Config.OnAlert[0] is nil"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.PanicsWithValue(t, tt.want, func() { errmon.NewMonitor(tt.cfg) })
		})
	}
}

// cycleAuthAlert makes an auth rule with a one-bucket window fire and
// resolve once.
func cycleAuthAlert(m *errmon.Monitor, clock *fakeClock) {
	m.Record(apiError(401, "invalid_api_key", "", "Incorrect API key provided."), chatMini)
	clock.Advance(2 * errmon.RateBucket)
	m.Evaluate()
}

// runWithin runs f and fails the test when it does not return within a
// generous bound, which only a blocked call would exceed.
func runWithin(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("recording blocked")
	}
}

func TestAlertSlowCallbackDoesNotBlockRecord(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	release := make(chan struct{})
	var mu sync.Mutex
	var delivered []errmon.Alert
	m := errmon.NewMonitor(errmon.Config{
		Clock:      clock.Now,
		Rules:      []errmon.AlertRule{{Name: "auth", Window: errmon.RateBucket, Category: errmon.Auth}},
		AlertQueue: 2,
		OnAlert: []func(errmon.Alert){func(a errmon.Alert) {
			<-release
			mu.Lock()
			delivered = append(delivered, a)
			mu.Unlock()
		}},
	})

	const cycles = 50
	runWithin(t, func() {
		for i := 0; i < cycles; i++ {
			cycleAuthAlert(m, clock)
		}
	})

	close(release)
	require.NoError(t, m.FlushAlerts(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	// One alert in the callback and two in the queue, or two in the queue
	// when the callback had not started yet.
	assert.GreaterOrEqual(t, m.DroppedAlerts(), int64(2*cycles-3))
	assert.Equal(t, int64(2*cycles), m.DroppedAlerts()+int64(len(delivered)))
	require.NotEmpty(t, delivered)
	assert.Equal(t, errmon.Firing, delivered[0].State, "alerts keep their order")
}

func TestAlertCallbackPanicIsLogged(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	sink := &alertSink{}
	m := errmon.NewMonitor(errmon.Config{
		Clock:  newFakeClock().Now,
		Logger: slog.New(slog.NewJSONHandler(&buf, nil)),
		Rules:  []errmon.AlertRule{{Name: "auth", Window: time.Minute, Category: errmon.Auth}},
		OnAlert: []func(errmon.Alert){
			func(errmon.Alert) { panic("callback failed") },
			sink.add,
		},
	})

	m.Record(apiError(401, "invalid_api_key", "", "Incorrect API key provided."), chatMini)

	assert.Len(t, sink.take(t, m), 1, "the next callback still runs")
	var record map[string]any
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.NoError(t, json.Unmarshal(lines[len(lines)-1], &record))
	assert.Equal(t, "alert callback panicked", record["msg"])
	assert.Equal(t, "auth", record[errmon.LogKeyRule])
	assert.Equal(t, "firing", record[errmon.LogKeyAlertState])
	assert.Equal(t, "callback failed", record[errmon.LogKeyPanic])
}

func TestMonitorWithoutCallbacks(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{Rules: []errmon.AlertRule{{Name: "auth", Window: time.Minute, Category: errmon.Auth}}})

	m.Record(errors.New("status code: 401"), chatMini)

	assert.Len(t, m.ActiveAlerts(), 1)
	assert.Zero(t, m.DroppedAlerts())
	assert.NoError(t, m.FlushAlerts(context.Background()))
}
