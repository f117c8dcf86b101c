package ratelimit

import (
	"math/bits"
	"net/http"
	"strconv"
	"time"
)

// Names of the response header fields that SetHeaders and Middleware write.
const (
	// HeaderLimit carries the Limit of the most restrictive rule.
	HeaderLimit = "X-RateLimit-Limit"
	// HeaderRemaining carries the Remaining of the most restrictive rule.
	HeaderRemaining = "X-RateLimit-Remaining"
	// HeaderReset carries the Unix time in seconds, rounded up, at which the
	// most restrictive rule is back to its full burst, as GitHub sends it.
	HeaderReset = "X-RateLimit-Reset"
	// HeaderRetryAfter carries the seconds to wait after a rejection
	// (RFC 9110, section 10.2.3).
	HeaderRetryAfter = "Retry-After"
	// HeaderPolicy carries every rule's quota, as in the IETF draft
	// "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers).
	HeaderPolicy = "RateLimit-Policy"
	// HeaderRateLimit carries every rule's current state, as in the same
	// draft.
	HeaderRateLimit = "RateLimit"
)

// sfMaxInteger is the largest Integer that RFC 9651 structured fields allow.
const sfMaxInteger = 999_999_999_999_999

// The canonical forms of the field names, computed once, so that setting a
// field does not canonicalize and copy its name for every response.
var (
	canonicalLimit      = http.CanonicalHeaderKey(HeaderLimit)
	canonicalRemaining  = http.CanonicalHeaderKey(HeaderRemaining)
	canonicalReset      = http.CanonicalHeaderKey(HeaderReset)
	canonicalRetryAfter = http.CanonicalHeaderKey(HeaderRetryAfter)
	canonicalPolicy     = http.CanonicalHeaderKey(HeaderPolicy)
	canonicalRateLimit  = http.CanonicalHeaderKey(HeaderRateLimit)
)

// SetHeaders sets the rate-limit fields of a response at time now from one
// decision per rule, as Middleware does:
//
//   - X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset from
//     Combine(decisions), the most restrictive rule;
//   - Retry-After when that decision is a rejection: RetryAfter in whole
//     seconds, rounded up so that it is never earlier than the real wait.
//     It is left out when RetryAfter is Never, because no wait helps;
//   - RateLimit with one item per decision (see FormatRateLimit);
//   - RateLimit-Policy with one item per rule (see FormatPolicy), when rules
//     is not empty.
//
// Header names are set in their canonical form, so X-RateLimit-Limit is
// sent as X-Ratelimit-Limit; HTTP field names are case-insensitive.
func SetHeaders(h http.Header, now time.Time, decisions []Decision, rules []Rule) {
	setHeaders(h, now, Combine(decisions), decisions, FormatPolicy(rules))
}

// setHeaders is SetHeaders with the combined decision and the policy field
// computed by the caller.
//
// It sets each field as http.Header.Set would, but writes every value into
// one buffer that becomes one string, and gives the fields' value slices
// one shared array, so that a response costs two allocations, not one or
// more per field.
func setHeaders(h http.Header, now time.Time, d Decision, perRule []Decision, policy string) {
	var stack [256]byte
	b := strconv.AppendInt(stack[:0], d.Limit, 10)
	limitEnd := len(b)
	b = strconv.AppendInt(b, max(d.Remaining, 0), 10)
	remainingEnd := len(b)
	b = strconv.AppendInt(b, resetUnix(now, d.ResetAfter), 10)
	resetEnd := len(b)
	retry := !d.Allowed && d.RetryAfter != Never
	if retry {
		b = strconv.AppendInt(b, ceilSeconds(d.RetryAfter), 10)
	}
	retryEnd := len(b)
	b = appendRateLimit(b, perRule)
	values := string(b)

	fields := new([6]string)
	set := func(i int, name, v string) {
		fields[i] = v
		h[name] = fields[i : i+1 : i+1]
	}
	set(0, canonicalLimit, values[:limitEnd])
	set(1, canonicalRemaining, values[limitEnd:remainingEnd])
	set(2, canonicalReset, values[remainingEnd:resetEnd])
	if retry {
		set(3, canonicalRetryAfter, values[resetEnd:retryEnd])
	}
	if policy != "" {
		set(4, canonicalPolicy, policy)
	}
	if retryEnd < len(values) {
		set(5, canonicalRateLimit, values[retryEnd:])
	}
}

// FormatPolicy returns the value of the RateLimit-Policy field for rules:
// one item per rule, such as "api";q=100;w=60, separated by ", ".
//
// The draft allows only whole seconds in w. A Window that is not a whole
// number of seconds is rounded up, and q is scaled down to the units that
// surely refill in that longer window, so a client that follows the policy
// is not rejected. A Name is sent as a structured-field String: characters
// outside printable ASCII become '_'. Numbers above the largest structured
// field Integer, 999,999,999,999,999, are capped at it.
func FormatPolicy(rules []Rule) string {
	var b []byte
	for i, r := range rules {
		if i > 0 {
			b = append(b, ", "...)
		}
		quota, window := policyQuota(r)
		b = appendSFString(b, r.Name)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, sfInteger(quota), 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, sfInteger(window), 10)
	}
	return string(b)
}

// FormatRateLimit returns the value of the RateLimit field for decisions:
// one item per decision, such as "api";r=0;t=5, separated by ", ".
//
// r is Remaining. t is the seconds, rounded up, until the rule has more
// units: RetryAfter for a rejection that can pass later, so that a client
// that waits t seconds can send the same request again, and ResetAfter
// otherwise. Draft 10 of draft-ietf-httpapi-ratelimit-headers defines t as
// the seconds until more quota is available, and both values are never
// earlier than that. Names and numbers are written as in FormatPolicy.
func FormatRateLimit(decisions []Decision) string {
	return string(appendRateLimit(nil, decisions))
}

// appendRateLimit appends the value of FormatRateLimit to b.
func appendRateLimit(b []byte, decisions []Decision) []byte {
	for i, d := range decisions {
		if i > 0 {
			b = append(b, ", "...)
		}
		wait := d.ResetAfter
		if !d.Allowed && d.RetryAfter != Never {
			wait = d.RetryAfter
		}
		b = appendSFString(b, d.Rule)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, sfInteger(d.Remaining), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, sfInteger(ceilSeconds(wait)), 10)
	}
	return b
}

// policyQuota returns the quota and window, in whole seconds, that the
// policy field announces for r.
func policyQuota(r Rule) (quota, window int64) {
	if r.Window <= 0 || r.Limit <= 0 {
		return max(r.Limit, 0), 0
	}
	window = ceilSeconds(r.Window)
	if r.Window%time.Second == 0 {
		return r.Limit, window
	}

	// floor(Limit · window seconds / Window), in 128 bits.
	hi, lo := bits.Mul64(uint64(r.Limit), uint64(window)*uint64(time.Second))
	if hi >= uint64(r.Window) {
		return sfMaxInteger, window
	}
	quo, _ := bits.Div64(hi, lo, uint64(r.Window))
	if quo > sfMaxInteger {
		return sfMaxInteger, window
	}
	return int64(quo), window
}

// appendSFString appends s to b as an RFC 9651 String: quoted, with '"'
// and '\' escaped, and any character outside printable ASCII replaced by
// '_'.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		default:
			b = append(b, '_')
		}
	}
	return append(b, '"')
}

// sfInteger clamps n to the range of a structured-field Integer that this
// package sends: 0 to sfMaxInteger.
func sfInteger(n int64) int64 {
	return min(max(n, 0), sfMaxInteger)
}

// ceilSeconds returns d in whole seconds, rounded up; zero for d <= 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// resetUnix returns the Unix time in seconds, rounded up, of now + after.
func resetUnix(now time.Time, after time.Duration) int64 {
	t := now.Add(max(after, 0))
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
