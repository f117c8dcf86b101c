package errmon

import (
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// RetryAfterError wraps an error with the wait the provider requested, for
// callers that read the Retry-After header themselves (go-openai's errors do
// not keep headers). Inspect takes Details.RetryAfter from it, or from any
// other error in the chain with a method RetryAfter() time.Duration.
type RetryAfterError struct {
	// Err is the wrapped error.
	Err error
	// Delay is how long to wait before retrying. Zero or less means unknown.
	Delay time.Duration
}

// Error returns the text of the wrapped error.
func (e *RetryAfterError) Error() string {
	if e.Err == nil {
		return "retry after " + e.Delay.String()
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns Delay.
func (e *RetryAfterError) RetryAfter() time.Duration { return e.Delay }

// ParseRetryAfter parses the value of a Retry-After header, which is either
// a number of seconds or an HTTP date, into the wait from now. A date in the
// past is a wait of 0. It returns false for an empty or invalid value.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}

	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil {
		if seconds < 0 {
			return 0, false
		}
		if seconds > int64(math.MaxInt64/time.Second) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(seconds) * time.Second, true
	}

	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	if wait := at.Sub(now); wait > 0 {
		return wait, true
	}
	return 0, true
}

// retryAfter returns the wait that err requests. It takes it from a
// RetryAfter method in err's tree, otherwise from a hint in the provider's
// message, and returns 0 when neither has one.
func retryAfter(err error, message string) time.Duration {
	if wait := retryAfterOf(err); wait > 0 {
		return wait
	}
	return retryHint(message)
}

// retryAfterOf returns the first positive RetryAfter of an error in err's
// tree, or 0.
func retryAfterOf(err error) time.Duration {
	var wait time.Duration
	anyError(err, func(e error) bool {
		if r, ok := e.(interface{ RetryAfter() time.Duration }); ok {
			wait = r.RetryAfter()
		}
		return wait > 0
	})
	return wait
}

var (
	// retryPhraseAnchors are the texts that start a phrase that
	// matchRetryPhrase reads.
	retryPhraseAnchors = anchoredPattern{
		anchors:   []string{"retry", "try"},
		wordStart: true,
	}
	// retryHeaderText finds a Retry-After or retry-after-ms header quoted
	// in a message.
	retryHeaderText = anchoredPattern{
		anchors:   []string{"retry-after"},
		wordStart: true,
		match:     regexp.MustCompile(`^(?i)retry-after(-ms)?["']?\s*[:=]\s*["']?(\d+)`).FindStringSubmatchIndex,
	}
)

// retryHint returns the wait that a provider's message requests, or 0.
func retryHint(message string) time.Duration {
	// The first phrase decides, even when its wait is not understood.
	phrases := retryPhraseAnchors.search(message, allAnchors)
	for i := phrases.nextStart(0); i >= 0; i = phrases.nextStart(i + 1) {
		amount, word, ok := matchRetryPhrase(message[i:])
		if !ok {
			continue
		}
		if wait := parseWait(amount, word); wait > 0 {
			return wait
		}
		break
	}

	headers := retryHeaderText.search(message, allAnchors)
	start, m := headers.find(0)
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

// matchRetryPhrase matches the start of text against the regular
// expression
//
//	(?i)(?:retry\s+after|try\s+again\s+in)\s+(\d[0-9a-zµ.]*)(?:\s*([a-z()]+))?
//
// which finds a wait as OpenAI ("Please try again in 1.898s", "in 6m0s",
// "in 20ms") and Azure ("Please retry after 20 seconds") write it. It
// returns the two submatches, the second empty when it did not match, and
// whether the expression matched. Written out by hand, it runs without the
// regexp package's allocations.
func matchRetryPhrase(text string) (amount, word string, ok bool) {
	var n int
	switch {
	case hasPrefixFold(text, "retry"):
		n, ok = matchWords(text, 5, "after")
	case hasPrefixFold(text, "try"):
		n, ok = matchWords(text, 3, "again", "in")
	}
	if !ok {
		return "", "", false
	}

	// \s+ and then a digit.
	end := skipSpace(text, n)
	if end == n || end == len(text) || !isDigit(text[end]) {
		return "", "", false
	}
	start := end
	end = skipRunes(text, end+1, isAmountRune)
	amount = text[start:end]

	// An optional unit after optional space.
	wordStart := skipSpace(text, end)
	if wordEnd := skipRunes(text, wordStart, isUnitRune); wordEnd > wordStart {
		word = text[wordStart:wordEnd]
	}
	return amount, word, true
}

// matchWords matches text from n against each of words, lowercase ASCII,
// each after at least one space, and returns the index after the last.
func matchWords(text string, n int, words ...string) (int, bool) {
	for _, w := range words {
		end := skipSpace(text, n)
		if end == n || !hasPrefixFold(text[end:], w) {
			return 0, false
		}
		n = end + len(w)
	}
	return n, true
}

// skipSpace returns the index of the first byte of text at or after i that
// is not in the regular expression class \s, [\t\n\f\r ].
func skipSpace(text string, i int) int {
	for i < len(text) {
		switch text[i] {
		case '\t', '\n', '\f', '\r', ' ':
			i++
		default:
			return i
		}
	}
	return i
}

// skipRunes returns the index of the first rune of text at or after i for
// which in returns false. An invalid byte is utf8.RuneError, as it is for
// the regexp package.
func skipRunes(text string, i int, in func(rune) bool) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !in(r) {
			return i
		}
		i += size
	}
	return i
}

// isASCIILetterFold reports whether r is an ASCII letter, or a rune that
// case-insensitive matching in the regexp package treats as one: the
// Kelvin sign (U+212A), which folds to 'k', and the long s (U+017F), which
// folds to 's'.
func isASCIILetterFold(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '\u212A' || r == '\u017F'
}

// isAmountRune reports whether r is in the class (?i)[0-9a-zµ.]. The micro
// sign folds to the Greek letter mu in both cases.
func isAmountRune(r rune) bool {
	return r >= '0' && r <= '9' || r == '.' || isASCIILetterFold(r) ||
		r == '\u00B5' || r == '\u03BC' || r == '\u039C'
}

// isUnitRune reports whether r is in the class (?i)[a-z()].
func isUnitRune(r rune) bool {
	return r == '(' || r == ')' || isASCIILetterFold(r)
}

// parseWait parses an amount ("20", "1.5s", "1m30s") and the word after it
// ("seconds"). A bare number is seconds, as in the Retry-After header. It
// returns 0 for a unit it does not recognize, rather than guess.
func parseWait(amount, word string) time.Duration {
	amount = strings.ToLower(strings.TrimRight(amount, "."))
	word = strings.ToLower(word)

	if !mayBeFloat(amount) {
		return parseDuration(amount)
	}
	number, err := strconv.ParseFloat(amount, 64)
	if err != nil {
		return parseDuration(amount)
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

// parseDuration parses a duration with its unit attached, in Go's syntax
// ("1.5s", "6m0s"), or returns 0.
func parseDuration(amount string) time.Duration {
	wait, err := time.ParseDuration(amount)
	if err != nil || wait < 0 {
		return 0
	}
	return wait
}

// mayBeFloat reports whether strconv.ParseFloat could accept s, which it
// cannot when s contains a byte outside digits, '.', '_', signs, the
// letters of hexadecimal digits and exponents ("0x1p-2", "1e5") and of
// "inf", "infinity" and "nan". It saves the error value that ParseFloat
// allocates for a duration such as "197ms".
func mayBeFloat(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isDigit(c) || c == '.' || c == '_' || c == '+' || c == '-' {
			continue
		}
		// c | 0x20 turns an ASCII uppercase letter into lowercase and
		// no other byte into a letter.
		switch c | 0x20 {
		case 'a', 'b', 'c', 'd', 'e', 'f', 'x', 'p', 'i', 'n', 't', 'y':
			continue
		}
		return false
	}
	return true
}
