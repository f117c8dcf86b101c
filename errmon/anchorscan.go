package errmon

import (
	"fmt"
	"math/bits"
	"strings"
)

// anchorScan finds in one pass over a text which patterns of a list have an
// anchor in it. A pattern without an anchor in a text cannot match it, so
// Redact runs only the patterns that the scan reports, and none for most
// provider messages.
type anchorScan struct {
	// first and second have, for each byte, the bits of the anchors whose
	// first or second byte it is, in either case. A pair of bytes whose
	// masks share no bit starts no anchor, which rules out most positions
	// of a text with two table lookups. Bits stand for anchors, not
	// patterns, so that a pair made of the first byte of one anchor and
	// the second byte of another rules out its position too.
	first, second [256]uint64
	// anchors lists the anchors, bit i of first and second standing for
	// anchors[i].
	anchors []scanAnchor
	// byPattern has, for each pattern bit, the bits of its anchors.
	byPattern [64]uint64
	// all has the bits of every pattern.
	all uint64
}

// scanAnchor is an anchor of the pattern whose bit is set in bit.
type scanAnchor struct {
	text string
	bit  uint64
}

// secretScan is the anchorScan of secretPatterns.
var secretScan = newAnchorScan(secretPatterns)

// newAnchorScan returns the anchorScan of patterns, where bit i stands for
// patterns[i]. It panics when patterns break a rule that Redact's skipping
// of patterns relies on, because that is a programmer mistake:
//
//   - at most 64 patterns with at most 64 anchors in all, each pattern
//     with at least one anchor;
//   - every anchor is lowercase ASCII of at least two bytes, without '['
//     or ']';
//   - no anchor occurs in Redacted with its letters lowercased.
//
// Under these rules a replacement by Redacted, whose brackets no anchor can
// contain, creates no anchor that the text did not have before. So a
// pattern without an anchor in the original text has none after the
// patterns before it have run either, and skipping it changes nothing.
func newAnchorScan(patterns []anchoredPattern) *anchorScan {
	if len(patterns) > 64 {
		panic(fmt.Sprintf("errmon: %d patterns do not fit an anchorScan of 64 bits", len(patterns)))
	}
	redacted := strings.ToLower(Redacted)
	scan := &anchorScan{}
	for i, p := range patterns {
		if len(p.anchors) == 0 {
			panic(fmt.Sprintf("errmon: pattern %d has no anchor", i))
		}
		bit := uint64(1) << i
		scan.all |= bit
		for _, anchor := range p.anchors {
			if !validAnchor(anchor) || strings.Contains(redacted, anchor) {
				panic(fmt.Sprintf("errmon: anchor %q of pattern %d is shorter than 2 bytes, not lowercase ASCII, contains a bracket or occurs in %q", anchor, i, Redacted))
			}
			if len(scan.anchors) == 64 {
				panic("errmon: the patterns have more than 64 anchors, which do not fit an anchorScan of 64 bits")
			}
			anchorBit := uint64(1) << len(scan.anchors)
			scan.anchors = append(scan.anchors, scanAnchor{text: anchor, bit: bit})
			scan.byPattern[i] |= anchorBit
			for _, c := range bothCases(anchor[0]) {
				scan.first[c] |= anchorBit
			}
			for _, c := range bothCases(anchor[1]) {
				scan.second[c] |= anchorBit
			}
		}
	}
	return scan
}

// bothCases returns c and, for a lowercase ASCII letter, its uppercase.
func bothCases(c byte) []byte {
	if c >= 'a' && c <= 'z' {
		return []byte{c, c - ('a' - 'A')}
	}
	return []byte{c}
}

// validAnchor reports whether anchor is lowercase ASCII of at least two
// bytes without '[' or ']'.
func validAnchor(anchor string) bool {
	if len(anchor) < 2 {
		return false
	}
	for i := 0; i < len(anchor); i++ {
		c := anchor[i]
		if c >= 0x80 || c >= 'A' && c <= 'Z' || c == '[' || c == ']' {
			return false
		}
	}
	return true
}

// patterns returns the bits of the patterns that have an anchor in s,
// comparing ASCII letters without regard to case.
func (a *anchorScan) patterns(s string) uint64 {
	patterns, _ := a.scan(s)
	return patterns
}

// scan returns the bits of the patterns that have an anchor in s and the
// bits of the anchors that occur in s, comparing ASCII letters without
// regard to case.
func (a *anchorScan) scan(s string) (patterns, anchors uint64) {
	if len(s) < 2 {
		return 0, 0
	}
	all := uint64(1)<<len(a.anchors) - 1
	if len(a.anchors) == 64 {
		all = ^uint64(0)
	}
	prev := a.first[s[0]] // the anchors that may start at i-1
	for i := 1; i < len(s); i++ {
		c := s[i]
		if candidates := prev & a.second[c] &^ anchors; candidates != 0 {
			found, foundPatterns := a.anchorsAt(s[i-1:], candidates)
			anchors |= found
			patterns |= foundPatterns
			if anchors == all {
				return patterns, anchors
			}
		}
		prev = a.first[c]
	}
	return patterns, anchors
}

// patternAnchors returns the bits of the anchors of patterns[i] that are
// set in anchors, bit k standing for patterns[i].anchors[k].
func (a *anchorScan) patternAnchors(i int, anchors uint64) uint64 {
	own := a.byPattern[i]
	return (anchors & own) >> bits.TrailingZeros64(own)
}

// anchorsAt returns the bits of the anchors, among those whose bits are
// set in candidates, at the start of s, and the bits of their patterns.
func (a *anchorScan) anchorsAt(s string, candidates uint64) (anchors, patterns uint64) {
	for candidates != 0 {
		k := bits.TrailingZeros64(candidates)
		candidates &^= 1 << k
		if hasPrefixFold(s, a.anchors[k].text) {
			anchors |= 1 << k
			patterns |= a.anchors[k].bit
		}
	}
	return anchors, patterns
}

// anchoredPatterns returns the bits of the secretPatterns that have an
// anchor in s.
func anchoredPatterns(s string) uint64 {
	return secretScan.patterns(s)
}
