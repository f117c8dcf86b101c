package budget

import (
	"encoding/json"
	"time"
)

// BudgetStatus is one budget's state for one key in its current window.
// Amounts are in the budget's Unit.
type BudgetStatus struct {
	// Name is the budget's name.
	Name string
	// Key is the key the state belongs to.
	Key string
	// Unit is the budget's unit.
	Unit Unit
	// Limit is the budget's limit per window.
	Limit int64
	// Spent is the amount that settled calls used in the window.
	Spent int64
	// Reserved is the sum of the estimates of calls in flight in the window.
	Reserved int64
	// Remaining is Limit minus Spent and Reserved, at least zero.
	Remaining int64
	// WindowStart and WindowEnd bound the calendar window, or, for a
	// rolling window, the buckets that Spent and Reserved cover: from the
	// start of the oldest one to the end of the current one.
	WindowStart, WindowEnd time.Time
}

// NewStatus returns the status of budget b for key with the given spent
// and reserved totals over span, computing Remaining.
func NewStatus(b Budget, key string, span Span, spent, reserved int64) BudgetStatus {
	remaining := b.Limit - addSat(spent, reserved)
	if remaining < 0 {
		remaining = 0
	}
	return BudgetStatus{
		Name:        b.Name,
		Key:         key,
		Unit:        b.Unit,
		Limit:       b.Limit,
		Spent:       spent,
		Reserved:    reserved,
		Remaining:   remaining,
		WindowStart: span.From,
		WindowEnd:   span.End,
	}
}

// MarshalJSON writes the status as
//
//	{"name":"daily","key":"k","unit":"usd","limit":1,"spent":0.42,"reserved":0.01,"remaining":0.57,
//	 "window_start":"2026-12-04T05:00:00Z","window_end":"2026-12-05T05:00:00Z"}
//
// with amounts in USD for Spend budgets and in tokens for Tokens budgets,
// and times in UTC, RFC 3339.
func (s BudgetStatus) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name        string      `json:"name"`
		Key         string      `json:"key"`
		Unit        Unit        `json:"unit"`
		Limit       json.Number `json:"limit"`
		Spent       json.Number `json:"spent"`
		Reserved    json.Number `json:"reserved"`
		Remaining   json.Number `json:"remaining"`
		WindowStart time.Time   `json:"window_start"`
		WindowEnd   time.Time   `json:"window_end"`
	}{
		s.Name, s.Key, s.Unit,
		s.Unit.number(s.Limit), s.Unit.number(s.Spent), s.Unit.number(s.Reserved), s.Unit.number(s.Remaining),
		s.WindowStart.UTC(), s.WindowEnd.UTC(),
	})
}
