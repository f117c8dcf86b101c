package budget

import "time"

// Alert reports that a key's settled spend under a budget reached one of
// the budget's thresholds. Each fires once per key, window and threshold.
// In a rolling window, a threshold fires again only after the spend has
// fallen below it.
type Alert struct {
	// Budget is the budget's name.
	Budget string
	// Key is the key whose spend reached the threshold.
	Key string
	// Unit is the budget's unit; Limit and Spent are in it.
	Unit Unit
	// Threshold is the percentage of Limit that was reached.
	Threshold int
	// Limit is the budget's limit per window.
	Limit int64
	// Spent is the settled spend in the window when the alert fired.
	Spent int64
	// WindowStart and WindowEnd bound the window, as in BudgetStatus.
	WindowStart, WindowEnd time.Time
}
