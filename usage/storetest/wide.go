package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// readWindow is a window that usage.ReadRollups reads, and the bucket
// width the caller adds rollups up over.
type readWindow struct {
	name         string
	since, until time.Time
	bucket       time.Duration
}

// readWindows mixes windows aligned to the wide widths with windows whose
// edges fall inside a wide row, inside a minute, or both.
func readWindows() []readWindow {
	return []readWindow{
		{"whole day in 15m buckets", base.Add(-12 * time.Hour), base.Add(12 * time.Hour), 15 * time.Minute},
		{"aligned hours in 1h buckets", base, now, time.Hour},
		{"unaligned edges in 15m buckets", base.Add(7 * time.Minute), now.Add(-22 * time.Minute), 15 * time.Minute},
		{"edges inside a minute in 1h buckets", base.Add(90*time.Second + time.Nanosecond), now.Add(-30 * time.Second), time.Hour},
		{"30m buckets", base.Add(14 * time.Minute), now.Add(-time.Minute), 30 * time.Minute},
		{"3h buckets", base.Add(-time.Hour), now.Add(time.Hour), 3 * time.Hour},
		{"1d bucket", base.Add(-12 * time.Hour), base.Add(12 * time.Hour), 24 * time.Hour},
		{"5m buckets", base.Add(3 * time.Minute), now, 5 * time.Minute},
		{"1m buckets", base.Add(40 * time.Minute), base.Add(95 * time.Minute), time.Minute},
		{"inside one 15m row", base.Add(16 * time.Minute), base.Add(29 * time.Minute), 15 * time.Minute},
		{"empty window", base.Add(time.Hour), base.Add(time.Hour), time.Hour},
	}
}

// testReadRollupsMatchMinutes writes records over three hours in two
// rounds, the second landing in rows the first created, and checks that
// usage.ReadRollups gives, for every window, the aggregates that the
// minute rollups give, by series and bucket.
func testReadRollupsMatchMinutes(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	checkRollupWidths(t, s)

	records := generateRecords(21, 4000, base, 3*time.Hour)
	var first, late []usage.Record
	for i := range records {
		if i%4 == 3 {
			late = append(late, records[i])
		} else {
			first = append(first, records[i])
		}
	}
	for _, b := range batches(first, 1, 7, 300, 1000) {
		write(t, s, b)
	}
	for _, w := range readWindows() {
		checkReadWindow(t, s, w)
	}

	// Records written after the wide rows exist must reach them too.
	for _, b := range batches(late, 1, 50, 400) {
		write(t, s, b)
	}
	for _, w := range readWindows() {
		t.Run(w.name, func(t *testing.T) { checkReadWindow(t, s, w) })
	}
	checkWideRows(t, s, base.Add(-time.Hour), now.Add(time.Hour))
}

// testReadRollupsRetention checks ReadRollups against minute rollups on a
// store whose retention cutoff falls inside a wide row and a minute.
func testReadRollupsRetention(t *testing.T, st *suite) {
	// The cutoff is now minus the retention: base + 1h7m30s.
	retention := 2*time.Hour - 7*time.Minute - 30*time.Second
	s := st.openStore(t, retention)
	for _, b := range batches(generateRecords(22, 3000, base.Add(-time.Hour), 4*time.Hour), 500) {
		write(t, s, b)
	}
	windows := []readWindow{
		{"15m buckets", base.Add(-2 * time.Hour), now.Add(time.Hour), 15 * time.Minute},
		{"1h buckets", base, now, time.Hour},
		{"1d bucket", base.Add(-12 * time.Hour), base.Add(12 * time.Hour), 24 * time.Hour},
		{"window before the cutoff", base, base.Add(time.Hour), time.Hour},
	}
	for _, w := range windows {
		t.Run(w.name, func(t *testing.T) { checkReadWindow(t, s, w) })
	}
	checkWideRows(t, s, base.Add(-2*time.Hour), now.Add(time.Hour))
}

// checkRollupWidths checks the widths a WideRollupStore reports.
func checkRollupWidths(t *testing.T, s usage.Store) {
	t.Helper()
	ws, ok := s.(usage.WideRollupStore)
	if !ok {
		return
	}
	widths := ws.RollupWidths()
	if !slices.IsSorted(widths) {
		t.Errorf("RollupWidths = %v, want increasing order", widths)
	}
	for _, w := range widths {
		if w <= time.Minute || w%time.Minute != 0 || (24*time.Hour)%w != 0 {
			t.Errorf("RollupWidths lists %v, want whole minutes above one that divide a day", w)
		}
	}
}

// checkReadWindow compares ReadRollups with the minute rollups of w,
// merged by series and bucket.
func checkReadWindow(t *testing.T, s usage.Store, w readWindow) {
	t.Helper()
	got, err := usage.ReadRollups(context.Background(), s, w.since, w.until, w.bucket)
	if err != nil {
		t.Fatalf("%s: ReadRollups: %v", w.name, err)
	}
	for i := range got {
		r := &got[i]
		if r.Start.Location() != time.UTC {
			t.Errorf("%s: rollup %v %+v: Start location = %v, want UTC", w.name, r.Start, r.Series, r.Start.Location())
		}
		if r.Width < time.Minute || r.Width%time.Minute != 0 {
			t.Errorf("%s: rollup %v %+v: Width = %v, want whole minutes", w.name, r.Start, r.Series, r.Width)
		}
		if r.Start.Truncate(w.bucket) != r.Start.Add(r.Width-1).Truncate(w.bucket) {
			t.Errorf("%s: rollup %v %+v of width %v spans two buckets of %v", w.name, r.Start, r.Series, r.Width, w.bucket)
		}
		if r.Start.Before(w.since) || !r.Start.Add(r.Width-time.Minute).Before(w.until) {
			t.Errorf("%s: rollup %v %+v of width %v has minutes outside [%v, %v)", w.name, r.Start, r.Series, r.Width, w.since, w.until)
		}
	}
	want := rollups(t, s, w.since, w.until)
	checkSameBuckets(t, w.name, mergeByBucket(got, w.bucket), mergeByBucket(want, w.bucket))
}

// checkWideRows checks each wide row of [since, until), both aligned to
// every width, against the merge of the minute rollups it spans.
func checkWideRows(t *testing.T, s usage.Store, since, until time.Time) {
	t.Helper()
	ws, ok := s.(usage.WideRollupStore)
	if !ok {
		return
	}
	for _, w := range ws.RollupWidths() {
		wide, from, err := ws.WideRollups(context.Background(), w, since, until)
		if err != nil {
			t.Fatalf("WideRollups(%v, %v, %v): %v", w, since, until, err)
		}
		if from.Before(since) || from.After(until) || from.Sub(since)%w != 0 {
			t.Errorf("WideRollups(%v, %v, %v): from = %v, want a multiple of the width in the window", w, since, until, from)
		}
		for i := range wide {
			r := &wide[i]
			if r.Width != w {
				t.Errorf("wide rollup %v %+v: Width = %v, want %v", r.Start, r.Series, r.Width, w)
			}
			if !r.Start.Truncate(w).Equal(r.Start) || r.Start.Before(from) || !r.Start.Before(until) {
				t.Errorf("wide rollup %v %+v: Start is not a multiple of %v in [%v, %v)", r.Start, r.Series, w, from, until)
			}
		}
		minutes := rollups(t, s, from, until)
		checkSameBuckets(t, fmt.Sprintf("WideRollups(%v)", w), mergeByBucket(wide, w), mergeByBucket(minutes, w))
	}
}

// mergeByBucket merges rollups by series and by bucket of width w.
func mergeByBucket(rollups []usage.Rollup, w time.Duration) map[bucketKey]*usage.Stats {
	out := make(map[bucketKey]*usage.Stats)
	for i := range rollups {
		r := &rollups[i]
		k := bucketKey{start: r.Start.Truncate(w).Unix(), series: r.Series}
		if st, ok := out[k]; ok {
			st.Merge(&r.Stats)
			continue
		}
		st := r.Stats.Clone()
		out[k] = &st
	}
	for _, st := range out {
		compact(st)
	}
	return out
}

// checkSameBuckets compares aggregates key by key: counters exactly and
// histograms bucket for bucket.
func checkSameBuckets(t *testing.T, where string, got, want map[bucketKey]*usage.Stats) {
	t.Helper()
	for k, w := range want {
		at := fmt.Sprintf("%s: bucket %s %+v", where, time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.series)
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing, want %d calls", at, w.Calls)
			continue
		}
		checkCounters(t, at, g, w)
		checkSameHistogram(t, at+": Latency", &g.Latency, &w.Latency)
		checkSameHistogram(t, at+": TTFT", &g.TTFT, &w.TTFT)
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: bucket %s %+v: unexpected, %d calls", where, time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.series, g.Calls)
		}
	}
}

func checkSameHistogram(t *testing.T, where string, got, want *usage.Histogram) {
	t.Helper()
	if !checkExact(t, where, got, want) {
		return
	}
	if g, w := got.Bins(), want.Bins(); !slices.Equal(g, w) {
		t.Errorf("%s: bins differ:\n got %v\nwant %v", where, g, w)
	}
}
