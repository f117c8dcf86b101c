package usage_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// recordingStore is a usage.WideRollupStore that returns one empty rollup
// per read and records the reads it was asked for.
type recordingStore struct {
	*usage.MemoryStore
	widths []time.Duration
	// from, when not zero, is what WideRollups returns as its start.
	from  time.Time
	reads []string
}

func (s *recordingStore) Rollups(_ context.Context, since, until time.Time) ([]usage.Rollup, error) {
	s.reads = append(s.reads, fmt.Sprintf("minutes %s-%s", since.Format("15:04:05"), until.Format("15:04:05")))
	return []usage.Rollup{{Start: since, Width: time.Minute}}, nil
}

func (s *recordingStore) RollupWidths() []time.Duration { return s.widths }

func (s *recordingStore) WideRollups(_ context.Context, w time.Duration, since, until time.Time) ([]usage.Rollup, time.Time, error) {
	s.reads = append(s.reads, fmt.Sprintf("%v %s-%s", w, since.Format("15:04:05"), until.Format("15:04:05")))
	from := since
	if !s.from.IsZero() {
		from = s.from
	}
	return []usage.Rollup{{Start: from, Width: w}}, from, nil
}

func TestReadRollupsSplitsWindow(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	at := func(h, m, s int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
	}
	widths := []time.Duration{15 * time.Minute, time.Hour}
	for _, tt := range []struct {
		name         string
		widths       []time.Duration
		since, until time.Time
		bucket       time.Duration
		from         time.Time
		want         []string
	}{
		{"aligned window", widths, at(10, 0, 0), at(12, 0, 0), time.Hour, time.Time{},
			[]string{"1h0m0s 10:00:00-12:00:00"}},
		{"unaligned edges", widths, at(10, 7, 0), at(11, 52, 30), 15 * time.Minute, time.Time{},
			[]string{"15m0s 10:15:00-11:45:00", "minutes 10:07:00-10:15:00", "minutes 11:45:00-11:52:30"}},
		{"widest width that divides the bucket", widths, at(9, 0, 0), at(15, 0, 0), 3 * time.Hour, time.Time{},
			[]string{"1h0m0s 09:00:00-15:00:00"}},
		{"30m bucket reads 15m rollups", widths, at(9, 0, 0), at(10, 0, 0), 30 * time.Minute, time.Time{},
			[]string{"15m0s 09:00:00-10:00:00"}},
		{"no width divides the bucket", widths, at(9, 0, 0), at(10, 0, 0), 5 * time.Minute, time.Time{},
			[]string{"minutes 09:00:00-10:00:00"}},
		{"bucket of zero", widths, at(9, 0, 0), at(10, 0, 0), 0, time.Time{},
			[]string{"minutes 09:00:00-10:00:00"}},
		{"window inside one wide rollup", widths, at(9, 16, 0), at(9, 29, 0), 15 * time.Minute, time.Time{},
			[]string{"minutes 09:16:00-09:29:00"}},
		{"store with no widths", nil, at(9, 0, 0), at(10, 0, 0), time.Hour, time.Time{},
			[]string{"minutes 09:00:00-10:00:00"}},
		{"retention cutoff inside the window", widths, at(9, 0, 0), at(12, 0, 0), time.Hour, at(11, 0, 0),
			[]string{"1h0m0s 09:00:00-12:00:00", "minutes 09:00:00-11:00:00"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &recordingStore{MemoryStore: usage.NewMemoryStore(), widths: tt.widths, from: tt.from}
			got, err := usage.ReadRollups(context.Background(), s, tt.since, tt.until, tt.bucket)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.reads, tt.want) {
				t.Errorf("reads:\n got %s\nwant %s", strings.Join(s.reads, "; "), strings.Join(tt.want, "; "))
			}
			if len(got) != len(tt.want) {
				t.Errorf("ReadRollups returned %d rollups, want one per read: %d", len(got), len(tt.want))
			}
		})
	}
}

func TestReadRollupsRejectsBadStart(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, from := range []time.Time{day.Add(8 * time.Hour), day.Add(10*time.Hour + time.Minute), day.Add(13 * time.Hour)} {
		s := &recordingStore{MemoryStore: usage.NewMemoryStore(), widths: []time.Duration{time.Hour}, from: from}
		_, err := usage.ReadRollups(context.Background(), s, day.Add(9*time.Hour), day.Add(12*time.Hour), time.Hour)
		if err == nil {
			t.Errorf("WideRollups returning from %v: err = nil, want an error", from.Format("15:04"))
		}
	}
}

func ExampleReadRollups() {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	store := usage.NewMemoryStore(usage.WithStoreClock(func() time.Time { return now }))
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o"}
	var records []usage.Record
	for m := 0; m < 120; m += 7 {
		records = append(records, usage.Record{Time: now.Add(time.Duration(m-120) * time.Minute), Call: call, Latency: time.Duration(m) * time.Millisecond})
	}
	_ = store.Write(context.Background(), records)

	// Add the rollups up by hour. A store that keeps hourly rollups serves
	// them for the whole window. A MemoryStore serves minute rollups.
	rollups, err := usage.ReadRollups(context.Background(), store, now.Add(-2*time.Hour), now, time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	calls := map[time.Time]int64{}
	for _, r := range rollups {
		calls[r.Start.Truncate(time.Hour)] += r.Stats.Calls
	}
	fmt.Println(calls[now.Add(-2*time.Hour)], calls[now.Add(-time.Hour)])
	// Output: 9 9
}
