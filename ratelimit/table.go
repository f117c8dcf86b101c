package ratelimit

import "math"

// keyTable maps the keys of one shard to their GCRA states. It is an
// open-addressing hash table with linear probing over 64-byte entries, with
// backward-shift deletion, so it needs no tombstones.
//
// An entry holds a key of up to inlineKey bytes in place, so a lookup of
// such a key usually reads one cache line. Longer keys are copied into a
// byte arena that the table owns. Neither the entries nor the arena hold a
// pointer, so the garbage collector does not scan them, and inserting a key
// allocates only when the entries or the arena must grow. That is why
// refilled keys can be dropped eagerly: a key that comes back is inserted
// again without an allocation.
//
// The zero keyTable is empty and ready to use once maxArena is set. Its
// methods need the shard's mutex.
type keyTable struct {
	// slots has a power-of-two length, or is nil while the table holds no
	// arrays.
	slots []entry
	count int

	// arena holds the bytes of keys longer than inlineKey, and of deleted
	// ones until the next compaction. garbage counts those deleted bytes.
	arena   []byte
	garbage int
	// spare is the buffer that the next compaction copies the long keys
	// into, kept so that compacting an arena of stable size allocates
	// nothing.
	spare []byte
	// maxArena is the largest arena in bytes. It is a field so that tests
	// can lower it.
	maxArena int

	// hand is the slot where the next bounded sweep starts, so that
	// successive sweeps walk the whole table.
	hand int
}

// inlineKey is the longest key, in bytes, that an entry holds in place. It
// fills the entry to 64 bytes, and covers IPv4 addresses, most IPv6
// addresses and the hex hashes of KeyByHeader.
const inlineKey = 36

// entry is one slot of a keyTable.
type entry struct {
	st state
	// hash is the key's hash32, never zero, or zero when the slot is
	// empty.
	hash   uint32
	keyLen uint32
	// keyOff locates a key longer than inlineKey in the arena.
	keyOff uint32
	key    [inlineKey]byte
}

const (
	// minSlots is the smallest slot array a table allocates.
	minSlots = 16

	// maxSlots bounds the slot array so that home slots, taken from 31
	// bits of the hash, spread over all of it, and its length fits in int
	// on 32-bit platforms.
	maxSlots = 1 << 30

	// minArena is the smallest arena, in bytes, that a table allocates.
	minArena = 256

	// defaultMaxArena keeps arena offsets and lengths within uint32, and
	// the arena's size within int on 32-bit platforms: 2 GiB of long keys
	// per shard.
	defaultMaxArena = math.MaxInt32
)

// hash32 returns the 32 bits of a key's 64-bit hash that its entry stores:
// those below the shardBits that pick the shard, with the lowest bit set so
// that the result is never zero.
func hash32(hash uint64) uint32 { return uint32(hash>>(32-shardBits)) | 1 }

// home returns the slot where the probe for a key with hash32 h starts. It
// skips the lowest bit of h, which hash32 sets.
func (t *keyTable) home(h uint32) int {
	return int(h>>1) & (len(t.slots) - 1)
}

// keyOf returns the bytes of e's key. They share the entry or the arena, so
// they are valid only until the table changes.
func (t *keyTable) keyOf(e *entry) []byte {
	if e.keyLen <= inlineKey {
		return e.key[:e.keyLen]
	}
	return t.arena[e.keyOff : e.keyOff+e.keyLen]
}

// lookup returns the slot that holds key, and whether the key is present.
func (t *keyTable) lookup(key string, hash uint64) (int, bool) {
	return t.lookup32(key, hash32(hash))
}

// lookup32 is lookup for a key whose hash32 is h.
func (t *keyTable) lookup32(key string, h uint32) (int, bool) {
	if t.count == 0 {
		return 0, false
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		e := &t.slots[i]
		if e.hash == 0 {
			return i, false
		}
		if e.hash == h && int(e.keyLen) == len(key) && string(t.keyOf(e)) == key {
			return i, true
		}
	}
}

// fits reports whether key can join the table: the slot array may still
// grow, and a key too long to be held in place fits in the arena.
func (t *keyTable) fits(key string) bool {
	if t.count >= maxLoad(maxSlots) {
		return false
	}
	return len(key) <= inlineKey || len(key) <= t.maxArena-(len(t.arena)-t.garbage)
}

// insert adds key, which must be absent and must fit, with state st. When
// the table is full, it first drops the keys that have refilled at time
// now, and then resizes the slot array if needed.
func (t *keyTable) insert(key string, hash uint64, st state, now int64) {
	if t.count >= maxLoad(len(t.slots)) {
		t.sweep(now, -1)
		t.resize()
	}
	if len(t.slots) == 0 {
		t.rebuild(minSlots)
	}

	// A long key goes to the arena before the slot is taken, because
	// making room in the arena rewrites the offsets of occupied slots.
	off := 0
	if len(key) > inlineKey {
		t.reserve(len(key))
		off = len(t.arena)
		t.arena = append(t.arena, key...)
	}

	h := hash32(hash)
	mask := len(t.slots) - 1
	i := t.home(h)
	for t.slots[i].hash != 0 {
		i = (i + 1) & mask
	}
	e := &t.slots[i]
	e.st, e.hash, e.keyLen, e.keyOff = st, h, uint32(len(key)), uint32(off)
	if len(key) <= inlineKey {
		copy(e.key[:], key)
	}
	t.count++
}

// maxLoad returns how many keys n slots may hold: seven eighths. A fuller
// table would make probes for absent keys long, and an emptier one spreads
// the entries over more memory, which costs more cache and TLB misses when
// a shard holds many keys.
func maxLoad(n int) int { return n - n/8 }

// deleteAt empties slot i and shifts the entries after it back, so that
// every key stays reachable from its home slot.
func (t *keyTable) deleteAt(i int) {
	if n := t.slots[i].keyLen; n > inlineKey {
		t.garbage += int(n)
	}
	t.count--

	mask := len(t.slots) - 1
	hole := i
	for j := (i + 1) & mask; t.slots[j].hash != 0; j = (j + 1) & mask {
		// The entry in j may fill the hole unless its home lies cyclically
		// after the hole, where the probe for it would not pass the hole.
		if (j-t.home(t.slots[j].hash))&mask >= (j-hole)&mask {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole].hash = 0
}

// sweep examines up to limit entries, or all of them when limit < 0, drops
// the keys that have refilled at time now, and returns how many it dropped.
// A bounded sweep starts where the previous one stopped.
func (t *keyTable) sweep(now int64, limit int) int {
	if t.count == 0 {
		return 0
	}
	n := len(t.slots)
	start := 0
	if limit >= 0 {
		start = t.hand & (n - 1)
	}

	dropped, seen, step := 0, 0, 0
	for step < n && seen != limit {
		i := (start + step) & (n - 1)
		e := &t.slots[i]
		if e.hash == 0 {
			step++
			continue
		}
		seen++
		if !e.st.refilled(now) {
			step++
			continue
		}
		// deleteAt may move a later entry into slot i, so slot i is
		// examined again. An entry moved from before the start is examined
		// twice, which is harmless.
		t.deleteAt(i)
		dropped++
	}
	t.hand = (start + step) & (n - 1)
	return dropped
}

// resize fits the slot array to the count after a full sweep. It doubles
// the array when more than three quarters of it is in use, so that at least
// an eighth of it is inserted between sweeps, which pays for them. It
// shrinks the array when less than an eighth is in use, so that a table
// that emptied gives memory back.
func (t *keyTable) resize() {
	n := len(t.slots)
	switch {
	case t.count > n*3/4:
		t.rebuild(2 * n)
	case t.count < n/8 && n > minSlots:
		size := minSlots
		for size/4 < t.count {
			size *= 2
		}
		t.rebuild(size)
	}
}

// release drops every array of an empty table.
func (t *keyTable) release() {
	*t = keyTable{maxArena: t.maxArena}
}

// rebuild moves every entry into a new slot array of size slots, a power
// of two, and the long keys into a new arena that holds only them.
func (t *keyTable) rebuild(size int) {
	old := t.slots
	t.slots = make([]entry, size)
	t.hand = 0

	mask := size - 1
	for k := range old {
		e := &old[k]
		if e.hash == 0 {
			continue
		}
		i := t.home(e.hash)
		for t.slots[i].hash != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = *e
	}
	if t.arena != nil {
		t.compact(arenaSize(len(t.arena)-t.garbage, t.maxArena), false)
	}
}

// arenaSize returns the capacity to give an arena that must hold live
// bytes: twice that, so that compactions are paid for by the insertions
// between them, within minArena and maxArena.
func arenaSize(live, maxArena int) int {
	if live > maxArena/2 {
		return maxArena
	}
	return max(minArena, 2*live)
}

// reserve makes room in the arena for n more bytes, which must fit.
func (t *keyTable) reserve(n int) {
	if len(t.arena)+n <= cap(t.arena) {
		return
	}
	live := len(t.arena) - t.garbage
	size := cap(t.arena)
	if live+n > size/2 {
		size = arenaSize(live+n, t.maxArena)
	}
	t.compact(size, true)
}

// compact copies the long keys into an arena of capacity size. With
// reuseSpare set, it copies them into the spare buffer when that is large
// enough, and keeps the old arena as the next spare.
func (t *keyTable) compact(size int, reuseSpare bool) {
	var dst []byte
	if reuseSpare && cap(t.spare) >= size {
		dst = t.spare[:0]
	} else {
		dst = make([]byte, 0, size)
	}

	for k := range t.slots {
		e := &t.slots[k]
		if e.hash == 0 || e.keyLen <= inlineKey {
			continue
		}
		off := len(dst)
		dst = append(dst, t.arena[e.keyOff:e.keyOff+e.keyLen]...)
		e.keyOff = uint32(off)
	}

	t.spare = nil
	if reuseSpare {
		t.spare = t.arena[:0]
	}
	t.arena = dst
	t.garbage = 0
}
