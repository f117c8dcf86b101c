package redislimit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// DefaultPrefix starts every Redis key that a Limiter writes unless
// WithPrefix sets another prefix.
const DefaultPrefix = "aimeter:rl:"

// hashBytes is how much of the SHA-256 digest of a caller's key the Redis
// key keeps: 128 bits, written as 32 hex digits.
const hashBytes = 16

// keyLayout builds the Redis keys of one limiter:
//
//	PREFIX{HASH}:RULE
//
// HASH is the truncated SHA-256 of the caller's key, so no caller's secret
// (an API key, say) is stored in Redis. The braces make HASH the Redis
// Cluster hash tag, so every rule's key for one caller lands in the same
// slot and one script can reach them all.
type keyLayout struct {
	prefix string

	// suffixes are "}:" + the rule's name, one per rule.
	suffixes []string

	// size is the length of all of one caller's keys together.
	size int
}

func newKeyLayout(prefix string, names []string) keyLayout {
	kl := keyLayout{prefix: prefix, suffixes: make([]string, len(names))}
	for i, name := range names {
		kl.suffixes[i] = "}:" + name
		kl.size += len(prefix) + 1 + 2*hashBytes + len(kl.suffixes[i])
	}
	return kl
}

// build writes the Redis key of every rule for key into dst, which must have
// one element per rule. The keys share one string, so building them costs
// one allocation.
func (kl *keyLayout) build(key string, dst []string) {
	sum := sha256.Sum256([]byte(key))
	var tag [2 * hashBytes]byte
	hex.Encode(tag[:], sum[:hashBytes])

	var b strings.Builder
	b.Grow(kl.size)
	for _, suffix := range kl.suffixes {
		b.WriteString(kl.prefix)
		b.WriteByte('{')
		b.Write(tag[:])
		b.WriteString(suffix)
	}
	all := b.String()

	start := 0
	for i, suffix := range kl.suffixes {
		end := start + len(kl.prefix) + 1 + len(tag) + len(suffix)
		dst[i] = all[start:end]
		start = end
	}
}
