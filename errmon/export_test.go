package errmon

import "time"

// SetFingerprintInputHook makes m pass the bytes it hashes into each
// fingerprint to hook, so that tests can check them for secrets. Call it
// before m records anything.
func SetFingerprintInputHook(m *Monitor, hook func([]byte)) {
	m.onFingerprintInput = hook
}

// FingerprintInput exposes fingerprintInput to tests.
var FingerprintInput = fingerprintInput

// NormalizeMessage returns message with its variable parts replaced, as
// fingerprints hash it.
func NormalizeMessage(message string) string {
	return string(appendNormalized(nil, message))
}

// ParseStack exposes parseStack to tests.
var ParseStack = parseStack

// TruncateUTF8 exposes truncateUTF8 to tests.
var TruncateUTF8 = truncateUTF8

// KeepFrame exposes keepFrame to tests.
var KeepFrame = keepFrame

// ModulePath exposes modulePath to tests.
const ModulePath = modulePath

// SeriesCount returns the number of series that m counts apart, without
// the series of calls beyond Config.MaxSeries.
func SeriesCount(m *Monitor) int {
	return len(*m.series.Load())
}

// SetWebhookSleep makes w call sleep in place of time.Sleep before each
// retry. Call it before w sends anything.
func SetWebhookSleep(w *Webhook, sleep func(time.Duration)) {
	w.sleep = sleep
}
