// Package redisbudget keeps a budget.Ledger in Redis, so that several
// processes enforce the same budgets.
//
// # Keys
//
// Each budget of each caller has one hash: a calendar window's is
//
//	PREFIX{HASH}:BUDGET:START
//
// with fields s (spent) and r (reserved), START being the window's start
// in Unix milliseconds, and a rolling window's is PREFIX{HASH}:BUDGET:rolling
// with fields s:ID and r:ID per bucket. HASH is the first 16 bytes of the
// SHA-256 of the caller's key in hex, or of its HMAC-SHA-256 when
// Config.KeySecret is set, so raw keys (client addresses, user ids) never
// reach Redis. The braces make every budget of one caller hash to the same
// Redis Cluster slot, so one script can update them together. Thresholds
// that fired are fields fP of the same hash.
//
// Every write sets a TTL: a calendar window's key lives until Config.Slack
// after the window ends, a rolling window's key for its length plus the
// slack after the last write.
//
// # Atomicity
//
// Reserve runs one Lua script that checks every budget's remaining amount
// against the estimate and, only if all fit, adds the estimate to each
// reserved total. Settle runs another that moves the reservation to the
// spent total and fires each threshold once per window (in a rolling
// window, again only after the spend fell below it). Scripts
// run atomically, so concurrent callers never overshoot a budget by what
// they reserve.
//
// # Clocks
//
// Windows come from the caller's clock, not from Redis's: the Guard
// computes each window's start in its time zone and passes it in the key,
// and the TTLs are relative. Processes that share a ledger should keep
// their clocks synchronised (NTP). A process whose clock is off by d
// charges calls made within d of a window boundary to the neighbouring
// window. In exchange, a fake clock drives the ledger in tests, and time
// zone rules stay in Go.
//
// # Limits
//
// Lua's numbers are IEEE 754 doubles, which hold integers exactly up to
// 2^53. Reserve returns an error for a budget whose limit is not below
// 2^53 (about 9 million dollars in nano-dollars), and amounts are capped
// at 2^53.
//
// A Ledger is safe for concurrent use.
package redisbudget

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/aimeter/aimeter/budget"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key a Ledger writes unless Config.Prefix sets
// another.
const DefaultPrefix = "aimeter:budget:"

// maxExact is 2^53, the bound of the integers that Lua's numbers hold
// exactly. Limits must be below it, so an amount capped at it still
// exceeds every limit.
const maxExact = 1 << 53

var (
	//go:embed reserve.lua
	reserveSource string
	//go:embed settle.lua
	settleSource string
	//go:embed status.lua
	statusSource string

	reserveScript = redis.NewScript(reserveSource)
	settleScript  = redis.NewScript(settleSource)
	statusScript  = redis.NewScript(statusSource)
)

// Config configures a Ledger. The zero value is ready to use.
type Config struct {
	// Prefix starts every key. It must not contain '{' or '}', which
	// would change the Redis Cluster slot of the keys. The default is
	// DefaultPrefix.
	Prefix string
	// Slack is how long a calendar window's key lives after the window
	// ends, so that calls reserved near its end settle into it. The
	// default is budget.DefaultSlack.
	Slack time.Duration
	// KeySecret, when set, makes key hashes HMAC-SHA-256 with this secret,
	// so that someone who reads Redis cannot test guesses of a key (an IP
	// address, say) against the hashes. Changing it orphans existing
	// state. The default is plain SHA-256.
	KeySecret []byte
}

// Ledger is a budget.Ledger on Redis. Use New to make one.
type Ledger struct {
	client redis.Scripter
	prefix string
	slack  time.Duration
	secret []byte
}

var _ budget.Ledger = (*Ledger)(nil)

// New returns a ledger that runs its scripts on client, which may be a
// *redis.Client, a *redis.ClusterClient or any redis.UniversalClient. It
// panics if client is nil, cfg.Slack is negative or cfg.Prefix contains a
// brace, which are programmer mistakes.
func New(client redis.Scripter, cfg Config) *Ledger {
	if client == nil {
		panic("redisbudget: New with a nil client")
	}
	if cfg.Slack < 0 {
		panic(fmt.Sprintf("redisbudget: New: Slack %v must not be negative", cfg.Slack))
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		panic(fmt.Sprintf("redisbudget: New: Prefix %q must not contain '{' or '}'", cfg.Prefix))
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Slack == 0 {
		cfg.Slack = budget.DefaultSlack
	}
	return &Ledger{client: client, prefix: cfg.Prefix, slack: cfg.Slack, secret: cfg.KeySecret}
}

// keyPrefix returns PREFIX{HASH}: for a caller's key.
func (l *Ledger) keyPrefix(key string) string {
	var h hash.Hash
	if l.secret != nil {
		h = hmac.New(sha256.New, l.secret)
	} else {
		h = sha256.New()
	}
	h.Write([]byte(key))
	sum := h.Sum(nil)
	return l.prefix + "{" + hex.EncodeToString(sum[:16]) + "}:"
}

// redisKey returns the key of budget b's window or bucket span for a
// caller whose key prefix is p.
func redisKey(p string, b *budget.Budget, span budget.Span) string {
	if b.Window.IsRolling() {
		return p + b.Name + ":rolling"
	}
	return p + b.Name + ":" + strconv.FormatInt(span.Start.UnixMilli(), 10)
}

func mode(b *budget.Budget) string {
	if b.Window.IsRolling() {
		return "r"
	}
	return "c"
}

// ttl returns how long budget b's key for span must live after a write at
// now, in whole milliseconds rounded up, or zero when the window is over.
func (l *Ledger) ttl(b *budget.Budget, span budget.Span, now time.Time) int64 {
	d := b.Window.Length() + l.slack
	if !b.Window.IsRolling() {
		d = span.End.Add(l.slack).Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func checkLimit(b *budget.Budget) error {
	if b.Limit >= maxExact {
		return fmt.Errorf("budget %q: limit %d is not below 2^53, the bound of the amounts that Redis scripts hold exactly", b.Name, b.Limit)
	}
	return nil
}

// Reserve implements budget.Ledger with one script call.
func (l *Ledger) Reserve(ctx context.Context, key string, now time.Time, holds []budget.Hold) (budget.Admission, error) {
	p := l.keyPrefix(key)
	keys := make([]string, len(holds))
	args := make([]any, 1, 1+6*len(holds))
	args[0] = len(holds)
	for i := range holds {
		h := &holds[i]
		if err := checkLimit(&h.Budget); err != nil {
			return budget.Admission{}, fmt.Errorf("reserve: %w", err)
		}
		if h.Amount < 0 {
			return budget.Admission{}, fmt.Errorf("reserve %d under budget %q: amount is negative", h.Amount, h.Budget.Name)
		}
		keys[i] = redisKey(p, &h.Budget, h.Span)
		args = append(args, mode(&h.Budget), h.Budget.Limit, min(h.Amount, maxExact),
			h.Span.Start.UnixMilli(), h.Span.From.UnixMilli(), max(l.ttl(&h.Budget, h.Span, now), 1))
	}

	reply, err := reserveScript.Run(ctx, l.client, keys, args...).Int64Slice()
	if err != nil {
		return budget.Admission{}, fmt.Errorf("reserve: %w", err)
	}

	if len(reply) == 1+len(holds) && reply[0] == 1 {
		return budget.Admission{OK: true, Remaining: reply[1:]}, nil
	}
	if len(reply) != 5 || reply[0] != 0 || reply[1] < 0 || reply[1] >= int64(len(holds)) {
		return budget.Admission{}, fmt.Errorf("reserve: unexpected script reply %v", reply)
	}
	i := int(reply[1])
	h := &holds[i]
	spent, reserved, bucket := reply[2], reply[3], reply[4]
	a := budget.Admission{Denied: i, Status: budget.NewStatus(h.Budget, key, h.Span, spent, reserved)}
	switch {
	case h.Amount > h.Budget.Limit:
		// Never fits: RetryAt stays zero.
	case !h.Budget.Window.IsRolling():
		a.RetryAt = h.Span.End
	case bucket >= 0:
		a.RetryAt = time.UnixMilli(bucket).Add(h.Budget.Window.Length())
	default:
		a.RetryAt = h.Span.End.Add(h.Budget.Window.Length())
	}
	return a, nil
}

// Settle implements budget.Ledger with one script call. Entries whose
// window or bucket is no longer kept are left out of it.
func (l *Ledger) Settle(ctx context.Context, key string, now time.Time, entries []budget.Entry) ([]budget.Alert, error) {
	p := l.keyPrefix(key)
	var keys []string
	var sent []int // index in entries of each budget sent
	var curs []budget.Span
	args := []any{0}
	for i := range entries {
		e := &entries[i]
		if e.Reserved < 0 || e.Used < 0 {
			return nil, fmt.Errorf("settle under budget %q: reserved %d and used %d must not be negative", e.Budget.Name, e.Reserved, e.Used)
		}
		cur := e.Span
		if e.Budget.Window.IsRolling() {
			cur = e.Budget.Window.Span(now)
			if e.Span.Start.Before(cur.From) {
				continue // the bucket left the window
			}
		}
		ttl := l.ttl(&e.Budget, e.Span, now)
		if ttl == 0 {
			continue // the window ended more than the slack ago
		}

		keys = append(keys, redisKey(p, &e.Budget, e.Span))
		sent = append(sent, i)
		curs = append(curs, cur)
		args = append(args, mode(&e.Budget), min(e.Reserved, maxExact), min(e.Used, maxExact),
			e.Span.Start.UnixMilli(), cur.From.UnixMilli(), ttl, len(e.Budget.Thresholds))
		for j, at := range e.Budget.ThresholdAmounts() {
			args = append(args, e.Budget.Thresholds[j], min(at, maxExact))
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	args[0] = len(keys)

	reply, err := settleScript.Run(ctx, l.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("settle: %w", err)
	}
	alerts, err := decodeAlerts(reply, key, entries, sent, curs)
	if err != nil {
		return nil, fmt.Errorf("settle: %w", err)
	}
	return alerts, nil
}

// decodeAlerts reads the alerts out of the settle script's reply.
func decodeAlerts(reply []int64, key string, entries []budget.Entry, sent []int, curs []budget.Span) ([]budget.Alert, error) {
	var alerts []budget.Alert
	pos := 0
	for n, i := range sent {
		if pos+2 > len(reply) || reply[pos+1] < 0 || pos+2+int(reply[pos+1]) > len(reply) {
			return nil, fmt.Errorf("unexpected script reply %v", reply)
		}
		level, fired := reply[pos], int(reply[pos+1])
		e := &entries[i]
		start, end := e.Span.Start, e.Span.End
		if e.Budget.Window.IsRolling() {
			start, end = curs[n].From, curs[n].End
		}
		for _, pct := range reply[pos+2 : pos+2+fired] {
			alerts = append(alerts, budget.Alert{
				Budget: e.Budget.Name, Key: key, Unit: e.Budget.Unit, Threshold: int(pct),
				Limit: e.Budget.Limit, Spent: level, WindowStart: start, WindowEnd: end,
			})
		}
		pos += 2 + fired
	}
	return alerts, nil
}

// Status implements budget.Ledger with one read-only script call.
func (l *Ledger) Status(ctx context.Context, key string, now time.Time, budgets []budget.Budget) ([]budget.BudgetStatus, error) {
	if len(budgets) == 0 {
		return nil, nil
	}
	p := l.keyPrefix(key)
	keys := make([]string, len(budgets))
	spans := make([]budget.Span, len(budgets))
	args := make([]any, 1, 1+2*len(budgets))
	args[0] = len(budgets)
	for i := range budgets {
		b := &budgets[i]
		spans[i] = b.Window.Span(now)
		keys[i] = redisKey(p, b, spans[i])
		args = append(args, mode(b), spans[i].From.UnixMilli())
	}

	reply, err := statusScript.RunRO(ctx, l.client, keys, args...).Int64Slice()
	if err != nil && isReadOnlyUnsupported(err) {
		reply, err = statusScript.Run(ctx, l.client, keys, args...).Int64Slice()
	}
	if err != nil {
		return nil, fmt.Errorf("budget status: %w", err)
	}
	if len(reply) != 2*len(budgets) {
		return nil, fmt.Errorf("budget status: unexpected script reply %v", reply)
	}
	out := make([]budget.BudgetStatus, len(budgets))
	for i := range budgets {
		out[i] = budget.NewStatus(budgets[i], key, spans[i], reply[2*i], reply[2*i+1])
	}
	return out, nil
}

// isReadOnlyUnsupported reports whether err is the server's reply that it
// lacks EVALSHA_RO, which came with Redis 7.0.
func isReadOnlyUnsupported(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := strings.ToLower(rerr.Error())
	return strings.Contains(msg, "unknown command") || strings.Contains(msg, "err unknown")
}
