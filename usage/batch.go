package usage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// BatchID identifies a batch of records that a Tracker hands to
// Store.Write. When a write fails, the tracker cannot tell whether the
// store committed the batch before the failure (a connection lost after
// COMMIT reached the database, for example), so it writes the batch again
// under the same BatchID. A store that remembers the IDs of the batches it
// committed can then skip a batch it already holds instead of counting its
// calls twice.
type BatchID [16]byte

// String returns the ID in hexadecimal.
func (id BatchID) String() string { return hex.EncodeToString(id[:]) }

// newBatchID returns a random BatchID, or false when the system's random
// source fails.
func newBatchID() (BatchID, bool) {
	var id BatchID
	if _, err := rand.Read(id[:]); err != nil {
		return BatchID{}, false
	}
	return id, true
}

// batchIDKey is the context key of a BatchID.
type batchIDKey struct{}

// WithBatchID returns a copy of ctx that carries id, as the contexts that
// a Tracker passes to Store.Write do.
func WithBatchID(ctx context.Context, id BatchID) context.Context {
	return context.WithValue(ctx, batchIDKey{}, id)
}

// BatchIDFrom returns the BatchID that ctx carries, and false when it
// carries none.
func BatchIDFrom(ctx context.Context) (BatchID, bool) {
	id, ok := ctx.Value(batchIDKey{}).(BatchID)
	return id, ok
}
