package errmon

import "strings"

// keyFormat is a key that a provider writes as a fixed prefix and a body
// of at least minBody units of one class.
type keyFormat struct {
	// prefix is the lowercase prefix, matched in any letter case.
	prefix string
	// minBody is the least number of body units. A URL-encoded byte
	// (%XX) counts as one unit.
	minBody int
	// body reports whether c belongs to the body.
	body func(c byte) bool
	// percent lets the body hold URL-encoded bytes.
	percent bool
}

// prefixedKeyFormats are the keys that matchPrefixedKey finds, and
// secondKeyFormats those that matchSecondKey finds. They are two patterns
// because a pattern has at most maxAnchors anchors. The minimum lengths are
// below those of the providers' keys, and high enough that a word such as
// "hf_transfer" or "fw_version" is not taken for a key.
var (
	prefixedKeyFormats = []keyFormat{
		{prefix: "gsk_", minBody: 20, body: isASCIILetterOrDigit},  // Groq
		{prefix: "hf_", minBody: 20, body: isASCIILetterOrDigit},   // Hugging Face
		{prefix: "xai-", minBody: 20, body: isASCIILetterOrDigit},  // xAI
		{prefix: "pplx-", minBody: 32, body: isASCIILetterOrDigit}, // Perplexity
		{prefix: "r8_", minBody: 30, body: isASCIILetterOrDigit},   // Replicate
		{prefix: "nvapi-", minBody: 32, body: isKeyByte},           // NVIDIA
		{prefix: "sk_", minBody: 32, body: isHexDigit},             // ElevenLabs
		{prefix: "fw_", minBody: 20, body: isASCIILetterOrDigit},   // Fireworks
	}
	secondKeyFormats = []keyFormat{
		{prefix: "csk-", minBody: 32, body: isASCIILetterOrDigit}, // Cerebras
		{prefix: "ghp_", minBody: 30, body: isASCIILetterOrDigit}, // GitHub personal access token
		{prefix: "gho_", minBody: 30, body: isASCIILetterOrDigit}, // GitHub OAuth token
		{prefix: "ghu_", minBody: 30, body: isASCIILetterOrDigit}, // GitHub user-to-server token
		{prefix: "ghs_", minBody: 30, body: isASCIILetterOrDigit}, // GitHub server-to-server token
		{prefix: "ghr_", minBody: 30, body: isASCIILetterOrDigit}, // GitHub refresh token
		{prefix: "github_pat_", minBody: 40, body: isWordChar},    // GitHub fine-grained token
		// Google OAuth access token, also URL-encoded.
		{prefix: "ya29.", minBody: 20, body: isBearerTokenByte, percent: true},
	}
)

// keyFormatAnchors returns the prefixes of formats, the anchors of their
// pattern.
func keyFormatAnchors(formats []keyFormat) []string {
	anchors := make([]string, len(formats))
	for i, f := range formats {
		anchors[i] = f.prefix
	}
	return anchors
}

// matchKeyFormat returns the submatch indexes of the key of one of formats
// at the start of s, or nil. No prefix of formats starts another, so at
// most one applies.
func matchKeyFormat(s string, formats []keyFormat) []int {
	for _, f := range formats {
		if !hasPrefixFold(s, f.prefix) {
			continue
		}
		end, units := len(f.prefix), 0
		for end < len(s) {
			switch {
			case f.body(s[end]):
				end++
			case f.percent && s[end] == '%' && end+3 <= len(s) && isHexDigits(s[end+1:end+3]):
				end += 3
			default:
				return keyMatch(end, units, f.minBody)
			}
			units++
		}
		return keyMatch(end, units, f.minBody)
	}
	return nil
}

// keyMatch returns the submatch indexes of a key that ends at end and has
// units units of body, or nil when that is fewer than minBody.
func keyMatch(end, units, minBody int) []int {
	if units < minBody {
		return nil
	}
	return []int{0, end}
}

// matchPrefixedKey matches a key of prefixedKeyFormats.
func matchPrefixedKey(s string) []int { return matchKeyFormat(s, prefixedKeyFormats) }

// matchSecondKey matches a key of secondKeyFormats.
func matchSecondKey(s string) []int { return matchKeyFormat(s, secondKeyFormats) }

// isKeyByte reports whether c is in [A-Za-z0-9_-].
func isKeyByte(c byte) bool { return isWordChar(c) || c == '-' }

// isHexDigit reports whether c is in [0-9A-Fa-f].
func isHexDigit(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// isBearerTokenByte reports whether c is in [A-Za-z0-9._~+/-].
func isBearerTokenByte(c byte) bool {
	return isASCIILetterOrDigit(c) || strings.IndexByte("._~+/-", c) >= 0
}

// matchJWT matches a JSON Web Token, whose header and payload are base64url
// JSON objects and so start with "eyJ":
//
//	^eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*
func matchJWT(s string) []int {
	i := 0
	for part := 0; part < 2; part++ {
		if !strings.HasPrefix(s[i:], "eyJ") {
			return nil
		}
		end := skipBytes(s, i+len("eyJ"), isKeyByte)
		if end-i-len("eyJ") < 5 || end >= len(s) || s[end] != '.' {
			return nil
		}
		i = end + 1
	}
	return []int{0, skipBytes(s, i, isKeyByte)}
}

// matchAWSKeyID matches an AWS access key ID, long-term (AKIA) or
// temporary (ASIA):
//
//	^(?:AKIA|ASIA)[0-9A-Z]{16}
func matchAWSKeyID(s string) []int {
	const length = 4 + 16
	if len(s) < length || !strings.HasPrefix(s, "AKIA") && !strings.HasPrefix(s, "ASIA") {
		return nil
	}
	for i := 4; i < length; i++ {
		if !isDigit(s[i]) && (s[i] < 'A' || s[i] > 'Z') {
			return nil
		}
	}
	return []int{0, length}
}

// matchPrivateKey matches a PEM private key block, written with newlines
// or with escaped newlines (\n), also when the text was cut before its end
// line:
//
//	^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s\\]*(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\S*)
func matchPrivateKey(s string) []int {
	end, ok := matchPEMLine(s, "-----BEGIN ")
	if !ok {
		return nil
	}
	end = skipBytes(s, end, isPEMBodyByte)
	if last, ok := matchPEMLine(s[end:], "-----END "); ok {
		return []int{0, end + last}
	}
	// Without its end line the block was cut, and the body may have run
	// into a word that goes on with other bytes, so that word goes too.
	return []int{0, skipBytes(s, end, isNotSpaceByte)}
}

// matchPEMLine returns the length of the text at the start of s made of
// start, words of [A-Z0-9] each followed by a space, and "PRIVATE
// KEY-----", and whether s starts with such a text.
func matchPEMLine(s, start string) (int, bool) {
	const label = "PRIVATE KEY-----"
	if !strings.HasPrefix(s, start) {
		return 0, false
	}
	i := len(start)
	for !strings.HasPrefix(s[i:], label) {
		end := skipBytes(s, i, isUpperOrDigit)
		if end == i || end >= len(s) || s[end] != ' ' {
			return 0, false
		}
		i = end + 1
	}
	return i + len(label), true
}

// isNotSpaceByte reports whether c is outside the class \s.
func isNotSpaceByte(c byte) bool { return !isSpaceByte(c) }

// isUpperOrDigit reports whether c is in [A-Z0-9].
func isUpperOrDigit(c byte) bool { return c >= 'A' && c <= 'Z' || isDigit(c) }

// isPEMBodyByte reports whether c is in [A-Za-z0-9+/=\s\\].
func isPEMBodyByte(c byte) bool {
	return isASCIILetterOrDigit(c) || isSpaceByte(c) || c == '+' || c == '/' || c == '=' || c == '\\'
}

// matchURLPassword matches the password in the userinfo of a URL, as in
// "https://user:password@host", and keeps the scheme's "://" and the user
// name:
//
//	^(://[^\s/:@]*:)[^\s/?#@]+@
//
// without the final '@', which stays in the text.
func matchURLPassword(s string) []int {
	const start = "://"
	if !strings.HasPrefix(s, start) {
		return nil
	}
	i := len(start)
	for i < len(s) && !isSpaceByte(s[i]) && s[i] != '/' && s[i] != ':' && s[i] != '@' {
		i++
	}
	if i >= len(s) || s[i] != ':' {
		return nil
	}
	keep := i + 1
	end := keep
	for end < len(s) && !isSpaceByte(s[end]) && s[end] != '/' && s[end] != '?' && s[end] != '#' && s[end] != '@' {
		end++
	}
	if end == keep || end >= len(s) || s[end] != '@' {
		return nil
	}
	return []int{0, end, 0, keep}
}

// skipBytes returns the index of the first byte of s at or after i that
// is not in the class of in.
func skipBytes(s string, i int, in func(byte) bool) int {
	for i < len(s) && in(s[i]) {
		i++
	}
	return i
}
