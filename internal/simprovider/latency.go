package simprovider

import (
	"fmt"
	"math"
	"math/rand"
	"time"
)

// Latency is a distribution of delays that the server draws from.
//
// The server calls Draw with its lock held, so Draw must not block and must
// not call back into the Server. Draw must use r as its only source of
// randomness, so that Config.Seed reproduces the delays.
type Latency interface {
	// Draw returns one delay. It must not be negative.
	Draw(r *rand.Rand) time.Duration
}

// Fixed returns a Latency that always draws d. Fixed(0) makes the server
// respond without waiting, which suits tests and benchmarks.
//
// Fixed panics if d is negative, because that is a programmer mistake.
func Fixed(d time.Duration) Latency {
	if d < 0 {
		panic(fmt.Sprintf("simprovider: Fixed(%v): negative delay", d))
	}
	return fixedLatency(d)
}

type fixedLatency time.Duration

func (f fixedLatency) Draw(*rand.Rand) time.Duration { return time.Duration(f) }

// String returns the delay, for test failures and logs.
func (f fixedLatency) String() string { return fmt.Sprintf("Fixed(%v)", time.Duration(f)) }

// z99 is the standard normal quantile of 0.99.
const z99 = 2.3263478740408408

// LogNormal returns a log-normal Latency with the given median and 99th
// percentile. Service latencies have this long right tail: most draws sit
// near the median and about one in a hundred is slower than p99.
//
// LogNormal panics if median is not positive or p99 is less than median,
// because that is a programmer mistake.
func LogNormal(median, p99 time.Duration) Latency {
	if median <= 0 || p99 < median {
		panic(fmt.Sprintf("simprovider: LogNormal(%v, %v): need 0 < median <= p99", median, p99))
	}
	mu := math.Log(float64(median))
	sigma := (math.Log(float64(p99)) - mu) / z99
	return logNormalLatency{median: median, p99: p99, mu: mu, sigma: sigma}
}

type logNormalLatency struct {
	median, p99 time.Duration
	mu, sigma   float64
}

func (l logNormalLatency) Draw(r *rand.Rand) time.Duration {
	d := math.Exp(l.mu + l.sigma*r.NormFloat64())

	// A draw far in the tail could exceed the int64 range of a Duration.
	if d > float64(math.MaxInt64) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// String returns the parameters, for test failures and logs.
func (l logNormalLatency) String() string {
	return fmt.Sprintf("LogNormal(median %v, p99 %v)", l.median, l.p99)
}
