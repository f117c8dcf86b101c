package analytics

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/aimeter/aimeter/usage"
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

// Sort orders the rows of every breakdown of a Snapshot.
type Sort string

// The breakdown orders. The empty Sort means SortCost.
const (
	// SortCost lists rows by spend, then by calls, both descending.
	SortCost Sort = "cost"
	// SortCalls lists rows by calls, then by spend, both descending.
	SortCalls Sort = "calls"
)

// Limits of the breakdowns and time series.
const (
	// DefaultTop is the number of rows a breakdown lists before its other
	// row when the Query leaves Top zero.
	DefaultTop = 20
	// MaxTop is the largest Top a Query may ask for.
	MaxTop = 1000
	// MaxSeriesPoints is the largest number of points a time series may
	// have: a day of minutes, plus the extra point of a window that does
	// not start on a bucket boundary. A Query whose Bucket would give more
	// is rejected.
	MaxSeriesPoints = 1441
	// targetSeriesPoints is the number of points that the chosen bucket
	// width keeps a series under, so that a chart of it stays readable.
	targetSeriesPoints = 100
)

// bucketWidths lists the values of the bucket query parameter in
// increasing order. When a Query gives no Bucket, Build takes the first of
// these that splits the window into at most targetSeriesPoints points.
var bucketWidths = []struct {
	name  string
	width time.Duration
}{
	{"1m", time.Minute},
	{"5m", 5 * time.Minute},
	{"10m", 10 * time.Minute},
	{"15m", 15 * time.Minute},
	{"30m", 30 * time.Minute},
	{"1h", time.Hour},
	{"3h", 3 * time.Hour},
	{"6h", 6 * time.Hour},
	{"12h", 12 * time.Hour},
	{"1d", 24 * time.Hour},
}

// bucketNames lists the names of bucketWidths, for messages.
const bucketNames = "1m, 5m, 10m, 15m, 30m, 1h, 3h, 6h, 12h, 1d"

// Filter restricts a Snapshot to the calls whose series match every
// non-empty field exactly. The zero Filter matches every call, so an empty
// field cannot select the calls that have no key or no endpoint.
//
// The rate_limits section is never filtered, because limiters count
// decisions by rule, not by model or endpoint.
type Filter struct {
	Endpoint string `json:"endpoint,omitempty"`
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
	// Key is the caller key of usage.Call.Key.
	Key string `json:"key,omitempty"`
}

// IsZero reports whether f matches every call.
func (f Filter) IsZero() bool { return f == Filter{} }

// matches reports whether the calls of s pass f.
func (f *Filter) matches(s *usage.Series) bool {
	return (f.Endpoint == "" || f.Endpoint == s.Endpoint) &&
		(f.Provider == "" || f.Provider == s.Provider) &&
		(f.Model == "" || f.Model == s.Model) &&
		(f.Key == "" || f.Key == s.Key)
}

// Errors returned by Build.
var (
	// ErrNoStore is returned when the Config has no Store.
	ErrNoStore = errors.New("analytics: config has no Store")
)

// QueryError is returned when a query parameter is invalid. Handler responds
// to it with 400 and the error's message.
type QueryError struct {
	// Param is the name of the query parameter, such as "window" or
	// "bucket".
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

	// Filter restricts the snapshot to some calls. Default: every call.
	Filter Filter
	// Sort orders the rows of the breakdowns. Default: SortCost.
	Sort Sort
	// Top is the number of rows each breakdown lists before one row that
	// sums the rest, from 1 to MaxTop. Default: DefaultTop (20).
	Top int
	// Bucket is the width of the points of the time series, a whole
	// number of minutes giving at most MaxSeriesPoints points. Default:
	// the narrowest width of the bucket parameter's list that gives at
	// most 100 points, or whole days for windows too long for that list.
	Bucket time.Duration
}

// ParseQuery reads a Query from the parameters type, window, since, until,
// endpoint, provider, model, key, sort, top and bucket, as Handler does.
// Empty parameters count as absent. The error is a *QueryError naming the
// first invalid parameter.
//
// ParseQuery checks each parameter on its own and rejects window together
// with since. Build checks that Since is before Until and that the bucket
// gives few enough points, because both need the defaults.
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

	q.Filter = Filter{
		Endpoint: v.Get("endpoint"),
		Provider: v.Get("provider"),
		Model:    v.Get("model"),
		Key:      v.Get("key"),
	}

	if s := v.Get("sort"); s != "" {
		q.Sort = Sort(s)
		if !q.Sort.valid() {
			return Query{}, &QueryError{Param: "sort", Value: s, Reason: "must be cost or calls"}
		}
	}

	if s := v.Get("top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxTop {
			return Query{}, &QueryError{Param: "top", Value: s, Reason: "must be a whole number from 1 to " + strconv.Itoa(MaxTop)}
		}
		q.Top = n
	}

	if s := v.Get("bucket"); s != "" {
		w, ok := bucketWidth(s)
		if !ok {
			return Query{}, &QueryError{Param: "bucket", Value: s, Reason: "must be one of " + bucketNames}
		}
		q.Bucket = w
	}
	return q, nil
}

// bucketWidth returns the width that the bucket parameter name stands for.
func bucketWidth(name string) (time.Duration, bool) {
	for _, b := range bucketWidths {
		if b.name == name {
			return b.width, true
		}
	}
	return 0, false
}

func (s Sort) valid() bool {
	switch s {
	case "", SortCost, SortCalls:
		return true
	}
	return false
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

	if !q.Sort.valid() {
		return Query{}, &QueryError{Param: "sort", Value: string(q.Sort), Reason: "must be cost or calls"}
	}
	if q.Sort == "" {
		q.Sort = SortCost
	}
	if q.Top < 0 || q.Top > MaxTop {
		return Query{}, &QueryError{Param: "top", Value: strconv.Itoa(q.Top), Reason: "must be a whole number from 1 to " + strconv.Itoa(MaxTop)}
	}
	if q.Top == 0 {
		q.Top = DefaultTop
	}

	if q.Bucket == 0 {
		q.Bucket = autoBucket(q.Until.Sub(q.Since))
	}
	if q.Bucket < time.Minute || q.Bucket%time.Minute != 0 {
		return Query{}, &QueryError{Param: "bucket", Value: q.Bucket.String(), Reason: "must be a positive whole number of minutes"}
	}
	if n := pointCount(q.Since, q.Until, q.Bucket); n > MaxSeriesPoints {
		return Query{}, &QueryError{
			Param:  "bucket",
			Value:  formatBucket(q.Bucket),
			Reason: fmt.Sprintf("gives %d points over the window, more than the maximum of %d, so pick a wider bucket or a shorter window", n, MaxSeriesPoints),
		}
	}
	return q, nil
}

// autoBucket returns the narrowest width of bucketWidths that splits a
// window of length d into at most targetSeriesPoints points. Windows too
// long for a daily bucket get a bucket of as many whole days as keep them
// under that number.
func autoBucket(d time.Duration) time.Duration {
	for _, b := range bucketWidths {
		// One more point than d/width, for a window not aligned to the
		// bucket width.
		if d/b.width+1 <= targetSeriesPoints {
			return b.width
		}
	}
	const day = 24 * time.Hour
	days := d/(day*(targetSeriesPoints-1)) + 1
	return days * day
}

// pointCount returns the number of buckets of width w between the bucket
// that contains since and until.
func pointCount(since, until time.Time, w time.Duration) int64 {
	// Sub saturates for windows longer than 292 years, so the division
	// rounds up without adding to the duration.
	d := until.Sub(since.Truncate(w))
	n := int64(d / w)
	if d%w != 0 {
		n++
	}
	return n
}

// formatBucket writes a bucket width the way the bucket parameter spells
// it: in days, hours or minutes, whichever divides it.
func formatBucket(w time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case w >= day && w%day == 0:
		return strconv.FormatInt(int64(w/day), 10) + "d"
	case w >= time.Hour && w%time.Hour == 0:
		return strconv.FormatInt(int64(w/time.Hour), 10) + "h"
	case w%time.Minute == 0:
		return strconv.FormatInt(int64(w/time.Minute), 10) + "m"
	}
	return w.String()
}
