package errmon

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// The functions of this file match the secretPatterns at the start of a
// text. Each one returns what FindStringSubmatchIndex of the regular
// expression in its comment returns. The regexp package's backtracker
// clears a bit for every instruction and byte of the rest of the text at
// each try, which made a message with a key cost microseconds to redact.

// credentialPattern is the regular expression of a credential's name and
// value. It stays a regular expression because its alternatives and
// optional parts are many, but matchCredential runs it only where the name
// is followed by ':' or '='.
var credentialPattern = regexp.MustCompile(`^(?i)((?:api[-_]?key|authorization|access[-_]?token|refresh[-_]?token|secret)["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token)\s+)?[^\s"',;&}]+`)

// matchCredential matches credentialPattern.
func matchCredential(s string) []int {
	if !mayAssignCredential(s) {
		return nil
	}
	return credentialPattern.FindStringSubmatchIndex(s)
}

// credentialNames are the names of credentialPattern: a head and, after an
// optional '-' or '_', a tail.
var credentialNames = [...]struct{ head, tail string }{
	{"api", "key"},
	{"authorization", ""},
	{"access", "token"},
	{"refresh", "token"},
	{"secret", ""},
}

// mayAssignCredential reports whether credentialPattern may match at the
// start of s, because s starts with a credential's name, an optional quote,
// optional space and ':' or '='. The name ends within the first 24 bytes.
// When a non-ASCII byte occurs there, it returns true and leaves the text
// to the regular expression, whose case folding matches the Kelvin sign
// (U+212A) to the 'k' of "key" and "token".
func mayAssignCredential(s string) bool {
	for i := 0; i < len(s) && i < 24; i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}

	n := credentialNameEnd(s)
	if n < 0 {
		return false
	}
	if n < len(s) && (s[n] == '"' || s[n] == '\'') {
		n++
	}
	n = skipSpace(s, n)
	return n < len(s) && (s[n] == ':' || s[n] == '=')
}

// credentialNameEnd returns the length of the credential name that s starts
// with, comparing ASCII letters without regard to case, or -1.
func credentialNameEnd(s string) int {
	for _, name := range credentialNames {
		if !hasPrefixFold(s, name.head) {
			continue
		}
		n := len(name.head)
		if name.tail == "" {
			return n
		}
		if n < len(s) && (s[n] == '-' || s[n] == '_') && hasPrefixFold(s[n+1:], name.tail) {
			return n + 1 + len(name.tail)
		}
		if hasPrefixFold(s[n:], name.tail) {
			return n + len(name.tail)
		}
	}
	return -1
}

// matchBearer matches
//
//	^(?i)(bearer\s+)[a-z0-9._~+/-]+=*
func matchBearer(s string) []int {
	if !hasPrefixFold(s, "bearer") {
		return nil
	}
	keep := skipSpace(s, len("bearer"))
	if keep == len("bearer") {
		return nil
	}
	end := skipRunes(s, keep, isBearerTokenRune)
	if end == keep {
		return nil
	}
	for end < len(s) && s[end] == '=' {
		end++
	}
	return []int{0, end, 0, keep}
}

// isBearerTokenRune reports whether r is in the class (?i)[a-z0-9._~+/-].
func isBearerTokenRune(r rune) bool {
	return r >= '0' && r <= '9' || isASCIILetterFold(r) ||
		r == '.' || r == '_' || r == '~' || r == '+' || r == '/' || r == '-'
}

// matchOpenAIKey matches
//
//	^sk-[A-Za-z0-9_*-]{16,}
func matchOpenAIKey(s string) []int {
	const prefix = "sk-"
	if !strings.HasPrefix(s, prefix) {
		return nil
	}
	end := len(prefix)
	for end < len(s) && (isASCIILetterOrDigit(s[end]) || s[end] == '_' || s[end] == '*' || s[end] == '-') {
		end++
	}
	if end-len(prefix) < 16 {
		return nil
	}
	return []int{0, end}
}

// matchGoogleKey matches
//
//	^AIza[0-9A-Za-z_-]{35}
func matchGoogleKey(s string) []int {
	const prefix, length = "AIza", 4 + 35
	if !strings.HasPrefix(s, prefix) || len(s) < length {
		return nil
	}
	for i := len(prefix); i < length; i++ {
		if !isASCIILetterOrDigit(s[i]) && s[i] != '_' && s[i] != '-' {
			return nil
		}
	}
	return []int{0, length}
}

// matchPrefixedKey matches
//
//	^(?:gsk_|hf_|xai-)[A-Za-z0-9]{20,}
func matchPrefixedKey(s string) []int {
	for _, prefix := range [...]string{"gsk_", "hf_", "xai-"} {
		if !strings.HasPrefix(s, prefix) {
			continue
		}
		end := len(prefix)
		for end < len(s) && isASCIILetterOrDigit(s[end]) {
			end++
		}
		if end-len(prefix) < 20 {
			return nil
		}
		return []int{0, end}
	}
	return nil
}

// isASCIILetterOrDigit reports whether c is in [A-Za-z0-9].
func isASCIILetterOrDigit(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c)
}
