package errmon_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aimeter/aimeter/errmon"
)

func TestLogAlerts(t *testing.T) {
	t.Parallel()
	resolved := testAlert
	resolved.State = errmon.Resolved
	auth := errmon.Alert{
		Rule: "auth", State: errmon.Firing, Value: 1, Threshold: 1, Calls: 12, Errors: 1,
		Window: 15 * time.Minute, Since: testAlert.Since, At: testAlert.Since, Category: errmon.Auth,
	}
	tests := []struct {
		name      string
		alert     errmon.Alert
		wantLevel string
		wantMsg   string
		want      map[string]any // attributes besides time, level and msg
	}{
		{"firing is warn", testAlert, "WARN", "alert firing", map[string]any{
			errmon.LogKeyRule: "chat errors", errmon.LogKeyAlertState: "firing",
			errmon.LogKeyValue: 0.25, errmon.LogKeyThreshold: 0.05,
			errmon.LogKeyCalls: float64(40), errmon.LogKeyErrors: float64(10),
			errmon.LogKeyWindow: float64(5 * time.Minute),
			errmon.LogKeySince:  "2026-12-04T19:00:00Z", errmon.LogKeyAt: "2026-12-04T19:01:00Z",
			errmon.LogKeyEndpoint: "/api/ai/chat",
		}},
		{"resolved is info", resolved, "INFO", "alert resolved", map[string]any{
			errmon.LogKeyRule: "chat errors", errmon.LogKeyAlertState: "resolved",
			errmon.LogKeyValue: 0.25, errmon.LogKeyThreshold: 0.05,
			errmon.LogKeyCalls: float64(40), errmon.LogKeyErrors: float64(10),
			errmon.LogKeyWindow: float64(5 * time.Minute),
			errmon.LogKeySince:  "2026-12-04T19:00:00Z", errmon.LogKeyAt: "2026-12-04T19:01:00Z",
			errmon.LogKeyEndpoint: "/api/ai/chat",
		}},
		{"category rule", auth, "WARN", "alert firing", map[string]any{
			errmon.LogKeyRule: "auth", errmon.LogKeyAlertState: "firing",
			errmon.LogKeyValue: float64(1), errmon.LogKeyThreshold: float64(1),
			errmon.LogKeyCalls: float64(12), errmon.LogKeyErrors: float64(1),
			errmon.LogKeyWindow: float64(15 * time.Minute),
			errmon.LogKeySince:  "2026-12-04T19:00:00Z", errmon.LogKeyAt: "2026-12-04T19:00:00Z",
			errmon.LogKeyCategory: "auth",
		}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := errmon.LogAlerts(slog.New(slog.NewJSONHandler(&buf, nil)))

			log(tt.alert)

			var record map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &record), buf.String())
			assert.Equal(t, tt.wantLevel, record["level"])
			assert.Equal(t, tt.wantMsg, record["msg"])
			delete(record, "time")
			delete(record, "level")
			delete(record, "msg")
			assert.Equal(t, tt.want, record)
		})
	}
}

func TestLogAlertsSkipsDisabledLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := errmon.LogAlerts(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	resolved := testAlert
	resolved.State = errmon.Resolved

	log(resolved)

	assert.Empty(t, buf.String())
}
