package errmon

import (
	"context"
	"log/slog"
)

// Attribute keys of the log records of alerts, written by LogAlerts, by a
// Monitor when a callback panics, and by a Webhook. The keys of an alert's
// filter and category are LogKeyEndpoint, LogKeyProvider, LogKeyModel,
// LogKeyOperation and LogKeyCategory, left out when empty.
const (
	// LogKeyRule is the key of Alert.Rule.
	LogKeyRule = "rule"
	// LogKeyAlertState is the key of Alert.State.
	LogKeyAlertState = "state"
	// LogKeyValue is the key of Alert.Value.
	LogKeyValue = "value"
	// LogKeyThreshold is the key of Alert.Threshold.
	LogKeyThreshold = "threshold"
	// LogKeyCalls is the key of Alert.Calls.
	LogKeyCalls = "calls"
	// LogKeyErrors is the key of Alert.Errors.
	LogKeyErrors = "errors"
	// LogKeyWindow is the key of Alert.Window.
	LogKeyWindow = "window"
	// LogKeySince is the key of Alert.Since.
	LogKeySince = "since"
	// LogKeyAt is the key of Alert.At.
	LogKeyAt = "at"
	// LogKeyPanic is the key of the value of a panic in an alert callback.
	LogKeyPanic = "panic"
	// LogKeyWebhookHost is the key of the host a Webhook posts to. The
	// rest of its URL is left out of logs, because webhook URLs often
	// contain a secret token.
	LogKeyWebhookHost = "webhook_host"
	// LogKeyAttempt is the key of the number of a Webhook's attempt to
	// send an alert, 1 for the first.
	LogKeyAttempt = "attempt"
)

// Log messages of alerts.
const (
	logMessageFiring        = "alert firing"
	logMessageResolved      = "alert resolved"
	logMessageCallbackPanic = "alert callback panicked"
)

// LogAlerts returns an alert callback for Config.OnAlert that writes one
// record per alert to logger: "alert firing" at level Warn, or "alert
// resolved" at level Info, with the attributes of the LogKey constants. A
// nil logger selects slog.Default().
func LogAlerts(logger *slog.Logger) func(Alert) {
	if logger == nil {
		logger = slog.Default()
	}
	return func(a Alert) {
		level, message := slog.LevelWarn, logMessageFiring
		if a.State == Resolved {
			level, message = slog.LevelInfo, logMessageResolved
		}
		ctx := context.Background()
		if !logger.Enabled(ctx, level) {
			return
		}

		attrs := make([]slog.Attr, 0, 14)
		attrs = append(attrs,
			slog.String(LogKeyRule, a.Rule),
			slog.String(LogKeyAlertState, string(a.State)),
			slog.Float64(LogKeyValue, a.Value),
			slog.Float64(LogKeyThreshold, a.Threshold),
			slog.Int64(LogKeyCalls, a.Calls),
			slog.Int64(LogKeyErrors, a.Errors),
			slog.Duration(LogKeyWindow, a.Window),
			slog.Time(LogKeySince, a.Since),
			slog.Time(LogKeyAt, a.At),
		)
		attrs = appendNonEmpty(attrs, LogKeyCategory, string(a.Category))
		attrs = appendNonEmpty(attrs, LogKeyEndpoint, a.Filter.Endpoint)
		attrs = appendNonEmpty(attrs, LogKeyProvider, a.Filter.Provider)
		attrs = appendNonEmpty(attrs, LogKeyModel, a.Filter.Model)
		attrs = appendNonEmpty(attrs, LogKeyOperation, a.Filter.Operation)
		logger.LogAttrs(ctx, level, message, attrs...)
	}
}
