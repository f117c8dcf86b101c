package errmon

import (
	"crypto/rand"
	"sync"

	"github.com/google/uuid"
)

// eventIDBatch is the number of event IDs whose random bytes are read from
// crypto/rand at once.
const eventIDBatch = 64

// eventIDs generates the random version 4 UUIDs of events. It reads their
// random bytes from crypto/rand in batches, as uuid.EnableRandPool does for
// the whole process, which saves a read per event and leaves the uuid
// package's global setting alone. The bytes kept for the next IDs need no
// guarding, because event IDs are shown in logs and dashboards anyway. The
// zero eventIDs is ready to use.
type eventIDs struct {
	mu     sync.Mutex
	random [eventIDBatch * 16]byte
	left   int // bytes of random not taken yet, at its start
}

// newID returns a new random UUID as text.
func (g *eventIDs) newID() string {
	var id uuid.UUID
	g.mu.Lock()
	if g.left == 0 {
		if _, err := rand.Read(g.random[:]); err != nil {
			g.mu.Unlock()
			// uuid.NewString reads crypto/rand once more and panics
			// when that fails too.
			return uuid.NewString()
		}
		g.left = len(g.random)
	}
	g.left -= len(id)
	copy(id[:], g.random[g.left:])
	g.mu.Unlock()

	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // variant 10, RFC 9562
	return id.String()
}
