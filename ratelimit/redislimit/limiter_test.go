package redislimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aimeter/aimeter/ratelimit"
)

// baseMicros is the fake time at which the tests that pass times start, in
// microseconds since the Unix epoch (a day in 2027).
const baseMicros int64 = 1_800_000_000_000_000

// at returns the fake time d after baseMicros, in microseconds.
func at(d time.Duration) int64 {
	return baseMicros + d.Microseconds()
}

// baseTime is baseMicros as a time.Time, for in-memory limiters.
var baseTime = time.UnixMicro(baseMicros)

// aheadClock returns fake times, in microseconds since the Unix epoch, that
// run ahead of the real clock by an offset that only grows. Tests whose keys
// live for milliseconds use it, because keys expire on the server's real
// clock. Fake times that ran slower than real time would find a key gone
// before its state had refilled.
//
// A call reaches the server some time after its fake time was read, so each
// step adds aheadMargin to the offset, and late reports a call that took
// longer. Such a call may find a key expired early, and its test starts
// over on a new key instead of failing.
type aheadClock struct {
	ahead     int64
	stepStart time.Time
}

// aheadMargin is the time a call may take without its keys expiring before
// their state has refilled in fake time.
const aheadMargin = 2 * time.Millisecond

// advance moves the offset d µs plus aheadMargin further ahead and returns
// the fake time.
func (c *aheadClock) advance(d int64) int64 {
	c.stepStart = time.Now()
	c.ahead += d + aheadMargin.Microseconds()
	return c.stepStart.UnixMicro() + c.ahead
}

// late reports whether more than aheadMargin has passed since the last
// advance.
func (c *aheadClock) late() bool {
	return time.Since(c.stepStart) > aheadMargin
}

// testTimeout is the timeout of the limiters in tests that expect Redis to
// make every decision, long enough for a loaded machine.
const testTimeout = 10 * time.Second

// newTestLimiter returns a limiter for rules on the test server, with a key
// prefix of its own and testTimeout.
func newTestLimiter(t testing.TB, rules []ratelimit.Rule, opts ...Option) (*Limiter, *redis.Client, string) {
	t.Helper()
	c := newTestClient(t)
	prefix := testPrefix(t)
	opts = append([]Option{WithPrefix(prefix), WithTimeout(testTimeout)}, opts...)
	return New(c, rules, opts...), c, prefix
}

// allowAt decides for n units of key at the fake time now and returns the
// combined decision.
func allowAt(t testing.TB, l *Limiter, key string, n, now int64) ratelimit.Decision {
	t.Helper()
	ds, err := l.allowRules(context.Background(), key, n, now, nil)
	if err != nil {
		t.Fatalf("allow %d units of %q: %v", n, key, err)
	}
	return ratelimit.Combine(ds)
}

func perMinute(limit int64) []ratelimit.Rule {
	return []ratelimit.Rule{{Name: "test", Limit: limit, Window: time.Minute}}
}

func TestRejectedRequestLeavesNoTrace(t *testing.T) {
	t.Parallel()
	l, _, _ := newTestLimiter(t, []ratelimit.Rule{{Name: "test", Limit: 2, Window: time.Minute, Burst: 2}})

	got := allowAt(t, l, "a", 3, at(0))
	if got.Allowed {
		t.Fatalf("Allow(3) with burst 2: got allowed, want rejected")
	}
	got = allowAt(t, l, "a", 2, at(0))
	if !got.Allowed {
		t.Errorf("Allow(2) after a rejected Allow(3): got rejected %+v, want allowed", got)
	}
	if got.Remaining != 0 {
		t.Errorf("Remaining after Allow(2): got %d, want 0", got.Remaining)
	}
}

func TestMoreThanBurstNeverPasses(t *testing.T) {
	t.Parallel()
	l, c, prefix := newTestLimiter(t, perMinute(10))

	got := allowAt(t, l, "a", 11, at(0))
	if got.Allowed {
		t.Fatalf("Allow(11) with limit 10: got allowed, want rejected")
	}
	if got.RetryAfter != ratelimit.Never {
		t.Errorf("RetryAfter: got %v, want Never", got.RetryAfter)
	}
	if got.Remaining != 10 {
		t.Errorf("Remaining: got %d, want 10", got.Remaining)
	}
	if got.ResetAfter != 0 {
		t.Errorf("ResetAfter: got %v, want 0", got.ResetAfter)
	}
	if keys := keysWithPrefix(t, c, prefix); len(keys) != 0 {
		t.Errorf("keys after the rejection: got %v, want none", keys)
	}

	// With state in place, the rejection leaves the stored value alone.
	allowAt(t, l, "a", 3, at(0))
	keys := keysWithPrefix(t, c, prefix)
	if len(keys) != 1 {
		t.Fatalf("keys after Allow(3): got %v, want one", keys)
	}
	before := c.Get(context.Background(), keys[0]).Val()
	if d := allowAt(t, l, "a", 11, at(time.Second)); d.RetryAfter != ratelimit.Never {
		t.Errorf("second Allow(11): RetryAfter got %v, want Never", d.RetryAfter)
	}
	if after := c.Get(context.Background(), keys[0]).Val(); after != before {
		t.Errorf("stored state after Allow(11): got %q, want %q", after, before)
	}
	if d := allowAt(t, l, "a", 7, at(time.Second)); !d.Allowed {
		t.Errorf("Allow(7) after the rejections: got rejected %+v, want allowed", d)
	}
}

func TestWeightedRequestAllOrNothing(t *testing.T) {
	t.Parallel()
	l, _, _ := newTestLimiter(t, perMinute(10))
	allowAt(t, l, "a", 8, at(0))

	got := allowAt(t, l, "a", 5, at(0))
	if got.Allowed {
		t.Fatalf("Allow(5) with 2 left: got allowed, want rejected")
	}
	if got.Remaining != 2 {
		t.Errorf("Remaining after the rejected Allow(5): got %d, want 2", got.Remaining)
	}
	if d := allowAt(t, l, "a", 0, at(0)); d.Remaining != 2 {
		t.Errorf("Remaining of a query after the rejection: got %d, want 2", d.Remaining)
	}
}

func TestRetryAfterIsRealWait(t *testing.T) {
	t.Parallel()
	l, _, _ := newTestLimiter(t, perMinute(10))
	for i := range 10 {
		if d := allowAt(t, l, "a", 1, at(0)); !d.Allowed {
			t.Fatalf("request %d at t=0: got rejected %+v, want allowed", i+1, d)
		}
	}

	got := allowAt(t, l, "a", 1, at(time.Second))
	if got.Allowed {
		t.Fatalf("request at t=1s: got allowed, want rejected")
	}
	if got.RetryAfter != 5*time.Second {
		t.Errorf("RetryAfter at t=1s: got %v, want 5s", got.RetryAfter)
	}
	h := http.Header{}
	ratelimit.SetHeaders(h, baseTime.Add(time.Second), []ratelimit.Decision{got}, l.Rules())
	if v := h.Get("Retry-After"); v != "5" {
		t.Errorf("Retry-After field: got %q, want %q", v, "5")
	}

	if d := allowAt(t, l, "a", 1, at(6*time.Second)); !d.Allowed {
		t.Errorf("request at t=6s: got rejected %+v, want allowed", d)
	}
}

func TestRemainingStaysWithinLimit(t *testing.T) {
	t.Parallel()
	rules := []ratelimit.Rule{
		{Name: "requests", Limit: 10, Window: time.Minute},
		{Name: "tokens", Limit: 1000, Window: time.Minute, Burst: 1500},
		{Name: "fast", Limit: 7, Window: time.Second},
	}
	l, _, _ := newTestLimiter(t, rules)
	rng := rand.New(rand.NewSource(1))

	now := at(0)
	for i := range 500 {
		switch rng.Intn(10) {
		case 0:
			now += (time.Duration(rng.Intn(600)) * time.Second).Microseconds() // a long idle period
		default:
			now += int64(rng.Intn(200_000))
		}
		n := int64(rng.Intn(40))
		if rng.Intn(5) == 0 {
			n = int64(rng.Intn(2000)) // more than is left, often more than a burst
		}
		ds, err := l.allowRules(context.Background(), "a", n, now, nil)
		if err != nil {
			t.Fatalf("step %d: allow %d: %v", i, n, err)
		}
		for _, d := range ds {
			if d.Remaining < 0 || d.Remaining > d.Limit {
				t.Fatalf("step %d, rule %s: Remaining %d outside 0..%d", i, d.Rule, d.Remaining, d.Limit)
			}
			if d.ResetAfter < 0 || d.RetryAfter < 0 {
				t.Fatalf("step %d, rule %s: negative duration in %+v", i, d.Rule, d)
			}
			if d.Allowed && d.RetryAfter != 0 {
				t.Fatalf("step %d, rule %s: allowed with RetryAfter %v", i, d.Rule, d.RetryAfter)
			}
		}
	}
}

func TestQuerySpendsNothing(t *testing.T) {
	t.Parallel()
	l, c, prefix := newTestLimiter(t, perMinute(10))

	got := allowAt(t, l, "a", 0, at(0))
	if !got.Allowed || got.Remaining != 10 || got.ResetAfter != 0 {
		t.Errorf("query of a new key: got %+v, want allowed with Remaining 10", got)
	}
	if keys := keysWithPrefix(t, c, prefix); len(keys) != 0 {
		t.Errorf("keys after a query: got %v, want none", keys)
	}
	allowAt(t, l, "a", 4, at(0))
	if got := allowAt(t, l, "a", 0, at(0)); got.Remaining != 6 || got.ResetAfter != 24*time.Second {
		t.Errorf("query after Allow(4): got %+v, want Remaining 6 and ResetAfter 24s", got)
	}
	if st := l.Stats(); st[0].Allowed != 1 || st[0].Rejected != 0 {
		t.Errorf("Stats after a query and one request: got %+v, want 1 allowed", st)
	}
}

func TestNegativeUnits(t *testing.T) {
	t.Parallel()
	l := New(redis.NewClient(&redis.Options{Addr: closedAddr(t)}), perMinute(10))
	ctx := context.Background()

	if _, err := l.Allow(ctx, "a", -1); !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("Allow(-1): got error %v, want ErrNegativeUnits", err)
	}
	if err := l.Settle(ctx, "a", -1, 0); !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("Settle(-1, 0): got error %v, want ErrNegativeUnits", err)
	}
	if err := l.Settle(ctx, "a", 0, -1); !errors.Is(err, ratelimit.ErrNegativeUnits) {
		t.Errorf("Settle(0, -1): got error %v, want ErrNegativeUnits", err)
	}
}

// TestEveryKeyExpires runs on the server's clock, because the TTL of a key
// is the point.
func TestEveryKeyExpires(t *testing.T) {
	t.Parallel()
	rules := []ratelimit.Rule{
		{Name: "sub-second", Limit: 3, Window: 100 * time.Millisecond},
		{Name: "minute", Limit: 10, Window: time.Minute},
		{Name: "fraction", Limit: 7, Window: time.Second},
		{Name: "tokens", Limit: 100_000, Window: time.Minute},
	}
	// maxTTL bounds each rule's TTL by the longest time to refill that the
	// test can cause: a full burst, or 150,000 tokens.
	maxTTL := []time.Duration{100 * time.Millisecond, time.Minute, time.Second, 90 * time.Second}
	l, c, _ := newTestLimiter(t, rules, WithRequestRules("sub-second", "minute", "fraction"))
	ctx := context.Background()

	// checkTTLs reads the TTLs of one caller's keys in one round trip. Each
	// key has a TTL within its rule's bound. The sub-second rule's key may
	// have expired already on a slow machine, and an expired key is not a
	// key left without a TTL.
	checkTTLs := func(step, key string) {
		t.Helper()
		keys := l.keysFor(key)
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.PTTL(ctx, k)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: PTTL: %v", step, err)
		}
		for i, cmd := range cmds {
			ttl := cmd.(*redis.DurationCmd).Val()
			switch {
			case ttl == -2*time.Nanosecond && i == 0:
			case ttl <= 0:
				t.Errorf("%s: PTTL of rule %s: got %v, want > 0", step, rules[i].Name, ttl)
			case ttl > maxTTL[i]:
				t.Errorf("%s: PTTL of rule %s: got %v, want at most %v", step, rules[i].Name, ttl, maxTTL[i])
			}
		}
	}

	for _, key := range []string{"a", "b", "c"} {
		if _, err := l.Allow(ctx, key, 500); err != nil {
			t.Fatalf("Allow(%s, 500): %v", key, err)
		}
		checkTTLs("after Allow("+key+")", key)
	}

	// A charge past the burst and a partial refund rewrite the keys.
	if err := l.Settle(ctx, "a", 500, 150_000); err != nil {
		t.Fatalf("Settle charge: %v", err)
	}
	checkTTLs("after a charge", "a")
	if err := l.Settle(ctx, "b", 500, 100); err != nil {
		t.Fatalf("Settle refund: %v", err)
	}
	checkTTLs("after a refund", "b")

	// A refund back to the full burst deletes the key instead of leaving
	// it without a TTL.
	tokensOfC := l.keysFor("c")[3]
	if err := l.Settle(ctx, "c", 500, 0); err != nil {
		t.Fatalf("Settle full refund: %v", err)
	}
	if n := c.Exists(ctx, tokensOfC).Val(); n != 0 {
		t.Errorf("token key of c after a full refund: got %d keys, want none", n)
	}
}

// TestSubSecondKeyDisappears waits on the server's clock for a key to
// expire: 20 ms, the refill time of its rule.
func TestSubSecondKeyDisappears(t *testing.T) {
	t.Parallel()
	l, c, _ := newTestLimiter(t, []ratelimit.Rule{{Name: "tiny", Limit: 1, Window: 20 * time.Millisecond}})
	ctx := context.Background()

	// A machine that stalls for 20 ms between the write and the read finds
	// the key gone already, so that attempt proves nothing and is repeated
	// with a new caller.
	var key string
	for attempt := 0; key == ""; attempt++ {
		if attempt == 5 {
			t.Fatalf("the key expired before PTTL could read it in all of 5 attempts")
		}
		caller := fmt.Sprintf("caller-%d", attempt)
		if d, err := l.Allow(ctx, caller, 1); err != nil || !d.Allowed {
			t.Fatalf("Allow: got %+v, %v; want allowed", d, err)
		}
		k := l.keysFor(caller)[0]
		switch ttl := c.PTTL(ctx, k).Val(); {
		case ttl == -2*time.Nanosecond:
		case ttl <= 0 || ttl > 20*time.Millisecond:
			t.Fatalf("PTTL: got %v, want in (0, 20ms]", ttl)
		default:
			key = k
		}
	}

	deadline := time.Now().Add(time.Second)
	for c.Exists(ctx, key).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("key %s still exists a second after its 20 ms TTL", key)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	l, _, _ := newTestLimiter(t, perMinute(10))
	ctx := context.Background()

	allowAt(t, l, "a", 5, at(0))
	if err := l.settleAt(ctx, "a", 5, 2, at(0)); err != nil {
		t.Fatalf("refund: %v", err)
	}
	if d := allowAt(t, l, "a", 0, at(0)); d.Remaining != 8 {
		t.Errorf("Remaining after reserving 5 and using 2: got %d, want 8", d.Remaining)
	}

	// A refund never raises a key past its full burst.
	if err := l.settleAt(ctx, "a", 10, 0, at(0)); err != nil {
		t.Fatalf("large refund: %v", err)
	}
	if d := allowAt(t, l, "a", 0, at(0)); d.Remaining != 10 || d.ResetAfter != 0 {
		t.Errorf("after a refund past the burst: got %+v, want Remaining 10 and ResetAfter 0", d)
	}

	// A charge goes past the burst, and the key waits for the debt.
	if err := l.settleAt(ctx, "a", 0, 15, at(0)); err != nil {
		t.Fatalf("charge: %v", err)
	}
	d := allowAt(t, l, "a", 1, at(0))
	if d.Allowed || d.RetryAfter != 36*time.Second || d.ResetAfter != 90*time.Second {
		t.Errorf("after charging 15 of 10: got %+v, want rejected, RetryAfter 36s, ResetAfter 1m30s", d)
	}
}

// TestMatchesMemoryLimiter drives the Redis limiter and ratelimit.Memory
// through the same random requests and settlements, at whole microseconds,
// and compares every decision field by field.
func TestMatchesMemoryLimiter(t *testing.T) {
	t.Parallel()
	rules := []ratelimit.Rule{
		{Name: "per-minute", Limit: 10, Window: time.Minute},
		{Name: "seven-per-second", Limit: 7, Window: time.Second},
		{Name: "odd", Limit: 13, Window: 16900 * time.Millisecond, Burst: 5},
		{Name: "sub-second", Limit: 3, Window: 100 * time.Millisecond},
		{Name: "tokens", Limit: 40_000, Window: time.Minute, Burst: 60_000},
		{Name: "nanoseconds", Limit: 1_000_003, Window: 1_000_000_007},
		{Name: "monthly", Limit: 1, Window: 30 * 24 * time.Hour},
	}
	for _, rule := range rules {
		t.Run(rule.Name, func(t *testing.T) {
			t.Parallel()
			l, _, _ := newTestLimiter(t, []ratelimit.Rule{rule})
			var ahead aheadClock
			clock := time.UnixMicro(ahead.advance(0))
			mem := ratelimit.NewMemory(rule, ratelimit.WithClock(func() time.Time { return clock }))
			compareWithMemory(t, l, rule, mem, &ahead, &clock, rand.New(rand.NewSource(int64(len(rule.Name)))))
		})
	}
}

func compareWithMemory(t *testing.T, l *Limiter, rule ratelimit.Rule, mem *ratelimit.Memory, ahead *aheadClock, clock *time.Time, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	burst := rule.Burst
	if burst == 0 {
		burst = rule.Limit
	}
	interval := max(rule.Window/time.Duration(rule.Limit), time.Microsecond)

	key, restarts := "k0", 0
	start := clock.UnixMicro()
	for i := range 300 {
		now := ahead.advance(rng.Int63n(int64(interval.Microseconds())*3 + 1))
		*clock = time.UnixMicro(now)
		n := rng.Int63n(burst/3 + 2)
		if rng.Intn(10) == 0 {
			n = burst + 1
		}

		if rng.Intn(8) == 0 {
			used := rng.Int63n(2*n + 1)
			if err := l.settleAt(ctx, key, n, used, now); err != nil {
				t.Fatalf("step %d: settle %d as %d: %v", i, n, used, err)
			}
			if err := mem.SettleAt(key, n, used, *clock); err != nil {
				t.Fatalf("step %d: memory settle: %v", i, err)
			}
			continue
		}

		got := allowAt(t, l, key, n, now)
		want := mem.AllowAt(key, n, *clock)
		if got != want {
			if ahead.late() {
				restarts++
				key = fmt.Sprintf("k%d", restarts)
				continue
			}
			t.Fatalf("step %d, %d units at +%dµs:\n got %+v\nwant %+v", i, n, now-start, got, want)
		}
	}
	if restarts > 0 {
		t.Logf("started over on a new key %d times after calls slower than %v", restarts, aheadMargin)
	}
}

// TestSeveralRulesMatchAll compares a limiter of several rules with
// ratelimit.All of in-memory limiters for the same rules.
func TestSeveralRulesMatchAll(t *testing.T) {
	t.Parallel()
	rules := []ratelimit.Rule{
		{Name: "requests", Limit: 5, Window: time.Second},
		{Name: "tokens", Limit: 300, Window: time.Second, Burst: 400},
	}
	l, _, _ := newTestLimiter(t, rules, WithRequestRules("requests"))
	var ahead aheadClock
	clock := time.UnixMicro(ahead.advance(0))
	now := func() time.Time { return clock }
	all := ratelimit.All(
		ratelimit.PerRequest(ratelimit.NewMemory(rules[0], ratelimit.WithClock(now))),
		ratelimit.NewMemory(rules[1], ratelimit.WithClock(now)),
	).(ratelimit.MultiLimiter)
	rng := rand.New(rand.NewSource(2))
	ctx := context.Background()

	key, restarts := "k0", 0
	for i := range 300 {
		micros := ahead.advance(rng.Int63n(300_000))
		clock = time.UnixMicro(micros)
		n := rng.Int63n(250)
		got, err := l.allowRules(ctx, key, n, micros, nil)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		want, err := all.AllowRules(ctx, key, n, nil)
		if err != nil {
			t.Fatalf("step %d: in memory: %v", i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("step %d: got %d decisions, want %d", i, len(got), len(want))
		}
		for j := range got {
			if got[j] == want[j] {
				continue
			}
			if ahead.late() {
				restarts++
				key = fmt.Sprintf("k%d", restarts)
				break
			}
			t.Fatalf("step %d, %d units, rule %d:\n got %+v\nwant %+v", i, n, j, got[j], want[j])
		}
	}
	if restarts > 0 {
		t.Logf("started over on a new key %d times after calls slower than %v", restarts, aheadMargin)
	}
}

func TestConcurrentClientsAdmitExactlyLimit(t *testing.T) {
	t.Parallel()
	newTestClient(t) // skips without a server
	rules := []ratelimit.Rule{{Name: "hour", Limit: 100, Window: time.Hour}}
	prefix := testPrefix(t)

	const clients, attempts = 8, 40
	var (
		wg       sync.WaitGroup
		admitted [clients]int
		errs     [clients]error
		start    = make(chan struct{})
	)
	for i := range clients {
		// Each client has its own connection pool, as separate replicas
		// of a service would.
		c := redis.NewClient(&redis.Options{Addr: testRedis.addr})
		t.Cleanup(func() { _ = c.Close() })
		l := New(c, rules, WithPrefix(prefix), WithTimeout(0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range attempts {
				d, err := l.Allow(context.Background(), "shared", 1)
				if err != nil {
					errs[i] = err
					return
				}
				if d.Allowed {
					admitted[i]++
				}
			}
		}()
	}
	close(start)
	wg.Wait()

	total := 0
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		total += admitted[i]
	}
	if total != 100 {
		t.Errorf("admitted across %d clients: got %d, want 100", clients, total)
	}
}

func TestRequestAndTokenRules(t *testing.T) {
	t.Parallel()
	rules := []ratelimit.Rule{
		{Name: "requests", Limit: 10, Window: time.Minute},
		{Name: "tokens", Limit: 1000, Window: time.Minute},
	}
	l, _, _ := newTestLimiter(t, rules, WithRequestRules("requests"))
	ctx := context.Background()

	if d := allowAt(t, l, "a", 600, at(0)); !d.Allowed {
		t.Fatalf("600 tokens: got rejected %+v, want allowed", d)
	}
	ds, err := l.allowRules(ctx, "a", 500, at(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ds[1].Allowed {
		t.Fatalf("500 more tokens: got allowed %+v, want rejected by tokens", ds[1])
	}
	if !ds[0].Allowed || ds[0].Remaining != 9 {
		t.Errorf("request rule in the rejected request: got %+v, want allowed with Remaining 9", ds[0])
	}

	query, err := l.allowRules(ctx, "a", 0, at(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if query[0].Remaining != 9 {
		t.Errorf("requests left after the token rejection: got %d, want 9", query[0].Remaining)
	}
	if query[1].Remaining != 400 {
		t.Errorf("tokens left after the token rejection: got %d, want 400", query[1].Remaining)
	}
	st := l.Stats()
	if st[0].Allowed != 1 || st[0].Rejected != 0 || st[1].Allowed != 1 || st[1].Rejected != 1 {
		t.Errorf("Stats: got %+v, want requests 1/0 and tokens 1/1", st)
	}
}

// TestAllOfTwoRedisLimiters checks the composition through ratelimit.All,
// which refunds the first limiter through Settle when the second rejects.
func TestAllOfTwoRedisLimiters(t *testing.T) {
	t.Parallel()
	c := newTestClient(t)
	prefix := testPrefix(t)
	requests := New(c, []ratelimit.Rule{{Name: "requests", Limit: 10, Window: time.Minute}}, WithPrefix(prefix), WithTimeout(testTimeout))
	tokens := New(c, []ratelimit.Rule{{Name: "tokens", Limit: 1000, Window: time.Minute}}, WithPrefix(prefix), WithTimeout(testTimeout))
	l := ratelimit.All(ratelimit.PerRequest(requests), tokens)
	ctx := context.Background()

	if d, err := l.Allow(ctx, "a", 600); err != nil || !d.Allowed {
		t.Fatalf("600 tokens: got %+v, %v; want allowed", d, err)
	}
	if d, err := l.Allow(ctx, "a", 500); err != nil || d.Allowed {
		t.Fatalf("500 more tokens: got %+v, %v; want rejected", d, err)
	}
	d, err := requests.Allow(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Remaining != 9 {
		t.Errorf("requests left after the token rejection: got %d, want 9", d.Remaining)
	}
}

func TestScriptReloadsAfterFlush(t *testing.T) {
	// Not parallel: SCRIPT FLUSH empties the cache of every test.
	l, c, _ := newTestLimiter(t, perMinute(10))
	ctx := context.Background()

	if d, err := l.Allow(ctx, "a", 1); err != nil || !d.Allowed {
		t.Fatalf("first Allow: got %+v, %v; want allowed", d, err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}
	d, err := l.Allow(ctx, "a", 1)
	if err != nil || !d.Allowed || d.Remaining != 8 {
		t.Fatalf("Allow after SCRIPT FLUSH: got %+v, %v; want allowed with Remaining 8", d, err)
	}
	if exists := c.ScriptExists(ctx, l.scriptHash).Val(); len(exists) != 1 || !exists[0] {
		t.Errorf("script cached after the reload: got %v, want [true]", exists)
	}
	if f := l.Failures(); f != (Failures{}) {
		t.Errorf("Failures: got %+v, want none", f)
	}
}

func TestMiddlewareWithRedis(t *testing.T) {
	t.Parallel()
	rules := []ratelimit.Rule{
		{Name: "api", Limit: 2, Window: time.Minute},
		{Name: "tokens", Limit: 100, Window: time.Minute},
	}
	l, _, _ := newTestLimiter(t, rules, WithRequestRules("api"))
	key := func(*http.Request) (string, error) { return "client", nil }
	cost := ratelimit.WithCost(func(*http.Request) (int64, error) { return 10, nil })
	h := ratelimit.Middleware(l, key, cost)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))

	var statuses []int
	var last *httptest.ResponseRecorder
	for range 3 {
		last = httptest.NewRecorder()
		h.ServeHTTP(last, httptest.NewRequest(http.MethodPost, "/", nil))
		statuses = append(statuses, last.Code)
	}
	if statuses[0] != http.StatusNoContent || statuses[1] != http.StatusNoContent || statuses[2] != http.StatusTooManyRequests {
		t.Fatalf("statuses: got %v, want [204 204 429]", statuses)
	}
	if got, want := last.Header().Get("RateLimit-Policy"), `"api";q=2;w=60, "tokens";q=100;w=60`; got != want {
		t.Errorf("RateLimit-Policy: got %q, want %q", got, want)
	}
	if got := last.Header().Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After: got %q, want %q", got, "30")
	}
}

func TestRulesAndStats(t *testing.T) {
	t.Parallel()
	rules := []ratelimit.Rule{{Name: "a", Limit: 1, Window: time.Minute}, {Name: "b", Limit: 5, Window: time.Minute}}
	l, _, _ := newTestLimiter(t, rules)

	got := l.Rules()
	if len(got) != 2 || got[0] != rules[0] || got[1] != rules[1] {
		t.Errorf("Rules: got %+v, want %+v", got, rules)
	}
	got[0].Limit = 99
	if l.Rules()[0].Limit != 1 {
		t.Errorf("Rules: changing the returned slice changed the limiter")
	}

	allowAt(t, l, "k", 1, at(0))
	allowAt(t, l, "k", 1, at(0))
	allowAt(t, l, "k", 0, at(0))
	st := l.Stats()
	want := []ratelimit.RuleStats{{Rule: "a", Allowed: 1, Rejected: 1}, {Rule: "b", Allowed: 1, Rejected: 0}}
	if len(st) != 2 || st[0] != want[0] || st[1] != want[1] {
		t.Errorf("Stats: got %+v, want %+v", st, want)
	}
	deg := l.Degraded().Stats()
	if len(deg) != 2 || deg[0].Rule != "a"+DegradedSuffix || deg[0].Allowed != 0 || deg[0].Rejected != 0 {
		t.Errorf("Degraded stats with Redis up: got %+v, want zero counts named a%s and b%s", deg, DegradedSuffix, DegradedSuffix)
	}
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t)})
	t.Cleanup(func() { _ = client.Close() })
	ok := []ratelimit.Rule{{Name: "a", Limit: 1, Window: time.Second}}

	tests := []struct {
		name string
		new  func()
	}{
		{"nil client", func() { New(nil, ok) }},
		{"no rules", func() { New(client, nil) }},
		{"invalid rule", func() { New(client, []ratelimit.Rule{{Name: "a", Limit: 0, Window: time.Second}}) }},
		{"duplicate names", func() { New(client, []ratelimit.Rule{ok[0], ok[0]}) }},
		{"unknown request rule", func() { New(client, ok, WithRequestRules("b")) }},
		{"prefix with brace", func() { WithPrefix("a{b}:") }},
		{"negative timeout", func() { WithTimeout(-time.Second) }},
		{"unknown policy", func() { WithPolicy(Policy(9)) }},
		{"zero replicas", func() { WithReplicas(0) }},
		{"breaker without cool-down", func() { WithBreaker(3, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: got no panic, want one", tt.name)
				}
			}()
			tt.new()
		})
	}
}

// TestMoreRulesThanArrays checks a limiter with more rules than a call's
// arrays hold, which allocates them instead.
func TestMoreRulesThanArrays(t *testing.T) {
	t.Parallel()
	var rules []ratelimit.Rule
	for i := range smallRules + 2 {
		rules = append(rules, ratelimit.Rule{Name: fmt.Sprintf("rule-%d", i), Limit: int64(10 * (i + 1)), Window: time.Minute})
	}
	l, _, _ := newTestLimiter(t, rules)
	ctx := context.Background()

	ds, err := l.allowRules(ctx, "a", 10, at(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(rules) {
		t.Fatalf("decisions: got %d, want %d", len(ds), len(rules))
	}
	for i, d := range ds {
		if want := rules[i].Limit - 10; !d.Allowed || d.Remaining != want {
			t.Errorf("rule %d after 10 units: got %+v, want allowed with Remaining %d", i, d, want)
		}
	}

	// The first rule is empty now, so it rejects, and the others keep
	// their units.
	ds, err = l.allowRules(ctx, "a", 5, at(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Allowed {
		t.Errorf("rule 0 with nothing left: got allowed %+v, want rejected", ds[0])
	}
	for i, d := range ds[1:] {
		if want := rules[i+1].Limit - 10; !d.Allowed || d.Remaining != want {
			t.Errorf("rule %d after a rejection by rule 0: got %+v, want Remaining %d", i+1, d, want)
		}
	}

	if err := l.settleAt(ctx, "a", 10, 0, at(0)); err != nil {
		t.Fatalf("refund: %v", err)
	}
	if d := allowAt(t, l, "a", 0, at(0)); d.Remaining != rules[0].Limit {
		t.Errorf("after the refund: got %+v, want Remaining %d", d, rules[0].Limit)
	}
}
