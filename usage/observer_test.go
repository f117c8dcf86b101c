package usage_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

type ctxKey struct{}

// recordingObserver marks the context in StartCall and keeps what EndCall
// saw.
type recordingObserver struct {
	mu      sync.Mutex
	starts  int
	records []usage.Record
	marked  []bool
}

func (o *recordingObserver) StartCall(ctx context.Context, _ usage.Call) context.Context {
	o.mu.Lock()
	o.starts++
	o.mu.Unlock()
	return context.WithValue(ctx, ctxKey{}, true)
}

func (o *recordingObserver) EndCall(ctx context.Context, r *usage.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.records = append(o.records, *r)
	o.marked = append(o.marked, ctx.Value(ctxKey{}) == true)
}

func TestObserverSeesEveryCall(t *testing.T) {
	obs := &recordingObserver{}
	tr, _ := newTracker(t, usage.WithObserver(obs))
	call := usage.Call{Endpoint: "/own", Provider: "openai", Model: "gpt-4o-mini", Operation: "chat"}

	var sawMark bool
	_, _ = usage.TrackCall(context.Background(), tr, call, func(ctx context.Context) (ownResponse, error) {
		sawMark = ctx.Value(ctxKey{}) == true
		return ownResponse{in: 1000, out: 10}, nil
	})
	_, _ = usage.TrackCall(context.Background(), tr, call, func(context.Context) (ownResponse, error) {
		return ownResponse{}, errors.New("boom")
	})

	if !sawMark {
		t.Errorf("wrapped function did not get the observer's context")
	}
	if obs.starts != 2 || len(obs.records) != 2 {
		t.Fatalf("StartCall %d times, EndCall %d times; want 2 and 2", obs.starts, len(obs.records))
	}
	if !obs.marked[0] || !obs.marked[1] {
		t.Errorf("EndCall contexts marked = %v, want the StartCall context both times", obs.marked)
	}
	if r := obs.records[0]; !r.Priced || r.CostNanos != 1000*150+10*600 {
		t.Errorf("first record priced %v at %d, want the priced record", r.Priced, r.CostNanos)
	}
	if got := obs.records[1].Error; got != errmon.Unknown {
		t.Errorf("second record error = %q, want %q", got, errmon.Unknown)
	}
}
