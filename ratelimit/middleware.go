package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// CostFunc returns the units that a request costs, such as its estimated
// tokens for a tokens-per-minute rule. An error, or a negative cost, sends
// the request to the middleware's error handler.
type CostFunc func(*http.Request) (int64, error)

// rejectionMessage is the error field of the body of a 429 response.
const rejectionMessage = "rate limit exceeded"

// Keys of the attributes that Middleware logs.
const (
	logKeyError      = "error"
	logKeyMethod     = "method"
	logKeyPath       = "path"
	logKeySuppressed = "suppressed"
)

type middlewareConfig struct {
	now        func() time.Time
	cost       CostFunc
	onReject   func(http.ResponseWriter, *http.Request, Decision)
	onError    func(http.ResponseWriter, *http.Request, error)
	failClosed bool
	counters   *MiddlewareCounters
	logger     *slog.Logger
}

// WithCost returns an option that charges each request cost(r) units
// (default one unit per request). A cost of zero lets the request through
// and spends nothing. It panics if cost is nil.
func WithCost(cost CostFunc) MiddlewareOption {
	if cost == nil {
		panic("ratelimit: WithCost: nil cost function")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.cost = cost })
}

// WithRejectHandler returns an option that responds to rejected requests
// with reject instead of the default 429 response. The rate-limit header fields
// are already set when reject runs. It panics if reject is nil.
func WithRejectHandler(reject func(w http.ResponseWriter, r *http.Request, d Decision)) MiddlewareOption {
	if reject == nil {
		panic("ratelimit: WithRejectHandler: nil handler")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.onReject = reject })
}

// WithErrorHandler returns an option that responds with handle to requests
// whose KeyFunc or CostFunc failed. The default response is status 400 with
// the JSON body {"error": err.Error()}. A negative cost arrives as an error
// wrapping ErrNegativeUnits. It panics if handle is nil.
func WithErrorHandler(handle func(w http.ResponseWriter, r *http.Request, err error)) MiddlewareOption {
	if handle == nil {
		panic("ratelimit: WithErrorHandler: nil handler")
	}
	return middlewareOptionFunc(func(c *middlewareConfig) { c.onError = handle })
}

// WithFailClosed returns an option that responds with status 503 and the
// JSON body {"error":"rate limiter unavailable"} when the limiter returns an
// error.
// Without it the middleware fails open: it serves the request with no
// rate-limit fields, which keeps the service up while the limiter's backend
// is down.
func WithFailClosed() MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.failClosed = true })
}

// WithCounters returns an option that counts in c the requests the
// middleware could not decide normally. It panics if c is nil.
func WithCounters(c *MiddlewareCounters) MiddlewareOption {
	if c == nil {
		panic("ratelimit: WithCounters: nil counters")
	}
	return middlewareOptionFunc(func(cfg *middlewareConfig) { cfg.counters = c })
}

// WithLogger returns an option that logs limiter errors to logger, at most
// one record per second with the number of errors left out since the last
// one. By default the middleware does not log; the counters of WithCounters
// still count every error.
func WithLogger(logger *slog.Logger) MiddlewareOption {
	return middlewareOptionFunc(func(c *middlewareConfig) { c.logger = logger })
}

// MiddlewareCounters counts the requests that Middleware could not decide
// normally. The zero value is ready to use.
type MiddlewareCounters struct {
	keyErrors, costErrors, failedOpen, failedClosed atomic.Int64
}

// KeyErrors returns the number of requests whose KeyFunc failed.
func (c *MiddlewareCounters) KeyErrors() int64 { return c.keyErrors.Load() }

// CostErrors returns the number of requests whose CostFunc failed or
// returned a negative cost.
func (c *MiddlewareCounters) CostErrors() int64 { return c.costErrors.Load() }

// FailedOpen returns the number of requests served without a decision
// because the limiter returned an error.
func (c *MiddlewareCounters) FailedOpen() int64 { return c.failedOpen.Load() }

// FailedClosed returns the number of requests rejected with status 503
// because the limiter returned an error and WithFailClosed was set.
func (c *MiddlewareCounters) FailedClosed() int64 { return c.failedClosed.Load() }

// Reservation is what Middleware spent for a request. The middleware stores
// it in the context of every request it lets through, so that the handler
// can settle an estimated cost once the real cost is known.
type Reservation struct {
	// Key is the rate-limit key of the request.
	Key string
	// Units is the cost that was spent.
	Units int64
	// Decision is the combined decision that admitted the request.
	Decision Decision

	limiter Limiter
}

// Settle corrects the spend to the used units that the request really cost,
// in place of Units (see Settler). It returns ErrSettleUnsupported when the limiter does
// not implement Settler.
func (r Reservation) Settle(ctx context.Context, used int64) error {
	s, ok := r.limiter.(Settler)
	if !ok {
		return ErrSettleUnsupported
	}
	return s.Settle(ctx, r.Key, r.Units, used)
}

type reservationContextKey struct{}

// reservationContext is a context that carries a Reservation. It costs one
// allocation, where context.WithValue would cost a second one for boxing
// the Reservation.
type reservationContext struct {
	context.Context
	res Reservation
}

// Value returns a pointer to the Reservation for reservationContextKey, and
// the parent context's value for any other key.
func (c *reservationContext) Value(key any) any {
	if _, ok := key.(reservationContextKey); ok {
		return &c.res
	}
	return c.Context.Value(key)
}

// ReservationFromContext returns the Reservation that Middleware stored in
// ctx, and false when there is none.
func ReservationFromContext(ctx context.Context) (Reservation, bool) {
	r, ok := ctx.Value(reservationContextKey{}).(*Reservation)
	if !ok {
		return Reservation{}, false
	}
	return *r, true
}

// Middleware returns HTTP middleware that spends the cost of each request
// (one unit unless WithCost sets another cost) on l under the key that key
// returns.
//
// Every decided response carries the fields that SetHeaders writes: when l
// implements MultiLimiter, RateLimit has one item per rule, and when it
// implements RuleLister, RateLimit-Policy lists its rules. A rejected request
// gets status 429 and the JSON body
//
//	{"error":"rate limit exceeded","rule":"api","retry_after_seconds":5}
//
// where retry_after_seconds, like the Retry-After field, is left out when
// the request can never pass. An admitted request reaches next with a
// Reservation in its context.
//
// A failed KeyFunc or CostFunc gets status 400, because without a key the
// request cannot be limited and letting it through would let clients skip
// the limit by omitting it. An error from l fails open unless WithFailClosed
// is set. Both are counted when WithCounters is set. Middleware panics if l
// or key is nil.
func Middleware(l Limiter, key KeyFunc, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	if l == nil || key == nil {
		panic("ratelimit: Middleware: nil limiter or key function")
	}

	cfg := middlewareConfig{
		now:      time.Now,
		cost:     func(*http.Request) (int64, error) { return 1, nil },
		onReject: writeRejection,
		onError:  writeBadRequest,
		counters: new(MiddlewareCounters),
	}
	for _, o := range opts {
		o.applyMiddleware(&cfg)
	}

	mw := &middleware{middlewareConfig: cfg, limiter: l, key: key}
	mw.multi, _ = l.(MultiLimiter)
	if rl, ok := l.(RuleLister); ok {
		mw.policy = FormatPolicy(rl.Rules())
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mw.serve(w, r, next)
		})
	}
}

type middleware struct {
	middlewareConfig
	limiter Limiter
	multi   MultiLimiter
	key     KeyFunc

	// policy is the RateLimit-Policy field, the same for every response.
	policy string

	// lastLog is when a limiter error was last logged, in Unix
	// nanoseconds, and suppressed counts the errors left out since.
	lastLog    atomic.Int64
	suppressed atomic.Int64
}

func (mw *middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	// Find the key and the cost.
	key, err := mw.key(r)
	if err != nil {
		mw.counters.keyErrors.Add(1)
		mw.onError(w, r, err)
		return
	}
	units, err := mw.cost(r)
	if err == nil && units < 0 {
		err = fmt.Errorf("ratelimit: request cost %d: %w", units, ErrNegativeUnits)
	}
	if err != nil {
		mw.counters.costErrors.Add(1)
		mw.onError(w, r, err)
		return
	}

	// Decide.
	var buf [smallComposite]Decision
	decisions, err := mw.decide(r.Context(), key, units, &buf)
	if err != nil {
		mw.logLimiterError(r, err)
		if mw.failClosed {
			mw.counters.failedClosed.Add(1)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "rate limiter unavailable"})
			return
		}
		mw.counters.failedOpen.Add(1)
		next.ServeHTTP(w, r)
		return
	}

	// Answer.
	d := Combine(decisions)
	setHeaders(w.Header(), mw.now(), d, decisions, mw.policy)
	if !d.Allowed {
		mw.onReject(w, r, d)
		return
	}
	ctx := &reservationContext{
		Context: r.Context(),
		res:     Reservation{Key: key, Units: units, Decision: d, limiter: mw.limiter},
	}
	next.ServeHTTP(w, r.WithContext(ctx))
}

// decide calls the limiter and returns one decision per rule, in buf when
// they fit. Only the limiters of this package get buf: a slice passed to
// another MultiLimiter would escape, and buf with it, costing an allocation
// for every request.
func (mw *middleware) decide(ctx context.Context, key string, units int64, buf *[smallComposite]Decision) ([]Decision, error) {
	switch l := mw.limiter.(type) {
	case *composite:
		return l.AllowRules(ctx, key, units, buf[:0])
	case *Memory:
		d, err := l.Allow(ctx, key, units)
		if err != nil {
			return nil, err
		}
		buf[0] = d
		return buf[:1], nil
	}
	if mw.multi != nil {
		return mw.multi.AllowRules(ctx, key, units, nil)
	}
	d, err := mw.limiter.Allow(ctx, key, units)
	if err != nil {
		return nil, err
	}
	buf[0] = d
	return buf[:1], nil
}

// logLimiterError logs err unless another error was logged less than a
// second ago.
func (mw *middleware) logLimiterError(r *http.Request, err error) {
	if mw.logger == nil {
		return
	}
	now := mw.now().UnixNano()
	last := mw.lastLog.Load()
	if now-last < int64(time.Second) || !mw.lastLog.CompareAndSwap(last, now) {
		mw.suppressed.Add(1)
		return
	}
	action := "serving the request without a limit"
	if mw.failClosed {
		action = "rejecting the request with status 503"
	}
	mw.logger.Error("rate limiter failed; "+action,
		logKeyError, err,
		logKeyMethod, r.Method,
		logKeyPath, r.URL.Path,
		logKeySuppressed, mw.suppressed.Swap(0))
}

// errorBody is the JSON body of the middleware's error responses.
type errorBody struct {
	Error string `json:"error"`
}

// rejectionBody is the JSON body of a 429 response.
type rejectionBody struct {
	Error             string `json:"error"`
	Rule              string `json:"rule,omitempty"`
	RetryAfterSeconds *int64 `json:"retry_after_seconds,omitempty"`
}

// writeRejection is the default reject handler.
func writeRejection(w http.ResponseWriter, _ *http.Request, d Decision) {
	body := rejectionBody{Error: rejectionMessage, Rule: d.Rule}
	if d.RetryAfter != Never {
		s := ceilSeconds(d.RetryAfter)
		body.RetryAfterSeconds = &s
	}
	writeJSON(w, http.StatusTooManyRequests, body)
}

// writeBadRequest is the default error handler.
func writeBadRequest(w http.ResponseWriter, _ *http.Request, err error) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		// The bodies are fixed structs of strings and integers.
		panic(fmt.Sprintf("ratelimit: encode response body: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
