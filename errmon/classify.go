package errmon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// maxDetailsMessageBytes caps Details.Message, because a RequestError body
// can be a whole HTML error page.
const maxDetailsMessageBytes = 1024

// Details describes a classified error. The zero Details describes a nil
// error.
type Details struct {
	// Category is the kind of failure. It is empty only for a nil error.
	Category Category
	// HTTPStatus is the status code of the provider's response, or 0 when
	// no response arrived or the provider sent the error inside a stream
	// that had already started with 200.
	HTTPStatus int
	// Code is the provider's error code as text, such as
	// "insufficient_quota" or Azure's "429", or empty when there is none.
	Code string
	// RetryAfter is the wait the provider requested before a retry, or 0
	// when it sent none. See Inspect for its sources.
	RetryAfter time.Duration
	// Message is the provider's own message when the error carries one,
	// otherwise the error's text. Secrets are replaced as Redact does, and
	// the text is cut to at most 1024 bytes on a UTF-8 boundary.
	Message string
}

// Classify returns the category of err, or "" when err is nil. It is
// Inspect(err).Category without the cost of redacting the message and
// reading the retry-after hint.
func Classify(err error) Category {
	if err == nil {
		return ""
	}
	return classify(err).Category
}

// Inspect classifies err and extracts the provider's status, code, message
// and retry-after wait. A nil err returns the zero Details, and any other
// error gets a category, Unknown at worst.
//
// Inspect unwraps err with errors.As and errors.Is, through any number of
// fmt.Errorf("...: %w") layers and errors.Join. It reads, in this order:
//
//   - a *PanicError, which is Panic;
//   - go-openai's *openai.APIError and *openai.RequestError. A code or
//     type that names the failure (insufficient_quota,
//     context_length_exceeded, content_filter and others) decides first,
//     then phrases of the message such as "maximum context length", then
//     the HTTP status. An error sent inside a stream has no status, so
//     codes and types such as rate_limit_exceeded and server_error decide;
//   - go-openai's client-side checks that reject a request before sending
//     it, which are InvalidRequest;
//   - context.Canceled, which is Canceled;
//   - context.DeadlineExceeded, os.ErrDeadlineExceeded and any error with a
//     Timeout method that returns true (net.Error, http.Client timeouts),
//     which are Timeout;
//   - openai.ErrTooManyEmptyStreamMessages, which is ProviderError because
//     the provider, or a proxy in front of it, sent a stream that is not
//     server-sent events;
//   - *net.OpError, *net.DNSError, refused and reset connections,
//     io.ErrUnexpectedEOF, io.EOF and TLS failures, which are Network;
//   - the error's text, for errors flattened with %v: go-openai's
//     "status code: 429" and phrases such as "connection refused";
//   - any other *url.Error from http.Client, which is Network unless the
//     URL has an unsupported scheme or no host.
//
// RetryAfter comes from the first error in the chain that has a method
// RetryAfter() time.Duration returning more than 0 (such as
// *RetryAfterError). Without one, Inspect reads hints in the provider's
// message such as "Please retry after 20 seconds" or "Please try again in
// 1.5s", because go-openai's errors do not keep the response headers.
func Inspect(err error) Details {
	if err == nil {
		return Details{}
	}
	d := classify(err)
	d.RetryAfter = retryAfter(err, d.Message)
	d.Message = truncateUTF8(Redact(d.Message), maxDetailsMessageBytes)
	d.Code = Redact(d.Code)
	return d
}

// classify returns the Details of a non-nil err with the message unredacted
// and RetryAfter unset.
func classify(err error) Details {
	return classifyTyped(err, findTypedErrors(err))
}

// classifyTyped is classify with the typedErrors of err found.
func classifyTyped(err error, typed typedErrors) Details {
	if typed.panicErr != nil {
		return Details{Category: Panic, Message: typed.panicErr.Error()}
	}
	if d, ok := classifyProvider(err, typed); ok {
		return d
	}
	return Details{Category: classifyTransport(err), Message: err.Error()}
}

// classifyProvider classifies the go-openai error types, which carry the
// provider's response. It returns false when err contains neither.
func classifyProvider(err error, typed typedErrors) (Details, bool) {
	apiErr, reqErr := typed.apiErr, typed.reqErr
	hasAPI := apiErr != nil
	hasReq := reqErr != nil

	switch {
	case hasAPI:
		// An APIError sent inside a stream has no status of its own.
		status := apiErr.HTTPStatusCode
		if status == 0 && hasReq {
			status = reqErr.HTTPStatusCode
		}
		code := codeText(apiErr.Code)
		innerCode := ""
		if apiErr.InnerError != nil {
			innerCode = apiErr.InnerError.Code
		}
		message := apiErr.Message
		if message == "" {
			message = err.Error()
		}
		return Details{
			Category:   providerCategory(status, code, apiErr.Type, innerCode, message),
			HTTPStatus: status,
			Code:       code,
			Message:    message,
		}, true

	case hasReq:
		message := requestErrorMessage(reqErr)
		return Details{
			Category:   providerCategory(reqErr.HTTPStatusCode, "", "", "", message),
			HTTPStatus: reqErr.HTTPStatusCode,
			Message:    message,
		}, true
	}
	return Details{}, false
}

// codeText returns the APIError Code field as text. go-openai decodes a JSON
// number into an int and anything else as it came, usually a string.
func codeText(code any) string {
	switch c := code.(type) {
	case nil:
		return ""
	case string:
		return c
	case int:
		// go-openai decodes "code": null into the int 0.
		if c == 0 {
			return ""
		}
		return strconv.Itoa(c)
	case float64:
		return strconv.FormatFloat(c, 'f', -1, 64)
	case json.Number:
		return c.String()
	default:
		return fmt.Sprint(c)
	}
}

// requestErrorMessage returns the text of a response that go-openai could
// not decode as an OpenAI error: the "error", "message" or "detail" string of
// a JSON body, otherwise the body itself.
func requestErrorMessage(e *openai.RequestError) string {
	body := bytes.TrimSpace(e.Body)
	if len(body) == 0 {
		if e.Err != nil {
			return e.Err.Error()
		}
		return e.HTTPStatus
	}

	if body[0] == '{' {
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil {
			for _, key := range []string{"error", "message", "detail"} {
				var text string
				if json.Unmarshal(fields[key], &text) == nil && text != "" {
					return text
				}
			}
		}
	}
	return string(body)
}

// Error codes and types that name the failure more precisely than the
// status does: a 429 is either a rate limit or an exhausted quota, and a 400
// may be a context-length or content-filter rejection. Keys are lowercase.
var preciseCodes = map[string]Category{
	"insufficient_quota":         QuotaExceeded,
	"billing_hard_limit_reached": QuotaExceeded,
	"context_length_exceeded":    ContextLength,
	"content_filter":             ContentFilter,
	"content_policy_violation":   ContentFilter,
	"moderation_blocked":         ContentFilter,
	// Azure OpenAI puts this in innererror.code of a 400 content_filter.
	"responsibleaipolicyviolation": ContentFilter,
}

// Error codes and types that classify an error without a status, as when
// the provider sends it inside a stream. With a status the status decides.
// The *_error types are the ones Anthropic's API returns.
var fallbackCodes = map[string]Category{
	"rate_limit_exceeded":   RateLimited,
	"rate_limit_error":      RateLimited,
	"invalid_api_key":       Auth,
	"authentication_error":  Auth,
	"permission_error":      Auth,
	"server_error":          ProviderError,
	"api_error":             ProviderError,
	"overloaded_error":      ProviderError,
	"invalid_request_error": InvalidRequest,
	"not_found_error":       InvalidRequest,
	"model_not_found":       InvalidRequest,
}

// providerCategory classifies a provider's error response from its status
// (0 when unknown), code, type, Azure inner code and message.
func providerCategory(status int, code, errType, innerCode, message string) Category {
	code = strings.ToLower(code)
	errType = strings.ToLower(errType)
	innerCode = strings.ToLower(innerCode)

	// A code or type that names the failure wins over the status.
	for _, key := range [...]string{innerCode, code, errType} {
		if c, ok := preciseCodes[key]; ok {
			return c
		}
	}

	// Some providers send no code, so read the message the way a person
	// would. The phrases are OpenAI's and Azure's.
	if c := messageCategory(status, code, message); c != "" {
		return c
	}

	// Azure sends the status again as the code ("429"), which is the only
	// status an error inside a stream has.
	if status == 0 && isInteger(code) {
		if n, err := strconv.Atoi(code); err == nil && n >= 400 && n <= 599 {
			status = n
		}
	}
	if c := statusCategory(status); c != "" {
		return c
	}

	for _, key := range [...]string{code, errType} {
		if c, ok := fallbackCodes[key]; ok {
			return c
		}
	}
	return Unknown
}

// isInteger reports whether s is an optional sign and decimal digits, the
// only texts that strconv.Atoi accepts. It saves the error value that Atoi
// allocates for a code such as "rate_limit_exceeded".
func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// messageCategory classifies by phrases in a provider's message, for
// providers and proxies that send no code. It returns "" when no phrase
// matches or the status rules the phrase out.
func messageCategory(status int, code, message string) Category {
	clientError := status == 0 || (status >= 400 && status < 500 && status != 401 && status != 403 && status != 429)

	switch {
	case clientError && (containsFold(message, "maximum context length") || containsFold(message, "context window")):
		return ContextLength
	case clientError && containsFold(message, "content management policy"):
		return ContentFilter
	case code == "" && containsFold(message, "exceeded your current quota"):
		// Only without a code, because other providers mention "quota" in
		// plain rate limits.
		return QuotaExceeded
	}
	return ""
}

// containsFold reports whether s contains the lowercase ASCII text phrase,
// comparing ASCII letters without regard to case. For the phrases of
// messageCategory it agrees with strings.Contains(strings.ToLower(s),
// phrase). Outside ASCII, strings.ToLower turns only U+212A into 'k' and
// U+0130 into 'i' and a combining mark, and no phrase contains a 'k' or
// ends with an 'i'.
func containsFold(s, phrase string) bool {
	return indexFold(s, phrase, 0) >= 0
}

// statusCategory classifies an HTTP status, or returns "" for one that is
// not an error.
func statusCategory(status int) Category {
	switch {
	case status == 401, status == 403:
		return Auth
	case status == 402:
		// Payment Required: some OpenAI-compatible gateways respond with it
		// when the account has no credit left.
		return QuotaExceeded
	case status == 408:
		return Timeout
	case status == 429:
		return RateLimited
	case status >= 400 && status < 500:
		return InvalidRequest
	case status >= 500 && status < 600:
		return ProviderError
	}
	return ""
}
