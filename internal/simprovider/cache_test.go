package simprovider

import "testing"

func TestPromptCacheLookup(t *testing.T) {
	t.Parallel()
	a := []prefix{{tokens: 100, hash: 1}, {tokens: 150, hash: 2}}
	aLonger := []prefix{{tokens: 100, hash: 1}, {tokens: 150, hash: 2}, {tokens: 300, hash: 3}}
	bSharedStart := []prefix{{tokens: 100, hash: 1}, {tokens: 180, hash: 4}}

	tests := []struct {
		name                 string
		minTokens, increment int
		sequence             [][]prefix
		want                 []int
	}{
		{name: "repeat", increment: 1, sequence: [][]prefix{a, a}, want: []int{0, 150}},
		{name: "conversation grows", increment: 1, sequence: [][]prefix{a, aLonger, aLonger}, want: []int{0, 150, 300}},
		{name: "shared first message", increment: 1, sequence: [][]prefix{a, bSharedStart}, want: []int{0, 100}},
		{name: "increment rounds down", increment: 64, sequence: [][]prefix{a, a}, want: []int{0, 128}},
		{name: "below minimum", minTokens: 200, increment: 1, sequence: [][]prefix{a, a, aLonger, aLonger}, want: []int{0, 0, 0, 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newPromptCache(100)
			for i, prefixes := range tt.sequence {
				if got := c.lookupAndStore(prefixes, tt.minTokens, tt.increment); got != tt.want[i] {
					t.Errorf("request %d: cached = %d, want %d", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestPromptCacheEviction(t *testing.T) {
	t.Parallel()
	c := newPromptCache(2)
	for _, hash := range []uint64{1, 2, 3} {
		c.lookupAndStore([]prefix{{tokens: 10, hash: hash}}, 0, 1)
	}

	// Hash 1 was stored first, so the third store forgot it.
	if got := c.lookupAndStore([]prefix{{tokens: 10, hash: 1}}, 0, 1); got != 0 {
		t.Errorf("cached after eviction = %d, want 0", got)
	}
	if got := c.lookupAndStore([]prefix{{tokens: 10, hash: 3}}, 0, 1); got != 10 {
		t.Errorf("cached for a kept prefix = %d, want 10", got)
	}
	if len(c.seen) != 2 {
		t.Errorf("cache holds %d entries, want at most 2", len(c.seen))
	}
}
