package simprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiError is the object inside OpenAI's error body,
// {"error": {"message", "type", "param", "code"}}. Param and Code are JSON
// null when empty, as OpenAI sends them.
type apiError struct {
	Message string
	Type    string
	Param   string
	Code    string
}

func (e apiError) MarshalJSON() ([]byte, error) {
	type wire struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	out := wire{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		out.Param = &e.Param
	}
	if e.Code != "" {
		out.Code = &e.Code
	}
	return json.Marshal(out)
}

// writeAPIError writes an OpenAI-shaped error response.
func writeAPIError(w http.ResponseWriter, status int, e apiError) {
	body, err := json.Marshal(struct {
		Error apiError `json:"error"`
	}{e})
	if err != nil {
		// An apiError contains only strings, so json.Marshal cannot fail.
		panic(fmt.Sprintf("simprovider: marshal error body: %v", err))
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// invalidRequest returns an error of type invalid_request_error. param and
// code may be empty.
//
// NOTE: the messages of invalid requests follow the style of OpenAI's but
// are not copies of them, so tests should match type, param and code.
func invalidRequest(message, param, code string) apiError {
	return apiError{Message: message, Type: "invalid_request_error", Param: param, Code: code}
}

// writeRateLimit writes the 429 of FaultRateLimit, with retry-after and the
// x-ratelimit-*-requests headers that OpenAI also sends.
func writeRateLimit(w http.ResponseWriter, model string, limit int, retryAfter time.Duration) {
	wait := formatWait(retryAfter)

	h := w.Header()
	h.Set("retry-after", strconv.FormatInt(ceilSeconds(retryAfter), 10))
	h.Set("x-ratelimit-limit-requests", strconv.Itoa(limit))
	h.Set("x-ratelimit-remaining-requests", "0")
	h.Set("x-ratelimit-reset-requests", wait)

	writeAPIError(w, http.StatusTooManyRequests, apiError{
		Message: fmt.Sprintf("Rate limit reached for %s in organization org-simulated on requests per min (RPM): "+
			"Limit %d, Used %d, Requested 1. Please try again in %s.", model, limit, limit, wait),
		Type: "requests",
		Code: "rate_limit_exceeded",
	})
}

// formatWait formats d as OpenAI writes waits in messages and reset headers
// ("1.2s", "20ms", "6m0s"), which is also what time.ParseDuration reads.
func formatWait(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}

// ceilSeconds rounds d up to whole seconds, because a retry-after header
// carries whole seconds and must not promise an earlier retry than d.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

func errQuota() apiError {
	return apiError{
		Message: "You exceeded your current quota, please check your plan and billing details.",
		Type:    "insufficient_quota",
		Code:    "insufficient_quota",
	}
}

func errServer() apiError {
	return apiError{
		Message: "The server had an error while processing your request. Sorry about that!",
		Type:    "server_error",
	}
}

func errMissingKey() apiError {
	return invalidRequest("You didn't provide an API key. Send it in an Authorization header using Bearer auth "+
		"(Authorization: Bearer YOUR_KEY).", "", "")
}

func errInvalidKey() apiError {
	return invalidRequest("Incorrect API key provided. Send it in an Authorization header as \"Bearer YOUR_KEY\".",
		"", "invalid_api_key")
}

func errInvalidURL(method, path string) apiError {
	return invalidRequest(fmt.Sprintf("Invalid URL (%s %s)", method, path), "", "")
}

func errClosed() apiError {
	return apiError{Message: "The simulated provider is closed.", Type: "server_error"}
}
