package budget

import (
	"encoding/json"
	"errors"
	"time"
)

// period is the kind of a Window.
type period uint8

const (
	periodNone period = iota
	periodHour
	periodDay
	periodMonth
	periodRolling
)

// RollingBuckets is the number of buckets a rolling window counts in.
const RollingBuckets = 60

// Window is the period a budget's limit covers: a calendar hour, day or
// month in a time zone, or a rolling duration. Make one with Hourly, Daily,
// Monthly or Rolling; the zero Window is invalid.
//
// A calendar window starts on the hour, at midnight or on the first of the
// month in its time zone, as time.Date computes it there. The next one
// starts at the next such boundary, so a day is 23 or 25 hours long when
// daylight saving time starts or ends. When a clock change skips the
// boundary's wall time (a zone that moves from 00:00 straight to 01:00),
// the window starts at the change. When a clock change repeats an hour,
// the repeated hour belongs to one two-hour window.
//
// A rolling window of length d counts in RollingBuckets buckets of d/60
// each, aligned to the Unix epoch. A charge counts from the moment it is
// made until its bucket leaves the window, which is more than d·59/60 and
// at most d later, so over any interval of d·59/60 the charges that count
// together never exceed the limit.
type Window struct {
	period period
	loc    *time.Location
	// width is the length of one bucket of a rolling window.
	width time.Duration
}

// Hourly returns a window of one clock hour in loc. A nil loc means UTC.
func Hourly(loc *time.Location) Window { return Window{period: periodHour, loc: orUTC(loc)} }

// Daily returns a window of one calendar day in loc, from midnight to
// midnight. A nil loc means UTC.
func Daily(loc *time.Location) Window { return Window{period: periodDay, loc: orUTC(loc)} }

// Monthly returns a window of one calendar month in loc, from midnight on
// the first. A nil loc means UTC.
func Monthly(loc *time.Location) Window { return Window{period: periodMonth, loc: orUTC(loc)} }

// Rolling returns a window that covers the last d, counted in
// RollingBuckets buckets of d/60 rounded down to a whole millisecond. The
// window is therefore 60 such buckets long, which is d itself when d is a
// multiple of 60 ms. A d shorter than 60 ms makes an invalid window.
func Rolling(d time.Duration) Window {
	return Window{period: periodRolling, width: (d / RollingBuckets).Truncate(time.Millisecond)}
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// Validate reports whether w can be used.
func (w Window) Validate() error {
	switch w.period {
	case periodHour, periodDay, periodMonth:
		return nil
	case periodRolling:
		if w.width <= 0 {
			return errors.New("rolling window is shorter than 60 ms")
		}
		return nil
	}
	return errors.New("window is not set: use Hourly, Daily, Monthly or Rolling")
}

// IsRolling reports whether w is a rolling window.
func (w Window) IsRolling() bool { return w.period == periodRolling }

// Length returns the length of a rolling window, or zero for a calendar
// window, whose length varies.
func (w Window) Length() time.Duration {
	if w.period != periodRolling {
		return 0
	}
	return w.width * RollingBuckets
}

// BucketWidth returns the width of one bucket of a rolling window, or zero
// for a calendar window.
func (w Window) BucketWidth() time.Duration { return w.width }

// Location returns the time zone of a calendar window, or nil for a
// rolling one.
func (w Window) Location() *time.Location {
	if w.period == periodRolling {
		return nil
	}
	return w.loc
}

// String returns a short description such as "day in America/New_York" or
// "rolling 1h0m0s".
func (w Window) String() string {
	switch w.period {
	case periodHour:
		return "hour in " + w.loc.String()
	case periodDay:
		return "day in " + w.loc.String()
	case periodMonth:
		return "month in " + w.loc.String()
	case periodRolling:
		return "rolling " + w.Length().String()
	}
	return "unset window"
}

// MarshalJSON writes a calendar window as {"period":"day","time_zone":"UTC"}
// and a rolling one as {"period":"rolling","length_seconds":3600}.
func (w Window) MarshalJSON() ([]byte, error) {
	switch w.period {
	case periodHour, periodDay, periodMonth:
		return json.Marshal(struct {
			Period   string `json:"period"`
			TimeZone string `json:"time_zone"`
		}{w.periodName(), w.loc.String()})
	case periodRolling:
		return json.Marshal(struct {
			Period        string  `json:"period"`
			LengthSeconds float64 `json:"length_seconds"`
		}{"rolling", w.Length().Seconds()})
	}
	return nil, errors.New("marshal window: window is not set")
}

func (w Window) periodName() string {
	switch w.period {
	case periodHour:
		return "hour"
	case periodDay:
		return "day"
	case periodMonth:
		return "month"
	}
	return "rolling"
}

// Span locates an instant in a budget's window.
type Span struct {
	// Start and End bound the calendar window that contains the instant,
	// or, for a rolling window, the bucket that contains it. A reservation
	// made at the instant is charged to this window or bucket.
	Start, End time.Time
	// From is the start of the oldest bucket that still counts at the
	// instant. For a calendar window it equals Start.
	From time.Time
}

// Span returns where now falls in w: Start <= now < End. It panics if w is
// invalid.
func (w Window) Span(now time.Time) Span {
	if w.period == periodRolling {
		return w.rollingSpan(now)
	}
	if w.period == periodNone {
		panic("budget: Span of an unset window")
	}

	// time.Date picks one of two instants for a wall time that a clock
	// change repeats, so the window found from now's wall-clock label may
	// start after now or end before it. The neighbouring window then
	// contains now. Two steps either way cover a clock change of a whole
	// day, the largest in the tz database (Samoa skipped 30 December 2011).
	k := 0
	start, end := w.boundary(now, 0), w.boundary(now, 1)
	for i := 0; i < 2 && now.Before(start); i++ {
		k--
		start, end = w.boundary(now, k), start
	}
	for i := 0; i < 2 && !now.Before(end); i++ {
		k++
		start, end = end, w.boundary(now, k+1)
	}
	return Span{Start: start, End: end, From: start}
}

// boundary returns the start of the calendar window k windows after the
// one whose wall-clock label (hour, day or month) now has in w's zone.
func (w Window) boundary(now time.Time, k int) time.Time {
	local := now.In(w.loc)
	y, m, d := local.Date()
	h := local.Hour()

	var wall time.Time // the boundary's wall-clock time, written in UTC
	switch w.period {
	case periodHour:
		wall = time.Date(y, m, d, h+k, 0, 0, 0, time.UTC)
	case periodDay:
		wall = time.Date(y, m, d+k, 0, 0, 0, 0, time.UTC)
	default:
		wall = time.Date(y, m+time.Month(k), 1, 0, 0, 0, 0, time.UTC)
	}
	wy, wm, wd := wall.Date()
	t := time.Date(wy, wm, wd, wall.Hour(), 0, 0, 0, w.loc)

	// A wall time that a clock change skips comes back from time.Date as
	// an instant before the change, whose wall clock reads the previous
	// window. The window really starts at the change.
	if wallClock(t.In(w.loc)).Before(wall) {
		if _, change := t.ZoneBounds(); !change.IsZero() {
			t = change
		}
	}
	return t
}

// wallClock returns t's wall-clock reading as the same reading in UTC.
func wallClock(t time.Time) time.Time {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	return time.Date(y, m, d, hh, mm, ss, t.Nanosecond(), time.UTC)
}

// rollingSpan returns the bucket of now and the start of the oldest bucket
// that counts with it.
func (w Window) rollingSpan(now time.Time) Span {
	width := int64(w.width)
	ns := now.UnixNano()
	id := ns / width
	if ns%width < 0 {
		id-- // floor division before 1970
	}
	start := time.Unix(0, id*width)
	return Span{
		Start: start,
		End:   start.Add(w.width),
		From:  start.Add(-w.width * (RollingBuckets - 1)),
	}
}
