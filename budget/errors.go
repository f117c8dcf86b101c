package budget

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrExceeded is returned, as an *ExceededError, when a reservation
	// does not fit in a budget. Test for it with errors.Is and read the
	// details with errors.As.
	ErrExceeded = errors.New("budget exceeded")

	// ErrUnpriced is returned by Guard.Reserve when the guard has a Spend
	// budget, the request's model is missing from the price table, and
	// Config.Unpriced is RejectUnpriced.
	ErrUnpriced = errors.New("model has no price")

	// ErrLedger is returned by Guard.Reserve, wrapping the ledger's own
	// error, when the ledger fails and Config.FailOpen is not set.
	ErrLedger = errors.New("budget ledger failed")

	// ErrLedgerFull is returned by Memory when it holds its maximum number
	// of keys and none of them can be dropped.
	ErrLedgerFull = errors.New("budget ledger is full")
)

// ExceededError describes a reservation that one budget rejected. Nothing
// was reserved under any budget.
type ExceededError struct {
	// Budget is the name of the budget that rejected the reservation.
	Budget string
	// Unit is the budget's unit; amounts below are in it.
	Unit Unit
	// Key is the key the reservation was for.
	Key string
	// Limit is the budget's limit per window.
	Limit int64
	// Remaining is the amount the key could still reserve in the current
	// window: Limit minus what is spent and reserved, at least zero.
	Remaining int64
	// Requested is the estimate the reservation asked for.
	Requested int64
	// Reset is the earliest time at which the same reservation would fit
	// if nothing else were spent or settled: the end of the calendar
	// window, or the time enough buckets of a rolling window expire. It is
	// zero when Requested exceeds Limit, because then it never fits.
	Reset time.Time
}

// Error returns a message such as `budget "daily" exceeded: requested
// $0.0021, remaining $0.0004 of $1 until 2026-12-05T00:00:00-05:00`.
// The key is left out, because messages end up in logs.
func (e *ExceededError) Error() string {
	if e.Reset.IsZero() {
		return fmt.Sprintf("budget %q exceeded: requested %s is more than the limit of %s",
			e.Budget, e.Unit.format(e.Requested), e.Unit.format(e.Limit))
	}
	return fmt.Sprintf("budget %q exceeded: requested %s, remaining %s of %s until %s",
		e.Budget, e.Unit.format(e.Requested), e.Unit.format(e.Remaining), e.Unit.format(e.Limit),
		e.Reset.Format(time.RFC3339))
}

// Is reports whether target is ErrExceeded.
func (e *ExceededError) Is(target error) bool { return target == ErrExceeded }

// RetryAfter returns the wait from now until Reset, rounded up to a whole
// second and at least one second, or zero when Reset is zero because the
// request can never fit.
func (e *ExceededError) RetryAfter(now time.Time) time.Duration {
	if e.Reset.IsZero() {
		return 0
	}
	d := e.Reset.Sub(now)
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
