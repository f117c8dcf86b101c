package errmon

// Category is the kind of failure a provider call ended with. The empty
// Category means the call succeeded.
type Category string

// The categories of a failed call. Classify returns one of them for every
// non-nil error, and "" only for a nil error.
const (
	// RateLimited means the provider throttled the caller (HTTP 429 other
	// than insufficient_quota). It is retryable after the provider's
	// retry-after.
	RateLimited Category = "rate_limited"
	// QuotaExceeded means the account is out of credit or quota
	// (insufficient_quota, or HTTP 402 from some gateways). It is not
	// retryable until someone pays.
	QuotaExceeded Category = "quota_exceeded"
	// Auth means the credentials were missing, invalid or lacked permission
	// (HTTP 401 or 403). It is not retryable.
	Auth Category = "auth"
	// InvalidRequest means the provider rejected the request as malformed
	// (HTTP 400, 404, 409, 413, 422 and other 4xx), or go-openai rejected it
	// before sending. It is not retryable unchanged.
	InvalidRequest Category = "invalid_request"
	// ContextLength means the prompt plus the requested output exceed the
	// model's context window (context_length_exceeded). It is not
	// retryable unchanged.
	ContextLength Category = "context_length"
	// ContentFilter means the provider's content policy rejected the prompt
	// or the output. It is not retryable unchanged.
	ContentFilter Category = "content_filter"
	// Timeout means a deadline passed before the provider responded or
	// while the response body was read, or the provider returned HTTP 408.
	// It is retryable.
	Timeout Category = "timeout"
	// Canceled means the caller canceled the call. It is neither a
	// provider failure nor retryable.
	Canceled Category = "canceled"
	// Network means the connection could not be made or broke (DNS,
	// refused, reset, unexpected EOF). It is retryable.
	Network Category = "network"
	// ProviderError means the provider failed on its side (HTTP 5xx, an
	// error sent inside a stream, or a malformed stream). It is retryable.
	ProviderError Category = "provider_error"
	// Panic means the wrapped code panicked. It is not retryable.
	Panic Category = "panic"
	// Unknown means no other category describes the error. It is not
	// retryable.
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
// provider's health. Canceled and "" do not, because a canceled call is the
// caller's choice and "" is a success.
func (c Category) IsProviderFailure() bool {
	return c != "" && c != Canceled
}
