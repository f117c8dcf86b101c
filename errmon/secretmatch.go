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
// optional parts are many, but matchCredential runs it only where
// mayAssignCredential finds a name followed by a separator.
//
// The first submatch, which Redact keeps, is the name, the quotes or
// brackets that close it, the separator and the quotes, brackets and
// spaces that open the value. Each of these may be plain, escaped (\" or
// \u0022) or URL-encoded (%22, %20 or '+' for a space). An auth scheme
// (Bearer, Basic, Token, Digest) and the value after it are replaced.
var credentialPattern = regexp.MustCompile(credentialExpression)

// credentialExpression is the source of credentialPattern.
const credentialExpression = `^(?i)(` +
	// The name. "x-api-key", "proxy-authorization", "client_secret" and
	// "OPENAI_API_KEY" match from the "api", "authorization" or "secret"
	// inside them.
	`(?:api` + credentialJoiner + `key|authorization|access` + credentialJoiner + `(?:token|key)|refresh` + credentialJoiner + `token|secret(?:` + credentialJoiner + `key)?|passw(?:or)?d|token)` +
	// What closes the name: quotes, escaped or URL-encoded, and brackets.
	`(?:\\?["'\]]|%2[27]|%5d|\\u00(?:22|27))*\s*` +
	// The separator: ':', ":=", '=', "=>", "%3A", "%3D" or a full-width
	// colon.
	`(?::=?|=>?|%3a|%3d|：)` +
	// What opens the value: spaces, quotes and brackets.
	`(?:[\s"'\[+]|\\[\\"'\[nrt]|%2[027]|%5b|\\u00(?:22|27))*)` +
	// An auth scheme and the value.
	`(?:(?:bearer|basic|token|digest)(?:\s|%20|\+)+)?[^\s"',;&}\]\\]+`

// credentialJoiner is what may stand between the two words of a
// credential's name, as in "api key", "api-key", "api.key" or "api%20key".
const credentialJoiner = `(?:[-_.\s+]|%20)?`

// matchCredential matches credentialPattern, except that it ignores a
// value that Redact has already replaced.
func matchCredential(s string) []int {
	if !mayAssignCredential(s) {
		return nil
	}
	return skipRedactedValue(s, credentialPattern.FindStringSubmatchIndex(s))
}

// skipRedactedValue returns m, the submatch indexes of credentialPattern
// in s, or nil when the value that m replaces is the inside of a Redacted.
// Because the pattern opens a value at a '[', the value of "api_key=" +
// Redacted would otherwise be replaced again.
func skipRedactedValue(s string, m []int) []int {
	if m == nil {
		return nil
	}
	inner := Redacted[1 : len(Redacted)-1]
	value, end := m[3], m[1]
	if value > 0 && s[value-1] == Redacted[0] && s[value:end] == inner && end < len(s) && s[end] == Redacted[len(Redacted)-1] {
		return nil
	}
	return m
}

// credentialNames are the names of credentialPattern: a head alone, when
// headAlone is set, or a head, an optional joiner and one of tails.
var credentialNames = [...]struct {
	head      string
	headAlone bool
	tails     []string
}{
	{head: "api", tails: []string{"key"}},
	{head: "authorization", headAlone: true},
	{head: "access", tails: []string{"token", "key"}},
	{head: "refresh", tails: []string{"token"}},
	{head: "secret", headAlone: true, tails: []string{"key"}},
	{head: "password", headAlone: true},
	{head: "passwd", headAlone: true},
	{head: "token", headAlone: true},
}

// maxFoldedNameBytes bounds the length in bytes of a name of
// credentialPattern written with runes that fold to ASCII letters, such as
// "refreſh%20to\u212Aen".
const maxFoldedNameBytes = 48

// mayAssignCredential reports whether credentialPattern may match at the
// start of s, because s starts with a credential's name followed by what
// may close it and a separator. When a non-ASCII byte occurs within the
// first maxFoldedNameBytes, it returns true and leaves the text to the
// regular expression, whose case folding matches the Kelvin sign (U+212A)
// to 'k' and the long s (U+017F) to 's'. Past the name the pattern holds
// only ASCII, except for the full-width colon, which
// credentialSeparatorAt looks for.
func mayAssignCredential(s string) bool {
	for i := 0; i < len(s) && i < maxFoldedNameBytes; i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}

	for _, name := range credentialNames {
		if !hasPrefixFold(s, name.head) {
			continue
		}
		n := len(name.head)
		if name.headAlone && credentialSeparatorAt(s, n) {
			return true
		}
		for _, tail := range name.tails {
			for _, joined := range [...]int{n, n + credentialJoinerLen(s, n)} {
				if hasPrefixFold(s[joined:], tail) && credentialSeparatorAt(s, joined+len(tail)) {
					return true
				}
			}
		}
	}
	return false
}

// credentialJoinerLen returns the length of the credentialJoiner at s[i],
// or 0.
func credentialJoinerLen(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	switch s[i] {
	case '-', '_', '.', '+', '\t', '\n', '\f', '\r', ' ':
		return 1
	case '%':
		if strings.HasPrefix(s[i:], "%20") {
			return 3
		}
	}
	return 0
}

// credentialCloses are what may close the name of a credential, as
// credentialPattern spells them, in lowercase.
var credentialCloses = [...]string{`"`, `'`, `]`, `\"`, `\'`, `\]`, `%22`, `%27`, `%5d`, `\u0022`, `\u0027`}

// credentialSeparatorAt reports whether s[i:] starts with what may close a
// credential's name, optional space and a separator of credentialPattern.
// No text that closes a name starts like another one or like a space or a
// separator, so skipping the longest run of them finds every separator
// that the pattern finds.
func credentialSeparatorAt(s string, i int) bool {
	for skipped := true; skipped && i < len(s); {
		skipped = false
		for _, close := range credentialCloses {
			if hasPrefixFold(s[i:], close) {
				i += len(close)
				skipped = true
				break
			}
		}
	}
	i = skipSpace(s, i)
	if i >= len(s) {
		return false
	}
	switch s[i] {
	case ':', '=':
		return true
	case '%':
		return hasPrefixFold(s[i:], "%3a") || hasPrefixFold(s[i:], "%3d")
	}
	return strings.HasPrefix(s[i:], "：")
}

// matchBearer matches
//
//	^(?i)(bearer(?:\s|%20)+)[a-z0-9._~+/-]+=*
//
// Neither a space nor '%' is a token rune, so the longest run of spaces
// before the token is the one that the regular expression takes.
func matchBearer(s string) []int {
	if !hasPrefixFold(s, "bearer") {
		return nil
	}
	keep := len("bearer")
	for {
		next := skipSpace(s, keep)
		if strings.HasPrefix(s[next:], "%20") {
			next += len("%20")
		}
		if next == keep {
			break
		}
		keep = next
	}
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
//	^[sS][kK]-[A-Za-z0-9_*-]{16,}
func matchOpenAIKey(s string) []int {
	const prefix = "sk-"
	if !hasPrefixFold(s, prefix) {
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
//	^[aA][iI][zZ][aA][0-9A-Za-z_-]{35}
func matchGoogleKey(s string) []int {
	const prefix, length = "aiza", 4 + 35
	if !hasPrefixFold(s, prefix) || len(s) < length {
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
//	^(?:[gG][sS][kK]_|[hH][fF]_|[xX][aA][iI]-)[A-Za-z0-9]{20,}
func matchPrefixedKey(s string) []int {
	for _, prefix := range [...]string{"gsk_", "hf_", "xai-"} {
		if !hasPrefixFold(s, prefix) {
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
	return isASCIILetter(c) || isDigit(c)
}

// isASCIILetter reports whether c is in [A-Za-z].
func isASCIILetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
