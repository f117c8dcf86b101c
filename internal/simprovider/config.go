package simprovider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Config sets up a Server. The zero Config gives a server with realistic
// demo latencies, any-repeat prompt caching and no injected faults.
type Config struct {
	// Addr is the TCP address that Start listens on. Default "127.0.0.1:0",
	// a free loopback port.
	Addr string

	// Latency is the time to first token of a reply without reasoning. A
	// stream waits it before its first chunk, and a non-streamed response
	// waits it as part of its total. An embeddings response waits only
	// this. Default LogNormal(150ms, 1s).
	Latency Latency
	// ChunkDelay is the time to generate one more token. Reasoning tokens
	// come before the first visible token, so each adds one ChunkDelay to
	// the time to first token. A stream then waits one ChunkDelay between
	// consecutive content chunks. A non-streamed response waits the total
	// that its stream would take. Default LogNormal(10ms, 40ms) when
	// Latency is nil too, and no delay when Latency is set, so that
	// Latency: Fixed(0) alone makes every response immediate.
	ChunkDelay Latency
	// Sleep waits for d or until ctx is done, and returns ctx.Err() in the
	// second case. The server never calls it with d == 0. Tests replace it
	// to run without waiting. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Seed seeds the random source of reply lengths, reply words, latencies,
	// random faults and ids. Two servers with the same Seed that receive the
	// same requests in the same order draw the same values, so only the
	// created timestamps of their responses differ. Default 0.
	Seed int64

	// ReplyTokens is the mean length of a generated reply, in tokens. Each
	// reply's length is drawn uniformly from [ReplyTokens/2,
	// 3*ReplyTokens/2], then cut to the request's max_completion_tokens or
	// max_tokens. Default 40.
	ReplyTokens int
	// EmbeddingDimensions is the length of each embedding vector when the
	// request does not set dimensions. Default 8.
	EmbeddingDimensions int

	// CacheMinTokens is the shortest cached prefix, in tokens, that counts
	// as a cache hit. OpenAI caches prompts of 1024 tokens or more, with
	// hits in increments of 128 tokens (OpenAI cookbook, "Prompt Caching
	// 201"), so CacheMinTokens: 1024 with CacheIncrement: 128 follows its
	// rule. Default 0: any repeated prefix is a hit, which shows cached
	// tokens in a demo with short prompts.
	CacheMinTokens int
	// CacheIncrement rounds cached token counts down to a multiple of
	// itself. Default 1: no rounding.
	CacheIncrement int
	// CacheEntries is the maximum number of prompt prefixes the cache
	// remembers. The oldest prefix is forgotten first. Default 10000.
	CacheEntries int

	// Faults are the probabilities of injecting each fault into a request.
	// Default: no random faults.
	Faults FaultRates
	// Spike adds latency for a period that repeats: every Spike.Every,
	// measured from the Unix epoch, requests arriving during the first
	// Spike.Length wait Spike.Extra longer for their first token. The zero
	// Spike adds nothing.
	Spike Spike
	// Now returns the time that places requests in or out of a Spike.
	// Default: time.Now.
	Now func() time.Time
	// EvenFaults spreads the faults of Faults evenly over the requests
	// instead of drawing them at random, so that over a few hundred
	// requests each fault's share is within a fraction of a percent of its
	// rate. Load tests that compare error shares use it. Default false.
	EvenFaults bool
	// Fault, when set, chooses the fault for each valid request, after
	// the faults queued by Server.FailNext and before the random Faults.
	// Returning FaultNone leaves the choice to Faults. It is called
	// concurrently and must be safe for concurrent use. Default nil.
	Fault func(r *http.Request, req Request) Fault
	// RetryAfter is the wait that a FaultRateLimit response requests, in
	// its message and its retry-after and x-ratelimit-reset-requests
	// headers. Default 1.2s.
	RetryAfter time.Duration
	// RateLimitRequests is the requests-per-minute limit that a
	// FaultRateLimit response reports. Default 500.
	RateLimitRequests int
	// SlowDelay is the extra wait of a FaultSlow response. Default 30s,
	// longer than most client timeouts.
	SlowDelay time.Duration
	// DisconnectAfter is the number of content chunks that a stream with
	// FaultDisconnect sends before the connection is cut. A reply with
	// fewer chunks is cut before its finish chunk. Default 3.
	DisconnectAfter int

	// Logger receives start, stop and injected-fault events. Default:
	// discard.
	Logger *slog.Logger
}

// Spike is a latency spike that repeats; see Config.Spike.
type Spike struct {
	// Every is the period of the spike.
	Every time.Duration
	// Length is how long each spike lasts, at most Every.
	Length time.Duration
	// Extra is the latency added to each request during a spike.
	Extra time.Duration
}

// extraAt returns the latency the spike adds at now.
func (sp Spike) extraAt(now time.Time) time.Duration {
	if sp.Every <= 0 || sp.Length <= 0 {
		return 0
	}
	if time.Duration(now.UnixNano()%int64(sp.Every)) < sp.Length {
		return sp.Extra
	}
	return 0
}

// ErrInvalidConfig is returned by Start, wrapped with the reason, when the
// Config has an invalid field. New panics with the same error.
var ErrInvalidConfig = errors.New("simprovider: invalid config")

// Defaults applied by withDefaults.
const (
	defaultAddr                = "127.0.0.1:0"
	defaultReplyTokens         = 40
	defaultEmbeddingDimensions = 8
	defaultCacheIncrement      = 1
	defaultCacheEntries        = 10000
	defaultRetryAfter          = 1200 * time.Millisecond
	defaultRateLimitRequests   = 500
	defaultSlowDelay           = 30 * time.Second
	defaultDisconnectAfter     = 3
)

// validate returns an error that names every invalid field of c.
func (c *Config) validate() error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}

	check(c.ReplyTokens < 0, "invalid ReplyTokens %d: must not be negative", c.ReplyTokens)
	check(c.EmbeddingDimensions < 0, "invalid EmbeddingDimensions %d: must not be negative", c.EmbeddingDimensions)
	check(c.CacheMinTokens < 0, "invalid CacheMinTokens %d: must not be negative", c.CacheMinTokens)
	check(c.CacheIncrement < 0, "invalid CacheIncrement %d: must not be negative", c.CacheIncrement)
	check(c.CacheEntries < 0, "invalid CacheEntries %d: must not be negative", c.CacheEntries)
	check(c.RetryAfter < 0, "invalid RetryAfter %v: must not be negative", c.RetryAfter)
	check(c.RateLimitRequests < 0, "invalid RateLimitRequests %d: must not be negative", c.RateLimitRequests)
	check(c.SlowDelay < 0, "invalid SlowDelay %v: must not be negative", c.SlowDelay)
	check(c.Spike.Every < 0 || c.Spike.Length < 0 || c.Spike.Extra < 0 || c.Spike.Length > c.Spike.Every && c.Spike.Every > 0,
		"invalid Spike %+v: durations must not be negative and Length must be at most Every", c.Spike)
	check(c.DisconnectAfter < 0, "invalid DisconnectAfter %d: must not be negative", c.DisconnectAfter)
	if err := c.Faults.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = defaultAddr
	}

	// Timing. ChunkDelay depends on whether Latency was set.
	if c.ChunkDelay == nil {
		if c.Latency == nil {
			c.ChunkDelay = LogNormal(10*time.Millisecond, 40*time.Millisecond)
		} else {
			c.ChunkDelay = Fixed(0)
		}
	}
	if c.Latency == nil {
		c.Latency = LogNormal(150*time.Millisecond, time.Second)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleepTimer
	}

	// Content and caching.
	if c.ReplyTokens == 0 {
		c.ReplyTokens = defaultReplyTokens
	}
	if c.EmbeddingDimensions == 0 {
		c.EmbeddingDimensions = defaultEmbeddingDimensions
	}
	if c.CacheIncrement == 0 {
		c.CacheIncrement = defaultCacheIncrement
	}
	if c.CacheEntries == 0 {
		c.CacheEntries = defaultCacheEntries
	}

	// Faults.
	if c.RetryAfter == 0 {
		c.RetryAfter = defaultRetryAfter
	}
	if c.RateLimitRequests == 0 {
		c.RateLimitRequests = defaultRateLimitRequests
	}
	if c.SlowDelay == 0 {
		c.SlowDelay = defaultSlowDelay
	}
	if c.DisconnectAfter == 0 {
		c.DisconnectAfter = defaultDisconnectAfter
	}

	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// sleepTimer is the default Config.Sleep.
func sleepTimer(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()

	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
