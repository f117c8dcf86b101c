package analytics

import (
	"context"
	"github.com/aimeter/aimeter/budget"
	"log/slog"
	"net/http"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
)

// Defaults for the optional fields of Config.
const (
	// DefaultRecentErrors is the number of recent error events and of error
	// groups a snapshot lists when Config leaves them zero.
	DefaultRecentErrors = 20
	// DefaultWindow is the window used when neither the query nor the
	// store's Retention gives one.
	DefaultWindow = 24 * time.Hour
)

// Compile-time checks that the library's own types fit the interfaces.
var (
	_ ErrorSource    = (*errmon.Monitor)(nil)
	_ TrackerStatser = (*usage.Tracker)(nil)
)

// ErrorSource supplies the recent error events and fingerprint groups of the
// errors section. *errmon.Monitor implements it.
//
// Implementations must be safe for concurrent use and must not change the
// returned slices after returning them.
type ErrorSource interface {
	// Recent returns up to limit of the newest events, newest first.
	Recent(limit int) []errmon.Event
	// Groups returns up to limit fingerprint groups.
	Groups(limit int) []errmon.Group
}

// TrackerStatser reports a tracker's counters. *usage.Tracker implements it.
// Implementations must be safe for concurrent use.
type TrackerStatser interface {
	Stats() usage.TrackerStats
}

// Config names the sources that Build and Handler read. Store is required
// and every other field is optional.
//
// A Config is read, never changed, by Build and Handler, so one Config can
// serve concurrent requests.
type Config struct {
	// Store supplies the per-minute rollups. Required.
	Store usage.Store

	// Errors supplies the recent events and groups of the errors section.
	// Default: nil, which leaves those two lists empty.
	Errors ErrorSource

	// Limiters supply the rate_limits section. Counts of rules with the
	// same name are summed. Default: nil, which leaves the section empty.
	Limiters []ratelimit.StatsReporter

	// Tracker supplies the dropped_records count of the usage section.
	// When it has a Flush(context.Context) error method, as *usage.Tracker
	// does, Build first waits up to one second for the records it queued.
	// Default: nil, which leaves dropped_records out.
	Tracker TrackerStatser

	// Clock returns the current time, which ends the default window and
	// stamps generated_at. Default: time.Now.
	Clock func() time.Time

	// RecentErrors is the maximum number of recent error events listed.
	// Zero or negative means the default, DefaultRecentErrors (20).
	RecentErrors int

	// ErrorGroups is the maximum number of error groups listed. Zero or
	// negative means the default, DefaultRecentErrors (20).
	ErrorGroups int

	// Authorize decides whether Handler serves a request. The snapshot
	// contains sensitive data: spend, model and endpoint names, and error
	// messages of provider calls. Leave it nil only when something in
	// front of the handler already restricts who reaches it.
	// Default: nil, which serves every request.
	Authorize func(*http.Request) bool

	// Budgets supplies the budgets section of TypeAll snapshots.
	// *budget.Guard implements it. Default: nil, which leaves the section
	// out.
	Budgets BudgetReporter

	// Logger receives the store failures that Handler responds to with 500.
	// Default: slog.Default().
	Logger *slog.Logger
}

func (c *Config) now() time.Time {
	if c.Clock != nil {
		return c.Clock()
	}
	return time.Now()
}

func (c *Config) recentErrors() int {
	if c.RecentErrors > 0 {
		return c.RecentErrors
	}
	return DefaultRecentErrors
}

func (c *Config) errorGroups() int {
	if c.ErrorGroups > 0 {
		return c.ErrorGroups
	}
	return DefaultRecentErrors
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// BudgetReporter reports budgets and what each key has left of them.
// *budget.Guard implements it.
type BudgetReporter interface {
	Budgets() []budget.Budget
	Report(ctx context.Context) ([]budget.BudgetStatus, error)
	Stats() budget.Stats
}

var _ BudgetReporter = (*budget.Guard)(nil)
