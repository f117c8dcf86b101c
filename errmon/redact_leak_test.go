package errmon_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

// leakCases are texts whose secret a redaction by words alone would miss:
// escapes, URL encoding, joiners and letter case around a key, and
// credential names written with other separators.
var leakCases = []struct {
	name   string
	text   string
	secret string
	want   string
}{
	{"printed http.Header", "map[Authorization:[Bearer " + jwt + "]]", jwt, "map[Authorization:[[REDACTED]]]"},
	{"escaped JSON", `{\"api_key\":\"` + hexKey + `\"}`, hexKey, `{\"api_key\":\"[REDACTED]\"}`},
	{"escaped newline before key", `\"line\n` + projectKey + `\"`, projectKey, `\"line\n[REDACTED]\"`},
	{"escaped tab before key", `failed:\t` + projectKey, projectKey, `failed:\t[REDACTED]`},
	{"escaped quote before key", `{\"key\":\"` + projectKey + `\"}`, projectKey, `{\"key\":\"[REDACTED]\"}`},
	{"unicode escaped quote before key", `\u0022` + projectKey + `\u0022`, projectKey, `\u0022[REDACTED]\u0022`},
	{"URL-encoded query", "GET /v1/models%3Fapi_key%3D" + hexKey, hexKey, "GET /v1/models%3Fapi_key%3D[REDACTED]"},
	{"URL-encoded space before key", "key%20" + projectKey, projectKey, "key%20[REDACTED]"},
	{"URL-encoded quote before key", "%22" + projectKey + "%22", projectKey, "%22[REDACTED]%22"},
	{"plus for space in name", "api+key=" + hexKey, hexKey, "api+key=[REDACTED]"},
	{"underscore before key", "OPENAI_KEY_" + projectKey, projectKey, "OPENAI_KEY_[REDACTED]"},
	{"uppercased key", strings.ToUpper(projectKey), strings.ToUpper(projectKey), "[REDACTED]"},
	{"mixed case anthropic key", "Sk-Ant-" + anthropicBody, anthropicBody, "[REDACTED]"},
	{"admin key", "sk-admin-" + anthropicBody, anthropicBody, "[REDACTED]"},
	{"api key with space", "api key: " + plainValue, plainValue, "api key: [REDACTED]"},
	{"api key with dot", "api.key=" + plainValue, plainValue, "api.key=[REDACTED]"},
	{"full-width colon", "api-key：" + plainValue, plainValue, "api-key：[REDACTED]"},
	{"arrow", "api_key => " + plainValue, plainValue, "api_key => [REDACTED]"},
	{"URL-encoded separator and quotes", "%22x-api-key%22%3A%22" + plainValue + "%22", plainValue, "%22x-api-key%22%3A%22[REDACTED]"},
	{"unicode escaped quotes", `\u0022api_key\u0022:\u0022` + plainValue + `\u0022`, plainValue, `\u0022api_key\u0022:\u0022[REDACTED]\u0022`},
	{"bracketed name", "params[api_key]=" + plainValue, plainValue, "params[api_key]=[REDACTED]"},
	{"proxy authorization", "Proxy-Authorization: Basic " + plainValue, plainValue, "Proxy-Authorization: [REDACTED]"},
	{"token scheme", "authorization=Token " + plainValue, plainValue, "authorization=[REDACTED]"},
	{"URL-encoded bearer", "Authorization%3ABearer%20" + jwt, jwt, "Authorization%3A[REDACTED]"},
	{"bare URL-encoded bearer", "header Bearer%20" + jwt, jwt, "header Bearer%20[REDACTED]"},
	{"password", `{"password": "` + plainValue + `"}`, plainValue, `{"password": "[REDACTED]"}`},
	{"client secret", "client_secret=" + plainValue + "&grant_type=x", plainValue, "client_secret=[REDACTED]&grant_type=x"},
	{"access token", "ACCESS-TOKEN: " + plainValue, plainValue, "ACCESS-TOKEN: [REDACTED]"},
	{"token", "token=" + plainValue, plainValue, "token=[REDACTED]"},
	{"secret key", "SECRET_KEY := " + plainValue, plainValue, "SECRET_KEY := [REDACTED]"},

	// Authorization with any scheme: the whole value is the credential.
	{"authorization key scheme", "Authorization: Key " + hexKey, hexKey, "Authorization: [REDACTED]"},
	{"authorization oauth scheme", "Authorization: OAuth " + jwt, jwt, "Authorization: [REDACTED]"},
	{"authorization apikey scheme", `{"Authorization":"ApiKey ` + hexKey + `"}`, hexKey, `{"Authorization":"[REDACTED]"}`},
	{"printed header with key scheme", "map[Authorization:[Key " + hexKey + "]]", hexKey, "map[Authorization:[[REDACTED]]]"},
	{"sigv4 access key ID", sigV4Header, awsKeyID, "Authorization: [REDACTED]"},
	{"sigv4 signature", sigV4Header, hexKey, "Authorization: [REDACTED]"},
	{"authorization value stops at line end", "Authorization: Corp " + plainValue + "\nnext line", plainValue, "Authorization: [REDACTED]\nnext line"},

	// Go syntax of printed headers and maps (%#v).
	{"Go syntax http.Header", `http.Header{"Api-Key":[]string{"` + hexKey + `"}}`, hexKey, `http.Header{"Api-Key":[]string{"[REDACTED]"}}`},
	{"Go syntax X-Api-Key", `http.Header{"X-Api-Key":[]string{"` + hexKey + `"}}`, hexKey, `http.Header{"X-Api-Key":[]string{"[REDACTED]"}}`},
	{"Go syntax map", `map[string][]string{"api_key":[]string{"` + hexKey + `"}}`, hexKey, `map[string][]string{"api_key":[]string{"[REDACTED]"}}`},
	{"Go syntax adjacent elements", `[]string{"api-key", "` + hexKey + `"}`, hexKey, `[]string{"api-key", "[REDACTED]"}`},

	// Encodings applied twice, octal escapes and HTML entities.
	{"double URL-encoded key", "GET /v1/models%3Fkey%253D" + projectKey, projectKey, "GET /v1/models%3Fkey%253D[REDACTED]"},
	{"double URL-encoded separator", "api_key%253D" + hexKey, hexKey, "api_key%253D[REDACTED]"},
	{"double URL-encoded quotes", "%2522api_key%2522%253A%2522" + hexKey + "%2522", hexKey, "%2522api_key%2522%253A%2522[REDACTED]"},
	{"double-escaped JSON", `{\\\"api_key\\\":\\\"` + hexKey + `\\\"}`, hexKey, `{\\\"api_key\\\":\\\"[REDACTED]\\\"}`},
	{"octal escape before key", `\042` + projectKey + `\042`, projectKey, `\042[REDACTED]\042`},
	{"HTML entity quotes", "api_key&quot;:&quot;" + hexKey + "&quot;", hexKey, "api_key&quot;:&quot;[REDACTED]&quot;"},
	{"HTML numeric quotes", "{&#34;api_key&#34;:&#34;" + hexKey + "&#34;}", hexKey, "{&#34;api_key&#34;:&#34;[REDACTED]&#34;}"},
	{"URL-encoded bytes in bearer token", "header Bearer%20" + googleToken, googleToken, "header Bearer%20[REDACTED]"},

	// More credential names.
	{"Azure APIM header", "Ocp-Apim-Subscription-Key: " + hexKey, hexKey, "Ocp-Apim-Subscription-Key: [REDACTED]"},
	{"Azure APIM query", "GET /chat?subscription-key=" + hexKey + "&x=1", hexKey, "GET /chat?subscription-key=[REDACTED]&x=1"},
	{"api keys", "api_keys=" + hexKey, hexKey, "api_keys=[REDACTED]"},
	{"auth", "GET /v1?auth=" + hexKey, hexKey, "GET /v1?auth=[REDACTED]"},
	{"credentials", "credentials: " + plainValue, plainValue, "credentials: [REDACTED]"},
	{"private key field", `{"private_key": "` + pemKey + `", "type": "service_account"}`, pemBody, `{"private_key": "[REDACTED]\n", "type": "service_account"}`},
	{"PEM block alone", "key file:\n" + strings.ReplaceAll(pemKey, `\n`, "\n"), pemBody[:30], "key file:\n[REDACTED]\n"},
	{"Azure SAS signature", "GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=" + sasSignature + "&se=2030", sasSignature, "GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=[REDACTED]&se=2030"},
	{"URL password", "dial postgres://admin:" + plainValue + "@db.internal:5432/app", plainValue, "dial postgres://admin:[REDACTED]@db.internal:5432/app"},

	// More key formats without a name before them.
	{"Perplexity key", "key pplx-" + longKeyBody, longKeyBody, "key [REDACTED]"},
	{"Replicate token", "r8_" + longKeyBody, longKeyBody, "[REDACTED]"},
	{"NVIDIA key", "nvapi-" + longKeyBody + "-x_Y", longKeyBody, "[REDACTED]"},
	{"ElevenLabs key", "xi sk_" + hexKey + "0f1e2d3c", hexKey, "xi [REDACTED]"},
	{"Fireworks key", "fw_" + longKeyBody, longKeyBody, "[REDACTED]"},
	{"Cerebras key", "csk-" + longKeyBody, longKeyBody, "[REDACTED]"},
	{"GitHub token", "ghp_" + longKeyBody, longKeyBody, "[REDACTED]"},
	{"GitHub fine-grained token", "github_pat_11ABCDEFG0_" + longKeyBody + "_" + longKeyBody, longKeyBody, "[REDACTED]"},
	{"Google OAuth token", "token was ya29." + longKeyBody, longKeyBody, "token was [REDACTED]"},
	{"bare JWT", "session " + jwt + " expired", jwt, "session [REDACTED] expired"},
	{"AWS access key ID", "key " + awsKeyID + " denied", awsKeyID, "key [REDACTED] denied"},
	{"AWS temporary key ID", "ASIA" + awsKeyID[4:], awsKeyID[4:], "[REDACTED]"},
}

// sigV4Header is an AWS Signature Version 4 header, whose access key ID
// and signature are both secret.
const sigV4Header = "Authorization: AWS4-HMAC-SHA256 Credential=" + awsKeyID + "/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + hexKey

// Secrets of leakCases.
const (
	jwt           = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMDEyMzQ1"
	hexKey        = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	projectKey    = "sk-proj-Lk4Qz7Wm2Np9Rt5Vx8Yb3Cd6Fg1Hj0Kl"
	anthropicBody = "api03-Mx7Pq2Rs9Tu4Vw1Xy6Za3Bc8De5"
	plainValue    = "v4lu3S3cr3tP4ssw0rd"
	googleToken   = "ya29.a0AfH6SMBx%2FKp9qwertyUIOPasdfGHJ"
	longKeyBody   = "Qx7Lm2Np9Rt5Vx8Yb3Cd6Fg1Hj0KlWz4Ae"
	awsKeyID      = "AKIAQ3EGZ7XKPL2MRW5T"
	sasSignature  = "0f1e2d3c4b5a6978%2Bq%3D"
	pemBody       = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
	pemKey        = `-----BEGIN PRIVATE KEY-----\n` + pemBody + `\nAoIBAQC7x9Qw==\n-----END PRIVATE KEY-----\n`
)

// secretParts returns every 8-byte piece of secret, or secret itself when
// it is shorter, so that a test can check that no part of it survives.
func secretParts(secret string) []string {
	const size = 8
	if len(secret) <= size {
		return []string{secret}
	}
	parts := make([]string, 0, len(secret)-size+1)
	for i := 0; i+size <= len(secret); i++ {
		parts = append(parts, secret[i:i+size])
	}
	return parts
}

func TestRedactLeakCases(t *testing.T) {
	t.Parallel()
	for _, tt := range leakCases {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, tt.text, tt.secret, "the secret must be in the input")

			got := errmon.Redact(tt.text)
			assert.Equal(t, tt.want, got)
			for _, part := range secretParts(tt.secret) {
				assert.NotContains(t, got, part)
			}
			assert.Equal(t, got, errmon.Redact(got), "redacting twice")
		})
	}
}

func TestMonitorRedactsLeakCases(t *testing.T) {
	t.Parallel()
	for _, tt := range leakCases {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newLeakCheck(t, errmon.Config{})
			errs := []error{
				errors.New(tt.text),
				fmt.Errorf("call upstream: %w", apiError(401, "invalid_api_key", "invalid_request_error", tt.text)),
			}
			for _, err := range errs {
				c.events = append(c.events, c.monitor.Record(err, errmon.CallInfo{Endpoint: "/v1/chat?" + tt.text}))
			}

			require.Len(t, c.fingerprintInputs, len(errs))
			require.Equal(t, len(errs), strings.Count(c.log.String(), "\n"), "one log line per event")
			for _, part := range secretParts(tt.secret) {
				c.assertNoSecret(t, part)
			}
		})
	}
}

// TestRedactKeepsProse checks that ordinary sentences, which contain the
// words that start a secret, come out unchanged.
func TestRedactKeepsProse(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"risk-assessment for the task-based plan",
		"Ask-the-desk-assistant-for-the-current-status before retrying.",
		"The api is down and the key rotation is planned.",
		"Your API key was rotated; create a new API key in the dashboard.",
		"The password policy requires twelve characters.",
		"max_tokens is too large: the token count exceeds the limit.",
		"Authorization failed for this request.",
		"The secret sauce of the tokenizer is its vocabulary.",
		"Invalid value for 'skip-validation-of-request-body'.",
		"Access to the model is restricted for your organization.",
		"Bearer token is invalid.",
		"Authorization: header missing",
		"secret: none configured",
		"The model sk-learning-assistant-v2-large does not exist.",
		"Use OAuth for the design of the signature; the author is here.",
		"See https://platform.openai.com/account/api-keys for details.",
	} {
		assert.Equal(t, text, errmon.Redact(text))
	}
}

// TestRedactKeepsProviderSentence checks that OpenAI's message about a
// missing key keeps its sentences: only the placeholder after
// "Authorization:" is taken for a credential.
func TestRedactKeepsProviderSentence(t *testing.T) {
	t.Parallel()
	text := "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
		"(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API " +
		"from your browser and are prompted for a username and password."
	want := strings.Replace(text, "Authorization: Bearer YOUR_KEY", "Authorization: [REDACTED]", 1)
	assert.Equal(t, want, errmon.Redact(text))
}

// TestMonitorRunsUserPatternsFirst checks that a Config.Redact pattern
// matches the original text, which a built-in pattern would rewrite first.
func TestMonitorRunsUserPatternsFirst(t *testing.T) {
	t.Parallel()
	const secret = "c0rpT0kenSecretValue123"
	c := newLeakCheck(t, errmon.Config{Redact: []*regexp.Regexp{regexp.MustCompile(`Authorization: Corp \S+`)}})
	text := "upstream rejected Authorization: Corp " + secret
	ev := c.monitor.Record(errors.New(text), errmon.CallInfo{Endpoint: "/v1/chat?" + text})
	c.events = append(c.events, ev)

	assert.Equal(t, "upstream rejected [REDACTED]", ev.Message)
	assert.Equal(t, "/v1/chat?upstream rejected [REDACTED]", ev.Endpoint)
	for _, part := range secretParts(secret) {
		c.assertNoSecret(t, part)
	}
}
