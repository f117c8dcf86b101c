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
