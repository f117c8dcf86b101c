package analytics_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// TestHandlerServesRedactedErrors records errors whose secrets hide behind
// escapes, URL encoding, joiners, letter case and unusual separators, and
// checks that no part of a secret reaches the JSON of the errors section.
func TestHandlerServesRedactedErrors(t *testing.T) {
	t.Parallel()
	const (
		jwt        = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMDEyMzQ1"
		hexKey     = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
		projectKey = "sk-proj-Lk4Qz7Wm2Np9Rt5Vx8Yb3Cd6Fg1Hj0Kl"
		plainValue = "v4lu3S3cr3tP4ssw0rd"
		awsKeyID   = "AKIAQ3EGZ7XKPL2MRW5T"
		keyBody    = "Qx7Lm2Np9Rt5Vx8Yb3Cd6Fg1Hj0KlWz4Ae"
	)
	cases := []struct {
		text   string
		secret string
	}{
		{"map[Authorization:[Bearer " + jwt + "]]", jwt},
		{`{\"api_key\":\"` + hexKey + `\"}`, hexKey},
		{`\"line\n` + projectKey + `\"`, projectKey},
		{"GET /v1/models%3Fapi_key%3D" + hexKey, hexKey},
		{"key%20" + projectKey, projectKey},
		{"%22" + projectKey + "%22", projectKey},
		{"OPENAI_KEY_" + projectKey, projectKey},
		{strings.ToUpper(projectKey), strings.ToUpper(projectKey)},
		{"api key: " + plainValue, plainValue},
		{"api.key=" + plainValue, plainValue},
		{"api-key：" + plainValue, plainValue},
		{"api_key => " + plainValue, plainValue},
		{"Authorization: Key " + hexKey, hexKey},
		{"map[Authorization:[Key " + hexKey + "]]", hexKey},
		{"Authorization: AWS4-HMAC-SHA256 Credential=" + awsKeyID + "/20240101/us-east-1/bedrock/aws4_request, Signature=" + hexKey, awsKeyID},
		{`http.Header{"Api-Key":[]string{"` + hexKey + `"}}`, hexKey},
		{"GET /v1/models%3Fkey%253D" + projectKey, projectKey},
		{`{\\\"api_key\\\":\\\"` + hexKey + `\\\"}`, hexKey},
		{"api_key&quot;:&quot;" + hexKey + "&quot;", hexKey},
		{"Ocp-Apim-Subscription-Key: " + hexKey, hexKey},
		{"dial postgres://admin:" + plainValue + "@db.internal:5432/app", plainValue},
		{"key pplx-" + keyBody, keyBody},
		{"csk-" + keyBody, keyBody},
		{"session " + jwt + " expired", jwt},
	}

	monitor := errmon.NewMonitor(errmon.Config{})
	for _, c := range cases {
		monitor.Record(errors.New(c.text), errmon.CallInfo{Endpoint: "/v1/chat?" + c.text, Provider: "openai"})
		monitor.Record(fmt.Errorf("call upstream: %w", &openai.APIError{HTTPStatusCode: 401, Code: "invalid_api_key", Message: c.text}), errmon.CallInfo{})
	}

	handler := analytics.Handler(analytics.Config{
		Store:        usage.NewMemoryStore(),
		Errors:       monitor,
		RecentErrors: 2 * len(cases),
	})
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/analytics?type=errors", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)

	var snap analytics.Snapshot
	require.NoError(t, json.Unmarshal(body, &snap))
	require.NotNil(t, snap.Errors)
	require.Len(t, snap.Errors.Recent, 2*len(cases), "recent events served")
	require.NotEmpty(t, snap.Errors.Groups, "groups served")
	for _, c := range cases {
		for i := 0; i+8 <= len(c.secret); i++ {
			assert.NotContains(t, string(body), c.secret[i:i+8], "secret of %q", c.text)
		}
	}
}
