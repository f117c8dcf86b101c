package errmon

import "sync/atomic"

// The caches of this package are arrays of slots whose entries are never
// changed once stored, so that a lookup takes two atomic loads and no lock.
// An entry may go in either of two slots chosen by its hash, which keeps
// two frequent entries whose first slots collide from evicting each other.
// The array's fixed length bounds the cache's memory, whatever the number
// of distinct entries.

// slotsOf returns the two slots, out of n, where an entry with hash h may
// be. n must be a power of two.
func slotsOf(h uint64, n int) (int, int) {
	h = mix64(h)
	mask := uint64(n - 1)
	return int(h & mask), int((h >> 32) & mask)
}

// storeSlot stores e in the first of its slots i and j that is empty, or
// in i when both are full.
func storeSlot[E any](slots []atomic.Pointer[E], i, j int, e *E) {
	if slots[i].Load() != nil && slots[j].Load() == nil {
		i = j
	}
	slots[i].Store(e)
}

// countSlots returns the number of full slots.
func countSlots[E any](slots []atomic.Pointer[E]) int {
	n := 0
	for i := range slots {
		if slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// mix64 is the finalizer of SplitMix64, which spreads every bit of h over
// the result, so that slotsOf can take the low and the high bits.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
