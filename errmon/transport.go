package errmon

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	openai "github.com/sashabaranov/go-openai"
)

// clientSideErrors are go-openai's errors for a request it rejects before
// sending it (go-openai v1.43.0).
var clientSideErrors = []error{
	openai.ErrChatCompletionInvalidModel,
	openai.ErrChatCompletionStreamNotSupported,
	openai.ErrContentFieldsMisused,
	openai.ErrResponseStreamNotSupported,
	openai.ErrModerationInvalidModel,
	openai.ErrReasoningEffortUnsupported,
	openai.ErrReasoningToolsRequireResponses,
	openai.ErrReasoningSamplingUnsupported,
	openai.ErrO1MaxTokensDeprecated,
	openai.ErrCompletionUnsupportedModel,
	openai.ErrCompletionStreamNotSupported,
	openai.ErrCompletionRequestPromptTypeNotSupported,
	openai.ErrO1BetaLimitationsMessageTypes,
	openai.ErrO1BetaLimitationsTools,
	openai.ErrO1BetaLimitationsLogprobs,
	openai.ErrO1BetaLimitationsOther,
	openai.ErrReasoningModelMaxTokensDeprecated,
	openai.ErrReasoningModelLimitationsLogprobs,
	openai.ErrReasoningModelLimitationsOther,
}

// connectionErrnos are the system errors of a connection that could not be
// made or broke.
var connectionErrnos = []syscall.Errno{
	syscall.ECONNREFUSED,
	syscall.ECONNRESET,
	syscall.ECONNABORTED,
	syscall.EPIPE,
	syscall.ENETUNREACH,
	syscall.EHOSTUNREACH,
	syscall.ENETDOWN,
}

// classifyTransport classifies an error that carries no provider response:
// a rejected request, a canceled or timed-out call, or a network failure.
func classifyTransport(err error) Category {
	for _, target := range clientSideErrors {
		if errors.Is(err, target) {
			return InvalidRequest
		}
	}

	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case isTimeout(err):
		return Timeout
	case errors.Is(err, openai.ErrTooManyEmptyStreamMessages):
		return ProviderError
	case isNetwork(err):
		return Network
	}

	if c := textCategory(err.Error()); c != Unknown {
		return c
	}

	// http.Client.Do wraps every failure to send a request or read its
	// response in a *url.Error. Past the checks above it is a transport
	// failure without a typed cause, such as a malformed response.
	var urlErr *url.Error
	if errors.As(err, &urlErr) && !isRequestSetupError(urlErr.Err) {
		return Network
	}
	return Unknown
}

// isTimeout reports whether err or any error it wraps is a deadline that
// passed. A Timeout method returning true counts as well, because
// http.Client's timeout errors did not match context.DeadlineExceeded in Go
// 1.21 (golang/go#63445), while in Go 1.26 they do.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	return anyError(err, func(e error) bool {
		t, ok := e.(interface{ Timeout() bool })
		return ok && t.Timeout()
	})
}

// isNetwork reports whether err or any error it wraps is a failure to
// resolve, reach or keep talking to the provider's host.
func isNetwork(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	for _, errno := range connectionErrnos {
		if errors.Is(err, errno) {
			return true
		}
	}
	return anyError(err, func(e error) bool {
		switch e.(type) {
		case *net.OpError, *net.DNSError, *net.AddrError, net.UnknownNetworkError,
			*tls.RecordHeaderError, *tls.CertificateVerificationError:
			return true
		}
		return false
	})
}

// isRequestSetupError reports whether err, wrapped in a *url.Error, is a
// mistake in the request itself rather than a transport failure.
func isRequestSetupError(err error) bool {
	if err == nil {
		return false
	}
	text := err.Error()
	return strings.Contains(text, "unsupported protocol scheme") || strings.Contains(text, "no Host in request URL")
}

// anyError reports whether match returns true for err or any error in its
// tree, following Unwrap() error and Unwrap() []error as errors.Is does.
func anyError(err error, match func(error) bool) bool {
	for err != nil {
		if match(err) {
			return true
		}
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if anyError(inner, match) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// statusInText finds the status that go-openai writes into its error text
// ("error, status code: 429, status: 429 Too Many Requests, message: ...").
var statusInText = regexp.MustCompile(`status code: (\d{3})\b`)

// Phrases of the standard library's and the operating system's error text,
// lowercase, for errors that were flattened with %v and lost their type.
var (
	timeoutPhrases = []string{
		"client.timeout", "deadline exceeded", "i/o timeout",
		"timeout awaiting response headers", "tls handshake timeout", "timed out",
	}
	canceledPhrases = []string{"context canceled", "request canceled"}
	networkPhrases  = []string{
		"connection refused", "connection reset", "broken pipe", "no such host",
		"unexpected eof", "network is unreachable", "no route to host",
		"server sent goaway", "use of closed network connection",
		"actively refused", "forcibly closed by the remote host",
		"tls: ", "x509: ",
	}
)

// textCategory classifies an error by its text alone. It returns Unknown
// when nothing in the text is recognized.
func textCategory(text string) Category {
	if m := statusInText.FindStringSubmatch(text); m != nil {
		status, _ := strconv.Atoi(m[1])
		if c := providerCategory(status, "", "", "", text); c != Unknown {
			return c
		}
	}

	lower := strings.ToLower(text)
	switch {
	case containsAny(lower, timeoutPhrases):
		return Timeout
	case containsAny(lower, canceledPhrases):
		return Canceled
	case strings.Contains(lower, strings.ToLower(openai.ErrTooManyEmptyStreamMessages.Error())):
		return ProviderError
	case containsAny(lower, networkPhrases):
		return Network
	}
	return providerCategory(0, "", "", "", text)
}

func containsAny(s string, phrases []string) bool {
	for _, p := range phrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
