package analytics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aimeter/aimeter/analytics"
)

// serve sends one request to a Handler built from cfg and returns the
// response.
func serve(t *testing.T, cfg analytics.Config, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	analytics.Handler(cfg).ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// errorMessage decodes a {"error": "..."} body.
func errorMessage(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON error: %v", rec.Body, err)
	}
	return body.Error
}

func checkJSONHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func TestHandlerOK(t *testing.T) {
	t.Parallel()
	cfg, _ := fixtureConfig()
	rec := serve(t, cfg, http.MethodGet, "/api/analytics")

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
	}
	checkJSONHeaders(t, rec)
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
}

func TestHandlerSectionKeys(t *testing.T) {
	t.Parallel()

	tests := []struct {
		query string
		keys  []string
	}{
		{query: "", keys: []string{"errors", "generated_at", "performance", "rate_limits", "type", "usage", "window"}},
		{query: "type=all", keys: []string{"errors", "generated_at", "performance", "rate_limits", "type", "usage", "window"}},
		{query: "type=usage", keys: []string{"generated_at", "type", "usage", "window"}},
		{query: "type=errors", keys: []string{"errors", "generated_at", "type", "window"}},
		{query: "type=performance", keys: []string{"generated_at", "performance", "type", "window"}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run("query="+tt.query, func(t *testing.T) {
			t.Parallel()
			cfg, _ := fixtureConfig()
			rec := serve(t, cfg, http.MethodGet, "/api/analytics?"+tt.query)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}

			var body map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not a JSON object: %v", err)
			}
			var keys []string
			for k := range body {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != strings.Join(tt.keys, ",") {
				t.Errorf("keys = %v, want %v", keys, tt.keys)
			}
		})
	}
}

func TestHandlerBadParameter(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		query  string
		naming string
	}{
		{name: "unknown type", query: "type=cost", naming: "type"},
		{name: "unknown window", query: "window=2h", naming: "window"},
		{name: "malformed since", query: "since=yesterday", naming: "since"},
		{name: "malformed until", query: "until=2026-13-01T00:00:00Z", naming: "until"},
		{name: "since equals until", query: "since=2026-12-04T18:00:00Z&until=2026-12-04T18:00:00Z", naming: "since"},
		{name: "since after until", query: "since=2026-12-04T18:00:00Z&until=2026-12-04T17:00:00Z", naming: "since"},
		{name: "since after now", query: "since=2026-12-05T00:00:00Z", naming: "since"},
		{name: "window with since", query: "window=1h&since=2026-12-04T17:00:00Z", naming: "window"},
		{name: "window before year 1", query: "window=7d&until=0001-01-03T00:00:00Z", naming: "window"},
		{name: "since before year 1", query: "since=0000-12-31T00:00:00Z", naming: "since"},
		{name: "until before default window", query: "until=0001-01-01T12:00:00Z", naming: "until"},
		{name: "unknown sort", query: "sort=tokens", naming: "sort"},
		{name: "top zero", query: "top=0", naming: "top"},
		{name: "top above max", query: "top=5000", naming: "top"},
		{name: "unknown bucket", query: "bucket=week", naming: "bucket"},
		{name: "too many points", query: "window=7d&bucket=1m", naming: "bucket"},
		{name: "too many points since", query: "since=2026-11-01T00:00:00Z&bucket=5m", naming: "bucket"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, store := fixtureConfig()
			rec := serve(t, cfg, http.MethodGet, "/api/analytics?"+tt.query)

			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body: %s", rec.Code, rec.Body)
			}
			checkJSONHeaders(t, rec)
			if msg := errorMessage(t, rec); !strings.Contains(msg, tt.naming) {
				t.Errorf("error %q does not name %q", msg, tt.naming)
			}
			if n := store.requestCount(); n != 0 {
				t.Errorf("store read %d times, want 0", n)
			}
		})
	}
}

func TestHandlerMethodNotAllowed(t *testing.T) {
	t.Parallel()

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		method := method
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			cfg, store := fixtureConfig()
			rec := serve(t, cfg, method, "/api/analytics")

			if rec.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status = %d, want 405", rec.Code)
			}
			if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
				t.Errorf("Allow = %q, want %q", got, "GET, HEAD")
			}
			checkJSONHeaders(t, rec)
			if msg := errorMessage(t, rec); !strings.Contains(msg, method) {
				t.Errorf("error %q does not name the method %s", msg, method)
			}
			if n := store.requestCount(); n != 0 {
				t.Errorf("store read %d times, want 0", n)
			}
		})
	}
}

func TestHandlerForbidden(t *testing.T) {
	t.Parallel()
	cfg, store := fixtureConfig()
	cfg.Authorize = func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer admin" }

	rec := serve(t, cfg, http.MethodGet, "/api/analytics")
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status = %d, want 403", rec.Code)
	}
	checkJSONHeaders(t, rec)
	if msg := errorMessage(t, rec); msg == "" {
		t.Error("error message is empty")
	}
	if n := store.requestCount(); n != 0 {
		t.Errorf("store read %d times, want 0", n)
	}

	req := httptest.NewRequest(http.MethodGet, "/api/analytics", nil)
	req.Header.Set("Authorization", "Bearer admin")
	ok := httptest.NewRecorder()
	analytics.Handler(cfg).ServeHTTP(ok, req)
	if ok.Code != http.StatusOK {
		t.Errorf("authorized status = %d, want 200", ok.Code)
	}
}

func TestHandlerHead(t *testing.T) {
	t.Parallel()
	cfg, _ := fixtureConfig()
	rec := serve(t, cfg, http.MethodHead, "/api/analytics?type=usage")

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	checkJSONHeaders(t, rec)
	if rec.Body.Len() != 0 {
		t.Errorf("HEAD body has %d bytes, want 0", rec.Body.Len())
	}
}

func TestHandlerStoreFailure(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	store := newFakeStore(time.Hour, nil)
	store.err = errors.New("dial tcp 10.0.0.7:5432: connection refused")
	cfg := analytics.Config{
		Store:  store,
		Clock:  fixedClock,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}

	rec := serve(t, cfg, http.MethodGet, "/api/analytics?type=usage")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	checkJSONHeaders(t, rec)
	if msg := errorMessage(t, rec); strings.Contains(msg, "10.0.0.7") {
		t.Errorf("error %q shows the store's error to the client", msg)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("log %q does not contain the store's error", logs.String())
	}
}

func TestHandlerPanicsWithoutStore(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Handler without a Store did not panic")
		}
	}()
	analytics.Handler(analytics.Config{})
}
