package usage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// lostReplyStore commits every batch, but fails the first attempt of each
// as if the reply to its commit had been lost. It skips a batch whose ID
// it has committed, and records the IDs it saw.
type lostReplyStore struct {
	usage.MemoryStore
	mu        sync.Mutex
	committed map[usage.BatchID]bool
	attempts  map[usage.BatchID]int
	records   int
	noID      int
}

func (s *lostReplyStore) Write(ctx context.Context, records []usage.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := usage.BatchIDFrom(ctx)
	if !ok {
		s.noID++
		s.records += len(records)
		return nil
	}
	s.attempts[id]++
	if s.committed[id] {
		return nil
	}
	s.committed[id] = true
	s.records += len(records)
	return errors.New("connection lost after COMMIT")
}

// TestRetriedBatchKeepsItsID checks that every attempt at a batch carries
// the same BatchID, so a store that committed an attempt whose reply was
// lost stores the batch once.
func TestRetriedBatchKeepsItsID(t *testing.T) {
	store := &lostReplyStore{committed: map[usage.BatchID]bool{}, attempts: map[usage.BatchID]int{}}
	tr := usage.NewTracker(store, usage.WithBatchSize(64), usage.WithRetryBackoff(func(int) time.Duration { return 0 }))
	const n = 1000
	rec := usage.Record{Time: time.Now().UTC(), Call: usage.Call{Endpoint: "e", Provider: "p", Model: "m"}}
	for i := 0; i < n; i++ {
		tr.Record(rec)
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	store.mu.Lock()
	defer store.mu.Unlock()
	if store.noID != 0 {
		t.Errorf("%d writes carried no batch ID", store.noID)
	}
	if store.records != n {
		t.Errorf("store holds %d records, want %d", store.records, n)
	}
	for id, a := range store.attempts {
		if a != 2 {
			t.Errorf("batch %s was attempted %d times, want 2", id, a)
		}
	}
	if st := tr.Stats(); st.Written != n || st.Dropped != 0 {
		t.Errorf("stats = %+v, want %d written and none dropped", st, n)
	}
}

func TestBatchIDFromContext(t *testing.T) {
	if _, ok := usage.BatchIDFrom(context.Background()); ok {
		t.Error("a bare context carries a batch ID")
	}
	id := usage.BatchID{1, 2, 3}
	got, ok := usage.BatchIDFrom(usage.WithBatchID(context.Background(), id))
	if !ok || got != id {
		t.Errorf("BatchIDFrom = %v, %v, want %v, true", got, ok, id)
	}
	if s := id.String(); s != "01020300000000000000000000000000" {
		t.Errorf("String = %q", s)
	}
}
