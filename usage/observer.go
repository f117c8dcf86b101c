package usage

import "context"

// Observer sees every call a Tracker measures, as it happens: exporters use
// it to open a trace span around the call and to update live metrics.
//
// StartCall runs before the wrapped function, on the caller's goroutine, and
// returns the context the function gets, so a span it starts becomes the
// parent of whatever the function does. EndCall runs once per StartCall,
// after the call, with the context StartCall returned and the priced record.
// Both must be safe for concurrent use and fast: they add to every call's
// latency. EndCall must not keep r after it returns.
type Observer interface {
	StartCall(ctx context.Context, call Call) context.Context
	EndCall(ctx context.Context, r *Record)
}

// WithObserver adds an observer. Observers are called in the order they
// were added. The default is none.
func WithObserver(o Observer) TrackerOption {
	return func(t *Tracker) { t.observers = append(t.observers, o) }
}

// startCall runs every observer's StartCall.
func (t *Tracker) startCall(ctx context.Context, call Call) context.Context {
	for _, o := range t.observers {
		ctx = o.StartCall(ctx, call)
	}
	return ctx
}

// emit prices r, shows it to the observers and queues it.
func (t *Tracker) emit(ctx context.Context, r *Record) {
	t.price(r)
	if len(t.observers) > 0 {
		// Observers get a copy: handing them r would move every record
		// to the heap, observed or not.
		c := *r
		for _, o := range t.observers {
			o.EndCall(ctx, &c)
		}
	}
	t.enqueue(r)
}
