package budget

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// Reservation is an estimate held under a guard's budgets for one call.
// End it once: with Settle when the call's record is known, or with
// Release when the call was not made. Later calls of either do nothing.
// A Reservation is safe for concurrent use.
type Reservation struct {
	guard      *Guard
	key        string
	estimate   Estimate
	holds      []Hold
	remaining  []int64
	failedOpen bool

	ended atomic.Bool
}

// Key returns the key the reservation is for.
func (r *Reservation) Key() string { return r.key }

// Estimate returns what was estimated for the call.
func (r *Reservation) Estimate() Estimate { return r.estimate }

// FailedOpen reports whether the ledger failed and the call was admitted
// with nothing reserved (see Config.FailOpen).
func (r *Reservation) FailedOpen() bool { return r.failedOpen }

// Settle replaces the reservation with what the call used, taken from its
// record, and returns the ledger's error, if any. Only the first Settle or
// Release has an effect; it returns nil when the reservation has already
// ended.
//
// The amount charged depends on the record:
//
//   - usage known: Tokens.Total() under Tokens budgets, and CostNanos
//     under Spend budgets when the record is priced, else the estimate;
//   - a successful call with unknown usage: the estimate, because the
//     provider billed something the response did not report;
//   - a failed call with unknown usage: zero, or the estimate with
//     Config.ChargeUnknownFailures;
//   - a nil record: zero, as Release.
//
// The ledger is called with a context of its own, bounded by
// Config.SettleTimeout, so a call whose context was canceled still
// settles. Alerts go to Config.OnAlert before Settle returns.
func (r *Reservation) Settle(rec *usage.Record) error {
	if !r.ended.CompareAndSwap(false, true) {
		return nil
	}
	g := r.guard
	g.stats.settled.Add(1)

	tokens, spend := r.used(rec)
	return r.apply(tokens, spend)
}

// Release ends the reservation with nothing used, for a call that was not
// made. Only the first Settle or Release has an effect.
func (r *Reservation) Release() error {
	if !r.ended.CompareAndSwap(false, true) {
		return nil
	}
	r.guard.stats.released.Add(1)
	return r.apply(0, 0)
}

// settleEstimate ends the reservation at its estimate, for a call whose
// record never reached the guard.
func (r *Reservation) settleEstimate() error {
	if !r.ended.CompareAndSwap(false, true) {
		return nil
	}
	r.guard.stats.unobserved.Add(1)
	r.guard.stats.settled.Add(1)
	return r.apply(r.estimate.Tokens.Total(), r.estimate.CostNanos)
}

// used returns the tokens and nano-dollars to charge for rec.
func (r *Reservation) used(rec *usage.Record) (tokens, spend int64) {
	g := r.guard
	est := r.estimate
	switch {
	case rec == nil:
		return 0, 0
	case rec.UsageKnown:
		spend = est.CostNanos
		if rec.Priced {
			spend = rec.CostNanos
		}
		return rec.Tokens.Total(), spend
	case rec.Failed():
		// NOTE: a stream closed before its usage chunk lands here, so it
		// settles at zero although the provider billed what it streamed.
		// ChargeUnknownFailures charges the estimate instead.
		g.stats.unknownFailures.Add(1)
		if g.chargeUnknown {
			return est.Tokens.Total(), est.CostNanos
		}
		return 0, 0
	default:
		g.stats.keptEstimate.Add(1)
		return est.Tokens.Total(), est.CostNanos
	}
}

// apply settles every hold with what was used in its unit.
func (r *Reservation) apply(tokens, spend int64) error {
	g := r.guard
	entries := make([]Entry, 0, len(r.holds))
	for i := range r.holds {
		h := &r.holds[i]
		used := tokens
		if h.Budget.Unit == Spend {
			used = spend
		}
		if h.Amount == 0 && used == 0 {
			continue
		}
		entries = append(entries, Entry{Budget: h.Budget, Span: h.Span, Reserved: h.Amount, Used: max(used, 0)})
	}
	if len(entries) == 0 {
		return nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), g.settleTimeout)
	defer cancel()
	alerts, err := g.ledger.Settle(ctx, r.key, g.now(), entries)
	if err != nil {
		g.stats.settleErrors.Add(1)
		g.logger.Error("budget ledger failed to settle; the estimate stays reserved until the window ends",
			logKeyError, err, logKeyBudgets, len(entries))
		return fmt.Errorf("settle budget: %w", err)
	}
	if g.onAlert != nil {
		for _, a := range alerts {
			g.onAlert(a)
		}
	}
	return nil
}

// Remaining returns, per budget in the guard's order, what the key could
// still reserve right after this reservation. It is nil for a reservation
// that failed open.
func (r *Reservation) Remaining() []int64 {
	return append([]int64(nil), r.remaining...)
}

// tightest returns the index of the budget with the smallest share of its
// limit remaining after the reservation, or -1 when there is none.
func (r *Reservation) tightest() int {
	best, bestShare := -1, 2.0
	for i, rem := range r.remaining {
		share := float64(rem) / float64(r.holds[i].Budget.Limit)
		if share < bestShare {
			best, bestShare = i, share
		}
	}
	return best
}

// resetOf returns when what is reserved now under h stops counting: the
// end of a calendar window, or when the current bucket leaves a rolling
// window.
func resetOf(h *Hold) time.Time {
	if h.Budget.Window.IsRolling() {
		return h.Span.Start.Add(h.Budget.Window.Length())
	}
	return h.Span.End
}
