package errmon

import (
	"context"
	"sync"
	"sync/atomic"
)

// asyncQueue hands items to handle, in order, on one goroutine. The
// goroutine starts when an item arrives and ends when the queue is empty,
// so an idle queue holds no goroutine and needs no Close. Pushing never
// blocks: when limit items are waiting, the new item is dropped and
// counted.
type asyncQueue[T any] struct {
	handle func(T)
	limit  int

	mu      sync.Mutex
	items   []T
	running bool
	idle    chan struct{} // closed when the running goroutine ends

	dropped atomic.Int64
}

func newAsyncQueue[T any](limit int, handle func(T)) *asyncQueue[T] {
	return &asyncQueue[T]{handle: handle, limit: limit}
}

// push queues item and returns true, or drops it and returns false when
// the queue is full.
func (q *asyncQueue[T]) push(item T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()

	if len(q.items) >= q.limit {
		q.dropped.Add(1)
		return false
	}
	q.items = append(q.items, item)
	if !q.running {
		q.running = true
		q.idle = make(chan struct{})
		go q.run()
	}
	return true
}

// run handles items until the queue is empty. handle must not panic, or
// the queue stops for good.
func (q *asyncQueue[T]) run() {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.running = false
			close(q.idle)
			q.mu.Unlock()
			return
		}
		item := q.items[0]
		var zero T
		q.items[0] = zero // let the item be collected once handled
		q.items = q.items[1:]
		q.mu.Unlock()

		q.handle(item)
	}
}

// flush waits until every queued item has been handled and returns nil,
// or returns ctx.Err() when ctx is done first.
func (q *asyncQueue[T]) flush(ctx context.Context) error {
	q.mu.Lock()
	if !q.running {
		q.mu.Unlock()
		return nil
	}
	idle := q.idle
	q.mu.Unlock()

	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
