package budget

import (
	"context"
	"sync/atomic"

	"github.com/aimeter/aimeter/usage"
)

var _ usage.Observer = (*Guard)(nil)

// slotKey is the context key under which a guard finds the reservation of
// the next call it observes. Each guard has its own key.
type slotKey struct{ g *Guard }

// Slot states.
const (
	slotPending int32 = iota // no tracked call has taken the reservation yet
	slotClaimed              // a tracked call took it and settles it when it ends
	slotClosed               // it was ended without a tracked call
)

// slot carries a reservation through a context to the first tracked call
// made with that context.
type slot struct {
	res   *Reservation
	state atomic.Int32
}

// bind returns a context whose first tracked call settles res, and the
// slot that records whether one did.
func (g *Guard) bind(ctx context.Context, res *Reservation) (context.Context, *slot) {
	s := &slot{res: res}
	return context.WithValue(ctx, slotKey{g}, s), s
}

// StartCall implements usage.Observer. The first tracked call made with a
// context that carries a reservation (from TrackCall, TrackChatStream or
// Middleware) takes it, and EndCall settles it with that call's record.
// Calls made inside that call, and later calls with the same context,
// get a context without it, so that nothing settles one reservation twice
// or with another call's record.
func (g *Guard) StartCall(ctx context.Context, _ usage.Call) context.Context {
	s, _ := ctx.Value(slotKey{g}).(*slot)
	if s == nil {
		return ctx
	}
	if s.state.CompareAndSwap(slotPending, slotClaimed) {
		return ctx
	}
	return context.WithValue(ctx, slotKey{g}, (*slot)(nil))
}

// EndCall implements usage.Observer: it settles the reservation that the
// call's StartCall took, with the call's record.
func (g *Guard) EndCall(ctx context.Context, r *usage.Record) {
	s, _ := ctx.Value(slotKey{g}).(*slot)
	if s == nil || s.state.Load() != slotClaimed {
		return
	}
	// Settle logs and counts its own failures; an observer has no caller
	// to return them to.
	_ = s.res.Settle(r)
}

// close ends the slot if no tracked call took it, and reports whether it
// did so.
func (s *slot) close() bool {
	return s.state.CompareAndSwap(slotPending, slotClosed)
}
