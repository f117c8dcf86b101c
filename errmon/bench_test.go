package errmon_test

import (
	"fmt"
	"strconv"
	"testing"

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
