package errmon

import (
	"context"
	"log/slog"
	"strconv"
)

// Attribute keys of the log records a Monitor writes, one record per event.
// A record leaves out the keys whose value is an empty string or zero.
const (
	// LogKeyEventID is the key of Event.ID.
	LogKeyEventID = "event_id"
	// LogKeyCategory is the key of Event.Category.
	LogKeyCategory = "category"
	// LogKeyHTTPStatus is the key of Event.HTTPStatus.
	LogKeyHTTPStatus = "http_status"
	// LogKeyCode is the key of Event.Code.
	LogKeyCode = "code"
	// LogKeyEndpoint is the key of Event.Endpoint.
	LogKeyEndpoint = "endpoint"
	// LogKeyProvider is the key of Event.Provider.
	LogKeyProvider = "provider"
	// LogKeyModel is the key of Event.Model.
	LogKeyModel = "model"
	// LogKeyOperation is the key of Event.Operation.
	LogKeyOperation = "operation"
	// LogKeyFingerprint is the key of Event.Fingerprint.
	LogKeyFingerprint = "fingerprint"
	// LogKeyGroupCount is the key of the number of events recorded so far
	// in the event's group, the event included, so that repeats show.
	LogKeyGroupCount = "group_count"
	// LogKeyRetryAfter is the key of Event.RetryAfter.
	LogKeyRetryAfter = "retry_after"
	// LogKeyFrame is the key of the innermost frame of Event.Stack, as
	// "function (file:line)".
	LogKeyFrame = "frame"
	// LogKeyError is the key of Event.Message, the redacted error text.
	LogKeyError = "error"
)

// Log messages of a Monitor's records.
const (
	logMessageFailed   = "provider call failed"
	logMessageCanceled = "provider call canceled"
)

// logLevel returns the level for an event of category c. A canceled call
// is the caller's choice, so it is Debug. A rate limit is expected under
// load and retried, so it is Warn. Anything else is Error.
func logLevel(c Category) slog.Level {
	switch c {
	case Canceled:
		return slog.LevelDebug
	case RateLimited:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// logEvent writes one record for ev, whose strings are already redacted.
func (m *Monitor) logEvent(ev *Event, groupCount int64) {
	level := logLevel(ev.Category)
	ctx := context.Background()
	if !m.logger.Enabled(ctx, level) {
		return
	}

	attrs := make([]slog.Attr, 0, 13)
	attrs = append(attrs,
		slog.String(LogKeyEventID, ev.ID),
		slog.String(LogKeyCategory, string(ev.Category)),
	)
	if ev.HTTPStatus != 0 {
		attrs = append(attrs, slog.Int(LogKeyHTTPStatus, ev.HTTPStatus))
	}
	attrs = appendNonEmpty(attrs, LogKeyCode, ev.Code)
	attrs = appendNonEmpty(attrs, LogKeyEndpoint, ev.Endpoint)
	attrs = appendNonEmpty(attrs, LogKeyProvider, ev.Provider)
	attrs = appendNonEmpty(attrs, LogKeyModel, ev.Model)
	attrs = appendNonEmpty(attrs, LogKeyOperation, ev.Operation)
	attrs = append(attrs,
		slog.String(LogKeyFingerprint, ev.Fingerprint),
		slog.Int64(LogKeyGroupCount, groupCount),
	)
	if ev.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration(LogKeyRetryAfter, ev.RetryAfter))
	}
	if len(ev.Stack) > 0 {
		f := ev.Stack[0]
		attrs = append(attrs, slog.String(LogKeyFrame, f.Function+" ("+f.File+":"+strconv.Itoa(f.Line)+")"))
	}
	attrs = append(attrs, slog.String(LogKeyError, ev.Message))

	message := logMessageFailed
	if ev.Category == Canceled {
		message = logMessageCanceled
	}
	m.logger.LogAttrs(ctx, level, message, attrs...)
}

func appendNonEmpty(attrs []slog.Attr, key, value string) []slog.Attr {
	if value == "" {
		return attrs
	}
	return append(attrs, slog.String(key, value))
}

// discardHandler drops every record. slog.DiscardHandler needs Go 1.24,
// and this module supports Go 1.21.
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (h discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h discardHandler) WithGroup(string) slog.Handler           { return h }
