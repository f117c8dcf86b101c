package errmon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

// testAlert is a firing alert of an error-rate rule.
var testAlert = errmon.Alert{
	Rule:      "chat errors",
	State:     errmon.Firing,
	Value:     0.25,
	Threshold: 0.05,
	Calls:     40,
	Errors:    10,
	Window:    5 * time.Minute,
	Since:     time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC),
	At:        time.Date(2026, 12, 4, 19, 1, 0, 0, time.UTC),
	Filter:    errmon.CallInfo{Endpoint: "/api/ai/chat"},
}

// newWebhook returns a Webhook for url whose retries do not wait, and
// records the waits it asked for.
func newWebhook(t *testing.T, url string, cfg errmon.WebhookConfig) (*errmon.Webhook, func() []time.Duration) {
	t.Helper()
	w, err := errmon.WebhookAlerts(url, cfg)
	require.NoError(t, err)
	var mu sync.Mutex
	var waits []time.Duration
	errmon.SetWebhookSleep(w, func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
	})
	return w, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), waits...)
	}
}

func flushWebhook(t *testing.T, w *errmon.Webhook) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, w.Flush(ctx))
}

func TestWebhookPostsJSON(t *testing.T) {
	t.Parallel()
	type request struct {
		method, contentType, auth string
		body                      map[string]any
	}
	requests := make(chan request, 1)
	server := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		requests <- request{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), body}
	}))
	t.Cleanup(server.Close)
	w, _ := newWebhook(t, server.URL+"/hooks/T000/secret", errmon.WebhookConfig{Header: http.Header{"Authorization": {"Bearer hook-token"}}})

	w.Notify(testAlert)
	flushWebhook(t, w)

	got := <-requests
	assert.Equal(t, http.MethodPost, got.method)
	assert.Equal(t, "application/json", got.contentType)
	assert.Equal(t, "Bearer hook-token", got.auth)
	want := map[string]any{
		"rule": "chat errors", "state": "firing", "value": 0.25, "threshold": 0.05,
		"calls": float64(40), "errors": float64(10), "window_seconds": float64(300),
		"since": "2026-12-04T19:00:00Z", "at": "2026-12-04T19:01:00Z",
		"filter": map[string]any{"endpoint": "/api/ai/chat"}, "category": "",
	}
	assert.Equal(t, want, got.body)
	assert.Equal(t, errmon.WebhookStats{Sent: 1}, w.Stats())
}

func TestWebhookRetriesBounded(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Error(rw, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(server.Close)
	var logs bytes.Buffer
	w, waits := newWebhook(t, server.URL, errmon.WebhookConfig{
		Retries: 2,
		Backoff: 100 * time.Millisecond,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
	})

	w.Notify(testAlert)
	flushWebhook(t, w)

	assert.Equal(t, int64(3), attempts.Load(), "the first attempt and two retries")
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, waits())
	assert.Equal(t, errmon.WebhookStats{Failed: 1, Retries: 2}, w.Stats())

	var record map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &record), logs.String())
	assert.Equal(t, "ERROR", record["level"])
	assert.Equal(t, "alert webhook failed", record["msg"])
	assert.Equal(t, "chat errors", record[errmon.LogKeyRule])
	assert.Equal(t, float64(3), record[errmon.LogKeyAttempt])
	assert.Equal(t, strings.TrimPrefix(server.URL, "http://"), record[errmon.LogKeyWebhookHost])
	assert.Equal(t, "webhook returned status 500 Internal Server Error", record[errmon.LogKeyError])
}

func TestWebhookDefaultRetries(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		rw.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(server.Close)
	w, waits := newWebhook(t, server.URL, errmon.WebhookConfig{})

	w.Notify(testAlert)
	flushWebhook(t, w)

	assert.Equal(t, int64(1+errmon.DefaultWebhookRetries), attempts.Load())
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, waits())
}

func TestWebhookRetryStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		status       int
		retryAfter   string
		wantAttempts int64
		wantWait     time.Duration
	}{
		{"bad request is not retried", http.StatusBadRequest, "", 1, 0},
		{"not found is not retried", http.StatusNotFound, "", 1, 0},
		{"too many requests", http.StatusTooManyRequests, "", 2, 10 * time.Millisecond},
		{"retry-after longer than backoff", http.StatusServiceUnavailable, "7", 2, 7 * time.Second},
		{"retry-after capped", http.StatusTooManyRequests, "3600", 2, 30 * time.Second},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int64
			server := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				if tt.retryAfter != "" {
					rw.Header().Set("Retry-After", tt.retryAfter)
				}
				rw.WriteHeader(tt.status)
			}))
			t.Cleanup(server.Close)
			w, waits := newWebhook(t, server.URL, errmon.WebhookConfig{Retries: 1, Backoff: 10 * time.Millisecond})

			w.Notify(testAlert)
			flushWebhook(t, w)

			assert.Equal(t, tt.wantAttempts, attempts.Load())
			if tt.wantWait > 0 {
				assert.Equal(t, []time.Duration{tt.wantWait}, waits())
			} else {
				assert.Empty(t, waits())
			}
			assert.Equal(t, int64(1), w.Stats().Failed)
		})
	}
}

func TestWebhookRetryThenSuccess(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) == 1 {
			rw.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(server.Close)
	w, _ := newWebhook(t, server.URL, errmon.WebhookConfig{})

	w.Notify(testAlert)
	flushWebhook(t, w)

	assert.Equal(t, errmon.WebhookStats{Sent: 1, Retries: 1}, w.Stats())
}

func TestWebhookNoRetries(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		rw.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(server.Close)
	w, _ := newWebhook(t, server.URL, errmon.WebhookConfig{Retries: -1})

	w.Notify(testAlert)
	flushWebhook(t, w)

	assert.Equal(t, int64(1), attempts.Load())
}

// hangingServer returns a server that never responds until the test ends,
// and a channel that receives each request as it arrives.
func hangingServer(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	server := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(release)
		server.Close()
	})
	return server, arrived
}

func TestWebhookTimeoutBoundsAttempts(t *testing.T) {
	t.Parallel()
	server, arrived := hangingServer(t)
	w, _ := newWebhook(t, server.URL, errmon.WebhookConfig{Timeout: 50 * time.Millisecond, Retries: 1})

	w.Notify(testAlert)
	flushWebhook(t, w)

	assert.LessOrEqual(t, len(arrived), 2)
	assert.Equal(t, errmon.WebhookStats{Failed: 1, Retries: 1}, w.Stats())
}

func TestWebhookDeadServerDoesNotBlockRecord(t *testing.T) {
	t.Parallel()
	// Cleanups run in reverse order, so this flush runs after the
	// server's cleanup has released the hanging request.
	var w *errmon.Webhook
	t.Cleanup(func() { _ = w.Flush(context.Background()) })
	server, arrived := hangingServer(t)
	w, _ = newWebhook(t, server.URL, errmon.WebhookConfig{QueueSize: 4})
	const cycles = 100
	clock := newFakeClock()
	m := errmon.NewMonitor(errmon.Config{
		Clock:      clock.Now,
		Rules:      []errmon.AlertRule{{Name: "auth", Window: errmon.RateBucket, Category: errmon.Auth}},
		OnAlert:    []func(errmon.Alert){w.Notify},
		AlertQueue: 2*cycles + 2,
	})

	// The first alert's request hangs, and the alerts after it fill the
	// queue.
	cycleAuthAlert(m, clock)
	<-arrived
	runWithin(t, func() {
		for i := 0; i < cycles; i++ {
			cycleAuthAlert(m, clock)
			record(m, chatMini, 10, 1)
		}
	})

	require.NoError(t, m.FlushAlerts(context.Background()))
	stats := w.Stats()
	assert.Equal(t, int64(2*cycles-3), stats.Dropped, "all but the alert in flight and the four queued")
	assert.Zero(t, m.DroppedAlerts(), "Notify returns at once")
	assert.Zero(t, stats.Sent)
}

func TestWebhookLogLeavesOutURL(t *testing.T) {
	t.Parallel()
	server, _ := hangingServer(t)
	var logs bytes.Buffer
	w, _ := newWebhook(t, server.URL+"/hooks/T000/B000/secret-token", errmon.WebhookConfig{
		Timeout: 20 * time.Millisecond,
		Retries: -1,
		Logger:  slog.New(slog.NewJSONHandler(&logs, nil)),
	})

	w.Notify(testAlert)
	flushWebhook(t, w)

	assert.Equal(t, int64(1), w.Stats().Failed)
	var record map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &record), logs.String())
	assert.Equal(t, strings.TrimPrefix(server.URL, "http://"), record[errmon.LogKeyWebhookHost])
	assert.Equal(t, "context deadline exceeded", record[errmon.LogKeyError])
	assert.NotContains(t, logs.String(), "secret-token")
}

func TestWebhookAlertsInvalidURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, want string
	}{
		{"no scheme", "hooks.example.com/secret", `invalid webhook URL: scheme "" is not http or https`},
		{"other scheme", "ftp://hooks.example.com/secret", `invalid webhook URL: scheme "ftp" is not http or https`},
		{"no host", "https:///secret", "invalid webhook URL: the host is missing"},
		{"unparsable", "http://hooks.example.com/%zz-secret", `invalid webhook URL: invalid URL escape "%zz"`},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := errmon.WebhookAlerts(tt.url, errmon.WebhookConfig{})
			assert.Nil(t, w)
			require.Error(t, err)
			assert.ErrorIs(t, err, errmon.ErrInvalidWebhookURL)
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestWebhookReadsResponse(t *testing.T) {
	t.Parallel()
	server := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(rw, strings.Repeat("ok ", 1000))
	}))
	t.Cleanup(server.Close)
	w, _ := newWebhook(t, server.URL, errmon.WebhookConfig{})

	for i := 0; i < 3; i++ {
		w.Notify(testAlert)
	}
	flushWebhook(t, w)

	assert.Equal(t, errmon.WebhookStats{Sent: 3}, w.Stats())
}
