package errmon_test

import (
	"errors"
	"fmt"
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
}

// Secrets of leakCases.
const (
	jwt           = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMDEyMzQ1"
	hexKey        = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	projectKey    = "sk-proj-Lk4Qz7Wm2Np9Rt5Vx8Yb3Cd6Fg1Hj0Kl"
	anthropicBody = "api03-Mx7Pq2Rs9Tu4Vw1Xy6Za3Bc8De5"
	plainValue    = "v4lu3S3cr3tP4ssw0rd"
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
	} {
		assert.Equal(t, text, errmon.Redact(text))
	}
}
