package usage

import (
	"context"
	"testing"
	"time"
)

// TestClockAnchorIsRenewed checks that calls are stamped from a fresh
// anchor: one older than anchorAge is replaced by the next call, and the
// stamp falls between wall-clock readings taken around the call.
func TestClockAnchorIsRenewed(t *testing.T) {
	tr := NewTracker(NewMemoryStore())
	defer func() { _ = tr.Close(context.Background()) }()

	stale := time.Now().Add(-2 * anchorAge)
	tr.anchor.Store(&stale)

	before := time.Now().Round(0)
	watch, wall := tr.startClock()
	after := time.Now().Round(0)

	if got := tr.anchor.Load(); got == &stale {
		t.Fatal("a stale anchor was kept")
	}
	if wall.Before(before) || wall.After(after) {
		t.Errorf("stamp %v is outside [%v, %v]", wall, before, after)
	}
	if d := watch.elapsed(); d < 0 {
		t.Errorf("elapsed = %v, want ≥ 0", d)
	}

	fresh := tr.anchor.Load()
	if _, _ = tr.startClock(); tr.anchor.Load() != fresh {
		t.Error("a fresh anchor was replaced")
	}
}

// TestClockUsesCustomWallClock checks that WithClock stamps calls while
// latency still comes from the monotonic clock.
func TestClockUsesCustomWallClock(t *testing.T) {
	fixed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(NewMemoryStore(), WithClock(func() time.Time { return fixed }))
	defer func() { _ = tr.Close(context.Background()) }()

	watch, wall := tr.startClock()
	if !wall.Equal(fixed) {
		t.Errorf("stamp = %v, want %v", wall, fixed)
	}
	if d := watch.elapsed(); d < 0 {
		t.Errorf("elapsed = %v, want ≥ 0", d)
	}
}

// stalledStore blocks every Write until its context ends, and reports
// each Write it enters and leaves.
type stalledStore struct {
	MemoryStore
	entered chan int
	left    chan struct{}
}

func (s *stalledStore) Write(ctx context.Context, records []Record) error {
	s.entered <- len(records)
	<-ctx.Done()
	s.left <- struct{}{}
	return ctx.Err()
}

// TestCloseCountsTheBatchBeingWritten checks that a Close that gives up
// counts every record: those still queued as dropped and the batch the
// store is writing as pending, until the canceled write returns and it is
// dropped too.
func TestCloseCountsTheBatchBeingWritten(t *testing.T) {
	store := &stalledStore{entered: make(chan int, 1), left: make(chan struct{}, 1)}
	tr := NewTracker(store, WithBatchSize(10), WithQueueSize(100))
	rec := Record{Time: time.Now().UTC(), Call: Call{Endpoint: "e", Provider: "p", Model: "m"}}
	tr.Record(rec)
	inFlight := <-store.entered // the writer holds this batch in Write
	for i := 0; i < 29; i++ {
		tr.Record(rec)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Close(ctx); err == nil {
		t.Fatal("Close with a canceled context returned nil")
	}
	st := tr.Stats()
	if st.Written != 0 || st.Pending != int64(inFlight) || st.Dropped != int64(30-inFlight) {
		t.Fatalf("right after Close: %+v, want %d pending (the batch being written) and the other %d dropped", st, inFlight, 30-inFlight)
	}

	<-store.left // Close canceled the write under way
	<-tr.done
	if st := tr.Stats(); st.Written != 0 || st.Dropped != 30 || st.Pending != 0 {
		t.Fatalf("after the writer stopped: %+v, want 30 dropped", st)
	}
}

// sizedStore is a memory store that prefers batches of 3.
type sizedStore struct{ MemoryStore }

func (*sizedStore) PreferredBatchSize() int { return 3 }

func TestTrackerTakesStoreBatchSize(t *testing.T) {
	tests := []struct {
		name  string
		store Store
		opts  []TrackerOption
		want  int
	}{
		{"no preference", NewMemoryStore(), nil, defaultBatchSize},
		{"store preference", &sizedStore{}, nil, 3},
		{"option wins", &sizedStore{}, []TrackerOption{WithBatchSize(7)}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.store, tt.opts...)
			defer func() { _ = tr.Close(context.Background()) }()
			if tr.batchSize != tt.want {
				t.Errorf("batch size = %d, want %d", tr.batchSize, tt.want)
			}
		})
	}
}
