package errmon

import (
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
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
	// retryPhrase finds a wait after "retry after" or "try again in", as
	// OpenAI ("Please try again in 1.898s", "in 6m0s", "in 20ms") and Azure
	// ("Please retry after 20 seconds") write it.
	retryPhrase = anchoredPattern{
		anchors:   []string{"retry", "try"},
		wordStart: true,
		re:        regexp.MustCompile(`^(?i)(?:retry\s+after|try\s+again\s+in)\s+(\d[0-9a-zµ.]*)(?:\s*([a-z()]+))?`),
	}
	// retryHeaderText finds a Retry-After or retry-after-ms header quoted
	// in a message.
	retryHeaderText = anchoredPattern{
		anchors:   []string{"retry-after"},
		wordStart: true,
		re:        regexp.MustCompile(`^(?i)retry-after(-ms)?["']?\s*[:=]\s*["']?(\d+)`),
	}
)

// retryHint returns the wait that a provider's message requests, or 0.
func retryHint(message string) time.Duration {
	lower := asciiLower(message)
	if start, m := retryPhrase.find(message, lower, 0); m != nil {
		amount := message[start+m[2] : start+m[3]]
		var word string
		if m[4] >= 0 {
			word = message[start+m[4] : start+m[5]]
		}
		if wait := parseWait(amount, word); wait > 0 {
			return wait
		}
	}

	start, m := retryHeaderText.find(message, lower, 0)
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

// parseWait parses an amount ("20", "1.5s", "1m30s") and the word after it
// ("seconds"). A bare number is seconds, as in the Retry-After header. It
// returns 0 for a unit it does not recognize, rather than guess.
func parseWait(amount, word string) time.Duration {
	amount = strings.ToLower(strings.TrimRight(amount, "."))
	word = strings.ToLower(word)

	number, err := strconv.ParseFloat(amount, 64)
	if err != nil {
		// A duration with its unit attached, in Go's syntax.
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
