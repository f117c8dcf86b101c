package errmon

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// This file keeps straightforward versions of the functions that have fast
// paths: every pattern run over a lowercase copy of the text, regular
// expressions in place of scanners written by hand, and one errors.As per
// type. The tests check that the fast paths return what these return.

// referenceSecretPatterns are the secretPatterns with the regular
// expressions that their match functions implement.
var referenceSecretPatterns = func() []anchoredPattern {
	const (
		joiner = `(?:[-_.\s+]|%20)?`
		assign = `(?:(?:\\*["'\]]|%(?:25)?2[27]|%(?:25)?5d|\\u00(?:22|27)|\\04[27]|&quot;|&#3[49];|&apos;)*\s*` +
			`(?::=?|=>?|%(?:25)?3a|%(?:25)?3d|：)|"\s*,\s*")` +
			`(?:[\s"'\[+]|\\[\\"'\[nrt]|%(?:25)?2[027]|%(?:25)?5b|\\u00(?:22|27)|\\04[27]|&quot;|&#3[49];|&apos;|\[\]string\{)*`
	)
	credential := regexp.MustCompile(`^(?i)(` +
		`(?:api` + joiner + `keys?|access` + joiner + `(?:token|key)|refresh` + joiner + `token|secret(?:` + joiner + `key)?|passw(?:or)?d|token|` +
		`subscription` + joiner + `key|private` + joiner + `key|credentials?|auth|sig)` + assign + `)` +
		`(?:(?:bearer|basic|token|digest)(?:\s|%20|\+)+)?([^\s"',;&}\[\]\\]+)`)
	authorization := regexp.MustCompile(`^(?i)(authorization` + assign + `)([^\r\n"'&)}\[\]\\]+)`)
	matchCredential := func(s string) []int { return skipCredentialValue(s, credential.FindStringSubmatchIndex(s)) }
	bearer := regexp.MustCompile(`^(?i)(bearer(?:\s|%20)+)([a-z0-9._~+/-](?:[a-z0-9._~+/-]|%[0-9a-f]{2})*=*)`)
	urlPassword := regexp.MustCompile(`^(://[^\s/:@]*:)[^\s/?#@]+@`)
	openAIKey := regexp.MustCompile(`^[sS][kK]-([A-Za-z0-9_*-]{16,})`)
	matches := []func(string) []int{
		regexp.MustCompile(`^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s\\]*(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\S*)`).FindStringSubmatchIndex,
		func(s string) []int { return skipCredentialValue(s, authorization.FindStringSubmatchIndex(s)) },
		matchCredential,
		matchCredential,
		matchCredential,
		func(s string) []int { return skipBearerValue(s, bearer.FindStringSubmatchIndex(s)) },
		func(s string) []int {
			m := urlPassword.FindStringSubmatchIndex(s)
			if m != nil {
				m[1]-- // the '@' stays
			}
			return m
		},
		func(s string) []int {
			m := openAIKey.FindStringSubmatchIndex(s)
			if m == nil || !isKeyBody(s[m[2]:m[3]]) {
				return nil
			}
			return m[:2]
		},
		regexp.MustCompile(`^[aA][iI][zZ][aA][0-9A-Za-z_-]{35}`).FindStringSubmatchIndex,
		regexp.MustCompile(`^(?:` +
			`(?:` + foldExpression("gsk_") + `|` + foldExpression("hf_") + `|` + foldExpression("xai-") + `|` + foldExpression("fw_") + `)[A-Za-z0-9]{20,}|` +
			`(?:` + foldExpression("pplx-") + `)[A-Za-z0-9]{32,}|` +
			foldExpression("r8_") + `[A-Za-z0-9]{30,}|` +
			foldExpression("nvapi-") + `[A-Za-z0-9_-]{32,}|` +
			foldExpression("sk_") + `[0-9A-Fa-f]{32,})`).FindStringSubmatchIndex,
		regexp.MustCompile(`^(?:` +
			foldExpression("csk-") + `[A-Za-z0-9]{32,}|` +
			foldExpression("gh") + `[pPoOuUsSrR]_[A-Za-z0-9]{30,}|` +
			foldExpression("github_pat_") + `[A-Za-z0-9_]{40,}|` +
			foldExpression("ya29.") + `(?:[A-Za-z0-9._~+/-]|%[0-9A-Fa-f]{2}){20,})`).FindStringSubmatchIndex,
		regexp.MustCompile(`^eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`).FindStringSubmatchIndex,
		regexp.MustCompile(`^(?:AKIA|ASIA)[0-9A-Z]{16}`).FindStringSubmatchIndex,
	}
	if len(matches) != len(secretPatterns) {
		panic("errmon: referenceSecretPatterns has no expression for every secret pattern")
	}
	patterns := append([]anchoredPattern(nil), secretPatterns...)
	for i := range patterns {
		patterns[i].match = matches[i]
	}
	return patterns
}()

// foldExpression returns a regular expression that matches the lowercase
// ASCII text s with its letters in any case, but not the runes that only
// case folding matches, such as the Kelvin sign for 'k'.
func foldExpression(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteString("[" + string(c) + string(c-('a'-'A')) + "]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// referenceSecretBoundary matches the end of a text after which a secret
// may start: a byte that is not an ASCII letter or digit, or an escape
// sequence.
var referenceSecretBoundary = regexp.MustCompile(`(?:[^A-Za-z0-9]|\\[A-Za-z]|\\x[0-9A-Fa-f]{2}|\\[0-7]{3}|%(?:25)?[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4})$`)

// referenceSecretStart is atSecretStart with referenceSecretBoundary. The
// longest escape is 6 bytes, so it looks at 6 bytes before i.
func referenceSecretStart(s string, i int) bool {
	return i == 0 || referenceSecretBoundary.MatchString(s[max(0, i-6):i])
}

// referenceRedact is Redact with regular expressions, without the anchor
// scan and without indexFold.
func referenceRedact(s string) string {
	if s == "" {
		return s
	}
	lower := referenceLower(s)
	for i := range referenceSecretPatterns {
		if redacted, ok := referenceReplace(&referenceSecretPatterns[i], s, lower); ok {
			s = redacted
			lower = referenceLower(s)
		}
	}
	return s
}

// referenceReplace is anchoredPattern.replace with the anchors found in
// lower, which is referenceLower(s).
func referenceReplace(p *anchoredPattern, s, lower string) (string, bool) {
	var b strings.Builder
	found := false
	copied := 0
	for from := 0; ; {
		start, m := referenceFind(p, s, lower, from)
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

// referenceFind is anchoredPattern.find with the anchors found in lower by
// strings.Index.
func referenceFind(p *anchoredPattern, s, lower string, from int) (int, []int) {
	for from < len(s) {
		i := referenceNextAnchor(p, lower, from)
		if i < 0 {
			return 0, nil
		}
		from = i + 1
		if p.wordStart && i > 0 && isWordChar(s[i-1]) {
			continue
		}
		if p.secretStart && !referenceSecretStart(s, i) {
			continue
		}
		if m := p.match(s[i:]); m != nil {
			return i, m
		}
	}
	return 0, nil
}

func referenceNextAnchor(p *anchoredPattern, lower string, from int) int {
	first := -1
	for _, anchor := range p.anchors {
		if i := strings.Index(lower[from:], anchor); i >= 0 && (first < 0 || from+i < first) {
			first = from + i
		}
	}
	return first
}

// referenceLower returns s with ASCII letters in lowercase, keeping every
// byte offset.
func referenceLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// referenceRetryExpression is the regular expression that
// matchRetryPhrase matches by hand.
var referenceRetryExpression = regexp.MustCompile(`^(?i)(?:retry\s+after|try\s+again\s+in)\s+(\d[0-9a-zµ.]*)(?:\s*([a-z()]+))?`)

// referenceRetryPhrase finds referenceRetryExpression.
var referenceRetryPhrase = anchoredPattern{
	anchors:   []string{"retry", "try"},
	wordStart: true,
	match:     referenceRetryExpression.FindStringSubmatchIndex,
}

// referenceRetryHint is retryHint with referenceRetryPhrase and
// referenceParseWait.
func referenceRetryHint(message string) time.Duration {
	lower := referenceLower(message)
	if start, m := referenceFind(&referenceRetryPhrase, message, lower, 0); m != nil {
		amount := message[start+m[2] : start+m[3]]
		var word string
		if m[4] >= 0 {
			word = message[start+m[4] : start+m[5]]
		}
		if wait := referenceParseWait(amount, word); wait > 0 {
			return wait
		}
	}

	start, m := referenceFind(&retryHeaderText, message, lower, 0)
	if m == nil {
		return 0
	}
	n, err := strconv.ParseInt(message[start+m[4]:start+m[5]], 10, 32)
	if err != nil {
		return 0
	}
	if m[2] >= 0 {
		return time.Duration(n) * time.Millisecond
	}
	return time.Duration(n) * time.Second
}

// referenceParseWait is parseWait calling strconv.ParseFloat on every
// amount.
func referenceParseWait(amount, word string) time.Duration {
	amount = strings.ToLower(strings.TrimRight(amount, "."))
	word = strings.ToLower(word)

	number, err := strconv.ParseFloat(amount, 64)
	if err != nil {
		wait, err := time.ParseDuration(amount)
		if err != nil || wait < 0 {
			return 0
		}
		return wait
	}

	var unit time.Duration
	switch word {
	case "", "s", "sec", "secs", "second", "seconds", "second(s)":
		unit = time.Second
	case "ms", "millisecond", "milliseconds":
		unit = time.Millisecond
	case "m", "min", "mins", "minute", "minutes", "minute(s)":
		unit = time.Minute
	case "h", "hour", "hours", "hour(s)":
		unit = time.Hour
	default:
		return 0
	}

	wait := number * float64(unit)
	if wait >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(wait)
}

// referenceMessageCategory is messageCategory over strings.ToLower.
func referenceMessageCategory(status int, code, message string) Category {
	clientError := status == 0 || (status >= 400 && status < 500 && status != 401 && status != 403 && status != 429)
	lower := strings.ToLower(message)

	switch {
	case clientError && (strings.Contains(lower, "maximum context length") || strings.Contains(lower, "context window")):
		return ContextLength
	case clientError && strings.Contains(lower, "content management policy"):
		return ContentFilter
	case code == "" && strings.Contains(lower, "exceeded your current quota"):
		return QuotaExceeded
	}
	return ""
}

// referenceTypedErrors is findTypedErrors with one errors.As per type.
func referenceTypedErrors(err error) typedErrors {
	var t typedErrors
	errors.As(err, &t.panicErr)
	errors.As(err, &t.apiErr)
	errors.As(err, &t.reqErr)
	return t
}
