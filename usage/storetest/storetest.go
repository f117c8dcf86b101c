package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// Options describes the store that a test requests from an OpenFunc.
type Options struct {
	// Now is the clock the store must read wherever it needs the current
	// time, such as to decide which data is past its retention. It is
	// never nil, and it returns a fixed time near the test's records.
	Now func() time.Time
	// Retention is how long the store must keep rollups. Zero means the
	// store's default.
	Retention time.Duration
}

// OpenFunc opens a new, empty store for one test and fails tb if it cannot.
// Each call must return a store that shares no data with earlier ones. The
// suite closes every store it opens, and OpenFunc registers with
// tb.Cleanup whatever else must be released, such as a temporary directory.
type OpenFunc func(tb testing.TB, opts Options) usage.Store

// base is the start of the minute in which the suite's records begin, and
// now is the time its clock shows.
var (
	base = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	now  = base.Add(3 * time.Hour)
)

// Run runs the conformance suite, each test as a subtest of t on a store of
// its own.
func Run(t *testing.T, open OpenFunc) {
	RunExcept(t, open, nil)
}

// RunExcept runs the conformance suite like Run, but skips the subtests
// that known names, with the reason given for each. It lets a store's test
// keep every other check while a known deviation is being fixed. A name is
// a test's path below t as the suite spells it, with spaces, such as
// "MinuteWindows/since one nanosecond late".
func RunExcept(t *testing.T, open OpenFunc, known map[string]string) {
	s := &suite{open: open, known: known}
	tests := []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"EmptyStore", testEmptyStore},
		{"RollupsMatchReference", testRollupsMatchReference},
		{"BatchSizesDoNotMatter", testBatchSizesDoNotMatter},
		{"MinuteWindows", testMinuteWindows},
		{"RecentNewestFirst", testRecentNewestFirst},
		{"RecordRoundTrip", testRecordRoundTrip},
		{"ConcurrentWriters", testConcurrentWriters},
		{"InvalidRecords", testInvalidRecords},
		{"UnusualStrings", testUnusualStrings},
		{"Retention", testRetention},
		{"StreamSums", testStreamSums},
		{"ReadRollupsMatchMinutes", testReadRollupsMatchMinutes},
		{"ReadRollupsRetention", testReadRollupsRetention},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.skipKnown(t, tt.name)
			tt.fn(t, s)
		})
	}
}

// suite is the state that the conformance tests share.
type suite struct {
	open  OpenFunc
	known map[string]string
}

// skipKnown skips t when the caller of RunExcept named path.
func (s *suite) skipKnown(t *testing.T, path string) {
	t.Helper()
	if reason, ok := s.known[path]; ok {
		t.Skipf("known deviation: %s", reason)
	}
}

// openStore opens a store through open with the suite's clock and closes
// it when the test ends.
func (s *suite) openStore(tb testing.TB, retention time.Duration) usage.Store {
	tb.Helper()
	store := s.open(tb, Options{Now: func() time.Time { return now }, Retention: retention})
	if store == nil {
		tb.Fatal("open returned a nil store")
	}
	tb.Cleanup(func() {
		if err := store.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return store
}

func write(tb testing.TB, s usage.Store, records []usage.Record) {
	tb.Helper()
	if err := s.Write(context.Background(), records); err != nil {
		tb.Fatalf("Write(%d records): %v", len(records), err)
	}
}

func rollups(tb testing.TB, s usage.Store, since, until time.Time) []usage.Rollup {
	tb.Helper()
	out, err := s.Rollups(context.Background(), since, until)
	if err != nil {
		tb.Fatalf("Rollups(%v, %v): %v", since, until, err)
	}
	return out
}

func recent(tb testing.TB, s usage.Store, limit int) []usage.Record {
	tb.Helper()
	out, err := s.Recent(context.Background(), limit)
	if err != nil {
		tb.Fatalf("Recent(%d): %v", limit, err)
	}
	return out
}

// wholeDay is a window that holds every record the suite writes.
func wholeDay(tb testing.TB, s usage.Store) []usage.Rollup {
	tb.Helper()
	return rollups(tb, s, base.Add(-12*time.Hour), base.Add(12*time.Hour))
}

func testEmptyStore(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	if got := wholeDay(t, s); len(got) != 0 {
		t.Errorf("Rollups on an empty store = %d rollups, want 0", len(got))
	}
	if got := recent(t, s, 10); len(got) != 0 {
		t.Errorf("Recent on an empty store = %d records, want 0", len(got))
	}

	write(t, s, nil)
	write(t, s, []usage.Record{})
	if got := wholeDay(t, s); len(got) != 0 {
		t.Errorf("Rollups after empty writes = %d rollups, want 0", len(got))
	}
	if got := s.Retention(); got <= 0 {
		t.Errorf("Retention = %v, want a positive default", got)
	}
}

func testRollupsMatchReference(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	records := generateRecords(1, 2000, base, 90*time.Minute)
	want := reference(records)

	// Minutes arrive out of order: the records are written newest batch
	// first.
	parts := batches(records, 1, 7, 50, 3, 200, 128)
	for i := len(parts) - 1; i >= 0; i-- {
		write(t, s, parts[i])
	}

	got := mergeRollups(t, wholeDay(t, s))
	checkBuckets(t, got, want)
	gotTotal, wantTotal := total(got), total(want)
	checkStats(t, "whole window", &gotTotal, &wantTotal)

	// A window inside the data holds exactly the minutes that start in it.
	since, until := base.Add(17*time.Minute), base.Add(73*time.Minute)
	sub := make(map[bucketKey]*usage.Stats)
	for k, st := range want {
		if k.start >= since.Unix() && k.start < until.Unix() {
			sub[k] = st
		}
	}
	checkBuckets(t, mergeRollups(t, rollups(t, s, since, until)), sub)
}

func testBatchSizesDoNotMatter(t *testing.T, st *suite) {
	records := generateRecords(2, 500, base, 10*time.Minute)
	single := st.openStore(t, 0)
	write(t, single, records)
	many := st.openStore(t, 0)
	for _, b := range batches(records, 1, 2, 3, 5, 8, 13) {
		write(t, many, b)
	}
	checkBuckets(t, mergeRollups(t, wholeDay(t, many)), mergeRollups(t, wholeDay(t, single)))
}

func testMinuteWindows(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	at := []time.Time{
		base.Add(-time.Nanosecond),
		base,
		base.Add(time.Minute - time.Nanosecond),
		base.Add(time.Minute),
		base.Add(2*time.Minute - time.Microsecond),
		base.Add(5 * time.Minute),
	}
	records := make([]usage.Record, len(at))
	for i, ts := range at {
		records[i] = usage.Record{Time: ts, Call: usage.Call{Endpoint: "/e", Provider: "p", Model: "m", Operation: "chat"}, Latency: time.Millisecond}
	}
	write(t, s, records)

	india := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name         string
		since, until time.Time
		calls        int64
		minutes      int
	}{
		{"first minute", base, base.Add(time.Minute), 2, 1},
		{"second minute", base.Add(time.Minute), base.Add(2 * time.Minute), 2, 1},
		{"minute before", base.Add(-time.Minute), base, 1, 1},
		{"since inside a minute skips it", base.Add(30 * time.Second), base.Add(2 * time.Minute), 2, 1},
		{"until inside a minute keeps it", base, base.Add(30 * time.Second), 2, 1},
		{"since one nanosecond late", base.Add(time.Minute + time.Nanosecond), base.Add(5 * time.Minute), 0, 0},
		{"until one nanosecond past", base.Add(time.Minute + time.Nanosecond), base.Add(5*time.Minute + time.Nanosecond), 1, 1},
		{"everything", base.Add(-time.Hour), base.Add(time.Hour), 6, 4},
		{"other time zone", base.In(india), base.Add(2 * time.Minute).In(india), 4, 2},
		{"empty window", base, base, 0, 0},
		{"until before since", base.Add(5 * time.Minute), base, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st.skipKnown(t, "MinuteWindows/"+tt.name)
			got := rollups(t, s, tt.since, tt.until)
			merged := mergeRollups(t, got)
			if len(merged) != tt.minutes {
				t.Errorf("minutes = %d, want %d", len(merged), tt.minutes)
			}
			var calls int64
			for k, st := range merged {
				calls += st.Calls
				start := time.Unix(k.start, 0).UTC()
				if start.Before(tt.since) || !start.Before(tt.until) {
					t.Errorf("rollup at %v lies outside [%v, %v)", start, tt.since, tt.until)
				}
			}
			if calls != tt.calls {
				t.Errorf("calls = %d, want %d", calls, tt.calls)
			}
		})
	}
}

func testRecentNewestFirst(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	records := make([]usage.Record, 25)
	for i := range records {
		records[i] = usage.Record{
			Time:    base.Add(time.Duration(i)*time.Second + time.Duration(i)*time.Millisecond),
			Call:    usage.Call{Endpoint: "/e", Provider: "p", Model: fmt.Sprintf("model-%02d", i), Operation: "chat"},
			Latency: time.Duration(i+1) * time.Millisecond,
		}
	}
	for _, b := range batches(records, 10, 1, 14) {
		write(t, s, b)
	}

	for _, limit := range []int{0, 1, 10, 25, 100} {
		got := recent(t, s, limit)
		want := limit
		if want > len(records) {
			want = len(records)
		}
		if len(got) != want {
			t.Errorf("Recent(%d) = %d records, want %d", limit, len(got), want)
			continue
		}
		for i := range got {
			checkRecord(t, fmt.Sprintf("Recent(%d)[%d]", limit, i), &got[i], &records[len(records)-1-i])
		}
	}
}

func testRecordRoundTrip(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	chennai := time.FixedZone("IST", 5*3600+1800)
	records := []usage.Record{
		{
			Time: base.Add(123456789 * time.Nanosecond),
			Call: usage.Call{
				Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o", Operation: "chat", Key: "user-7",
				Labels: map[string]string{"tenant": "acme", "region": "eu-west-1", "": "empty key"},
			},
			ResponseModel: "gpt-4o-2024-08-06",
			Tokens:        usage.Tokens{Input: 2006, CachedInput: 1920, CacheWrite: 11, Output: 300, Reasoning: 64},
			UsageKnown:    true,
			Priced:        true,
			CostNanos:     4_567_890,
			Latency:       1234567890 * time.Nanosecond,
			TTFT:          234567891 * time.Nanosecond,
			Stream:        true,
			Chunks:        42,
		},
		{
			Time:       base.Add(time.Second).In(chennai),
			Call:       usage.Call{Endpoint: "/api/ai/agent", Provider: "openai", Model: "o3-mini", Operation: "chat"},
			Latency:    30 * time.Second,
			Error:      errmon.Timeout,
			HTTPStatus: 504,
		},
		{
			Time:       base.Add(2 * time.Second),
			Call:       usage.Call{Endpoint: "/api/ai/embed", Provider: "azure", Model: "my-deployment", Operation: "embeddings", Labels: map[string]string{}},
			Tokens:     usage.Tokens{Input: 8},
			UsageKnown: true,
			Latency:    time.Nanosecond,
		},
		{
			Time:       base.Add(3 * time.Second),
			Call:       usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat", Key: "k"},
			Latency:    2 * time.Hour,
			Stream:     true,
			Chunks:     0,
			Error:      errmon.Canceled,
			HTTPStatus: 0,
		},
	}
	write(t, s, records)

	got := recent(t, s, len(records))
	if len(got) != len(records) {
		t.Fatalf("Recent = %d records, want %d", len(got), len(records))
	}
	for i := range got {
		checkRecord(t, fmt.Sprintf("record %d", len(records)-1-i), &got[i], &records[len(records)-1-i])
	}
}

func testConcurrentWriters(t *testing.T, st *suite) {
	const writers, batchesPerWriter, batchSize = 8, 25, 20
	s := st.openStore(t, 0)
	ctx := context.Background()

	all := make([][]usage.Record, writers)
	for w := range all {
		all[w] = generateRecords(int64(100+w), batchesPerWriter*batchSize, base, 5*time.Minute)
	}

	// Readers run beside the writers, so that a store with a data race or
	// a lock problem shows it under -race. They stop when the writers
	// finish or after a bounded number of reads.
	done := make(chan struct{})
	var readers sync.WaitGroup
	for i := 0; i < 2; i++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for n := 0; n < 20; n++ {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.Rollups(ctx, base, base.Add(time.Hour)); err != nil {
					t.Errorf("Rollups during writes: %v", err)
					return
				}
				if _, err := s.Recent(ctx, 5); err != nil {
					t.Errorf("Recent during writes: %v", err)
					return
				}
			}
		}()
	}

	var writersDone sync.WaitGroup
	for w := range all {
		writersDone.Add(1)
		go func(records []usage.Record) {
			defer writersDone.Done()
			for _, b := range batches(records, batchSize) {
				if err := s.Write(ctx, b); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		}(all[w])
	}
	writersDone.Wait()
	close(done)
	readers.Wait()

	var every []usage.Record
	for _, records := range all {
		every = append(every, records...)
	}
	want := reference(every)
	got := mergeRollups(t, wholeDay(t, s))
	gotTotal, wantTotal := total(got), total(want)
	checkStats(t, "total", &gotTotal, &wantTotal)
	checkBuckets(t, got, want)
}

func testInvalidRecords(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	good := generateRecords(3, 3, base, time.Minute)
	write(t, s, good)
	wantTotal := total(reference(good))

	tests := []struct {
		name       string
		invalidate func(*usage.Record)
	}{
		{"zero time", func(r *usage.Record) { r.Time = time.Time{} }},
		{"negative latency", func(r *usage.Record) { r.Latency = -time.Millisecond }},
		{"negative TTFT", func(r *usage.Record) { r.Stream, r.TTFT = true, -1 }},
		{"negative input tokens", func(r *usage.Record) { r.Tokens.Input = -1 }},
		{"negative cached input tokens", func(r *usage.Record) { r.Tokens.CachedInput = -1 }},
		{"negative cache write tokens", func(r *usage.Record) { r.Tokens.CacheWrite = -1 }},
		{"negative output tokens", func(r *usage.Record) { r.Tokens.Output = -1 }},
		{"negative reasoning tokens", func(r *usage.Record) { r.Tokens.Reasoning = -1 }},
		{"negative cost", func(r *usage.Record) { r.CostNanos = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st.skipKnown(t, "InvalidRecords/"+tt.name)
			batch := generateRecords(4, 3, base.Add(time.Hour), time.Minute)
			tt.invalidate(&batch[1])
			err := s.Write(context.Background(), batch)
			if !errors.Is(err, usage.ErrInvalidRecord) {
				t.Fatalf("Write = %v, want an error wrapping usage.ErrInvalidRecord", err)
			}

			got := mergeRollups(t, wholeDay(t, s))
			gotTotal := total(got)
			checkStats(t, "after the rejected batch", &gotTotal, &wantTotal)
			if n := len(recent(t, s, 100)); n != len(good) {
				t.Errorf("Recent = %d records, want %d: part of the rejected batch was stored", n, len(good))
			}
		})
	}
}

func testUnusualStrings(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	tests := []struct {
		name      string
		value     string
		mayReject bool // a store may reject it as an invalid record
	}{
		{"quotes", `it's "quoted" and 'single' and ` + "`back`", false},
		{"SQL", `x'); DROP TABLE records; --`, false},
		{"semicolons", ";;; a;b ;", false},
		{"backslashes", `C:\path\to\n\t\\ \'`, false},
		{"LIKE wildcards", `100% _of_ %s`, false},
		{"non-ASCII", "модель-ü-漢字-😀", false},
		{"line breaks", "line 1\nline 2\r\nline 3", false},
		{"10 KB", strings.Repeat("abcdefghij", 1024), false},
		{"empty", "", false},
		{"NUL byte", "before\x00after", true},
		{"invalid UTF-8", "bad \xff\xfe bytes", true},
	}
	stored := 0
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st.skipKnown(t, "UnusualStrings/"+tt.name)
			r := usage.Record{
				Time: base.Add(time.Duration(i) * time.Minute),
				Call: usage.Call{
					Endpoint: tt.value, Provider: tt.value + "p", Model: tt.value + "m", Operation: tt.value + "o", Key: tt.value + "k",
					Labels: map[string]string{tt.value: tt.value, "k": tt.value + "v"},
				},
				ResponseModel: tt.value + "r",
				Latency:       time.Duration(i+1) * time.Millisecond,
				Error:         errmon.Category(tt.value + "e"),
			}
			err := s.Write(context.Background(), []usage.Record{r})
			switch {
			case err != nil && tt.mayReject:
				if !errors.Is(err, usage.ErrInvalidRecord) {
					t.Fatalf("Write = %v, want success or an error wrapping usage.ErrInvalidRecord", err)
				}
				if n := len(recent(t, s, 100)); n != stored {
					t.Errorf("Recent = %d records after the rejection, want %d", n, stored)
				}
				return
			case err != nil:
				t.Fatalf("Write: %v", err)
			}
			stored++

			got := recent(t, s, 1)
			if len(got) != 1 {
				t.Fatalf("Recent(1) = %d records, want 1", len(got))
			}
			checkRecord(t, "Recent", &got[0], &r)

			minute := mergeRollups(t, rollups(t, s, r.Time, r.Time.Add(time.Minute)))
			want := reference([]usage.Record{r})
			checkBuckets(t, minute, want)
		})
	}
}

func testRetention(t *testing.T, st *suite) {
	s := st.openStore(t, time.Hour)
	if got := s.Retention(); got != time.Hour {
		t.Errorf("Retention = %v, want 1h", got)
	}
	old := usage.Record{Time: now.Add(-2 * time.Hour), Call: usage.Call{Endpoint: "/old", Provider: "p", Model: "m", Operation: "chat"}, Latency: time.Millisecond}
	fresh := usage.Record{Time: now.Add(-time.Minute), Call: usage.Call{Endpoint: "/new", Provider: "p", Model: "m", Operation: "chat"}, Latency: time.Millisecond}
	write(t, s, []usage.Record{old})
	write(t, s, []usage.Record{fresh})

	got := mergeRollups(t, rollups(t, s, now.Add(-24*time.Hour), now.Add(time.Hour)))
	checkBuckets(t, got, reference([]usage.Record{fresh}))
}

func testClose(t *testing.T, st *suite) {
	s := st.open(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	write(t, s, generateRecords(5, 3, base, time.Minute))

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}

	if err := s.Write(ctx, generateRecords(6, 1, base, time.Minute)); !errors.Is(err, usage.ErrClosed) {
		t.Errorf("Write after Close = %v, want usage.ErrClosed", err)
	}
	if _, err := s.Rollups(ctx, base, base.Add(time.Hour)); !errors.Is(err, usage.ErrClosed) {
		t.Errorf("Rollups after Close = %v, want usage.ErrClosed", err)
	}
	if _, err := s.Recent(ctx, 10); !errors.Is(err, usage.ErrClosed) {
		t.Errorf("Recent after Close = %v, want usage.ErrClosed", err)
	}
	if got := s.Retention(); got <= 0 {
		t.Errorf("Retention after Close = %v, want the configured retention", got)
	}
}
