package errmon_test

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/aimeter/aimeter/errmon"
)

// benchError is a rate limit as go-openai returns it, wrapped once.
var benchError = apiError(429, "rate_limit_exceeded", "tokens",
	"Rate limit reached for gpt-4o-mini in organization org-Ab12Cd34 on tokens per min (TPM): Limit 200000, Used 199614, Requested 1043. Please try again in 197ms.")

// benchInfo is the call of every recorded benchmark error.
var benchInfo = errmon.CallInfo{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"}

// recordNested calls Record depth frames below its caller, so that the
// stack has the depth of a handler inside a server.
//
//go:noinline
func recordNested(m *errmon.Monitor, err error, depth int) errmon.Event {
	if depth <= 1 {
		return m.Record(err, benchInfo)
	}
	return recordNested(m, err, depth-1)
}

func BenchmarkRecord(b *testing.B) {
	for _, depth := range []int{1, 10, 40} {
		depth := depth
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) {
			m := errmon.NewMonitor(errmon.Config{})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				recordNested(m, benchError, depth)
			}
		})
	}
}

// BenchmarkRecordRedacting is BenchmarkRecord at depth 10 with text that
// the redaction patterns act on: a 401 whose message echoes the API key,
// and the rate limit of benchError with a Config.Redact pattern.
func BenchmarkRecordRedacting(b *testing.B) {
	authError := apiError(401, "invalid_api_key", "invalid_request_error",
		"Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl. You can find your API key at https://platform.openai.com/account/api-keys.")
	for _, bc := range []struct {
		name string
		err  error
		cfg  errmon.Config
	}{
		{"key in message", authError, errmon.Config{}},
		{"configured pattern", benchError, errmon.Config{Redact: []*regexp.Regexp{regexp.MustCompile(`tok_live_[A-Za-z0-9]+`)}}},
	} {
		bc := bc
		b.Run(bc.name, func(b *testing.B) {
			m := errmon.NewMonitor(bc.cfg)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				recordNested(m, bc.err, 10)
			}
		})
	}
}

// BenchmarkRecordParallel records from all Ps at once, into one hot group
// or into a new group per event, which evicts groups once MaxGroups is full.
func BenchmarkRecordParallel(b *testing.B) {
	b.Run("one group", func(b *testing.B) {
		m := errmon.NewMonitor(errmon.Config{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				recordNested(m, benchError, 10)
			}
		})
	})
	b.Run("many groups", func(b *testing.B) {
		// Letters only, because the fingerprint ignores digits.
		errs := make([]error, 4096)
		for i := range errs {
			errs[i] = fmt.Errorf("failure %c%c%c", 'a'+i%26, 'a'+i/26%26, 'a'+i/676%26)
		}
		m := errmon.NewMonitor(errmon.Config{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				recordNested(m, errs[i%len(errs)], 10)
				i++
			}
		})
	})
}

func BenchmarkClassify(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		errmon.Classify(benchError)
	}
}

func BenchmarkInspect(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		errmon.Inspect(benchError)
	}
}

func BenchmarkRedact(b *testing.B) {
	messages := map[string]string{
		"no secret": "error, status code: 500, status: 500 Internal Server Error, message: The server had an error while processing your request. Sorry about that!",
		"key":       "error, status code: 401, status: 401 Unauthorized, message: Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl. You can find your API key at https://platform.openai.com/account/api-keys.",
	}
	for name, message := range messages {
		message := message
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				errmon.Redact(message)
			}
		})
	}
}

// benchRules are alert rules of the kinds a service sets, each of which
// counts the calls of benchInfo.
var benchRules = []errmon.AlertRule{
	{Name: "errors", Window: 5 * time.Minute, ErrorRate: 0.05, MinCalls: 20},
	{Name: "chat errors", Filter: errmon.CallInfo{Endpoint: benchInfo.Endpoint}, Window: time.Minute, ErrorRate: 0.1, Hold: time.Minute},
	{Name: "auth", Window: 15 * time.Minute, Category: errmon.Auth},
}

// benchSeries returns n CallInfos that differ in their model.
func benchSeries(n int) []errmon.CallInfo {
	infos := make([]errmon.CallInfo, n)
	for i := range infos {
		infos[i] = benchInfo
		infos[i].Model = "model-" + strconv.Itoa(i)
	}
	return infos
}

// BenchmarkRecordSuccess counts successes of one series from one
// goroutine, without and with alert rules, with the real clock or with a
// clock that returns a fixed time, which leaves out the cost of time.Now.
func BenchmarkRecordSuccess(b *testing.B) {
	fixed := time.Now()
	for _, bc := range []struct {
		name  string
		rules []errmon.AlertRule
		clock func() time.Time
	}{
		{"no rules", nil, time.Now},
		{"3 rules", benchRules, time.Now},
		{"no rules fixed clock", nil, func() time.Time { return fixed }},
		{"3 rules fixed clock", benchRules, func() time.Time { return fixed }},
	} {
		bc := bc
		b.Run(bc.name, func(b *testing.B) {
			m := errmon.NewMonitor(errmon.Config{Clock: bc.clock, Rules: bc.rules, OnAlert: []func(errmon.Alert){func(errmon.Alert) {}}})
			m.RecordSuccess(benchInfo)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.RecordSuccess(benchInfo)
			}
		})
	}
}

// BenchmarkRecordSuccessParallel counts successes from all Ps at once, into
// one hot series or spread over 64, with three alert rules.
func BenchmarkRecordSuccessParallel(b *testing.B) {
	for _, n := range []int{1, 64} {
		infos := benchSeries(n)
		b.Run("series="+strconv.Itoa(n), func(b *testing.B) {
			m := errmon.NewMonitor(errmon.Config{Rules: benchRules})
			for _, info := range infos {
				m.RecordSuccess(info)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					m.RecordSuccess(infos[i%len(infos)])
					i++
				}
			})
		})
	}
}

// BenchmarkRecordWithRules is BenchmarkRecord at depth 10 with three alert
// rules, which Record evaluates for every failure.
func BenchmarkRecordWithRules(b *testing.B) {
	m := errmon.NewMonitor(errmon.Config{Rules: benchRules})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recordNested(m, benchError, 10)
	}
}

// BenchmarkRates reads the 1-hour rates of the default maximum of series,
// each with a call in every bucket of the hour.
func BenchmarkRates(b *testing.B) {
	start := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	now := start
	m := errmon.NewMonitor(errmon.Config{Clock: func() time.Time { return now }})
	infos := benchSeries(errmon.DefaultMaxSeries)
	for ; now.Sub(start) < time.Hour; now = now.Add(errmon.RateBucket) {
		for _, info := range infos {
			m.RecordSuccess(info)
		}
	}
	m.Record(benchError, infos[0])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Rates(time.Hour)
	}
}
