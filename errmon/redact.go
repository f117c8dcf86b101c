package errmon

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Redacted is the text that replaces every secret that Redact finds.
const Redacted = "[REDACTED]"

// anchoredPattern is a pattern that is tried only where one of its anchors
// occurs. Go's regexp package has no fast scan for a case-insensitive
// pattern and tries it at every byte, so each pattern names the lowercase
// texts that start its matches, indexFold finds them, and the pattern is
// matched there.
type anchoredPattern struct {
	// anchors are the lowercase texts that every match starts with.
	anchors []string
	// wordStart requires that no letter, digit or '_' precede the match.
	wordStart bool
	// secretStart requires that the match start where atSecretStart
	// allows a secret to start.
	secretStart bool
	// match matches the start of its input and returns the submatch
	// indexes as regexp.Regexp.FindStringSubmatchIndex does, or nil. The
	// first submatch, if any, is kept in the output and the rest of the
	// match is replaced.
	match func(string) []int
}

// secretPatterns are the built-in redactions. The functions that match
// them are written by hand (see secretmatch.go), each after a regular
// expression that its comment shows.
var secretPatterns = []anchoredPattern{
	{
		// A PEM private key block, with or without a field name before it,
		// before the field's value would be cut at the first space.
		anchors: []string{"-----begin"},
		match:   matchPrivateKey,
	},
	{
		// An Authorization or Proxy-Authorization header with any scheme:
		// the whole value up to the end of the line, a quote or a closing
		// bracket.
		anchors: []string{"authorization"},
		match:   matchAuthorization,
	},
	{
		// The value of a header, query parameter or JSON field that carries
		// a credential: "x-api-key: ...", "api key=...", `"api_key": "..."`,
		// `{\"api_key\":\"...\"}`, "api_key%3D...", "OPENAI_API_KEY=...",
		// "Ocp-Apim-Subscription-Key: ...", "password => ...". The name
		// stays, so the message still shows which credential was there.
		anchors: []string{"api", "access", "refresh", "secret", "passw", "token", "subscription", "private"},
		match:   matchCredential,
	},
	{
		// The same, for "credentials: ..." and "credential=...".
		anchors: []string{"credential"},
		match:   matchCredential,
	},
	{
		// The same, for the short names "auth=..." and the "sig=..." of an
		// Azure shared access signature, which must start a word, so that
		// "oauth" or "design" is not read as a name.
		anchors:     []string{"auth", "sig"},
		secretStart: true,
		match:       matchCredential,
	},
	{
		// A bearer token anywhere, as in "Bearer <token>" written without
		// the header name.
		anchors:     []string{"bearer"},
		secretStart: true,
		match:       matchBearer,
	},
	{
		// The password in a URL: "scheme://user:password@host".
		anchors: []string{"://"},
		match:   matchURLPassword,
	},
	{
		// OpenAI keys (sk-..., sk-proj-..., sk-svcacct-..., sk-admin-...)
		// and Anthropic keys (sk-ant-...) in any letter case, also when the
		// provider masked part of the key with asterisks.
		anchors:     []string{"sk-"},
		secretStart: true,
		match:       matchOpenAIKey,
	},
	{
		// Google API keys: "AIza" and 35 more characters.
		anchors:     []string{"aiza"},
		secretStart: true,
		match:       matchGoogleKey,
	},
	{
		// Groq, Hugging Face, xAI, Perplexity, Replicate, NVIDIA,
		// ElevenLabs and Fireworks keys.
		anchors:     keyFormatAnchors(prefixedKeyFormats),
		secretStart: true,
		match:       matchPrefixedKey,
	},
	{
		// Cerebras keys, GitHub tokens and Google OAuth access tokens.
		anchors:     keyFormatAnchors(secondKeyFormats),
		secretStart: true,
		match:       matchSecondKey,
	},
	{
		// JSON Web Tokens.
		anchors:     []string{"eyj"},
		secretStart: true,
		match:       matchJWT,
	},
	{
		// AWS access key IDs.
		anchors:     []string{"akia", "asia"},
		secretStart: true,
		match:       matchAWSKeyID,
	},
}

// Redact returns s with the secrets it recognizes replaced by Redacted.
//
// It recognizes keys and tokens by their format, in any letter case and
// also right after an escape such as \n, \042, \u0022, %22 or %2522. The
// formats are OpenAI and Anthropic API keys (sk-, sk-proj-, sk-ant-),
// Google (AIza), Groq (gsk_), Hugging Face (hf_), xAI (xai-), Perplexity
// (pplx-), Replicate (r8_), NVIDIA (nvapi-), ElevenLabs (sk_), Fireworks (fw_) and
// Cerebras (csk-) keys, GitHub tokens (ghp_, github_pat_), Google OAuth
// access tokens (ya29.), JSON Web Tokens, AWS access key IDs (AKIA, ASIA),
// PEM private key blocks and bearer tokens. Each format has a minimum
// length, and an "sk-" key needs a long random-looking part, so a model
// name such as "sk-learning-assistant-v2-large" stays.
//
// It also replaces the values of headers, parameters and fields named like
// api-key, api_keys, x-api-key, Ocp-Apim-Subscription-Key,
// subscription-key, access_token, token, password, secret, private_key,
// credentials, auth and sig, written after ':', '=', "=>", a full-width
// colon, %3A or %3D (also URL-encoded twice), with or without quotes,
// escaped quotes, HTML entities or brackets, and in Go syntax such as
// http.Header{"Api-Key":[]string{"..."}}. The value of an Authorization or
// Proxy-Authorization header, with any scheme, is replaced up to the end
// of the line, a quote or a closing bracket. The password of a URL
// ("scheme://user:password@host") is replaced too. A value that is a
// common English word, as in "Authorization: header missing" or "Bearer
// token is invalid", is left alone.
//
// Redact cannot recognize a secret of a format it does not know, a secret
// cut below its format's minimum length, or the part of a value after a
// ',', ';' or '&'. A Monitor applies Config.Redact patterns before these.
func Redact(s string) string {
	// A pattern without an anchor in s cannot match, so most provider
	// messages skip every pattern, and a pattern's search looks only for
	// the anchors that s contains. See newAnchorScan.
	mask, anchors := secretScan.scan(s)
	if s == "" || mask == 0 {
		return s
	}
	for i := range secretPatterns {
		if mask&(1<<i) == 0 {
			continue
		}
		search := secretPatterns[i].search(s, secretScan.patternAnchors(i, anchors))
		if redacted, ok := search.replaceAll(); ok {
			s = redacted
		}
	}
	return s
}

// replaceAll returns the text of a with every match of its pattern
// replaced by Redacted, and whether there was a match.
func (a *anchorSearch) replaceAll() (string, bool) {
	var b strings.Builder
	s := a.s
	found := false
	copied := 0 // s[:copied] has been written to b
	for from := 0; ; {
		start, m := a.find(from)
		if m == nil {
			break
		}
		keep := 0
		if len(m) >= 4 && m[3] > 0 {
			keep = m[3]
		}
		b.WriteString(s[copied : start+keep])
		b.WriteString(Redacted)
		copied = start + m[1]
		from = copied
		found = true
	}
	if !found {
		return s, false
	}
	b.WriteString(s[copied:])
	return b.String(), true
}

// maxAnchors is the maximum number of anchors of an anchoredPattern.
const maxAnchors = 8

// anchorSearch finds the matches of a pattern in one text from left to
// right. It remembers where each anchor occurs next, so that it searches
// the text for an anchor again only once the search has passed that
// occurrence, however many anchors turn out not to start a match.
type anchorSearch struct {
	p *anchoredPattern
	s string
	// next holds, for each anchor, an index of s at or after which the
	// anchor occurs first, or len(s)+1 when it does not occur there. An
	// index before the from of a call is stale, as the initial -1 is.
	next [maxAnchors]int
}

// search returns an anchorSearch of p in s that looks for the anchors
// whose bits are set in present, bit k standing for p.anchors[k], and
// treats the others as absent from s. It panics when p has more than
// maxAnchors anchors, which is a programmer mistake.
func (p *anchoredPattern) search(s string, present uint64) anchorSearch {
	if len(p.anchors) > maxAnchors {
		panic(fmt.Sprintf("errmon: a pattern has %d anchors, more than %d", len(p.anchors), maxAnchors))
	}
	a := anchorSearch{p: p, s: s}
	for k := range a.next {
		a.next[k] = -1
		if present&(1<<k) == 0 {
			a.next[k] = len(s) + 1
		}
	}
	return a
}

// allAnchors is the present argument of anchoredPattern.search that makes
// it look for every anchor.
const allAnchors = ^uint64(0)

// find returns the first match in the text at or after from: the offset
// where it starts and its submatch indexes relative to that offset. It
// returns a nil slice when there is no match. from must not be less than
// in the previous call.
func (a *anchorSearch) find(from int) (int, []int) {
	for {
		i := a.nextStart(from)
		if i < 0 {
			return 0, nil
		}
		if m := a.p.match(a.s[i:]); m != nil {
			return i, m
		}
		from = i + 1
	}
}

// nextStart returns the index of the first anchor in the text at or after
// from where a match may start, or -1. With wordStart, an anchor that
// follows a letter, digit or '_' is skipped, and with secretStart, an
// anchor where atSecretStart is false. from must not be less than in the
// previous call.
func (a *anchorSearch) nextStart(from int) int {
	for from < len(a.s) {
		i := a.nextAnchor(from)
		if i < 0 {
			return -1
		}
		wordOK := !a.p.wordStart || i == 0 || !isWordChar(a.s[i-1])
		if wordOK && (!a.p.secretStart || atSecretStart(a.s, i)) {
			return i
		}
		from = i + 1
	}
	return -1
}

// atSecretStart reports whether a secret may start at s[i]. That is the
// start of s, or after a byte that is not an ASCII letter or digit (so
// after '_', '-' or a non-ASCII rune). It is also right after an escape
// sequence that ends in a letter or digit: \n or \t, \xXX, \uXXXX, an
// octal \NNN, or the URL encoding %XX, also encoded twice as %25XX. So a
// key written as "line\nsk-...", "\042sk-..." or "%22sk-..." is found,
// while "risk-assessment" is not read as a key.
func atSecretStart(s string, i int) bool {
	if i == 0 || !isASCIILetterOrDigit(s[i-1]) {
		return true
	}
	switch {
	case i >= 2 && s[i-2] == '\\' && isASCIILetter(s[i-1]):
		return true
	case i >= 3 && s[i-3] == '%' && isHexDigits(s[i-2:i]):
		return true
	case i >= 5 && s[i-5:i-2] == "%25" && isHexDigits(s[i-2:i]):
		return true
	case i >= 4 && s[i-4] == '\\' && s[i-3] == 'x' && isHexDigits(s[i-2:i]):
		return true
	case i >= 4 && s[i-4] == '\\' && isOctalDigits(s[i-3:i]):
		return true
	case i >= 6 && s[i-6] == '\\' && s[i-5] == 'u' && isHexDigits(s[i-4:i]):
		return true
	}
	return false
}

// isOctalDigits reports whether every byte of s is an octal digit.
func isOctalDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// isHexDigits reports whether every byte of s is a hexadecimal digit.
func isHexDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // an ASCII letter in lowercase
		if !isDigit(s[i]) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// nextAnchor returns the index of the first anchor in the text at or after
// from, ignoring the case of ASCII letters, or -1.
func (a *anchorSearch) nextAnchor(from int) int {
	first := -1
	for k, anchor := range a.p.anchors {
		if a.next[k] < from {
			a.next[k] = indexFold(a.s, anchor, from)
			if a.next[k] < 0 {
				a.next[k] = len(a.s) + 1
			}
		}
		if n := a.next[k]; n <= len(a.s) && (first < 0 || n < first) {
			first = n
		}
	}
	return first
}

// indexFold returns the index of the first occurrence of the lowercase
// ASCII text anchor in s at or after from, comparing ASCII letters without
// regard to case, or -1. It returns what strings.Index returns on a copy of
// s with its ASCII letters lowercased, without building the copy. It looks
// for the rarest byte of anchor with strings.IndexByte and compares the
// rest of anchor only there.
func indexFold(s, anchor string, from int) int {
	if anchor == "" {
		return from
	}
	probe := rarestByte(anchor)
	lower := anchor[probe]
	upper := lower
	if lower >= 'a' && lower <= 'z' {
		upper = lower - ('a' - 'A')
	}
	for from+len(anchor) <= len(s) {
		// A match that starts at i has its probe byte at i+probe.
		i := indexEitherByte(s[from+probe:len(s)-len(anchor)+probe+1], lower, upper)
		if i < 0 {
			return -1
		}
		i += from
		if hasPrefixFold(s[i:], anchor) {
			return i
		}
		from = i + 1
	}
	return -1
}

// byteRarity ranks bytes by how rare they are in English text: lowercase
// letters, from the most frequent to the least, rank 1 to 26, and other
// bytes 13, as letters of middle frequency.
var byteRarity = func() (rarity [256]uint8) {
	for i := range rarity {
		rarity[i] = 13
	}
	for i, c := range []byte("etaoinshrdlcumwfgypbvkjxqz") {
		rarity[c] = uint8(i + 1)
	}
	return rarity
}()

// rarestByte returns the index of the byte of anchor that is least likely
// in English text, by byteRarity.
func rarestByte(anchor string) int {
	best := 0
	for i := 1; i < len(anchor); i++ {
		if byteRarity[anchor[i]] > byteRarity[anchor[best]] {
			best = i
		}
	}
	return best
}

// indexEitherByte returns the index of the first a or b in s, or -1.
func indexEitherByte(s string, a, b byte) int {
	i := strings.IndexByte(s, a)
	if a == b {
		return i
	}
	if i >= 0 {
		s = s[:i]
	}
	if j := strings.IndexByte(s, b); j >= 0 {
		return j
	}
	return i
}

// hasPrefixFold reports whether s starts with the lowercase ASCII text
// prefix, comparing ASCII letters without regard to case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// isWordChar reports whether c is a letter, digit or '_', the characters
// of a regexp \w.
func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// truncateUTF8 returns s cut to at most max bytes without splitting a UTF-8
// sequence. When max is 16 or more, a cut text ends with "…" within the max
// bytes, so that a reader can tell it was cut.
func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}

	const ellipsis = "…"
	mark := max >= 16
	cut := max
	if mark {
		cut -= len(ellipsis)
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if mark {
		return s[:cut] + ellipsis
	}
	return s[:cut]
}
