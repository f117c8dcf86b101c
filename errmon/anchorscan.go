package errmon

import (
	"fmt"
	"strings"
)

// anchorScan finds in one pass over a text which patterns of a list have an
// anchor in it. A pattern without an anchor in a text cannot match it, so
// Redact runs only the patterns that the scan reports, and none for most
// provider messages.
type anchorScan struct {
	// first and second have, for each byte, the bits of the patterns with
	// an anchor whose first or second byte it is, in either case. A pair
	// of bytes whose masks share no bit starts no anchor, which rules out
	// most positions of a text with two table lookups.
	first, second [256]uint64
	// byFirst lists, for each byte, the anchors that start with it in
	// either case.
	byFirst [256][]scanAnchor
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
//   - at most 64 patterns, each with at least one anchor;
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
			for _, c := range bothCases(anchor[0]) {
				scan.first[c] |= bit
				scan.byFirst[c] = append(scan.byFirst[c], scanAnchor{text: anchor, bit: bit})
			}
			for _, c := range bothCases(anchor[1]) {
				scan.second[c] |= bit
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
	if len(s) < 2 {
		return 0
	}
	var found uint64
	prev := a.first[s[0]] // the patterns with an anchor that may start at i-1
	for i := 1; i < len(s); i++ {
		c := s[i]
		if prev&a.second[c]&^found != 0 {
			found |= a.anchorsAt(s[i-1:], found)
			if found == a.all {
				return found
			}
		}
		prev = a.first[c]
	}
	return found
}

// anchorsAt returns the bits of the patterns, not yet in found, with an
// anchor at the start of s.
func (a *anchorScan) anchorsAt(s string, found uint64) uint64 {
	var bits uint64
	for _, anchor := range a.byFirst[s[0]] {
		if (found|bits)&anchor.bit == 0 && hasPrefixFold(s, anchor.text) {
			bits |= anchor.bit
		}
	}
	return bits
}

// anchoredPatterns returns the bits of the secretPatterns that have an
// anchor in s.
func anchoredPatterns(s string) uint64 {
	return secretScan.patterns(s)
}
