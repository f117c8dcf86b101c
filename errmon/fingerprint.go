package errmon

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
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
//   - a word without a digit becomes <id> when isDigitlessID finds it looks
//     like a random ID, as "chatcmpl-AbCdEfGhIjKlMnOp" does;
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
		case hasDigit && hasLetter, !hasDigit && hasLetter && isDigitlessID(message[i:end]):
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

// idPrefixes start the IDs of OpenAI's objects: completions, requests,
// organizations, runs, files, tool calls, messages and others.
var idPrefixes = [...]string{
	"chatcmpl-", "cmpl-", "req_", "org-", "org_", "run_", "file-", "call_", "msg_",
	"thread_", "asst_", "batch_", "resp_", "step_", "ftjob-", "ft-", "vs_", "proj_", "user-",
}

// isDigitlessID reports whether word, a word without digits, looks like a
// random base62 ID rather than words. About 1.5 in 100 random IDs of 24
// letters and digits have no digit, (52/62)^24, and such an ID must group
// like the others. Ordinary words, capitalized or in uppercase, are never IDs.
//
// A word is an ID when it is a prefix of idPrefixes followed by at least 8
// letters in mixed case that are less than 40% vowels, or when one of its
// parts between '-' and '_' is a run of at least 14 letters with at least
// 3 in each case, two changes from lowercase to uppercase and less than
// 30% vowels. English words written in CamelCase are about 40% vowels,
// while random letters have 10 vowels in 52.
//
// NOTE: an identifier in CamelCase with many consonants or acronyms, such
// as "WithHTTPClientTransport", reads as an ID. Of random IDs of 16 to 32
// letters without a known prefix, 7% to 19% read as words (an estimate
// from random samples), and their groups still split.
func isDigitlessID(word string) bool {
	for _, prefix := range idPrefixes {
		if strings.HasPrefix(word, prefix) {
			rest := word[len(prefix):]
			return len(rest) >= 8 && looksRandom(rest, 2, 0, 4)
		}
	}

	for len(word) > 0 {
		part := word
		if end := strings.IndexAny(word, "-_"); end >= 0 {
			part, word = word[:end], word[end+1:]
		} else {
			word = ""
		}
		if len(part) >= 14 && looksRandom(part, 3, 2, 3) {
			return true
		}
	}
	return false
}

// looksRandom reports whether letters consists of ASCII letters only, with
// at least minEachCase letters in each case, at least minRises changes
// from a lowercase to an uppercase letter, and fewer than
// maxVowelTenths/10 of its letters vowels.
func looksRandom(letters string, minEachCase, minRises, maxVowelTenths int) bool {
	upper, lower, rises, vowels := 0, 0, 0, 0
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		switch {
		case c >= 'A' && c <= 'Z':
			upper++
			if i > 0 && letters[i-1] >= 'a' && letters[i-1] <= 'z' {
				rises++
			}
		case c >= 'a' && c <= 'z':
			lower++
		default:
			return false
		}
		switch c | 0x20 {
		case 'a', 'e', 'i', 'o', 'u':
			vowels++
		}
	}
	return upper >= minEachCase && lower >= minEachCase && rises >= minRises &&
		vowels*10 < len(letters)*maxVowelTenths
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
