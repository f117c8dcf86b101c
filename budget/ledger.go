package budget

import (
	"context"
	"time"
)

// Ledger stores, for each key and budget, what was spent and what is held
// in reserve in each window. A Guard decides what to reserve and settle;
// the ledger applies it. Memory keeps a ledger in the process, and
// redisbudget.Ledger keeps one in Redis for several processes to share.
//
// Ledgers never read the clock: the caller passes now, and the Spans in
// holds and entries are the budgets' windows at that time. A fake clock
// therefore drives every ledger in tests, and processes that share a
// ledger must keep their clocks in step.
//
// Implementations must be safe for concurrent use. Reserve must be atomic
// for one key: it adds every hold or none, and of two concurrent
// reservations that fit only one at a time, one is rejected. Methods may
// be added to this interface in later versions; embed an existing
// implementation to keep up.
type Ledger interface {
	// Reserve checks that every hold fits in its budget for key: what is
	// spent and reserved in the budget's current window, plus the hold's
	// Amount, must not exceed the budget's Limit. A hold of zero always
	// fits. When all fit, Reserve adds each Amount to the reserved total of
	// the window or bucket that the hold's Span starts, and returns an
	// Admission with OK set. Otherwise it changes nothing and returns the
	// first hold that does not fit. The error is non-nil only when the
	// ledger could not decide.
	Reserve(ctx context.Context, key string, now time.Time, holds []Hold) (Admission, error)

	// Settle replaces each entry's reservation with what was used. It takes
	// Reserved off the reserved total and adds Used to the spent total of
	// the window or bucket that the entry's Span starts. It creates that
	// window or bucket when it has no state yet, as after a reservation
	// that failed open. An entry
	// whose window or bucket the ledger no longer keeps (a calendar window
	// that ended longer ago than the ledger's slack, or a bucket that left
	// its rolling window) changes nothing. Settle returns the alerts whose
	// thresholds the new spent totals reached for the first time in their
	// window. The ledger records them, so no caller sees one twice.
	Settle(ctx context.Context, key string, now time.Time, entries []Entry) ([]Alert, error)

	// Status returns one BudgetStatus per budget, in order, for key at
	// now. A key with no state has nothing spent or reserved.
	Status(ctx context.Context, key string, now time.Time, budgets []Budget) ([]BudgetStatus, error)
}

// Hold is one budget's share of a reservation.
type Hold struct {
	// Budget is the budget to reserve under; it must be valid.
	Budget Budget
	// Span is Budget.Window.Span(now).
	Span Span
	// Amount is the estimate to reserve, in the budget's unit. It must not
	// be negative.
	Amount int64
}

// Admission is the outcome of Ledger.Reserve.
type Admission struct {
	// OK is true when every hold was reserved.
	OK bool
	// Remaining holds, when OK, one entry per hold: the budget's limit
	// minus what is spent and reserved after this reservation, at least
	// zero.
	Remaining []int64
	// Denied is, when not OK, the index of the first hold that did not fit.
	Denied int
	// Status is, when not OK, the state of the Denied budget at now.
	Status BudgetStatus
	// RetryAt is, when not OK, the earliest time at which the denied hold
	// would fit if nothing else were spent or settled, or zero when its
	// Amount exceeds the budget's Limit.
	RetryAt time.Time
}

// Entry is one budget's share of a settlement.
type Entry struct {
	// Budget is the budget the reservation was made under.
	Budget Budget
	// Span is the Span of the reservation's Hold.
	Span Span
	// Reserved is the Amount of the reservation's Hold.
	Reserved int64
	// Used is the amount the call really used, in the budget's unit.
	Used int64
}

// retryAt returns when a hold of amount would fit in a window whose
// spent-plus-reserved total is used. For a calendar window that is the
// window's end. For a rolling one it depends on its buckets, which start
// at starts and hold the given amounts, oldest first.
func retryAt(b *Budget, span Span, used, amount int64, starts []time.Time, amounts []int64) time.Time {
	if amount > b.Limit {
		return time.Time{}
	}
	if !b.Window.IsRolling() {
		return span.End
	}

	// Buckets leave the window oldest first, each one window length after
	// it started.
	need := used + amount - b.Limit
	var freed int64
	for i, start := range starts {
		freed += amounts[i]
		if freed >= need {
			return start.Add(b.Window.Length())
		}
	}
	return span.End.Add(b.Window.Length())
}

// fits reports whether amount fits beside used under limit.
func fits(used, amount, limit int64) bool {
	return amount == 0 || (amount <= limit && used <= limit-amount)
}

// addSat returns a+b for non-negative a and b, saturating at the largest
// int64.
func addSat(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<63 - 1
}
