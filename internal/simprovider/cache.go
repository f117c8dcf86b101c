package simprovider

// promptCache remembers the hashes of the prompt prefixes it has seen, up to
// a maximum number. The first stored prefix is the first forgotten. OpenAI
// matches cached prefixes token by token. This cache matches whole messages,
// so a hit covers the prompt up to the last message boundary seen before.
//
// promptCache is not safe for concurrent use: the Server guards it with its
// mutex.
type promptCache struct {
	seen  map[uint64]struct{}
	order []uint64 // ring of stored hashes, oldest at next once full
	next  int
}

func newPromptCache(maxEntries int) promptCache {
	return promptCache{
		seen:  make(map[uint64]struct{}),
		order: make([]uint64, 0, maxEntries),
	}
}

// lookupAndStore returns the cached tokens of a prompt with the given
// prefixes, then remembers the prefixes. The result is the token count of
// the longest prefix seen before, 0 when it is shorter than minTokens, and
// rounded down to a multiple of increment.
func (c *promptCache) lookupAndStore(prefixes []prefix, minTokens, increment int) int {
	cached := 0
	for _, p := range prefixes {
		if _, ok := c.seen[p.hash]; ok && p.tokens > cached {
			cached = p.tokens
		}
	}
	for _, p := range prefixes {
		c.store(p.hash)
	}

	if cached < minTokens {
		return 0
	}
	return cached / increment * increment
}

func (c *promptCache) store(hash uint64) {
	if _, ok := c.seen[hash]; ok {
		return
	}
	if len(c.order) < cap(c.order) {
		c.order = append(c.order, hash)
		c.seen[hash] = struct{}{}
		return
	}

	// Full: overwrite the oldest entry of the ring.
	delete(c.seen, c.order[c.next])
	c.order[c.next] = hash
	c.seen[hash] = struct{}{}
	c.next = (c.next + 1) % len(c.order)
}
