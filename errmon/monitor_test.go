package errmon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

// fakeClock is a clock that moves only when the test moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const thisPackage = errmon.ModulePath + "/errmon_test."

func TestMonitorRecordFields(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})
	info := errmon.CallInfo{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"}

	ev := m.Record(apiError(429, "rate_limit_exceeded", "tokens", "Rate limit reached. Please try again in 2s."), info)

	parsed, err := uuid.Parse(ev.ID)
	require.NoError(t, err)
	assert.Equal(t, uuid.Version(4), parsed.Version())
	assert.Equal(t, clock.Now(), ev.Time)
	assert.Equal(t, errmon.RateLimited, ev.Category)
	assert.Equal(t, 429, ev.HTTPStatus)
	assert.Equal(t, "rate_limit_exceeded", ev.Code)
	assert.Equal(t, "/api/ai/chat", ev.Endpoint)
	assert.Equal(t, "openai", ev.Provider)
	assert.Equal(t, "gpt-4o-mini", ev.Model)
	assert.Equal(t, "chat", ev.Operation)
	assert.Equal(t, "chat completion: error, status code: 429, status: 429 Status, message: Rate limit reached. Please try again in 2s.", ev.Message)
	assert.Equal(t, 2*time.Second, ev.RetryAfter)
	assert.Regexp(t, `^[0-9a-f]{32}$`, ev.Fingerprint)
}

func TestMonitorRecordTimeInUTC(t *testing.T) {
	t.Parallel()
	local := time.Date(2026, 12, 4, 20, 0, 0, 0, time.FixedZone("CET", 3600))
	m := errmon.NewMonitor(errmon.Config{Clock: func() time.Time { return local }})

	ev := m.Record(errors.New("x"), errmon.CallInfo{})

	assert.Equal(t, time.UTC, ev.Time.Location())
	assert.True(t, ev.Time.Equal(local))
}

func TestMonitorRecordNil(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})

	ev := m.Record(nil, errmon.CallInfo{Endpoint: "/x"})

	assert.Equal(t, errmon.Event{}, ev)
	assert.Empty(t, m.Recent(0))
	assert.Empty(t, m.Groups(0))
}

func TestMonitorStackStartsAtCaller(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})

	ev := recordFromHelper(m, errors.New("boom"))

	require.NotEmpty(t, ev.Stack)
	assert.Equal(t, thisPackage+"recordFromHelper", ev.Stack[0].Function)
	assert.True(t, strings.HasSuffix(ev.Stack[0].File, "monitor_test.go"), ev.Stack[0].File)
	assert.Positive(t, ev.Stack[0].Line)
	assert.Equal(t, thisPackage+"TestMonitorStackStartsAtCaller", ev.Stack[1].Function)
	for _, f := range ev.Stack {
		assert.False(t, strings.HasPrefix(f.Function, "runtime."), "runtime frame %s", f.Function)
		assert.False(t, strings.HasPrefix(f.Function, errmon.ModulePath+"/errmon."), "errmon frame %s", f.Function)
	}
}

//go:noinline
func recordFromHelper(m *errmon.Monitor, err error) errmon.Event {
	return m.Record(err, errmon.CallInfo{})
}

func TestMonitorStackDepthCapped(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})

	ev := recordAtDepth(m, 50)

	assert.Len(t, ev.Stack, 32)
	assert.Equal(t, thisPackage+"recordAtDepth", ev.Stack[0].Function)
}

//go:noinline
func recordAtDepth(m *errmon.Monitor, depth int) errmon.Event {
	if depth <= 1 {
		return m.Record(errors.New("deep"), errmon.CallInfo{})
	}
	return recordAtDepth(m, depth-1)
}

func TestMonitorPanicStack(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})

	// Recover in one goroutine and record in another, so that only the
	// PanicError's own stack can name the function that panicked.
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				errc <- errmon.NewPanicError(v)
			}
		}()
		panicInHandler()
	}()
	ev := m.Record(<-errc, errmon.CallInfo{})

	assert.Equal(t, errmon.Panic, ev.Category)
	assert.Equal(t, "panic: handler failed", ev.Message)
	require.NotEmpty(t, ev.Stack)
	assert.Equal(t, thisPackage+"panicInHandler", ev.Stack[0].Function)
	assert.True(t, strings.HasSuffix(ev.Stack[0].File, "monitor_test.go"), ev.Stack[0].File)
	assert.Positive(t, ev.Stack[0].Line)
}

//go:noinline
func panicInHandler() {
	panic("handler failed")
}

func TestMonitorPanicWithoutStack(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})

	ev := m.Record(&errmon.PanicError{Value: "no stack"}, errmon.CallInfo{})

	require.NotEmpty(t, ev.Stack)
	assert.Equal(t, thisPackage+"TestMonitorPanicWithoutStack", ev.Stack[0].Function)
}

func TestParseStack(t *testing.T) {
	t.Parallel()
	text := "goroutine 7 [running]:\n" +
		"runtime/debug.Stack()\n" +
		"\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\n" +
		errmon.ModulePath + "/errmon.NewPanicError({0x5f2c40, 0x6b3a10})\n" +
		"\t/work/main/errmon/panic.go:31 +0x25\n" +
		"example.com/app.serve.func1()\n" +
		"\t/src/app/serve.go:20 +0x45\n" +
		"panic({0x5f2c40?, 0x6b3a10?})\n" +
		"\t/usr/local/go/src/runtime/panic.go:791 +0x132\n" +
		"example.com/app.(*Store).Get(...)\n" +
		"\t/src/app/store.go:88\n" +
		"example.com/app.handle[...](0xc000123450)\n" +
		"\t/src/app/handle.go:12 +0x1d\n" +
		"created by example.com/app.main in goroutine 1\n" +
		"\t/src/app/main.go:9 +0x66\n"

	got := errmon.ParseStack([]byte(text))

	want := []errmon.Frame{
		{Function: "example.com/app.(*Store).Get", File: "/src/app/store.go", Line: 88},
		{Function: "example.com/app.handle[...]", File: "/src/app/handle.go", Line: 12},
		{Function: "example.com/app.main", File: "/src/app/main.go", Line: 9},
	}
	assert.Equal(t, want, got)
}

func TestParseStackWithoutPanic(t *testing.T) {
	t.Parallel()
	text := "goroutine 1 [running]:\n" +
		"runtime/debug.Stack()\n" +
		"\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\n" +
		"main.main()\n" +
		"\t/src/app/main.go:9 +0x66\n"

	got := errmon.ParseStack([]byte(text))

	assert.Equal(t, []errmon.Frame{{Function: "main.main", File: "/src/app/main.go", Line: 9}}, got)
}

func TestMonitorRecordInDeferDuringPanic(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})

	ev := recordPanicInDefer(m)

	require.NotEmpty(t, ev.Stack)
	assert.Equal(t, thisPackage+"panicInHandler", ev.Stack[0].Function)
}

// recordPanicInDefer records a PanicError without a stack from the deferred
// call that recovers, as a wrapper that calls Record directly would.
func recordPanicInDefer(m *errmon.Monitor) (ev errmon.Event) {
	defer func() {
		if v := recover(); v != nil {
			ev = m.Record(&errmon.PanicError{Value: v}, errmon.CallInfo{})
		}
	}()
	panicInHandler()
	return ev
}

func TestKeepFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		function string
		file     string
		want     bool
	}{
		{"user code", "example.com/app.handle", "/src/app/handle.go", true},
		{"standard library", "net/http.HandlerFunc.ServeHTTP", "/go/src/net/http/server.go", true},
		{"runtime", "runtime.goexit", "/go/src/runtime/asm_amd64.s", false},
		{"runtime/debug", "runtime/debug.Stack", "/go/src/runtime/debug/stack.go", false},
		{"panic in debug.Stack text", "panic", "/go/src/runtime/panic.go", false},
		{"errmon", errmon.ModulePath + "/errmon.(*Monitor).Record", "/work/errmon/monitor.go", false},
		{"usage", errmon.ModulePath + "/usage.TrackCall[...]", "/work/usage/track.go", false},
		{"example program", errmon.ModulePath + "/examples/chatserver.(*server).chat", "/work/examples/chatserver/main.go", true},
		{"library test", errmon.ModulePath + "/usage.TestTrackCall", "/work/usage/track_test.go", true},
		{"other module with same prefix", errmon.ModulePath + "x/app.run", "/src/x/app.go", true},
		{"unknown", "", "", false},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, errmon.KeepFrame(tt.function, tt.file))
		})
	}
}

func TestModulePathMatchesPackage(t *testing.T) {
	t.Parallel()
	assert.Equal(t, errmon.ModulePath+"/errmon", reflect.TypeOf(errmon.Monitor{}).PkgPath())
}

func TestMonitorRecentRing(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{RecentEvents: 3})
	for i := 1; i <= 5; i++ {
		m.Record(fmt.Errorf("error %d", i), errmon.CallInfo{})
	}

	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"all", 0, []string{"error 5", "error 4", "error 3"}},
		{"negative is all", -1, []string{"error 5", "error 4", "error 3"}},
		{"limited", 2, []string{"error 5", "error 4"}},
		{"above size", 10, []string{"error 5", "error 4", "error 3"}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, ev := range m.Recent(tt.limit) {
				got = append(got, ev.Message)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMonitorRecentBeforeFull(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{RecentEvents: 5})
	m.Record(errors.New("first"), errmon.CallInfo{})
	m.Record(errors.New("second"), errmon.CallInfo{})

	got := m.Recent(0)

	require.Len(t, got, 2)
	assert.Equal(t, "second", got[0].Message)
	assert.Equal(t, "first", got[1].Message)
}

func TestMonitorDefaultRecentEvents(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	for i := 0; i < errmon.DefaultRecentEvents+10; i++ {
		m.Record(errors.New("x"), errmon.CallInfo{})
	}

	assert.Len(t, m.Recent(0), errmon.DefaultRecentEvents)
}

func TestMonitorReturnsCopies(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{})
	ev := m.Record(errors.New("x"), errmon.CallInfo{})
	require.NotEmpty(t, ev.Stack)
	want := ev.Stack[0].Function

	ev.Stack[0].Function = "changed by caller"
	recent := m.Recent(1)
	recent[0].Stack[0].Function = "changed again"
	recent[0].Message = "changed"

	again := m.Recent(1)[0]
	assert.Equal(t, want, again.Stack[0].Function)
	assert.Equal(t, "x", again.Message)
}

func TestMonitorGroupsOrder(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})
	record := func(text string) {
		m.Record(errors.New(text), errmon.CallInfo{})
		clock.Advance(time.Second)
	}
	record("alpha")
	record("beta")
	record("beta")
	record("gamma")
	record("alpha")
	record("delta")

	groups := m.Groups(0)

	var got []string
	for _, g := range groups {
		got = append(got, fmt.Sprintf("%s %d", g.Message, g.Count))
	}
	// Equal counts: the group seen last comes first.
	assert.Equal(t, []string{"alpha 2", "beta 2", "delta 1", "gamma 1"}, got)
	assert.Len(t, m.Groups(2), 2)
}

func TestMonitorGroupTimes(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	start := clock.Now()
	m := errmon.NewMonitor(errmon.Config{Clock: clock.Now})

	first := m.Record(errors.New("request req_abc123 failed after 3 attempts"), errmon.CallInfo{})
	clock.Advance(time.Minute)
	m.Record(errors.New("request req_xyz789 failed after 5 attempts"), errmon.CallInfo{})

	groups := m.Groups(0)
	require.Len(t, groups, 1)
	g := groups[0]
	assert.Equal(t, first.Fingerprint, g.Fingerprint)
	assert.Equal(t, errmon.Unknown, g.Category)
	assert.Equal(t, "request req_abc123 failed after 3 attempts", g.Message, "the first event's message")
	assert.Equal(t, int64(2), g.Count)
	assert.Equal(t, start, g.FirstSeen)
	assert.Equal(t, start.Add(time.Minute), g.LastSeen)
}

func TestMonitorEvictsLeastRecentGroup(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{MaxGroups: 2})
	for _, text := range []string{"alpha", "alpha", "alpha", "beta", "alpha", "gamma"} {
		m.Record(errors.New(text), errmon.CallInfo{})
	}

	var got []string
	for _, g := range m.Groups(0) {
		got = append(got, g.Message)
	}
	// beta was seen longest ago when gamma arrived, though alpha is older.
	assert.Equal(t, []string{"alpha", "gamma"}, got)
	assert.Len(t, m.Recent(0), 6, "eviction drops groups, not events")
}

func TestMonitorMessageCap(t *testing.T) {
	t.Parallel()
	m := errmon.NewMonitor(errmon.Config{MaxMessageBytes: 20})

	ev := m.Record(errors.New(strings.Repeat("é", 30)), errmon.CallInfo{})

	assert.LessOrEqual(t, len(ev.Message), 20)
	assert.True(t, utf8.ValidString(ev.Message))
	assert.True(t, strings.HasSuffix(ev.Message, "…"))
	assert.Equal(t, ev.Message, m.Groups(1)[0].Message)
}

func TestNewMonitorNilPatternPanics(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "errmon: Config.Redact[1] is nil", func() {
		errmon.NewMonitor(errmon.Config{Redact: []*regexp.Regexp{regexp.MustCompile("x"), nil}})
	})
}

func TestMonitorLogRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		wantLevel string
		wantMsg   string
	}{
		{"canceled is debug", fmt.Errorf("chat: %w", context.Canceled), "DEBUG", "provider call canceled"},
		{"rate limit is warn", apiError(429, "rate_limit_exceeded", "", "Rate limit reached."), "WARN", "provider call failed"},
		{"auth is error", apiError(401, "invalid_api_key", "", "Incorrect API key provided."), "ERROR", "provider call failed"},
		{"quota is error", apiError(429, "insufficient_quota", "", "You exceeded your current quota."), "ERROR", "provider call failed"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			m := errmon.NewMonitor(errmon.Config{Logger: logger})
			info := errmon.CallInfo{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini"}

			ev := m.Record(tt.err, info)

			var record map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &record), buf.String())
			assert.Equal(t, tt.wantLevel, record["level"])
			assert.Equal(t, tt.wantMsg, record["msg"])
			assert.Equal(t, ev.ID, record[errmon.LogKeyEventID])
			assert.Equal(t, string(ev.Category), record[errmon.LogKeyCategory])
			assert.Equal(t, ev.Fingerprint, record[errmon.LogKeyFingerprint])
			assert.Equal(t, ev.Message, record[errmon.LogKeyError])
			assert.Equal(t, "/api/ai/chat", record[errmon.LogKeyEndpoint])
			assert.Equal(t, "openai", record[errmon.LogKeyProvider])
			assert.Equal(t, "gpt-4o-mini", record[errmon.LogKeyModel])
			assert.Equal(t, float64(1), record[errmon.LogKeyGroupCount])
			assert.Contains(t, record[errmon.LogKeyFrame], "TestMonitorLogRecords")
			if ev.HTTPStatus != 0 {
				assert.Equal(t, float64(ev.HTTPStatus), record[errmon.LogKeyHTTPStatus])
			} else {
				assert.NotContains(t, record, errmon.LogKeyHTTPStatus)
			}
		})
	}
}

func TestMonitorLogSkipsDisabledLevels(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := errmon.NewMonitor(errmon.Config{Logger: logger})

	m.Record(context.Canceled, errmon.CallInfo{})

	assert.Empty(t, buf.String())
}

func TestMonitorConcurrentRecord(t *testing.T) {
	t.Parallel()
	const goroutines, perGoroutine = 8, 200
	m := errmon.NewMonitor(errmon.Config{RecentEvents: 50, MaxGroups: 4})

	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		g := g
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perGoroutine; i++ {
				// Two groups per goroutine, so that groups are evicted
				// while others are counted.
				m.Record(fmt.Errorf("worker %c failed on item %d", 'a'+g, i%2), errmon.CallInfo{})
				if i%50 == 0 {
					m.Recent(10)
					m.Groups(3)
				}
			}
		}()
	}
	wg.Wait()

	assert.Len(t, m.Recent(0), 50)
	groups := m.Groups(0)
	assert.LessOrEqual(t, len(groups), 4)
	ids := make(map[string]bool)
	for _, ev := range m.Recent(0) {
		assert.False(t, ids[ev.ID], "duplicate event ID %s", ev.ID)
		ids[ev.ID] = true
	}
}

func TestMonitorCountsAllWithoutEviction(t *testing.T) {
	t.Parallel()
	const goroutines, perGoroutine = 8, 100
	m := errmon.NewMonitor(errmon.Config{})

	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perGoroutine; i++ {
				m.Record(fmt.Errorf("attempt %d failed", i), errmon.CallInfo{})
			}
		}()
	}
	wg.Wait()

	groups := m.Groups(0)
	require.Len(t, groups, 1)
	assert.Equal(t, int64(goroutines*perGoroutine), groups[0].Count)
}
