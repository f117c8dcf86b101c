package redislimit

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/aimeter/aimeter/ratelimit"
)

// benchKeys are the caller keys that the benchmarks cycle through, built
// once so that building them costs nothing in the loop.
var benchKeys = func() []string {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	return keys
}()

// benchHighLimit is a limit per minute that no benchmark reaches, so that
// every decision admits and writes. It refills one unit per microsecond, a
// whole number of microseconds per unit as most rules have.
// benchFractionLimit refills a unit every 1/17.9 µs, so its state keeps a
// fraction.
const (
	benchHighLimit     = 60_000_000
	benchFractionLimit = 1 << 30
)

// newBenchClient returns a client of the test server. contextTimeouts sets
// ContextTimeoutEnabled, which decides how the limiter bounds a call.
func newBenchClient(b *testing.B, contextTimeouts bool) *redis.Client {
	b.Helper()
	if testRedis.addr == "" {
		skipOrFail(b, testRedis.missing)
	}
	c := redis.NewClient(&redis.Options{Addr: testRedis.addr, ContextTimeoutEnabled: contextTimeouts})
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		b.Fatalf("PING: %v", err)
	}
	return c
}

// benchDecisions runs decide once per iteration, cycling through keys.
func benchDecisions(b *testing.B, keys []string, decide func(ctx context.Context, key string) error) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := decide(ctx, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLimiter returns a decide function for a limiter of rules on c. A
// decision that Redis did not make, because it ran out of time on a loaded
// machine, is logged, and more than one in a hundred fails the benchmark,
// because the times would not be Redis's.
func benchLimiter(b *testing.B, c *redis.Client, rules []ratelimit.Rule, opts ...Option) func(context.Context, string) error {
	opts = append([]Option{WithPrefix(testPrefix(b))}, opts...)
	l := New(c, rules, opts...)
	calls := 0
	b.Cleanup(func() {
		f := l.Failures()
		switch {
		case f.Degraded*100 > int64(calls):
			b.Errorf("%d of %d decisions without Redis: %+v", f.Degraded, calls, f)
		case f.Degraded > 0:
			b.Logf("%d of %d decisions without Redis: %+v", f.Degraded, calls, f)
		}
	})
	return func(ctx context.Context, key string) error {
		calls++
		d, err := l.Allow(ctx, key, 1)
		if err == nil && !d.Allowed {
			b.Fatalf("decision rejected: %+v", d)
		}
		return err
	}
}

var (
	benchOneRule      = []ratelimit.Rule{{Name: "requests", Limit: benchHighLimit, Window: time.Minute}}
	benchFractionRule = []ratelimit.Rule{{Name: "requests", Limit: benchFractionLimit, Window: time.Minute}}
	benchTwoRules     = []ratelimit.Rule{
		{Name: "requests", Limit: benchHighLimit, Window: time.Minute},
		{Name: "tokens", Limit: benchHighLimit, Window: time.Minute},
	}
)

// BenchmarkDecision compares one decision of this limiter with one of
// github.com/go-redis/redis_rate and with a bare PING, the floor of any
// call, all on one client of the same local server. The limits are never
// reached. On one hot key every decision updates a key that exists. On 1024
// keys in turn, each key has fully refilled and expired, after its TTL of
// 1 ms, by the time it comes round again. So this limiter creates a key per
// decision there, while redis_rate, whose TTLs are whole seconds, updates
// one.
func BenchmarkDecision(b *testing.B) {
	for _, mode := range []struct {
		name            string
		contextTimeouts bool
	}{
		{"ContextTimeoutEnabled", true},
		{"DefaultClient", false},
	} {
		c := newBenchClient(b, mode.contextTimeouts)
		for _, kc := range []struct {
			name string
			keys []string
		}{
			{"hot-key", benchKeys[:1]},
			{"1024-keys", benchKeys},
		} {
			b.Run(mode.name+"/"+kc.name, func(b *testing.B) {
				benchDecisionFamily(b, c, kc.keys)
			})
		}
	}
}

func benchDecisionFamily(b *testing.B, c *redis.Client, keys []string) {
	b.Run("ping", func(b *testing.B) {
		benchDecisions(b, keys, func(ctx context.Context, _ string) error {
			return c.Ping(ctx).Err()
		})
	})
	b.Run("redis_rate", func(b *testing.B) {
		rl := redis_rate.NewLimiter(c)
		limit := redis_rate.PerMinute(benchHighLimit)
		prefix := testPrefix(b)
		prefixed := make([]string, len(keys))
		for i, k := range keys {
			prefixed[i] = prefix + k
		}
		benchDecisions(b, prefixed, func(ctx context.Context, key string) error {
			_, err := rl.Allow(ctx, key, limit)
			return err
		})
	})
	b.Run("one-rule", func(b *testing.B) {
		benchDecisions(b, keys, benchLimiter(b, c, benchOneRule))
	})
	b.Run("two-rules", func(b *testing.B) {
		benchDecisions(b, keys, benchLimiter(b, c, benchTwoRules, WithRequestRules("requests")))
	})
	b.Run("one-rule-fraction", func(b *testing.B) {
		benchDecisions(b, keys, benchLimiter(b, c, benchFractionRule))
	})
	b.Run("one-rule-no-timeout", func(b *testing.B) {
		benchDecisions(b, keys, benchLimiter(b, c, benchOneRule, WithTimeout(0)))
	})
}

// BenchmarkDecisionParallel runs decisions from all goroutines at once, on
// one hot key and on many keys.
func BenchmarkDecisionParallel(b *testing.B) {
	c := newBenchClient(b, true)
	for _, bc := range []struct {
		name string
		keys []string
	}{
		{"hot-key", benchKeys[:1]},
		{"many-keys", benchKeys},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := New(c, benchTwoRules, WithPrefix(testPrefix(b)), WithRequestRules("requests"))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for i := 0; pb.Next(); i++ {
					if _, err := l.Allow(ctx, bc.keys[i%len(bc.keys)], 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkDecisionPaired runs five calls in turn in every iteration: a
// PING, a redis_rate decision, and this limiter's decisions for one rule,
// two rules and one rule without the timeout. It reports each call's median
// time as a metric (ns/ping, ns/redis_rate, ns/one-rule, ns/two-rules,
// ns/one-rule-no-timeout). Taking turns exposes all of them to the same load
// from other processes, which separate benchmarks minutes apart are not,
// and medians ignore the few calls that a busy machine stalls for
// milliseconds. The sub-benchmarks are those of BenchmarkDecision, which
// reports the allocations.
func BenchmarkDecisionPaired(b *testing.B) {
	for _, mode := range []struct {
		name            string
		contextTimeouts bool
	}{
		{"ContextTimeoutEnabled", true},
		{"DefaultClient", false},
	} {
		c := newBenchClient(b, mode.contextTimeouts)
		for _, kc := range []struct {
			name string
			keys []string
		}{
			{"hot-key", benchKeys[:1]},
			{"1024-keys", benchKeys},
		} {
			b.Run(mode.name+"/"+kc.name, func(b *testing.B) {
				benchPaired(b, c, kc.keys)
			})
		}
	}
}

func benchPaired(b *testing.B, c *redis.Client, keys []string) {
	rl := redis_rate.NewLimiter(c)
	limit := redis_rate.PerMinute(benchHighLimit)
	prefix := testPrefix(b)
	rlKeys := make(map[string]string, len(keys))
	for _, k := range keys {
		rlKeys[k] = prefix + k
	}
	oneRule := benchLimiter(b, c, benchOneRule)
	twoRules := benchLimiter(b, c, benchTwoRules, WithRequestRules("requests"))
	noTimeout := benchLimiter(b, c, benchOneRule, WithTimeout(0))
	steps := []struct {
		unit   string
		decide func(ctx context.Context, key string) error
	}{
		{"ns/ping", func(ctx context.Context, _ string) error { return c.Ping(ctx).Err() }},
		{"ns/redis_rate", func(ctx context.Context, key string) error {
			_, err := rl.Allow(ctx, rlKeys[key], limit)
			return err
		}},
		{"ns/one-rule", oneRule},
		{"ns/two-rules", twoRules},
		{"ns/one-rule-no-timeout", noTimeout},
	}

	ctx := context.Background()
	times := make([][]time.Duration, len(steps))
	for n := 0; b.Loop(); n++ {
		key := keys[n%len(keys)]
		for i, s := range steps {
			start := time.Now()
			if err := s.decide(ctx, key); err != nil {
				b.Fatal(err)
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	for i, s := range steps {
		slices.Sort(times[i])
		b.ReportMetric(float64(times[i][len(times[i])/2].Nanoseconds()), s.unit)
	}
	b.ReportMetric(0, "ns/op")
}
