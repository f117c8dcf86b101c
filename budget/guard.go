package budget

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// UnpricedPolicy selects what a guard with a Spend budget does with a
// request for a model that its price table lacks.
type UnpricedPolicy int

const (
	// RejectUnpriced rejects the reservation with ErrUnpriced, because a
	// spend budget cannot bound the cost of a call it cannot price. It is
	// the default.
	RejectUnpriced UnpricedPolicy = iota
	// AllowUnpriced admits the call with nothing reserved under Spend
	// budgets, and charges them nothing unless the call's record comes back
	// priced. Tokens budgets still apply.
	AllowUnpriced
)

// Defaults of Config.
const (
	// DefaultOutputCeiling is the output, in tokens per choice, that a
	// guard reserves for a request that sets no maximum.
	DefaultOutputCeiling = 4096
	// DefaultSettleTimeout bounds each settlement's call to the ledger.
	DefaultSettleTimeout = 5 * time.Second
	// DefaultReportKeys is the size of the table of recent keys that
	// Guard.Report reads.
	DefaultReportKeys = 1024
)

// Keys of the attributes a Guard logs.
const (
	logKeyError   = "error"
	logKeyBudgets = "budgets"
)

// Config configures a Guard. Budgets is required; every other field's zero
// value selects the default its comment names.
type Config struct {
	// Budgets are enforced together: a reservation must fit in every one.
	// Their names must be distinct.
	Budgets []Budget
	// Ledger stores spent and reserved amounts. The default is a new
	// Memory with MemoryConfig's defaults.
	Ledger Ledger
	// Estimator counts input tokens. The default is CharEstimator, which
	// guesses; the tokenizer module counts OpenAI models exactly.
	Estimator Estimator
	// Prices prices estimates. Use the tracker's table (Tracker.Prices), so
	// that estimates and records agree. The default is usage.DefaultTable().
	Prices *usage.Table
	// Unpriced selects what to do with a model the price table lacks when a
	// Spend budget applies. The default is RejectUnpriced.
	Unpriced UnpricedPolicy
	// OutputCeiling is the output, in tokens per choice, reserved for a
	// request that sets no MaxOutputTokens. The default is
	// DefaultOutputCeiling.
	OutputCeiling int64
	// ChargeUnknownFailures settles a failed call whose usage is unknown at
	// its estimate. A provider may have billed such a call (a stream closed
	// before its usage chunk is the common case), but the guard cannot
	// tell. The default settles it at zero and counts it in
	// Stats.UnknownFailures.
	ChargeUnknownFailures bool
	// FailOpen admits calls with nothing reserved when the ledger fails to
	// reserve. Their settlement still charges what they used if the ledger
	// is back by then. The default rejects them with the ledger's error,
	// because a budget that cannot be checked cannot bound spend.
	FailOpen bool
	// OnAlert is called for every alert, on the goroutine that settled the
	// call, after the ledger is updated and with no lock held. It must be
	// safe for concurrent use and should return quickly. Nil means no
	// callback.
	OnAlert func(Alert)
	// Clock reads the time for windows. The default is time.Now.
	Clock func() time.Time
	// Logger logs ledger failures. The default discards.
	Logger *slog.Logger
	// SettleTimeout bounds each settlement's call to the ledger, which runs
	// on a context of its own so that a canceled call still settles. The
	// default is DefaultSettleTimeout.
	SettleTimeout time.Duration
	// ReportKeys is the size of the table of recently reserved keys that
	// Report reads. The default is DefaultReportKeys.
	ReportKeys int
}

// Guard enforces budgets around provider calls: it reserves an estimate
// before each call and settles the reservation once the call's record is
// known.
//
// A Guard is safe for concurrent use. It is also a usage.Observer: add it
// to the tracker with usage.WithObserver so that TrackCall,
// TrackChatStream and Middleware settle from the tracker's records.
type Guard struct {
	budgets       []Budget
	hasSpend      bool
	ledger        Ledger
	estimator     Estimator
	prices        *usage.Table
	unpriced      UnpricedPolicy
	outputCeiling int64
	chargeUnknown bool
	failOpen      bool
	onAlert       func(Alert)
	now           func() time.Time
	logger        *slog.Logger
	settleTimeout time.Duration

	seed   maphash.Seed
	recent []atomic.Pointer[string]

	stats stats
}

// stats holds the counters behind Stats.
type stats struct {
	reserved, rejected, unpriced, ledgerErrors, failedOpen       atomic.Int64
	settled, keptEstimate, unknownFailures, unobserved, released atomic.Int64
	settleErrors                                                 atomic.Int64
}

// Stats counts what a Guard did since it was made. Its JSON form has
// snake_case keys, for the analytics JSON.
type Stats struct {
	// Reserved counts reservations admitted, including those that failed
	// open.
	Reserved int64 `json:"reserved"`
	// Rejected counts reservations that did not fit in a budget.
	Rejected int64 `json:"rejected"`
	// Unpriced counts reservations rejected with ErrUnpriced.
	Unpriced int64 `json:"unpriced"`
	// LedgerErrors counts ledger failures on reserve.
	LedgerErrors int64 `json:"ledger_errors"`
	// FailedOpen counts calls admitted without a reservation because the
	// ledger failed and FailOpen is set.
	FailedOpen int64 `json:"failed_open"`
	// Settled counts reservations settled, whatever the outcome.
	Settled int64 `json:"settled"`
	// KeptEstimate counts successful calls with unknown usage, settled at
	// their estimate.
	KeptEstimate int64 `json:"kept_estimate"`
	// UnknownFailures counts failed calls with unknown usage, settled at
	// zero, or at their estimate with ChargeUnknownFailures.
	UnknownFailures int64 `json:"unknown_failures"`
	// Unobserved counts reservations of TrackCall and TrackChatStream that
	// the tracker did not settle, because the guard is not one of its
	// observers. They are settled at their estimate.
	Unobserved int64 `json:"unobserved"`
	// Released counts reservations released without a call.
	Released int64 `json:"released"`
	// SettleErrors counts settlements the ledger failed to store. Their
	// estimates stay reserved until the window ends.
	SettleErrors int64 `json:"settle_errors"`
}

// New returns a guard for cfg. It returns an error when there are no
// budgets, when a budget is invalid, or when two budgets share a name.
func New(cfg Config) (*Guard, error) {
	if len(cfg.Budgets) == 0 {
		return nil, errors.New("new budget guard: no budgets")
	}
	seen := make(map[string]bool, len(cfg.Budgets))
	g := &Guard{budgets: make([]Budget, len(cfg.Budgets))}
	for i, b := range cfg.Budgets {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("new budget guard: %w", err)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("new budget guard: budget name %q is used twice", b.Name)
		}
		seen[b.Name] = true
		b.Thresholds = append([]int(nil), b.Thresholds...)
		g.budgets[i] = b
		g.hasSpend = g.hasSpend || b.Unit == Spend
	}
	if cfg.OutputCeiling < 0 || cfg.SettleTimeout < 0 || cfg.ReportKeys < 0 {
		return nil, errors.New("new budget guard: OutputCeiling, SettleTimeout and ReportKeys must not be negative")
	}

	g.ledger = cfg.Ledger
	if g.ledger == nil {
		g.ledger = NewMemory(MemoryConfig{})
	}
	g.estimator = cfg.Estimator
	if g.estimator == nil {
		g.estimator = CharEstimator{}
	}
	g.prices = cfg.Prices
	if g.prices == nil {
		g.prices = usage.DefaultTable()
	}
	g.unpriced = cfg.Unpriced
	g.outputCeiling = cfg.OutputCeiling
	if g.outputCeiling == 0 {
		g.outputCeiling = DefaultOutputCeiling
	}
	g.chargeUnknown = cfg.ChargeUnknownFailures
	g.failOpen = cfg.FailOpen
	g.onAlert = cfg.OnAlert
	g.now = cfg.Clock
	if g.now == nil {
		g.now = time.Now
	}
	g.logger = cfg.Logger
	if g.logger == nil {
		g.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g.settleTimeout = cfg.SettleTimeout
	if g.settleTimeout == 0 {
		g.settleTimeout = DefaultSettleTimeout
	}
	n := cfg.ReportKeys
	if n == 0 {
		n = DefaultReportKeys
	}
	g.seed = maphash.MakeSeed()
	g.recent = make([]atomic.Pointer[string], n)
	return g, nil
}

// MustNew is New that panics on an error, for budgets fixed in the
// program's source.
func MustNew(cfg Config) *Guard {
	g, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return g
}

// Budgets returns a copy of the guard's budgets.
func (g *Guard) Budgets() []Budget {
	out := make([]Budget, len(g.budgets))
	copy(out, g.budgets)
	for i := range out {
		out[i].Thresholds = append([]int(nil), out[i].Thresholds...)
	}
	return out
}

// Ledger returns the guard's ledger.
func (g *Guard) Ledger() Ledger { return g.ledger }

// Estimate returns what the guard would reserve for req: its input tokens
// as the estimator counts them, its output ceiling, and their cost. It
// returns ErrUnpriced when the guard has a Spend budget, no price is found
// for req.Model, and the policy is RejectUnpriced.
func (g *Guard) Estimate(req Request) (Estimate, error) {
	e := Estimate{Model: req.Model}
	e.Tokens.Input = countInput(g.estimator, req.Model, &req)
	if !req.NoOutput {
		out := req.MaxOutputTokens
		if out <= 0 {
			out = g.outputCeiling
		}
		e.Tokens.Output = out * int64(max(req.Choices, 1))
	}

	price := req.Price
	if price == nil {
		if p, _, ok := g.prices.Lookup(req.Model); ok {
			price = &p
		}
	}
	if price != nil {
		e.CostNanos = price.Cost(e.Tokens)
		e.Priced = true
	} else if g.hasSpend && g.unpriced == RejectUnpriced {
		return e, fmt.Errorf("estimate cost of model %q: %w: add it to the price table or set Request.Price", req.Model, ErrUnpriced)
	}
	return e, nil
}

// Reserve estimates req and reserves the estimate under every budget for
// key, before the call. The key may be empty, which makes one budget shared
// by every caller that uses it.
//
// When the estimate does not fit in a budget, Reserve returns an
// *ExceededError and reserves nothing. It returns ErrUnpriced as Estimate
// does, and ErrLedger wrapping the ledger's error when the ledger fails and
// FailOpen is not set.
//
// The caller must end the returned reservation with Settle or Release,
// once; TrackCall, TrackChatStream and Middleware do it for their calls.
func (g *Guard) Reserve(ctx context.Context, key string, req Request) (*Reservation, error) {
	est, err := g.Estimate(req)
	if err != nil {
		g.stats.unpriced.Add(1)
		return nil, fmt.Errorf("reserve budget: %w", err)
	}

	now := g.now()
	holds := make([]Hold, len(g.budgets))
	for i := range g.budgets {
		b := &g.budgets[i]
		holds[i] = Hold{Budget: *b, Span: b.Window.Span(now), Amount: est.amount(b.Unit)}
	}
	res := &Reservation{guard: g, key: key, estimate: est, holds: holds}

	adm, err := g.ledger.Reserve(ctx, key, now, holds)
	if err != nil {
		g.stats.ledgerErrors.Add(1)
		if !g.failOpen {
			g.logger.Error("budget ledger failed; rejecting the call", logKeyError, err, logKeyBudgets, len(holds))
			return nil, fmt.Errorf("reserve budget: %w: %w", ErrLedger, err)
		}
		g.logger.Error("budget ledger failed; admitting the call with nothing reserved", logKeyError, err, logKeyBudgets, len(holds))
		g.stats.failedOpen.Add(1)
		g.stats.reserved.Add(1)
		for i := range holds {
			holds[i].Amount = 0
		}
		res.failedOpen = true
		return res, nil
	}
	if !adm.OK {
		g.stats.rejected.Add(1)
		h := &holds[adm.Denied]
		return nil, &ExceededError{
			Budget:    h.Budget.Name,
			Unit:      h.Budget.Unit,
			Key:       key,
			Limit:     h.Budget.Limit,
			Remaining: adm.Status.Remaining,
			Requested: h.Amount,
			Reset:     adm.RetryAt,
		}
	}

	g.stats.reserved.Add(1)
	g.noteKey(key)
	res.remaining = adm.Remaining
	return res, nil
}

// Status returns the state of every budget for key now, in the order of
// Config.Budgets.
func (g *Guard) Status(ctx context.Context, key string) ([]BudgetStatus, error) {
	st, err := g.ledger.Status(ctx, key, g.now(), g.budgets)
	if err != nil {
		return nil, fmt.Errorf("budget status: %w", err)
	}
	return st, nil
}

// Report returns the state of every budget for the keys this guard
// reserved for recently and that have anything spent or reserved now,
// most used first (by the larger of spent-plus-reserved over limit), then
// by key and budget order. The table of recent keys has Config.ReportKeys
// slots chosen by a hash of the key, so a key can be pushed out by another
// one. With several processes sharing a ledger, each reports the keys it
// saw.
func (g *Guard) Report(ctx context.Context) ([]BudgetStatus, error) {
	seen := make(map[string]bool)
	var out []BudgetStatus
	for i := range g.recent {
		p := g.recent[i].Load()
		if p == nil || seen[*p] {
			continue
		}
		seen[*p] = true
		st, err := g.Status(ctx, *p)
		if err != nil {
			return nil, fmt.Errorf("budget report: %w", err)
		}
		for _, s := range st {
			if s.Spent > 0 || s.Reserved > 0 {
				out = append(out, st...)
				break
			}
		}
	}

	share := func(s BudgetStatus) float64 { return float64(addSat(s.Spent, s.Reserved)) / float64(s.Limit) }
	keyShare := make(map[string]float64)
	for _, s := range out {
		keyShare[s.Key] = max(keyShare[s.Key], share(s))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if keyShare[a.Key] != keyShare[b.Key] {
			return keyShare[a.Key] > keyShare[b.Key]
		}
		return a.Key < b.Key
	})
	return out, nil
}

// noteKey remembers key for Report. It allocates only when the key's slot
// holds another key.
func (g *Guard) noteKey(key string) {
	slot := &g.recent[maphash.String(g.seed, key)%uint64(len(g.recent))]
	if p := slot.Load(); p != nil && *p == key {
		return
	}
	slot.Store(&key)
}

// Stats returns the guard's counters.
func (g *Guard) Stats() Stats {
	s := &g.stats
	return Stats{
		Reserved:        s.reserved.Load(),
		Rejected:        s.rejected.Load(),
		Unpriced:        s.unpriced.Load(),
		LedgerErrors:    s.ledgerErrors.Load(),
		FailedOpen:      s.failedOpen.Load(),
		Settled:         s.settled.Load(),
		KeptEstimate:    s.keptEstimate.Load(),
		UnknownFailures: s.unknownFailures.Load(),
		Unobserved:      s.unobserved.Load(),
		Released:        s.released.Load(),
		SettleErrors:    s.settleErrors.Load(),
	}
}
