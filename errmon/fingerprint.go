package errmon

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// fingerprintFrames is the number of innermost frames in a fingerprint.
// Deeper frames are the caller's callers, which differ between routes that
// share the same failing code.
const fingerprintFrames = 3

// fingerprintInput returns the text that a fingerprint hashes: the
// category, status and code, the message with its variable parts replaced,
// and the function names of the innermost frames. Line numbers are left out
// so that editing a file does not split its groups. The message and code must
// already be redacted.
func fingerprintInput(category Category, status int, code, message string, stack []Frame) []byte {
	key := newFingerprintKey(category, status, code, message, stack)
	return key.input()
}

// input returns the fingerprintInput of the arguments that k was made from.
func (k *fingerprintKey) input() []byte {
	b := make([]byte, 0, 64+len(k.message))
	b = append(b, k.category...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(k.status), 10)
	b = append(b, 0)
	b = append(b, k.code...)
	b = append(b, 0)
	b = appendNormalized(b, k.message)
	for _, function := range k.functions[:k.frames] {
		b = append(b, 0)
		b = append(b, function...)
	}
	return b
}

// fingerprintOf returns the hex fingerprint of a fingerprint input: the
// first 16 bytes of its SHA-256 hash.
func fingerprintOf(input []byte) string {
	sum := sha256.Sum256(input)
	return hex.EncodeToString(sum[:16])
}

// Placeholders for the variable parts of a message.
const (
	quotedPlaceholder = "<q>"
	idPlaceholder     = "<id>"
	numberPlaceholder = "<n>"
)

// appendNormalized appends message to dst with the parts that vary between
// occurrences of the same failure replaced:
//
//   - a quoted value ("...", `...`, or '...' whose quotes are not
//     apostrophes inside a word) becomes <q>;
//   - a word of letters, digits, '_', '-' and decimal points that contains a
//     digit and a letter becomes <id>, which covers request IDs
//     (req_abc123), UUIDs, hex hashes, model versions and durations ("1.5s");
//   - a word of digits and separators becomes <n>, which covers numbers,
//     dates and IP addresses.
func appendNormalized(dst []byte, message string) []byte {
	for i := 0; i < len(message); {
		c := message[i]

		if isQuote(message, i) {
			if end := closingQuote(message, i); end > 0 {
				dst = append(dst, c)
				dst = append(dst, quotedPlaceholder...)
				dst = append(dst, c)
				i = end + 1
				continue
			}
		}

		if !isWordByte(c) {
			dst = append(dst, c)
			i++
			continue
		}
		end := i
		hasDigit, hasLetter := false, false
		for end < len(message) && (isWordByte(message[end]) || isDecimalPoint(message, end)) {
			switch b := message[end]; {
			case isDigit(b):
				hasDigit = true
			case b != '_' && b != '-' && b != '.':
				hasLetter = true
			}
			end++
		}
		switch {
		case hasDigit && hasLetter:
			dst = append(dst, idPlaceholder...)
		case hasDigit:
			dst = append(dst, numberPlaceholder...)
		default:
			dst = append(dst, message[i:end]...)
		}
		i = end
	}
	return dst
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '-'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isDecimalPoint reports whether message[i] is a '.' between two digits, as
// in "1.5s" or "127.0.0.1", which belongs to the word around it.
func isDecimalPoint(message string, i int) bool {
	return message[i] == '.' && i > 0 && i+1 < len(message) && isDigit(message[i-1]) && isDigit(message[i+1])
}

// isQuote reports whether message[i] opens a quoted value. A single quote
// counts only when it does not follow a letter, digit, '_' or '-', so the
// apostrophe in "model's" opens nothing.
func isQuote(message string, i int) bool {
	switch message[i] {
	case '"', '`':
		return true
	case '\'':
		return i == 0 || !isWordByte(message[i-1])
	}
	return false
}

// closingQuote returns the index of the quote that closes the one at open,
// or -1. A backslash escapes the next byte, as in JSON strings. A single
// quote closes only when no letter, digit, '_' or '-' follows it.
func closingQuote(message string, open int) int {
	quote := message[open]
	for j := open + 1; j < len(message); j++ {
		switch message[j] {
		case '\\':
			j++
		case quote:
			if quote == '\'' && j+1 < len(message) && isWordByte(message[j+1]) {
				continue
			}
			return j
		}
	}
	return -1
}
