package redislimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aimeter/aimeter/ratelimit"
)

// schedulingSlack is how much longer than its timeout a decision may take
// in these tests, for goroutine scheduling on a loaded machine and the race
// detector. A decision that waits for the client's own timeouts instead
// takes seconds.
const schedulingSlack = 250 * time.Millisecond

// outageCase is one failure policy in the outage test, with what its
// decisions, settlements and HTTP responses must be while Redis is down.
type outageCase struct {
	policy Policy
	opts   []Option
	// check checks the i-th decision (from 0) during the outage.
	check func(t *testing.T, i int, d ratelimit.Decision, err error)
	// settleErr is whether Settle fails during the outage.
	settleErr bool
	// status is the HTTP status of Middleware's responses during the
	// outage.
	status int
	// mwOpts configures Middleware.
	mwOpts []ratelimit.MiddlewareOption
}

func outageCases() []outageCase {
	return []outageCase{
		{
			policy: FailOpen,
			check: func(t *testing.T, i int, d ratelimit.Decision, err error) {
				t.Helper()
				want := ratelimit.Decision{Allowed: true, Rule: "api", Limit: 10, Remaining: 9, ResetAfter: 6 * time.Second}
				if err != nil || d != want {
					t.Errorf("decision %d: got %+v, %v; want %+v", i, d, err, want)
				}
			},
			settleErr: true,
			status:    http.StatusNoContent,
		},
		{
			policy: FailClosed,
			check: func(t *testing.T, i int, d ratelimit.Decision, err error) {
				t.Helper()
				want := ratelimit.Decision{Rule: "api", Limit: 10, ResetAfter: UnavailableRetryAfter, RetryAfter: UnavailableRetryAfter}
				if err != nil || d != want {
					t.Errorf("decision %d: got %+v, %v; want %+v", i, d, err, want)
				}
			},
			settleErr: true,
			status:    http.StatusTooManyRequests,
		},
		{
			policy: Fallback,
			opts:   []Option{WithReplicas(2)},
			check: func(t *testing.T, i int, d ratelimit.Decision, err error) {
				t.Helper()
				// 10 per minute over 2 replicas: 5 in memory.
				if err != nil || d.Limit != 5 || d.Allowed != (i < 5) {
					t.Errorf("decision %d: got %+v, %v; want Limit 5 and allowed only for the first 5", i, d, err)
				}
			},
			settleErr: false,
			// The in-memory limiter has spent its 5 units before the
			// middleware's request.
			status: http.StatusTooManyRequests,
		},
		{
			policy: ReturnError,
			check: func(t *testing.T, i int, d ratelimit.Decision, err error) {
				t.Helper()
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("decision %d: got %+v, %v; want an error wrapping ErrUnavailable", i, d, err)
				}
			},
			settleErr: true,
			status:    http.StatusServiceUnavailable,
			mwOpts:    []ratelimit.MiddlewareOption{ratelimit.WithFailClosed()},
		},
	}
}

// TestOutageAndRecovery stops the Redis server under limiters of every
// policy, checks what each decides and how long it takes, then starts the
// server again on the same port and checks that decisions return to Redis
// within a second.
func TestOutageAndRecovery(t *testing.T) {
	srv := startOwnRedis(t)
	rules := []ratelimit.Rule{{Name: "api", Limit: 10, Window: time.Minute}}
	const timeout = 50 * time.Millisecond
	ctx := context.Background()

	cases := outageCases()
	limiters := make([]*Limiter, len(cases))
	for i, tc := range cases {
		c := redis.NewClient(&redis.Options{Addr: srv.addr})
		t.Cleanup(func() { _ = c.Close() })
		opts := append([]Option{WithPolicy(tc.policy), WithTimeout(timeout), WithPrefix(testPrefix(t))}, tc.opts...)
		limiters[i] = New(c, rules, opts...)
		if d, err := limiters[i].Allow(ctx, "warm-up", 1); err != nil || !d.Allowed {
			t.Fatalf("%v: Allow with Redis up: got %+v, %v; want allowed", tc.policy, d, err)
		}
	}

	srv.stop()

	for i, tc := range cases {
		t.Run(tc.policy.String(), func(t *testing.T) {
			l := limiters[i]
			const decisions = 6
			for j := range decisions {
				start := time.Now()
				d, err := l.Allow(ctx, "client", 1)
				if took := time.Since(start); took > timeout+schedulingSlack {
					t.Errorf("decision %d took %v, want at most %v", j, took, timeout+schedulingSlack)
				}
				tc.check(t, j, d, err)
			}

			f := l.Failures()
			if f.Degraded != decisions {
				t.Errorf("Failures.Degraded: got %d, want %d", f.Degraded, decisions)
			}
			if f.Errors != DefaultBreakerFailures || f.BreakerOpenings != 1 || f.Skipped != decisions-DefaultBreakerFailures {
				t.Errorf("Failures: got %+v, want %d errors, 1 opening and %d skipped", f, DefaultBreakerFailures, decisions-DefaultBreakerFailures)
			}
			if st := l.Stats(); st[0].Allowed != 1 || st[0].Rejected != 0 {
				t.Errorf("Stats: got %+v, want only the one decision Redis made", st)
			}
			deg := l.Degraded().Stats()
			if got := deg[0].Allowed + deg[0].Rejected; tc.policy != ReturnError && got != decisions {
				t.Errorf("Degraded stats: got %+v, want %d decisions", deg, decisions)
			}

			key := func(*http.Request) (string, error) { return "client", nil }
			h := ratelimit.Middleware(l, key, tc.mwOpts...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != tc.status {
				t.Errorf("Middleware status during the outage: got %d, want %d", rec.Code, tc.status)
			}

			err := l.Settle(ctx, "client", 1, 0)
			if tc.settleErr != (err != nil) {
				t.Errorf("Settle during the outage: got error %v, want error: %v", err, tc.settleErr)
			}
			if err != nil && !errors.Is(err, ErrUnavailable) {
				t.Errorf("Settle during the outage: got error %v, want one wrapping ErrUnavailable", err)
			}
			if got := l.Failures().LostSettlements; got != 1 {
				t.Errorf("Failures.LostSettlements: got %d, want 1", got)
			}
		})
	}

	if err := srv.restart(); err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
	restarted := time.Now()

	for i, tc := range cases {
		t.Run(tc.policy.String()+"/recovery", func(t *testing.T) {
			// Each attempt uses a new key, because a call that ran out of
			// time may still have spent its unit in Redis.
			l := limiters[i]
			for attempt := 0; ; attempt++ {
				before := l.Failures().Degraded
				d, err := l.Allow(ctx, fmt.Sprintf("after-%d", attempt), 1)
				if l.Failures().Degraded == before {
					if err != nil || !d.Allowed || d.Remaining != 9 || d.Limit != 10 {
						t.Errorf("first decision from Redis: got %+v, %v; want allowed with Remaining 9 of 10", d, err)
					}
					break
				}
				if time.Since(restarted) > time.Second {
					t.Fatalf("decisions still degraded %v after the restart: %+v", time.Since(restarted), l.Failures())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	if took := time.Since(restarted); took > time.Second {
		t.Errorf("all limiters back on Redis after %v, want within a second", took)
	}
}

// blackhole is a TCP listener on loopback that accepts connections and
// reads from them but never replies, like a server that hangs.
type blackhole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  sync.WaitGroup
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	b := &blackhole{ln: ln}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, conn)
			b.mu.Unlock()
			b.done.Add(1)
			go func() {
				defer b.done.Done()
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) close() {
	_ = b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.done.Wait()
}

// TestTimeoutBoundsHungRedis checks the timeout against a server that
// accepts connections and never replies, with clients that end calls at the
// context's deadline and clients that do not.
func TestTimeoutBoundsHungRedis(t *testing.T) {
	t.Parallel()
	for _, contextTimeouts := range []bool{true, false} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", contextTimeouts), func(t *testing.T) {
			t.Parallel()
			testTimeoutBoundsHungRedis(t, contextTimeouts)
		})
	}
}

func testTimeoutBoundsHungRedis(t *testing.T, contextTimeouts bool) {
	bh := newBlackhole(t)
	c := redis.NewClient(&redis.Options{Addr: bh.ln.Addr().String(), ContextTimeoutEnabled: contextTimeouts, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	const timeout = 30 * time.Millisecond
	l := New(c, perMinute(10), WithTimeout(timeout), WithBreaker(2, time.Hour))
	if l.honoursDeadlines != contextTimeouts {
		t.Fatalf("honoursDeadlines: got %v, want %v", l.honoursDeadlines, contextTimeouts)
	}
	ctx := context.Background()

	for i := range 5 {
		start := time.Now()
		d, err := l.Allow(ctx, "a", 1)
		took := time.Since(start)
		if err != nil || !d.Allowed {
			t.Errorf("decision %d: got %+v, %v; want allowed by FailOpen", i, d, err)
		}
		if took > timeout+schedulingSlack {
			t.Errorf("decision %d took %v, want at most %v", i, took, timeout+schedulingSlack)
		}
		if i >= 2 && took > schedulingSlack {
			t.Errorf("decision %d with the breaker open took %v, want no wait", i, took)
		}
	}
	want := Failures{Errors: 2, Timeouts: 2, Skipped: 3, BreakerOpenings: 1, Degraded: 5}
	if got := l.Failures(); got != want {
		t.Errorf("Failures: got %+v, want %+v", got, want)
	}
}

func TestCallerCancelIsNotAFailure(t *testing.T) {
	t.Parallel()
	bh := newBlackhole(t)
	c := redis.NewClient(&redis.Options{Addr: bh.ln.Addr().String()})
	t.Cleanup(func() { _ = c.Close() })
	l := New(c, perMinute(10), WithTimeout(time.Second))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := l.Allow(ctx, "a", 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Allow with the caller's deadline passed: got error %v, want context.DeadlineExceeded", err)
	}
	if got := l.Failures(); got != (Failures{}) {
		t.Errorf("Failures: got %+v, want none", got)
	}
}

func TestFailOpenRejectsMoreThanBurst(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	rules := []ratelimit.Rule{
		{Name: "requests", Limit: 10, Window: time.Minute},
		{Name: "tokens", Limit: 100, Window: time.Minute},
	}
	l := New(c, rules, WithRequestRules("requests"))

	ds, err := l.AllowRules(context.Background(), "a", 101, nil)
	if err != nil {
		t.Fatalf("AllowRules: %v", err)
	}
	wantRequests := ratelimit.Decision{Allowed: true, Rule: "requests", Limit: 10, Remaining: 10}
	if ds[0] != wantRequests {
		t.Errorf("request rule: got %+v, want %+v", ds[0], wantRequests)
	}
	if ds[1].Allowed || ds[1].RetryAfter != ratelimit.Never {
		t.Errorf("token rule: got %+v, want rejected with RetryAfter Never", ds[1])
	}
	deg := l.Degraded().Stats()
	if deg[0].Allowed != 0 || deg[0].Rejected != 0 || deg[1].Rejected != 1 {
		t.Errorf("Degraded stats: got %+v, want one rejection by tokens", deg)
	}
}
