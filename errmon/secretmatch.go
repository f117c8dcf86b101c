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
// spaces that open the value. Each of these may be plain or escaped once
// or twice (\" or \\\" or \u0022 or \042). It may also be URL-encoded
// once or twice (%22, %2522, %20 or '+' for a space) or an HTML entity
// (&quot; or &#34;). An auth scheme (Bearer, Basic, Token, Digest) and the value after it are
// replaced. The second submatch is the value without the scheme, which
// matchCredential reads to leave alone a value that is a common word.
var credentialPattern = regexp.MustCompile(credentialExpression)

// credentialExpression is the source of credentialPattern.
const credentialExpression = `^(?i)(` +
	// The name. "x-api-key", "Ocp-Apim-Subscription-Key", "client_secret"
	// and "OPENAI_API_KEY" match from the "api", "subscription" or
	// "secret" inside them.
	`(?:api` + credentialJoiner + `keys?|access` + credentialJoiner + `(?:token|key)|refresh` + credentialJoiner + `token|secret(?:` + credentialJoiner + `key)?|passw(?:or)?d|token|` +
	`subscription` + credentialJoiner + `key|private` + credentialJoiner + `key|credentials?|auth|sig)` +
	credentialAssign + `)` +
	// An auth scheme and the value.
	`(?:(?:bearer|basic|token|digest)(?:\s|%20|\+)+)?([^\s"',;&}\[\]\\]+)`

// credentialAssign is the text between a credential's name and its value: what closes the name, the separator and what opens the value. The
// separator is ':', ":=", '=', "=>", "%3A", "%3D" (also URL-encoded twice)
// or a full-width colon, or the ", " between two quoted elements of a list,
// as in the Go syntax []string{"api-key", "..."}.
const credentialAssign = `(?:(?:\\*["'\]]|%(?:25)?2[27]|%(?:25)?5d|\\u00(?:22|27)|\\04[27]|&quot;|&#3[49];|&apos;)*\s*` +
	`(?::=?|=>?|%(?:25)?3a|%(?:25)?3d|：)|"\s*,\s*")` +
	`(?:[\s"'\[+]|\\[\\"'\[nrt]|%(?:25)?2[027]|%(?:25)?5b|\\u00(?:22|27)|\\04[27]|&quot;|&#3[49];|&apos;|\[\]string\{)*`

// credentialJoiner is the optional separator between the two words of a
// credential's name, as in "api key", "api-key", "api.key" or "api%20key".
const credentialJoiner = `(?:[-_.\s+]|%20)?`

// authorizationPattern is the regular expression of an Authorization or
// Proxy-Authorization header and its value. Any auth scheme may come first,
// and AWS4-HMAC-SHA256 puts the key ID and the signature after commas. So
// the value is everything up to the end of the line, a quote, a backslash
// that starts an escape, '&' or a closing bracket. Its submatches are those
// of credentialPattern.
var authorizationPattern = regexp.MustCompile(authorizationExpression)

// authorizationExpression is the source of authorizationPattern.
const authorizationExpression = `^(?i)(authorization` + credentialAssign + `)([^\r\n"'&)}\[\]\\]+)`

// matchCredential matches credentialPattern, except that it ignores a
// value that Redact has already replaced and a value that is a common
// word.
func matchCredential(s string) []int {
	if !mayAssignCredential(s, credentialNames[:]) {
		return nil
	}
	return skipCredentialValue(s, credentialPattern.FindStringSubmatchIndex(s))
}

// matchAuthorization matches authorizationPattern, with the exceptions of
// matchCredential.
func matchAuthorization(s string) []int {
	if !mayAssignCredential(s, authorizationNames[:]) {
		return nil
	}
	return skipCredentialValue(s, authorizationPattern.FindStringSubmatchIndex(s))
}

// skipCredentialValue returns m, the submatch indexes of credentialPattern
// or authorizationPattern in s, or nil when the value that m replaces is
// the inside of a Redacted or a common word. Because the pattern opens a
// value at a '[', the value of "api_key=" + Redacted would otherwise be
// replaced again.
func skipCredentialValue(s string, m []int) []int {
	if m == nil {
		return nil
	}
	inner := Redacted[1 : len(Redacted)-1]
	value, end := m[3], m[1]
	if value > 0 && s[value-1] == Redacted[0] && s[value:end] == inner && end < len(s) && s[end] == Redacted[len(Redacted)-1] {
		return nil
	}
	if isPlainWordValue(s[m[4]:m[5]]) {
		return nil
	}
	return m
}

// isPlainWordValue reports whether value, the text after a credential's
// name, is prose rather than a secret. That is so when its first word is a
// common English word such as "missing" or "invalid". It is also so when
// the first word is an auth scheme followed by nothing or by such a word,
// as in "Bearer token is invalid".
func isPlainWordValue(value string) bool {
	first, rest := cutWord(value)
	if !isAuthScheme(first) {
		return isCommonWord(first)
	}
	second, _ := cutWord(rest)
	return second == "" || isCommonWord(second)
}

// cutWord returns the first word of s, without leading spaces and without
// the punctuation that ends a sentence or a clause, and the text after it.
func cutWord(s string) (word, rest string) {
	s = s[skipSpace(s, 0):]
	end := 0
	for end < len(s) && !isSpaceByte(s[end]) {
		end++
	}
	word, rest = s[:end], s[end:]
	return strings.TrimRight(word, ".,:;!?"), rest
}

// isSpaceByte reports whether c is in the class \s of the regexp package.
func isSpaceByte(c byte) bool {
	return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

// commonWords are the lowercase words that, standing where a credential's
// value would, show a sentence about the credential, not the credential.
var commonWords = [...]string{
	"a", "an", "the", "is", "are", "was", "were", "be", "been", "not", "no", "none", "null", "nil", "empty",
	"missing", "invalid", "required", "expired", "provided", "revoked", "wrong", "incorrect", "malformed",
	"unknown", "header", "token", "auth", "authentication", "authorization", "credentials", "scheme",
	"format", "value", "field", "for", "in", "of", "or", "and", "to", "with", "must", "should", "only",
	"then", "here", "set", "configured", "needed",
}

// isCommonWord reports whether word is one of commonWords in any letter
// case.
func isCommonWord(word string) bool {
	for _, common := range commonWords {
		if len(word) == len(common) && hasPrefixFold(word, common) {
			return true
		}
	}
	return false
}

// authSchemes are the lowercase names of HTTP auth schemes that a message
// may name before a word, as in "Bearer auth".
var authSchemes = [...]string{"bearer", "basic", "token", "digest", "key", "apikey", "oauth", "negotiate"}

// isAuthScheme reports whether word is one of authSchemes in any letter
// case.
func isAuthScheme(word string) bool {
	for _, scheme := range authSchemes {
		if len(word) == len(scheme) && hasPrefixFold(word, scheme) {
			return true
		}
	}
	return false
}

// credentialName is a name of credentialPattern: head alone, when
// headAlone is set, or head, an optional joiner and one of tails.
type credentialName struct {
	head      string
	headAlone bool
	tails     []string
}

// credentialNames are the names of credentialPattern.
var credentialNames = [...]credentialName{
	{head: "api", tails: []string{"key", "keys"}},
	{head: "access", tails: []string{"token", "key"}},
	{head: "refresh", tails: []string{"token"}},
	{head: "secret", headAlone: true, tails: []string{"key"}},
	{head: "password", headAlone: true},
	{head: "passwd", headAlone: true},
	{head: "token", headAlone: true},
	{head: "subscription", tails: []string{"key"}},
	{head: "private", tails: []string{"key"}},
	{head: "credential", headAlone: true},
	{head: "credentials", headAlone: true},
	{head: "auth", headAlone: true},
	{head: "sig", headAlone: true},
}

// authorizationNames is the name of authorizationPattern.
var authorizationNames = [...]credentialName{{head: "authorization", headAlone: true}}

// maxFoldedNameBytes bounds the length in bytes of a name of
// credentialPattern written with runes that fold to ASCII letters, such as
// "refreſh%20to\u212Aen".
const maxFoldedNameBytes = 48

// mayAssignCredential reports whether credentialPattern or
// authorizationPattern, whose names are names, may match at the start of
// s, because s starts with one of names followed by what may close it and
// a separator. When a non-ASCII byte occurs within the first
// maxFoldedNameBytes, it returns true and leaves the text to the regular
// expression, whose case folding matches the Kelvin sign (U+212A) to 'k'
// and the long s (U+017F) to 's'. Past the name the pattern holds only
// ASCII, except for the full-width colon, which credentialSeparatorAt
// looks for.
func mayAssignCredential(s string, names []credentialName) bool {
	for i := 0; i < len(s) && i < maxFoldedNameBytes; i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}

	if s == "" {
		return false
	}
	first := s[0] | 0x20 // an ASCII letter in lowercase
	for _, name := range names {
		if name.head[0] != first || !hasPrefixFold(s, name.head) {
			continue
		}
		n := len(name.head)
		if name.headAlone && credentialSeparatorAt(s, n) {
			return true
		}
		joiner := credentialJoinerLen(s, n)
		for _, tail := range name.tails {
			if hasPrefixFold(s[n:], tail) && credentialSeparatorAt(s, n+len(tail)) {
				return true
			}
			if joiner > 0 && hasPrefixFold(s[n+joiner:], tail) && credentialSeparatorAt(s, n+joiner+len(tail)) {
				return true
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

// credentialCloses are the texts that may close the name of a credential,
// as credentialAssign spells them, in lowercase. The backslashes before a
// quote or bracket are missing because credentialSeparatorAt skips them
// itself.
var credentialCloses = [...]string{
	`"`, `'`, `]`, `%22`, `%27`, `%5d`, `%2522`, `%2527`, `%255d`, `\u0022`, `\u0027`, `\042`, `\047`,
	`&quot;`, `&#34;`, `&#39;`, `&apos;`,
}

// credentialSeparatorAt reports whether s[i:] may start with what closes a
// credential's name, optional space and a separator of credentialAssign.
// It skips the longest run of texts that close a name. It may return true
// where the pattern then finds no match, but never false where the pattern
// finds one, because no text that closes a name starts like a space or a
// separator. Where two of them start alike, as "\u0022" and "\\\"", the
// pattern's own backtracking finds the right one.
func credentialSeparatorAt(s string, i int) bool {
	if i < len(s) && s[i] == '"' && isListSeparatorAt(s, i+1) {
		return true
	}
	for skipped := true; skipped && i < len(s) && mayCloseName(s[i]); {
		skipped = false
		for _, close := range credentialCloses {
			if hasPrefixFold(s[i:], close) {
				i += len(close)
				skipped = true
				break
			}
		}
		if !skipped && s[i] == '\\' {
			j := i
			for j < len(s) && s[j] == '\\' {
				j++
			}
			if j < len(s) && (s[j] == '"' || s[j] == '\'' || s[j] == ']') {
				i = j + 1
				skipped = true
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
		for _, separator := range [...]string{"%3a", "%3d", "%253a", "%253d"} {
			if hasPrefixFold(s[i:], separator) {
				return true
			}
		}
		return false
	}
	return strings.HasPrefix(s[i:], "：")
}

// mayCloseName reports whether c is the first byte of a text that closes a
// credential's name.
func mayCloseName(c byte) bool {
	switch c {
	case '"', '\'', ']', '%', '\\', '&':
		return true
	}
	return false
}

// isListSeparatorAt reports whether s[i:] starts with optional space, ','
// and optional space before a '"', the separator between two quoted
// elements of a list.
func isListSeparatorAt(s string, i int) bool {
	i = skipSpace(s, i)
	if i >= len(s) || s[i] != ',' {
		return false
	}
	i = skipSpace(s, i+1)
	return i < len(s) && s[i] == '"'
}

// matchBearer matches
//
//	^(?i)(bearer(?:\s|%20)+)([a-z0-9._~+/-](?:[a-z0-9._~+/-]|%[0-9a-f]{2})*=*)
//
// unless the token is a common word, as in "Bearer auth" (see
// skipBearerValue). A token may hold URL-encoded bytes after its first
// rune, as in "Bearer%20ya29.a0Af%2FKp". Neither a space nor '%' is a
// token rune, so the longest run of spaces and "%20" before the token is
// the one that the regular expression takes.
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
	r, _ := utf8.DecodeRuneInString(s[keep:])
	if !isBearerTokenRune(r) {
		return nil
	}
	end := skipBearerToken(s, keep)
	for end < len(s) && s[end] == '=' {
		end++
	}
	return skipBearerValue(s, []int{0, end, 0, keep, keep, end})
}

// skipBearerValue returns m, the submatch indexes of matchBearer in s, or
// nil when the token is a common word, as in "Bearer auth" or "Bearer
// token is invalid".
func skipBearerValue(s string, m []int) []int {
	if m == nil {
		return nil
	}
	if word, _ := cutWord(s[m[4]:m[5]]); isCommonWord(word) {
		return nil
	}
	return m
}

// skipBearerToken returns the index of the first byte of s at or after i
// that is neither a rune of isBearerTokenRune nor the start of a
// URL-encoded byte (%XX).
func skipBearerToken(s string, i int) int {
	for i < len(s) {
		if s[i] == '%' && i+3 <= len(s) && isHexDigits(s[i+1:i+3]) {
			i += 3
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isBearerTokenRune(r) {
			return i
		}
		i += size
	}
	return i
}

// isBearerTokenRune reports whether r is in the class (?i)[a-z0-9._~+/-].
func isBearerTokenRune(r rune) bool {
	return r >= '0' && r <= '9' || isASCIILetterFold(r) ||
		r == '.' || r == '_' || r == '~' || r == '+' || r == '/' || r == '-'
}

// matchOpenAIKey matches
//
//	^[sS][kK]-[A-Za-z0-9_*-]{16,}
//
// when isKeyBody accepts what follows "sk-", so that a model name such as
// "sk-learning-assistant-v2-large" is not taken for a key.
func matchOpenAIKey(s string) []int {
	const prefix = "sk-"
	if !hasPrefixFold(s, prefix) {
		return nil
	}
	end := len(prefix)
	for end < len(s) && (isASCIILetterOrDigit(s[end]) || s[end] == '_' || s[end] == '*' || s[end] == '-') {
		end++
	}
	if end-len(prefix) < 16 || !isKeyBody(s[len(prefix):end]) {
		return nil
	}
	return []int{0, end}
}

// minKeyRun is the least length of the run of letters, digits and '*'
// that isKeyBody looks for.
const minKeyRun = 16

// isKeyBody reports whether body, the part of an "sk-" key after the
// prefix, looks random. It looks for a run of letters, digits and '*' (a
// provider's mask) between the '-' and '_' that join the parts of body.
// The run must have at least minKeyRun bytes with a digit, an uppercase
// letter or a '*' among them, or twice as many bytes, longer than any
// word. Real keys, also uppercased or masked, have such a run, while a
// name made of lowercase words joined by hyphens does not.
func isKeyBody(body string) bool {
	run, random := 0, false
	for i := 0; i <= len(body); i++ {
		if i == len(body) || body[i] == '-' || body[i] == '_' {
			if run >= minKeyRun && random || run >= 2*minKeyRun {
				return true
			}
			run, random = 0, false
			continue
		}
		run++
		c := body[i]
		if isDigit(c) || c >= 'A' && c <= 'Z' || c == '*' {
			random = true
		}
	}
	return false
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

// isASCIILetterOrDigit reports whether c is in [A-Za-z0-9].
func isASCIILetterOrDigit(c byte) bool {
	return isASCIILetter(c) || isDigit(c)
}

// isASCIILetter reports whether c is in [A-Za-z].
func isASCIILetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
