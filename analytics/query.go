package analytics

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Type selects the sections of a Snapshot.
type Type string

// The snapshot types. The empty Type means TypeAll.
const (
	// TypeAll selects every section: usage, errors, performance and
	// rate_limits.
	TypeAll Type = "all"
	// TypeUsage selects the usage section only.
	TypeUsage Type = "usage"
	// TypeErrors selects the errors section only.
	TypeErrors Type = "errors"
	// TypePerformance selects the performance section only.
	TypePerformance Type = "performance"
)

// windows maps the values of the window query parameter to their lengths.
// Build accepts any positive Query.Window, but Handler accepts only these.
var windows = map[string]time.Duration{
	"15m": 15 * time.Minute,
	"1h":  time.Hour,
	"24h": 24 * time.Hour,
	"7d":  7 * 24 * time.Hour,
}

// windowNames lists the keys of windows in increasing order, for messages.
const windowNames = "15m, 1h, 24h, 7d"

// Errors returned by Build.
var (
	// ErrNoStore is returned when the Config has no Store.
	ErrNoStore = errors.New("analytics: config has no Store")
)

// QueryError is returned when a query parameter is invalid. Handler responds
// to it with 400 and the error's message.
type QueryError struct {
	// Param is the name of the query parameter: "type", "window", "since"
	// or "until".
	Param string
	// Value is the rejected value as given.
	Value string
	// Reason describes a valid value.
	Reason string
}

// Error returns a message that names the parameter, its value and the reason.
func (e *QueryError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Param, e.Value, e.Reason)
}

// Query selects what a Snapshot covers.
//
// The window is [Since, Until). The zero Until means the Config's clock now.
// The zero Since means Until minus Window, or minus the store's Retention
// when Window is zero too. Window and Since cannot both be set.
type Query struct {
	// Type selects the sections. Default: TypeAll.
	Type Type
	// Window is the length of the window ending at Until. Default: the
	// store's Retention, or DefaultWindow when that is not positive.
	Window time.Duration
	// Since is the start of the window, inclusive.
	Since time.Time
	// Until is the end of the window, exclusive. Default: now.
	Until time.Time
}

// ParseQuery reads a Query from the parameters type, window, since and until,
// as Handler does. Empty parameters count as absent. The error is a
// *QueryError naming the first invalid parameter.
//
// ParseQuery checks each parameter on its own and rejects window together
// with since. Build checks that Since is before Until, because that needs
// the defaults.
func ParseQuery(v url.Values) (Query, error) {
	var q Query

	if s := v.Get("type"); s != "" {
		q.Type = Type(s)
		if !q.Type.valid() {
			return Query{}, &QueryError{Param: "type", Value: s, Reason: "must be one of all, usage, errors, performance"}
		}
	}

	if s := v.Get("window"); s != "" {
		d, ok := windows[s]
		if !ok {
			return Query{}, &QueryError{Param: "window", Value: s, Reason: "must be one of " + windowNames}
		}
		q.Window = d
	}

	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return Query{}, &QueryError{Param: p.name, Value: s, Reason: "must be an RFC 3339 time such as 2026-12-04T18:00:00Z"}
		}
		*p.dst = t
	}

	if q.Window != 0 && !q.Since.IsZero() {
		return Query{}, &QueryError{Param: "window", Value: v.Get("window"), Reason: "cannot be combined with since, so give either window or since and until"}
	}
	return q, nil
}

func (t Type) valid() bool {
	switch t {
	case "", TypeAll, TypeUsage, TypeErrors, TypePerformance:
		return true
	}
	return false
}

// resolve fills the defaults of q and checks it. The returned query has a
// non-empty Type and a Since strictly before Until, both in UTC.
func (q Query) resolve(now time.Time, retention time.Duration) (Query, error) {
	if !q.Type.valid() {
		return Query{}, &QueryError{Param: "type", Value: string(q.Type), Reason: "must be one of all, usage, errors, performance"}
	}
	if q.Type == "" {
		q.Type = TypeAll
	}

	if q.Window < 0 {
		return Query{}, &QueryError{Param: "window", Value: q.Window.String(), Reason: "must not be negative"}
	}
	if q.Window != 0 && !q.Since.IsZero() {
		return Query{}, &QueryError{Param: "window", Value: q.Window.String(), Reason: "cannot be combined with since, so give either window or since and until"}
	}

	if q.Until.IsZero() {
		q.Until = now
	}
	// The error for a window that starts too early names the parameter the
	// start came from.
	early := &QueryError{Param: "since", Value: q.Since.Format(time.RFC3339Nano), Reason: "must not be before year 1"}
	if q.Since.IsZero() {
		w := q.Window
		early = &QueryError{Param: "window", Value: w.String(), Reason: "starts the window before year 1"}
		if w == 0 {
			w = retention
			early = &QueryError{Param: "until", Value: q.Until.Format(time.RFC3339Nano), Reason: "is too early for the default window"}
		}
		if w <= 0 {
			w = DefaultWindow
		}
		q.Since = q.Until.Add(-w)
	}

	// JSON can encode only the years 0 to 9999, and a window that starts
	// before year 1 contains no data anyway.
	if q.Since.Year() < 1 {
		return Query{}, early
	}
	if !q.Since.Before(q.Until) {
		return Query{}, &QueryError{
			Param:  "since",
			Value:  q.Since.Format(time.RFC3339Nano),
			Reason: "must be before until " + q.Until.Format(time.RFC3339Nano),
		}
	}
	q.Since, q.Until = q.Since.UTC(), q.Until.UTC()
	return q, nil
}
