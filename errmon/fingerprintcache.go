package errmon

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// Bounds of a Monitor's fingerprint cache. An entry holds at most
// maxFingerprintKeyBytes of text, a 32-byte fingerprint and about 150
// bytes of headers, so the cache of a Monitor takes less than 300 KB.
const (
	// fingerprintCacheSlots is the number of fingerprints a Monitor keeps.
	fingerprintCacheSlots = 128
	// maxFingerprintKeyBytes is the longest text of a key (category,
	// code, message and function names together) whose fingerprint is
	// kept. A longer key's fingerprint is computed each time.
	maxFingerprintKeyBytes = 2048
)

// fingerprintKey is the input of a fingerprint: the arguments of
// fingerprintInput, with the function names of the frames that it reads.
// Its texts are redacted.
type fingerprintKey struct {
	category  Category
	status    int
	code      string
	message   string
	functions [fingerprintFrames]string
	frames    int // number of functions set
}

// fingerprintEntry is a key and its fingerprint, which do not change once
// the entry is stored.
type fingerprintEntry struct {
	key         fingerprintKey
	fingerprint string
}

// fingerprintCache keeps the fingerprints of a Monitor's recent events. A
// service's errors repeat, and a repeat skips normalizing its message and
// hashing it with SHA-256. The cache compares whole keys, so two keys never
// share a fingerprint because their hashes collide.
type fingerprintCache struct {
	seed  maphash.Seed
	slots [fingerprintCacheSlots]atomic.Pointer[fingerprintEntry]
}

func newFingerprintCache() *fingerprintCache {
	return &fingerprintCache{seed: maphash.MakeSeed()}
}

// newFingerprintKey returns the key of the fingerprint that
// fingerprintInput and fingerprintOf compute from the same arguments.
func newFingerprintKey(category Category, status int, code, message string, stack []Frame) fingerprintKey {
	k := fingerprintKey{category: category, status: status, code: code, message: message}
	for k.frames < len(stack) && k.frames < fingerprintFrames {
		k.functions[k.frames] = stack[k.frames].Function
		k.frames++
	}
	return k
}

// size returns the number of bytes of text in k.
func (k *fingerprintKey) size() int {
	n := len(k.category) + len(k.code) + len(k.message)
	for _, f := range k.functions[:k.frames] {
		n += len(f)
	}
	return n
}

// hash returns a hash of k under seed. It reads the innermost function
// only, because the message and the innermost function already tell most
// keys apart and the cache compares whole keys anyway.
func (k *fingerprintKey) hash(seed maphash.Seed) uint64 {
	const prime = 1099511628211
	h := maphash.String(seed, k.message)
	h = (h ^ maphash.String(seed, k.code)) * prime
	h = (h ^ maphash.String(seed, string(k.category))) * prime
	h = (h ^ uint64(k.status)) * prime
	if k.frames > 0 {
		h = (h ^ maphash.String(seed, k.functions[0])) * prime
	}
	return h
}

// clone returns a copy of k whose code and message share no memory with
// k's, so that a cached key does not keep a larger text alive, such as the
// error text that a message was cut from. The function names need no copy:
// they come from the runtime or from Monitor.panicStack, which copies them.
func (k fingerprintKey) clone() fingerprintKey {
	k.code = strings.Clone(k.code)
	k.message = strings.Clone(k.message)
	return k
}

// fingerprint returns the fingerprint of key, from the cache when it has
// one. onInput, unless nil, receives the bytes that a fingerprint not in
// the cache hashes.
func (c *fingerprintCache) fingerprint(key fingerprintKey, onInput func([]byte)) string {
	if key.size() > maxFingerprintKeyBytes {
		return computeFingerprint(key, onInput)
	}

	i, j := slotsOf(key.hash(c.seed), fingerprintCacheSlots)
	for _, slot := range [2]int{i, j} {
		if e := c.slots[slot].Load(); e != nil && e.key == key {
			return e.fingerprint
		}
	}

	fingerprint := computeFingerprint(key, onInput)
	storeSlot(c.slots[:], i, j, &fingerprintEntry{key: key.clone(), fingerprint: fingerprint})
	return fingerprint
}

// computeFingerprint returns the fingerprint of key without the cache,
// passing the bytes it hashes to onInput unless onInput is nil.
func computeFingerprint(key fingerprintKey, onInput func([]byte)) string {
	input := key.input()
	if onInput != nil {
		onInput(input)
	}
	return fingerprintOf(input)
}
