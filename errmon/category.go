package errmon

// Category is the kind of failure a provider call ended with. The empty
// Category means the call succeeded.
type Category string

// The categories every failed call falls into. Classify never returns a
// category outside this list.
const (
	// RateLimited: the provider throttled the caller (HTTP 429 other than
	// insufficient_quota). Retryable after the provider's retry-after.
	RateLimited Category = "rate_limited"
	// QuotaExceeded: the account is out of credit or quota
	// (insufficient_quota). Not retryable until someone pays.
	QuotaExceeded Category = "quota_exceeded"
	// Auth: the credentials were missing, invalid or lack permission
	// (HTTP 401 or 403). Not retryable.
	Auth Category = "auth"
	// InvalidRequest: the provider rejected the request as malformed
	// (HTTP 400, 404, 409, 413, 422 and similar). Not retryable unchanged.
	InvalidRequest Category = "invalid_request"
	// ContextLength: the prompt plus the requested output exceed the
	// model's context window (context_length_exceeded). Not retryable
	// unchanged.
	ContextLength Category = "context_length"
	// ContentFilter: the provider's content policy rejected the prompt or
	// the output. Not retryable unchanged.
	ContentFilter Category = "content_filter"
	// Timeout: a deadline passed before the provider answered, or while the
	// body was read. Retryable.
	Timeout Category = "timeout"
	// Canceled: the caller canceled the call. Not a provider failure and not
	// retryable.
	Canceled Category = "canceled"
	// Network: the connection could not be made or broke (DNS, refused,
	// reset, unexpected EOF). Retryable.
	Network Category = "network"
	// ProviderError: the provider failed on its side (HTTP 5xx). Retryable.
	ProviderError Category = "provider_error"
	// Panic: the wrapped code panicked. Not retryable.
	Panic Category = "panic"
	// Unknown: an error no other category describes. Not retryable.
	Unknown Category = "unknown"
)

// Categories lists every category in a stable order, for reports.
var Categories = []Category{
	RateLimited, QuotaExceeded, Auth, InvalidRequest, ContextLength,
	ContentFilter, Timeout, Canceled, Network, ProviderError, Panic, Unknown,
}

// Retryable reports whether the same request may succeed if sent again
// later: true for RateLimited, Timeout, Network and ProviderError.
func (c Category) Retryable() bool {
	switch c {
	case RateLimited, Timeout, Network, ProviderError:
		return true
	}
	return false
}

// IsProviderFailure reports whether the category counts against the
// provider's health. Canceled does not: the caller gave up, the provider did
// not fail.
func (c Category) IsProviderFailure() bool {
	return c != "" && c != Canceled
}
