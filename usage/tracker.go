package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aimeter/aimeter/errmon"
)

// FullPolicy says what Tracker does with a record when its queue is full.
type FullPolicy int

const (
	// DropWhenFull drops the record and counts it in TrackerStats.Dropped,
	// so a stalled store never slows the caller. It is the default.
	DropWhenFull FullPolicy = iota
	// WaitWhenFull waits up to the tracker's wait bound for room in the
	// queue, then drops and counts the record.
	WaitWhenFull
)

// Log attribute keys used by the tracker.
const (
	logKeyError   = "error"
	logKeyRecords = "records"
	logKeyAttempt = "attempt"
)

// Tracker measures provider calls and hands their records to a Store.
//
// Records go through a bounded queue to one background writer that writes
// them in batches, so a slow or failing store adds no latency to the call
// and never fails it. A batch the store rejects is retried with backoff
// until it is written; meanwhile new records wait in the queue, and those
// the full queue cannot hold are dropped and counted. Call Close to write
// what is queued and stop the writer.
//
// A Tracker is safe for concurrent use.
type Tracker struct {
	store       Store
	prices      *Table
	monitor     *errmon.Monitor
	now         func() time.Time
	customClock bool // now is not time.Now, so it is read apart from the monotonic start
	logger      *slog.Logger
	policy      FullPolicy
	wait        time.Duration
	batchSize   int
	backoff     func(attempt int) time.Duration
	observers   []Observer

	queue chan Record
	// writeCtx is the context of every store write; Close cancels it
	// when it gives up waiting, so a write to a stalled store ends.
	writeCtx     context.Context
	cancelWrites context.CancelFunc
	flushes      chan chan struct{}
	quit         chan struct{}
	done         chan struct{}

	// anchor is a wall-clock reading that carries its monotonic reading.
	// Calls are stamped with the anchor plus the monotonic time since it,
	// which reads the clock once where time.Now reads it twice. The anchor
	// is renewed once it is anchorAge old, so a step of the system clock
	// reaches the stamps within that time.
	anchor atomic.Pointer[time.Time]

	closeOnce sync.Once
	closed    atomic.Bool
	abandoned atomic.Bool // Close gave up waiting: queued records are dropped, not written
	written   atomic.Int64
	dropped   atomic.Int64
	inFlight  atomic.Int64 // records the writer took from the queue and has not written or dropped yet
}

// defaultBatchSize is the batch size of a tracker whose store states no
// preference.
const defaultBatchSize = 512

// BatchSizer is implemented by a Store that writes fastest in batches of
// a particular size, such as a database that pays a round trip and a
// transaction per batch. NewTracker uses that size unless WithBatchSize
// sets one.
type BatchSizer interface {
	// PreferredBatchSize returns the batch size, more than 0.
	PreferredBatchSize() int
}

// TrackerOption configures a Tracker.
type TrackerOption func(*Tracker)

// WithPrices sets the price table. The default is DefaultTable().
func WithPrices(t *Table) TrackerOption { return func(tr *Tracker) { tr.prices = t } }

// WithMonitor sends every call to m: failures as events with their stack
// and a redacted message, successes as counts for its error rates and
// alert rules. The default is no monitor.
func WithMonitor(m *errmon.Monitor) TrackerOption { return func(tr *Tracker) { tr.monitor = m } }

// WithClock sets the wall clock that stamps records. Latency is always
// measured with the monotonic clock. The default is time.Now.
func WithClock(now func() time.Time) TrackerOption {
	return func(tr *Tracker) { tr.now, tr.customClock = now, true }
}

// WithLogger sets the logger for store failures. The default discards.
func WithLogger(l *slog.Logger) TrackerOption { return func(tr *Tracker) { tr.logger = l } }

// WithQueueSize sets how many records may wait for the store. Each queued
// record takes about 250 bytes, and the queue is allocated up front. The
// default is 16,384, about 4 MiB.
func WithQueueSize(n int) TrackerOption {
	return func(tr *Tracker) {
		if n > 0 {
			tr.queue = make(chan Record, n)
		}
	}
}

// WithBatchSize sets the largest batch handed to Store.Write. The default
// is the store's PreferredBatchSize when it implements BatchSizer, else
// 512.
func WithBatchSize(n int) TrackerOption {
	return func(tr *Tracker) {
		if n > 0 {
			tr.batchSize = n
		}
	}
}

// WithFullPolicy sets what happens when the queue is full; for
// WaitWhenFull, wait bounds the wait. The default is DropWhenFull.
func WithFullPolicy(p FullPolicy, wait time.Duration) TrackerOption {
	return func(tr *Tracker) { tr.policy, tr.wait = p, wait }
}

// WithRetryBackoff sets the wait before the attempt-th retry of a batch the
// store rejected. The default doubles from 50 ms up to 1 s, so a store that
// comes back is written to again within a second while the queue fills.
func WithRetryBackoff(f func(attempt int) time.Duration) TrackerOption {
	return func(tr *Tracker) { tr.backoff = f }
}

// NewTracker returns a tracker writing to store and starts its writer.
// It panics if store is nil, which is a programmer mistake.
func NewTracker(store Store, opts ...TrackerOption) *Tracker {
	if store == nil {
		panic("usage: NewTracker with a nil store")
	}
	t := &Tracker{
		store:   store,
		now:     time.Now,
		logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		backoff: defaultBackoff,
		flushes: make(chan chan struct{}),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, o := range opts {
		o(t)
	}
	if t.queue == nil {
		t.queue = make(chan Record, 16384)
	}
	if t.batchSize == 0 {
		t.batchSize = defaultBatchSize
		if bs, ok := store.(BatchSizer); ok && bs.PreferredBatchSize() > 0 {
			t.batchSize = bs.PreferredBatchSize()
		}
	}
	if t.prices == nil {
		t.prices = DefaultTable()
	}
	now := time.Now()
	t.anchor.Store(&now)
	t.writeCtx, t.cancelWrites = context.WithCancel(context.Background())
	go t.run()
	return t
}

func defaultBackoff(attempt int) time.Duration {
	const first, most = 50 * time.Millisecond, time.Second
	if attempt > 5 {
		return most
	}
	return min(first<<uint(attempt), most)
}

// anchorAge is how long a clock anchor is used before it is renewed.
const anchorAge = time.Second

// stopwatch measures a call's latency on the monotonic clock.
type stopwatch struct {
	base  *time.Time // the anchor the offsets count from
	start time.Duration
}

// elapsed returns the monotonic time since the stopwatch started.
func (w stopwatch) elapsed() time.Duration { return time.Since(*w.base) - w.start }

// startClock starts a stopwatch and returns it with the wall-clock time
// the call starts at: the tracker's clock when WithClock set one, else the
// anchor plus the monotonic time since it.
func (t *Tracker) startClock() (stopwatch, time.Time) {
	base := t.anchor.Load()
	off := time.Since(*base)
	if off >= anchorAge || off < 0 {
		now := time.Now()
		t.anchor.Store(&now)
		base, off = &now, 0
	}
	if t.customClock {
		return stopwatch{base, off}, t.now()
	}
	// time.Unix costs less than base.Add, which also moves the monotonic
	// reading that the stamp does not keep.
	return stopwatch{base, off}, time.Unix(0, base.UnixNano()+int64(off))
}

// Prices returns the tracker's price table.
func (t *Tracker) Prices() *Table { return t.prices }

// Stats returns the tracker's counters. They are read one after another
// while records move between them, so the sum of Written, Dropped and
// Pending may be off by a batch while the writer works. The sum is exact
// once Flush or Close has returned nil.
func (t *Tracker) Stats() TrackerStats {
	return TrackerStats{Written: t.written.Load(), Dropped: t.dropped.Load(), Pending: int64(len(t.queue)) + t.inFlight.Load()}
}

// Record prices r when its usage is known and it is not priced yet, then
// queues it for the store. It never blocks longer than the full-queue
// policy allows and never fails; a record that cannot be queued is counted
// as dropped.
//
// Record is for calls measured by other means; observers do not see them.
func (t *Tracker) Record(r Record) {
	t.price(&r)
	t.enqueue(&r)
}

// price fills in the cost of r when its usage is known and its call or its
// model has a price.
func (t *Tracker) price(r *Record) {
	if !r.UsageKnown || r.Priced {
		return
	}
	if p := r.Call.Price; p != nil {
		r.CostNanos = p.Cost(r.Tokens)
		r.Priced = true
		return
	}
	if p, _, ok := t.prices.lookup(r.Call.Model); ok {
		r.CostNanos = p.Cost(r.Tokens)
		r.Priced = true
	}
}

// enqueue queues r for the writer under the full-queue policy.
func (t *Tracker) enqueue(r *Record) {
	if t.closed.Load() {
		t.dropped.Add(1)
		return
	}

	select {
	case t.queue <- *r:
		return
	default:
	}
	if t.policy == WaitWhenFull && t.wait > 0 {
		timer := time.NewTimer(t.wait)
		defer timer.Stop()
		select {
		case t.queue <- *r:
			return
		case <-timer.C:
		}
	}
	t.dropped.Add(1)
}

// Flush waits until every record queued before the call is written or
// dropped, or ctx is done.
func (t *Tracker) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case t.flushes <- ack:
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush: %w", ctx.Err())
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush: %w", ctx.Err())
	}
}

// Close writes every queued record and stops the writer. Records given to
// the tracker after Close are dropped and counted. When ctx ends first,
// Close returns its error, cancels the context of the store write under
// way and stops the writer. Records still queued are counted as dropped.
// The batch being written is counted as pending until the store returns,
// because it may still land. Close does not close the store. Calling
// Close again returns nil.
func (t *Tracker) Close(ctx context.Context) error {
	var err error
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		close(t.quit)
		select {
		case <-t.done:
		case <-ctx.Done():
			t.abandoned.Store(true)
			t.cancelWrites()
			t.dropQueued()
			err = fmt.Errorf("close tracker: %w", ctx.Err())
		}
	})
	return err
}

// lingerTime is how long the writer lets records gather after it emptied
// the queue. A writer that waits on the empty queue must be woken by the
// next call, and waking it costs that call more than the rest of its
// tracking. While the writer lingers, calls only copy their records into
// the queue. Flush and Close end a linger at once.
const lingerTime = time.Millisecond

// run is the writer loop: it gathers batches from the queue and writes
// them until quit, then drains the queue.
func (t *Tracker) run() {
	defer close(t.done)
	defer t.cancelWrites()
	batch := make([]Record, 0, t.batchSize)
	linger := time.NewTimer(lingerTime)
	stopTimer(linger)
	for {
		select {
		case r := <-t.queue:
			t.inFlight.Add(1)
			batch = t.fill(append(batch[:0], r))
			t.writeInFlight(batch)
			if len(batch) < t.batchSize {
				t.linger(linger, batch)
			}
		case ack := <-t.flushes:
			t.drain(batch)
			close(ack)
		case <-t.quit:
			t.drain(batch)
			return
		}
	}
}

// linger waits lingerTime, or less when a flush or Close comes first; a
// flush is served before linger returns. batch lends its storage.
func (t *Tracker) linger(timer *time.Timer, batch []Record) {
	timer.Reset(lingerTime)
	select {
	case <-timer.C:
		return
	case ack := <-t.flushes:
		t.drain(batch)
		close(ack)
	case <-t.quit:
	}
	stopTimer(timer)
}

// stopTimer stops timer and empties its channel, so that it can be Reset.
func stopTimer(timer *time.Timer) {
	if !timer.Stop() {
		select {
		case <-timer.C:
		default:
		}
	}
}

// dropQueued counts every record still in the queue as dropped.
func (t *Tracker) dropQueued() {
	for {
		select {
		case <-t.queue:
			t.dropped.Add(1)
		default:
			return
		}
	}
}

// fill adds queued records to batch without waiting, up to the batch size.
func (t *Tracker) fill(batch []Record) []Record {
	for len(batch) < t.batchSize {
		select {
		case r := <-t.queue:
			t.inFlight.Add(1)
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain writes everything in the queue now.
func (t *Tracker) drain(batch []Record) {
	for len(t.queue) > 0 {
		batch = t.fill(batch[:0])
		t.writeInFlight(batch)
	}
}

// writeInFlight writes a batch taken from the queue, then stops counting
// it as pending. Until then Stats counts it as pending, so a record is
// never missing from the counts while the store is slow or down.
func (t *Tracker) writeInFlight(batch []Record) {
	t.write(batch)
	t.inFlight.Add(-int64(len(batch)))
}

// writeEach writes the records of a batch the store rejected one at a
// time, so only the invalid ones are dropped.
func (t *Tracker) writeEach(batch []Record, batchErr error) {
	if len(batch) == 1 {
		t.logger.Error("usage store rejected a record", logKeyError, batchErr)
		t.dropped.Add(1)
		return
	}
	for i := range batch {
		t.write(batch[i : i+1])
	}
}

// write hands one batch to the store, retrying with backoff until the
// store takes it. After quit, a batch the store keeps rejecting is given
// up after a few attempts and counted as dropped; once Close has given up
// waiting, every batch is counted as dropped without a write.
func (t *Tracker) write(batch []Record) {
	if len(batch) == 0 {
		return
	}
	if t.abandoned.Load() {
		t.dropped.Add(int64(len(batch)))
		return
	}
	// Every attempt carries the same ID, so a store that committed an
	// attempt whose reply was lost can tell the retry apart.
	ctx := t.writeCtx
	if id, ok := newBatchID(); ok {
		ctx = WithBatchID(ctx, id)
	}
	for attempt := 0; ; attempt++ {
		err := t.store.Write(ctx, batch)
		if err == nil {
			t.written.Add(int64(len(batch)))
			return
		}
		if errors.Is(err, ErrInvalidRecord) {
			// Retrying cannot help a batch the store finds invalid, but
			// one bad record must not cost the others: write them one by
			// one and drop only those the store rejects.
			t.writeEach(batch, err)
			return
		}
		t.logger.Warn("usage store write failed", logKeyError, err, logKeyRecords, len(batch), logKeyAttempt, attempt+1)

		quitting := false
		select {
		case <-t.quit:
			quitting = true
		default:
		}
		if t.abandoned.Load() || (quitting && attempt >= 2) {
			t.dropped.Add(int64(len(batch)))
			return
		}

		timer := time.NewTimer(t.backoff(attempt))
		select {
		case <-timer.C:
		case <-t.quit:
			timer.Stop()
		}
	}
}
