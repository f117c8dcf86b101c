package errmon

import (
	"slices"
	"sync/atomic"
)

// frameCacheSlots is the number of stacks whose frames the frame cache
// keeps. An entry holds at most 2*maxStackDepth program counters and
// maxStackDepth frames, about 2 KB, so the cache takes at most about
// 512 KB, and much less for the short stacks of most services.
const frameCacheSlots = 256

// frameCacheEntry is the result of resolveFrames for the program counters
// pcs. Neither slice changes once the entry is stored.
type frameCacheEntry struct {
	pcs    []uintptr
	frames []Frame
}

// frameCache keeps the frames of recently seen stacks. Turning program
// counters into function names, files and lines takes most of the cost of
// a stack, and a service records its errors from a few call sites, so the
// frames of a stack are resolved once and then shared. The program
// counters of a stack determine its frames within a process, so every
// Monitor shares one cache.
var frameCache [frameCacheSlots]atomic.Pointer[frameCacheEntry]

// cachedFrames returns resolveFrames(pcs), from the frame cache when the
// same program counters were resolved before. The caller must not change
// the frames, because other calls share them.
func cachedFrames(pcs []uintptr) []Frame {
	i, j := slotsOf(hashPCs(pcs), frameCacheSlots)
	for _, slot := range [2]int{i, j} {
		if e := frameCache[slot].Load(); e != nil && slices.Equal(e.pcs, pcs) {
			return e.frames
		}
	}

	// The entry keeps a copy, so that the caller's array can stay on its
	// stack.
	e := &frameCacheEntry{pcs: slices.Clone(pcs)}
	e.frames = slices.Clip(resolveFrames(e.pcs))
	storeSlot(frameCache[:], i, j, e)
	return e.frames
}

// hashPCs returns the 64-bit FNV-1a hash of pcs, taken a word at a time.
func hashPCs(pcs []uintptr) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, pc := range pcs {
		h ^= uint64(pc)
		h *= prime
	}
	return h
}
