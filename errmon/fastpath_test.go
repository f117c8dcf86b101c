package errmon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fastPathRounds is the number of random texts that each equivalence test
// checks.
const fastPathRounds = 20000

// textFragments are the pieces of random texts: the anchors of the secret
// and retry patterns in several cases, secret-like values, separators,
// phrases that classify reads, and runes that case folding treats
// specially.
var textFragments = []string{
	// Anchors and names of credentials.
	"api", "API", "Api", "api-key", "API_KEY", "apikey", "x-api-key", "OPENAI_API_KEY",
	"authorization", "Authorization", "AUTHORIZATION", "access_token", "Access-Token",
	"refresh_token", "REFRESH-TOKEN", "secret", "Secret", "SECRET", "bearer", "Bearer",
	"BEARER", "basic", "token", "sk-", "SK-", "sk-proj-", "sk-ant-api03-", "sk-svcacct-",
	"AIza", "aiza", "AIZA", "gsk_", "GSK_", "hf_", "HF_", "xai-", "XAI-",
	"api key", "api.key", "api%20key", "api+key", "Token", "password", "PASSWD", "secret_key",
	"client_secret", "access_key", "Proxy-Authorization", "map[Authorization:[", "risk-", "task-",
	"subscription-key", "Ocp-Apim-Subscription-Key", "private_key", "credentials", "auth", "sig", "api_keys",
	"-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "://", "https://user:", "@", "pplx-", "r8_", "nvapi-",
	"sk_", "fw_", "csk-", "ghp_", "github_pat_", "ya29.", "eyJ", "AKIA", "ASIA", "[]string{", "http.Header{",
	// Escapes and encodings around names, separators and keys.
	`\n`, `\t`, `\"`, `\u0022`, `\x22`, "%22", "%3A", "%3d", "%20", "%5D", "%5b", "+", "=>", ":=", "：",
	`\\\"`, `\042`, "%2522", "%253D", "%253a", "&quot;", "&#34;", "&#39;", `", "`, "%2F",
	// Values.
	"AbCdEfGhIjKlMnOpQrSt", "0123456789abcdef0123", "***************", "eyJhbGciOiJIUzI1NiJ9",
	"a.b-c_d~e+f/g==", "x", "42",
	// Separators.
	" ", "  ", "\t", "\n", ":", ": ", "=", "\"", "'", ",", ";", "&", "}", "{", "[", "]",
	"[REDACTED]", "/", ".", "-", "_",
	// Retry phrases and waits.
	"retry", "Retry", "RETRY", "after", "After", "retry after", "Retry-After", "retry-after-ms",
	"try", "Try", "again", "in", "try again in", "Please try again in ", "retry after ",
	"197ms", "1.898s", "1.5s.", "6m0s", "20", "1e5", "0x1p-2", "Inf", "NaN", "1_000", "9999999999",
	"seconds", "second(s)", "ms", "min", "hours", "(s)", "µs", "μs", "Μs",
	// Phrases of messageCategory.
	"maximum context length", "MAXIMUM CONTEXT LENGTH", "context window", "Context Window",
	"content management policy", "exceeded your current quota", "Exceeded Your Current Quota",
	// Runes that fold to ASCII or to each other, and invalid UTF-8.
	"\u212A", "\u017F", "\u0130", "\u0131", "\u00B5", "\u03BC", "\u039C", "é", "日本", "\xff", "\xc3",
	"\uFFFD",
}

// randomText returns a text of up to maxFragments fragments from
// textFragments, with ASCII letters sometimes in the other case, and
// random bytes.
func randomText(rng *rand.Rand, maxFragments int) string {
	var b strings.Builder
	for n := rng.Intn(maxFragments + 1); n > 0; n-- {
		switch k := rng.Intn(20); {
		case k == 0:
			b.WriteByte(byte(rng.Intn(256)))
		case k == 1:
			b.WriteString(strconv.Itoa(rng.Intn(100000)))
		case k == 2:
			b.WriteString(swapCase(rng, textFragments[rng.Intn(len(textFragments))]))
		default:
			b.WriteString(textFragments[rng.Intn(len(textFragments))])
		}
	}
	return b.String()
}

// swapCase returns s with some ASCII letters in the other case.
func swapCase(rng *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if rng.Intn(2) == 0 {
			switch {
			case c >= 'a' && c <= 'z':
				b[i] = c - ('a' - 'A')
			case c >= 'A' && c <= 'Z':
				b[i] = c + ('a' - 'A')
			}
		}
	}
	return string(b)
}

// plantedSecrets are secrets of each built-in format, which Redact must
// remove wherever they stand after a space.
var plantedSecrets = []string{
	"sk-proj-Pl4nt3dK3yAbCdEfGhIjKlMnOp",
	"sk-ant-api03-Pl4nt3dAnthr0picKey0123",
	"AIzaPl4nt3dG00gleKey0123456789abcdefghi", // AIza and 35 characters
	"gsk_Pl4nt3dGr0qKey0123456789",
	"hf_Pl4nt3dHuggingFaceToken0123",
	"xai-Pl4nt3dXaiKey0123456789abc",
	"pplx-Pl4nt3dPerplexityKey0123456789abcdef",
	"r8_Pl4nt3dReplicateToken0123456789abcdef",
	"nvapi-Pl4nt3dNvidiaKey0123456789abcdefghij",
	"sk_0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
	"fw_Pl4nt3dFireworksKey0123456789",
	"csk-Pl4nt3dCerebrasKey0123456789abcdefghij",
	"ghp_Pl4nt3dGitHubToken0123456789abcdefgh",
	"ya29.Pl4nt3dGoogleAccessToken0123456789",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJl",
	"AKIAPL4NT3DAWSKEY0ID",
}

func TestRedactMatchesReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < fastPathRounds; i++ {
		text := randomText(rng, 24)
		require.Equal(t, referenceRedact(text), Redact(text), "text %q", text)
	}
}

func TestRedactRemovesPlantedSecrets(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < fastPathRounds; i++ {
		secret := plantedSecrets[rng.Intn(len(plantedSecrets))]
		body := secret[strings.IndexAny(secret, "-_")+1:]
		text := randomText(rng, 8) + " " + secret + " " + randomText(rng, 8)

		got := Redact(text)
		require.Equal(t, referenceRedact(text), got, "text %q", text)
		require.NotContains(t, got, body, "text %q", text)
	}
}

// TestRedactFindsAnchorsInAnyCase covers the texts that a scan for
// lowercase anchors alone would miss: names in uppercase or mixed case,
// and secrets at the start or end of the text.
func TestRedactFindsAnchorsInAnyCase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"uppercase header", "AUTHORIZATION: BEARER abc.def", "AUTHORIZATION: [REDACTED]"},
		{"mixed case name", "X-Api-KEY=hunter2", "X-Api-KEY=[REDACTED]"},
		{"uppercase bearer", "BEARER abcdef", "BEARER [REDACTED]"},
		{"key at start", "sk-AAAAAAAAAAAAAAAAAAAAAAAA", "[REDACTED]"},
		{"key at end", "key sk-AAAAAAAAAAAAAAAAAAAAAAAA", "key [REDACTED]"},
		{"google key in uppercase anchor text", "AIzaSyA1234567890abcdefghijklmnopqrstuv", "[REDACTED]"},
		{"after non-ASCII", "日本sk-AAAAAAAAAAAAAAAAAAAAAAAA", "日本[REDACTED]"},
		{"after a redaction", "[REDACTED]sk-AAAAAAAAAAAAAAAAAAAAAAAA", "[REDACTED][REDACTED]"},
		{"secret name only", "SECRET=x", "SECRET=[REDACTED]"},
		{"two byte text", "sk", "sk"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Redact(tt.in))
			assert.Equal(t, referenceRedact(tt.in), Redact(tt.in), "reference")
		})
	}
}

// TestSecretMatchersMatchRegexps compares each match function of
// secretPatterns with its regular expression. The texts start like a
// match and go on with characters of the pattern's classes, delimiters and
// runes that fold to ASCII letters, in runs of every length around the
// patterns' minimums.
func TestSecretMatchersMatchRegexps(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(11))
	starts := [][]string{
		{"-----BEGIN ", "-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----\n", "-----BEGIN EC  PRIVATE KEY-----"},
		{"authorization", "Authorization", "AUTHORIZATION:", "authorization\\\"", "Authorization&quot;", "authori\u212Aation"},
		{"api", "API", "api-", "api_", "Api-Key", "apikey", "api_keys", "api-\u212Aey", "access", "access_token", "refresh-token", "REFRESH_TO\u212AEN", "secret", "SECRET",
			"api key", "api.key", "api%20key", "api+key", "access_key", "secret_key", "se\u017Fret", "password", "passwd", "token", "Token", "api_key\\\"", "api_key%22", "token]",
			"subscription-key", "Ocp-Apim-Subscription-Key", "private_key", "api_key&quot;", "api-key\"", "api_key%2522"},
		{"credential", "credentials", "Credential", "CREDENTIALS\""},
		{"auth", "AUTH", "sig", "Sig", "auth\\\""},
		{"bearer", "Bearer", "BEARER", "bearer ", "Bearer\t\n", "Bearer%20", "bearer%20 "},
		{"://", "://user:", "://:", "://u"},
		{"sk-", "SK-", "sk-proj-", "sk-ant-api03-"},
		{"AIza", "aiza", "AIZA"},
		{"gsk_", "GSK_", "hf_", "HF_", "xai-", "XAI-", "pplx-", "r8_", "nvapi-", "sk_", "fw_", "Fw_"},
		{"csk-", "ghp_", "GHO_", "ghu_", "ghs_", "ghr_", "github_pat_", "ya29.", "YA29."},
		{"eyJ", "eyJhbGci.eyJ", "eyJhbGciOi.", "EYJ"},
		{"AKIA", "ASIA", "akia", "AKIAB"},
	}
	pieces := []string{
		"a", "Z", "k", "s", "0", "9", "_", "-", "*", ".", "~", "+", "/", "=", "==", " ", "\t", "\n", ":", ": ", "=", "\"", "'",
		",", ";", "&", "}", "(", "\u212A", "\u017F", "é", "\xff", "bearer ", "Basic ", "token\t", "abcdefghij", "0123456789",
		"[", "]", "\\", `\"`, `\u0022`, `\n`, "%22", "%20", "%3A", "%3d", "%5D", "%5b", "=>", ":=", "：", "Bearer+", "digest ", "REDACTED",
		"%2522", "%253D", "&quot;", "&#34;", `\042`, `\\\"`, "[]string{", `", "`, ")", "@", "?", "#", "0f1e2d3c4b5a6978", "ABCDEFGHIJ",
		"eyJ", "PRIVATE KEY-----", "-----END ", "RSA ", "missing", "invalid", "Token is", "auth",
	}
	for p := range secretPatterns {
		for i := 0; i < fastPathRounds/len(secretPatterns); i++ {
			var b strings.Builder
			b.WriteString(starts[p][rng.Intn(len(starts[p]))])
			for n := rng.Intn(50); n > 0; n-- {
				b.WriteString(pieces[rng.Intn(len(pieces))])
			}
			text := b.String()
			require.Equal(t, referenceSecretPatterns[p].match(text), secretPatterns[p].match(text), "pattern %d, text %q", p, text)
		}
	}
}

func FuzzRedact(f *testing.F) {
	for _, seed := range []string{
		"", "sk-AAAAAAAAAAAAAAAAAAAAAAAA", "Authorization: Bearer abc", "X-API-KEY=1",
		"Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789.",
		"api-key: \u212Aey", "hf_abcdefghijklmnopqrstuvwxyz", "[REDACTED]secret=1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := Redact(text), referenceRedact(text); got != want {
			t.Errorf("Redact(%q) = %q, want %q", text, got, want)
		}
	})
}

func TestMonitorRedactsWithUserPatternsOnly(t *testing.T) {
	t.Parallel()
	// No built-in anchor occurs in these texts, so only the configured
	// pattern can find the token.
	token := "tok_live_9XkQ2mZ7LpW4"
	m := NewMonitor(Config{MaxSeries: 1, Redact: []*regexp.Regexp{regexp.MustCompile(`tok_live_[A-Za-z0-9]+`)}})
	err := fmt.Errorf("billing %s expired: %w", token, &openai.APIError{HTTPStatusCode: 400, Code: token, Message: "token " + token})

	for i, info := range []CallInfo{
		{Endpoint: "/chat/" + token, Model: token},      // creates its series
		{Endpoint: "/chat/" + token, Model: token},      // takes the series' label
		{Endpoint: "/other/" + token, Operation: token}, // folds into the other series
	} {
		ev := m.Record(err, info)
		for _, field := range []string{ev.Message, ev.Code, ev.Endpoint, ev.Model, ev.Operation} {
			assert.NotContains(t, field, token, "event %d", i)
		}
		assert.Contains(t, ev.Message, Redacted, "event %d", i)
		assert.Contains(t, ev.Endpoint, Redacted, "event %d", i)
	}
}

func TestIndexFoldMatchesIndex(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(3))
	anchors := []string{"api", "authorization", "sk-", "gsk_", "retry-after", "try", "x", "-_"}
	for i := 0; i < fastPathRounds; i++ {
		text := randomText(rng, 12)
		anchor := anchors[rng.Intn(len(anchors))]
		from := 0
		if len(text) > 0 {
			from = rng.Intn(len(text) + 1)
		}

		want := strings.Index(referenceLower(text)[from:], anchor)
		if want >= 0 {
			want += from
		}
		require.Equal(t, want, indexFold(text, anchor, from), "indexFold(%q, %q, %d)", text, anchor, from)
	}
}

func TestAnchorScanMatchesContains(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(4))
	for i := 0; i < fastPathRounds; i++ {
		text := randomText(rng, 16)
		lower := referenceLower(text)
		var want uint64
		wantAnchors := make([]uint64, len(secretPatterns))
		for p, pattern := range secretPatterns {
			for k, anchor := range pattern.anchors {
				if strings.Contains(lower, anchor) {
					want |= 1 << p
					wantAnchors[p] |= 1 << k
				}
			}
		}
		require.Equal(t, want, anchoredPatterns(text), "text %q", text)

		_, anchors := secretScan.scan(text)
		for p := range secretPatterns {
			require.Equal(t, wantAnchors[p], secretScan.patternAnchors(p, anchors), "anchors of pattern %d in %q", p, text)
		}
	}
}

func TestNewAnchorScanRejectsUnsafeAnchors(t *testing.T) {
	t.Parallel()
	valid := anchoredPattern{anchors: []string{"key"}}
	tests := []struct {
		name     string
		patterns []anchoredPattern
	}{
		{"no anchor", []anchoredPattern{{}}},
		{"uppercase", []anchoredPattern{{anchors: []string{"Key"}}}},
		{"one byte", []anchoredPattern{{anchors: []string{"k"}}}},
		{"bracket", []anchoredPattern{{anchors: []string{"a]b"}}}},
		{"inside the replacement", []anchoredPattern{{anchors: []string{"act"}}}},
		{"non-ASCII", []anchoredPattern{{anchors: []string{"clé"}}}},
		{"65 patterns", func() []anchoredPattern {
			patterns := make([]anchoredPattern, 65)
			for i := range patterns {
				patterns[i] = valid
			}
			return patterns
		}()},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Panics(t, func() { newAnchorScan(tt.patterns) })
		})
	}
	assert.NotPanics(t, func() { newAnchorScan([]anchoredPattern{valid}) })
}

func TestMatchRetryPhraseMatchesRegexp(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(5))
	starts := []string{"retry", "Retry", "RETRY", "try", "TRY", "retry after ", "try again in ", "Try Again In\t"}
	for i := 0; i < fastPathRounds; i++ {
		text := starts[rng.Intn(len(starts))] + randomText(rng, 6)

		amount, word, ok := matchRetryPhrase(text)
		m := referenceRetryExpression.FindStringSubmatchIndex(text)
		require.Equal(t, m != nil, ok, "text %q", text)
		if m == nil {
			continue
		}
		require.Equal(t, text[m[2]:m[3]], amount, "amount of %q", text)
		wantWord := ""
		if m[4] >= 0 {
			wantWord = text[m[4]:m[5]]
		}
		require.Equal(t, wantWord, word, "word of %q", text)
	}
}

// TestRuneClassesMatchRegexp compares the classes of matchBearer and
// matchRetryPhrase with the regexp package's case-insensitive classes over
// the first two Unicode planes, where every case fold of an ASCII letter
// lies.
func TestRuneClassesMatchRegexp(t *testing.T) {
	t.Parallel()
	bearerClass := regexp.MustCompile(`^(?i)[a-z0-9._~+/-]$`)
	amountClass := regexp.MustCompile(`^(?i)[0-9a-zµ.]$`)
	unitClass := regexp.MustCompile(`^(?i)[a-z()]$`)
	spaceClass := regexp.MustCompile(`^\s$`)
	for r := rune(0); r < 0x20000; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		require.Equal(t, bearerClass.MatchString(s), isBearerTokenRune(r), "bearer token rune %U", r)
		require.Equal(t, amountClass.MatchString(s), isAmountRune(r), "amount rune %U", r)
		require.Equal(t, unitClass.MatchString(s), isUnitRune(r), "unit rune %U", r)
		if r < utf8.RuneSelf {
			require.Equal(t, spaceClass.MatchString(s), skipSpace(s, 0) == 1, "space %U", r)
		}
	}
}

func TestRetryHintMatchesReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(6))
	for i := 0; i < fastPathRounds; i++ {
		text := randomText(rng, 12)
		require.Equal(t, referenceRetryHint(text), retryHint(text), "text %q", text)
	}
}

func TestMayBeFloatRulesOutOnlyFailures(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(7))
	texts := []string{"197ms", "1.5", "1e5", "1E-5", "0x1p-2", "0X1P+2", "Inf", "+infinity", "NaN", "1_000", "0x_1p0", "6m0s", "1h", "2.5.", ""}
	for i := 0; i < fastPathRounds; i++ {
		texts = append(texts, randomText(rng, 3))
	}
	for _, text := range texts {
		if !mayBeFloat(text) {
			_, err := strconv.ParseFloat(text, 64)
			require.Error(t, err, "ParseFloat(%q) succeeds where mayBeFloat rules it out", text)
		}
	}
	for _, text := range []string{"1e5", "0x1p-2", "Inf", "NaN", "1.5"} {
		assert.True(t, mayBeFloat(text), text)
	}
}

func TestIsIntegerMatchesAtoi(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(8))
	texts := []string{"", "+", "-", "429", "+429", "-1", "4_29", "0x1", " 429", "429 ", "rate_limit_exceeded"}
	for i := 0; i < fastPathRounds; i++ {
		texts = append(texts, randomText(rng, 2))
	}
	for _, text := range texts {
		_, err := strconv.Atoi(text)
		// Atoi also fails on a number out of range, which isInteger lets
		// through.
		if isInteger(text) {
			var numErr *strconv.NumError
			require.True(t, err == nil || errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange), "isInteger(%q) with error %v", text, err)
		} else {
			require.Error(t, err, "Atoi(%q) succeeds where isInteger is false", text)
		}
	}
}

func TestMessageCategoryMatchesReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(9))
	statuses := []int{0, 400, 401, 403, 404, 429, 500}
	codes := []string{"", "rate_limit_exceeded", "context_length_exceeded"}
	for i := 0; i < fastPathRounds; i++ {
		text := randomText(rng, 10)
		status := statuses[rng.Intn(len(statuses))]
		code := codes[rng.Intn(len(codes))]
		require.Equal(t, referenceMessageCategory(status, code, text), messageCategory(status, code, text),
			"status %d, code %q, message %q", status, code, text)
	}
}

// TestOnlyTwoRunesLowercaseToASCII backs containsFold: outside ASCII,
// strings.ToLower turns only U+0130 and U+212A into text with an ASCII byte.
func TestOnlyTwoRunesLowercaseToASCII(t *testing.T) {
	t.Parallel()
	var found []rune
	for r := rune(utf8.RuneSelf); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		lower := strings.ToLower(string(r))
		for i := 0; i < len(lower); i++ {
			if lower[i] < utf8.RuneSelf {
				found = append(found, r)
				break
			}
		}
	}
	assert.Equal(t, []rune{'\u0130', '\u212A'}, found)
}

// asAPIError converts itself to an APIError through an As method, as an
// error type of a client library can.
type asAPIError struct{ apiErr *openai.APIError }

func (e asAPIError) Error() string { return "converts to an APIError" }

func (e asAPIError) As(target any) bool {
	if p, ok := target.(**openai.APIError); ok {
		*p = e.apiErr
		return true
	}
	return false
}

func TestFindTypedErrorsMatchesErrorsAs(t *testing.T) {
	t.Parallel()
	apiErr := &openai.APIError{HTTPStatusCode: 429, Message: "slow down"}
	otherAPIErr := &openai.APIError{HTTPStatusCode: 500, Message: "failed"}
	reqErr := &openai.RequestError{HTTPStatusCode: 502, Err: apiErr}
	panicErr := &PanicError{Value: apiErr}
	var nilAPIErr *openai.APIError

	tests := []struct {
		name string
		err  error
	}{
		{"plain", errors.New("plain")},
		{"api error", apiErr},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", apiErr))},
		{"request error wrapping api error", reqErr},
		{"panic wrapping api error", panicErr},
		{"joined", errors.Join(io.EOF, nil, otherAPIErr, apiErr)},
		{"joined inside wrap", fmt.Errorf("x: %w", errors.Join(context.Canceled, fmt.Errorf("y: %w", reqErr)))},
		{"two wrapped", fmt.Errorf("%w and %w", otherAPIErr, panicErr)},
		{"typed nil first", errors.Join(nilAPIErr, apiErr)},
		{"As method", fmt.Errorf("z: %w", asAPIError{apiErr: otherAPIErr})},
		{"As method before the type", errors.Join(asAPIError{apiErr: otherAPIErr}, apiErr)},
		{"As method to nil", errors.Join(asAPIError{}, apiErr)},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, want := findTypedErrors(tt.err), referenceTypedErrors(tt.err)
			assert.Same(t, want.panicErr, got.panicErr, "PanicError")
			assert.Same(t, want.apiErr, got.apiErr, "APIError")
			assert.Same(t, want.reqErr, got.reqErr, "RequestError")
		})
	}
}
