package errmon

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Redacted is the text that replaces every secret that Redact finds.
const Redacted = "[REDACTED]"

// anchoredPattern is a regular expression that runs only where one of its
// anchors occurs. Go's regexp package has no fast scan for a
// case-insensitive pattern and tries it at every byte, so each pattern
// names the lowercase texts that start its matches, strings.Index finds
// them, and the expression, anchored with ^, runs there.
type anchoredPattern struct {
	// anchors are the lowercase texts that every match starts with.
	anchors []string
	// wordStart requires that no letter, digit or '_' precede the match.
	wordStart bool
	// re matches at the start of its input. Its first submatch, if any,
	// is kept in the output and the rest of the match is replaced.
	re *regexp.Regexp
}

// secretPatterns are the built-in redactions.
var secretPatterns = []anchoredPattern{
	{
		// The value of a header, query parameter or JSON field that carries
		// a credential: "x-api-key: ...", "api-key=...", `"api_key": "..."`,
		// "OPENAI_API_KEY=...", "Authorization: Bearer ...". The name stays,
		// so the message still shows which credential was there.
		anchors: []string{"api", "authorization", "access", "refresh", "secret"},
		re:      regexp.MustCompile(`^(?i)((?:api[-_]?key|authorization|access[-_]?token|refresh[-_]?token|secret)["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token)\s+)?[^\s"',;&}]+`),
	},
	{
		// A bearer token anywhere, as in "Bearer <token>" written without
		// the header name.
		anchors:   []string{"bearer"},
		wordStart: true,
		re:        regexp.MustCompile(`^(?i)(bearer\s+)[a-z0-9._~+/-]+=*`),
	},
	{
		// OpenAI keys (sk-..., sk-proj-..., sk-svcacct-...) and Anthropic
		// keys (sk-ant-...), also when the provider masked part of the key
		// with asterisks.
		anchors:   []string{"sk-"},
		wordStart: true,
		re:        regexp.MustCompile(`^sk-[A-Za-z0-9_*-]{16,}`),
	},
	{
		// Google API keys: "AIza" and 35 more characters.
		anchors:   []string{"aiza"},
		wordStart: true,
		re:        regexp.MustCompile(`^AIza[0-9A-Za-z_-]{35}`),
	},
	{
		// Groq (gsk_), Hugging Face (hf_) and xAI (xai-) keys.
		anchors:   []string{"gsk_", "hf_", "xai-"},
		wordStart: true,
		re:        regexp.MustCompile(`^(?:gsk_|hf_|xai-)[A-Za-z0-9]{20,}`),
	},
}

// Redact returns s with the secrets it recognizes replaced by Redacted. It
// recognizes OpenAI and Anthropic API keys (sk-, sk-proj-, sk-ant-), Google,
// Groq, Hugging Face and xAI keys, and bearer tokens. It also replaces the
// values of headers and fields named like api-key, x-api-key,
// Authorization, access_token or secret. It errs toward removing too much,
// so a word that follows "Bearer" is removed even when it is not a token.
//
// Redact cannot recognize a secret of a format it does not know. A
// Monitor applies Config.Redact patterns on top of these.
func Redact(s string) string {
	if s == "" {
		return s
	}
	lower := asciiLower(s)
	for i := range secretPatterns {
		if redacted, ok := secretPatterns[i].replace(s, lower); ok {
			s = redacted
			lower = asciiLower(s)
		}
	}
	return s
}

// replace returns s with every match of p replaced by Redacted, and
// whether there was a match. lower is asciiLower(s).
func (p *anchoredPattern) replace(s, lower string) (string, bool) {
	var b strings.Builder
	found := false
	copied := 0 // s[:copied] has been written to b
	for from := 0; ; {
		start, m := p.find(s, lower, from)
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

// find returns the first match of p in s at or after from: the offset where
// it starts and its submatch indexes relative to that offset. It returns a
// nil slice when there is no match. lower is asciiLower(s).
func (p *anchoredPattern) find(s, lower string, from int) (int, []int) {
	for from < len(s) {
		i := p.nextAnchor(lower, from)
		if i < 0 {
			return 0, nil
		}
		from = i + 1
		if p.wordStart && i > 0 && isWordChar(s[i-1]) {
			continue
		}
		if m := p.re.FindStringSubmatchIndex(s[i:]); m != nil {
			return i, m
		}
	}
	return 0, nil
}

// nextAnchor returns the index of the first anchor of p in lower at or
// after from, or -1.
func (p *anchoredPattern) nextAnchor(lower string, from int) int {
	first := -1
	for _, anchor := range p.anchors {
		if i := strings.Index(lower[from:], anchor); i >= 0 && (first < 0 || from+i < first) {
			first = from + i
		}
	}
	return first
}

// isWordChar reports whether c is a letter, digit or '_', the characters
// of a regexp \w.
func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// asciiLower returns s with ASCII letters in lowercase. Unlike
// strings.ToLower it keeps every byte offset, so an index into the result
// is an index into s.
func asciiLower(s string) string {
	hasUpper := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			hasUpper = true
			break
		}
	}
	if !hasUpper {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
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
