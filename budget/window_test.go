package budget_test

import (
	"testing"
	"time"
	_ "time/tzdata" // the same zone rules on every machine

	"github.com/aimeter/aimeter/budget"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func TestCalendarSpans(t *testing.T) {
	t.Parallel()
	ny := mustZone(t, "America/New_York")
	sp := mustZone(t, "America/Sao_Paulo")
	kolkata := mustZone(t, "Asia/Kolkata")
	tokyo := mustZone(t, "Asia/Tokyo")

	tests := []struct {
		name       string
		window     budget.Window
		now        time.Time
		start, end time.Time
	}{
		{
			name:   "day in UTC",
			window: budget.Daily(nil),
			now:    time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC),
			start:  time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
			end:    time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC),
		},
		{
			name:   "day in Kolkata",
			window: budget.Daily(kolkata),
			now:    time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC),
			start:  time.Date(2026, 12, 5, 0, 0, 0, 0, kolkata),
			end:    time.Date(2026, 12, 6, 0, 0, 0, 0, kolkata),
		},
		{
			name:   "day that starts daylight saving time is 23 hours",
			window: budget.Daily(ny),
			now:    time.Date(2026, 3, 8, 12, 0, 0, 0, ny),
			start:  time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC),
			end:    time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC),
		},
		{
			name:   "day that ends daylight saving time is 25 hours",
			window: budget.Daily(ny),
			now:    time.Date(2026, 11, 1, 12, 0, 0, 0, ny),
			start:  time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC),
			end:    time.Date(2026, 11, 2, 5, 0, 0, 0, time.UTC),
		},
		{
			name:   "repeated hour is one two-hour window",
			window: budget.Hourly(ny),
			now:    time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), // 01:30 EST, the second one
			start:  time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC),  // 01:00 EDT
			end:    time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC),  // 02:00 EST
		},
		{
			name:   "hour after a skipped hour starts at the change",
			window: budget.Hourly(ny),
			now:    time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC), // 03:30 EDT
			start:  time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),
			end:    time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC),
		},
		{
			name:   "skipped midnight starts the day at the change",
			window: budget.Daily(sp),
			now:    time.Date(2018, 11, 4, 12, 0, 0, 0, sp),
			start:  time.Date(2018, 11, 4, 3, 0, 0, 0, time.UTC), // 01:00 -02
			end:    time.Date(2018, 11, 5, 2, 0, 0, 0, time.UTC),
		},
		{
			name:   "hour before skipped midnight is whole",
			window: budget.Daily(sp),
			now:    time.Date(2018, 11, 4, 2, 30, 0, 0, time.UTC), // 23:30 -03 on the 3rd
			start:  time.Date(2018, 11, 3, 3, 0, 0, 0, time.UTC),
			end:    time.Date(2018, 11, 4, 3, 0, 0, 0, time.UTC),
		},
		{
			name:   "February in Tokyo",
			window: budget.Monthly(tokyo),
			now:    time.Date(2028, 2, 29, 23, 59, 0, 0, tokyo),
			start:  time.Date(2028, 2, 1, 0, 0, 0, 0, tokyo),
			end:    time.Date(2028, 3, 1, 0, 0, 0, 0, tokyo),
		},
		{
			name:   "first instant of a month",
			window: budget.Monthly(nil),
			now:    time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
			start:  time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
			end:    time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC),
		},
		{
			name:   "last instant of a month",
			window: budget.Monthly(nil),
			now:    time.Date(2027, 1, 31, 23, 59, 59, 999999999, time.UTC),
			start:  time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
			end:    time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.window.Span(tt.now)
			if !s.Start.Equal(tt.start) || !s.End.Equal(tt.end) {
				t.Errorf("Span(%v) = [%v, %v), want [%v, %v)", tt.now, s.Start.UTC(), s.End.UTC(), tt.start.UTC(), tt.end.UTC())
			}
			if !s.From.Equal(s.Start) {
				t.Errorf("From = %v, want Start %v", s.From, s.Start)
			}
		})
	}
}

// TestCalendarSpansTile walks through years with clock changes in zones
// with unusual rules and checks that the windows cover time without a gap
// or an overlap, and that each contains the instants it was found from.
func TestCalendarSpansTile(t *testing.T) {
	t.Parallel()
	zones := []struct {
		name string
		year int
	}{
		{"UTC", 2026},
		{"America/New_York", 2026},
		{"Europe/London", 2026},
		{"Asia/Kolkata", 2026},
		{"Australia/Lord_Howe", 2026}, // 30-minute changes
		{"America/Havana", 2026},      // changes at midnight
		{"America/Sao_Paulo", 2018},   // skipped midnight
		{"Pacific/Apia", 2011},        // skipped a whole day
		{"Pacific/Chatham", 2026},     // +12:45 and +13:45
	}
	for _, z := range zones {
		z := z
		loc := mustZone(t, z.name)
		windows := []struct {
			w    budget.Window
			step time.Duration // shorter than any window that is not empty
		}{
			{budget.Hourly(loc), 17 * time.Minute},
			{budget.Daily(loc), 23 * time.Minute},
			{budget.Monthly(loc), 3 * time.Hour},
		}
		for _, ws := range windows {
			w, step := ws.w, ws.step
			t.Run(w.String(), func(t *testing.T) {
				t.Parallel()
				from := time.Date(z.year, 1, 1, 0, 0, 0, 0, time.UTC)
				to := from.AddDate(1, 0, 0)
				prev := w.Span(from)
				for now := from; now.Before(to); now = now.Add(step) {
					s := w.Span(now)
					if now.Before(s.Start) || !now.Before(s.End) {
						t.Fatalf("Span(%v) = [%v, %v) does not contain it", now, s.Start, s.End)
					}
					if s.Start.Equal(prev.Start) {
						if !s.End.Equal(prev.End) {
							t.Fatalf("two windows start at %v: ends %v and %v", s.Start, prev.End, s.End)
						}
						continue
					}
					// Windows may be empty where a clock change skips one
					// (a day in Apia), so the new one starts at or after
					// the old one's end, with only empty windows between.
					if s.Start.Before(prev.End) {
						t.Fatalf("window [%v, %v) overlaps [%v, %v)", s.Start, s.End, prev.Start, prev.End)
					}
					if gap := w.Span(prev.End); !gap.Start.Equal(s.Start) && !gap.Start.Equal(prev.End) {
						t.Fatalf("window after [%v, %v) starts at %v, not at its end", prev.Start, prev.End, gap.Start)
					}
					prev = s
				}
			})
		}
	}
}

func TestRollingSpan(t *testing.T) {
	t.Parallel()
	w := budget.Rolling(time.Hour)
	if got := w.BucketWidth(); got != time.Minute {
		t.Fatalf("BucketWidth = %v, want 1m", got)
	}
	now := time.Date(2026, 12, 4, 19, 30, 45, 0, time.UTC)
	s := w.Span(now)
	wantStart := time.Date(2026, 12, 4, 19, 30, 0, 0, time.UTC)
	if !s.Start.Equal(wantStart) || !s.End.Equal(wantStart.Add(time.Minute)) {
		t.Errorf("bucket [%v, %v), want [%v, %v)", s.Start, s.End, wantStart, wantStart.Add(time.Minute))
	}
	if want := wantStart.Add(-59 * time.Minute); !s.From.Equal(want) {
		t.Errorf("From = %v, want %v", s.From, want)
	}

	before1970 := time.Unix(-90, 0)
	if s := w.Span(before1970); !s.Start.Equal(time.Unix(-120, 0)) {
		t.Errorf("bucket of %v starts at %v, want %v", before1970, s.Start, time.Unix(-120, 0))
	}
}

func TestWindowValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		window budget.Window
		ok     bool
	}{
		{"zero", budget.Window{}, false},
		{"daily", budget.Daily(nil), true},
		{"rolling minute", budget.Rolling(time.Minute), true},
		{"rolling 60ms", budget.Rolling(60 * time.Millisecond), true},
		{"rolling 59ms", budget.Rolling(59 * time.Millisecond), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.window.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
