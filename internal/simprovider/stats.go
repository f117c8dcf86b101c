package simprovider

import "sync/atomic"

// Stats counts what a Server has served since it was created. A request is
// counted in Requests and in at most one outcome counter, except that a
// FaultSlow request is counted in Slow and also in its final outcome.
type Stats struct {
	// Requests counts every request received, whatever its outcome.
	Requests int64
	// Chat counts non-streamed chat completions sent with status 200.
	Chat int64
	// ChatStreams counts streamed chat completions sent through to
	// "data: [DONE]".
	ChatStreams int64
	// Embeddings counts embeddings responses sent with status 200.
	Embeddings int64

	// RateLimited counts 429 responses of FaultRateLimit.
	RateLimited int64
	// QuotaExceeded counts 429 responses of FaultQuota.
	QuotaExceeded int64
	// ServerErrors counts 500 responses of FaultServerError, and of unknown
	// faults returned by Config.Fault.
	ServerErrors int64
	// Slow counts requests delayed by FaultSlow, whether or not the client
	// waited for the response.
	Slow int64
	// Disconnected counts connections cut by FaultDisconnect.
	Disconnected int64

	// Unauthorized counts 401 responses to a missing or malformed
	// Authorization header.
	Unauthorized int64
	// InvalidRequests counts 400, 404 and 405 responses.
	InvalidRequests int64
	// Canceled counts requests that ended without a complete response
	// because the client went away, its context ended or Close was called.
	Canceled int64

	// PromptTokens, CachedTokens, CompletionTokens and ReasoningTokens sum
	// the usage that responses reported to clients. A stream without
	// include_usage reports no usage, so its tokens are not counted.
	PromptTokens     int64
	CachedTokens     int64
	CompletionTokens int64
	ReasoningTokens  int64
}

// counters are the live counts behind Stats.
type counters struct {
	requests, chat, chatStreams, embeddings                       atomic.Int64
	rateLimited, quotaExceeded, serverErrors, slow, disconnected  atomic.Int64
	unauthorized, invalidRequests, canceled                       atomic.Int64
	promptTokens, cachedTokens, completionTokens, reasoningTokens atomic.Int64
}

// Stats returns a snapshot of the server's counters. Counters are read one
// by one, so a snapshot taken while requests are in progress may be out of
// step by those requests. After Close returns, the snapshot is final.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Requests:         c.requests.Load(),
		Chat:             c.chat.Load(),
		ChatStreams:      c.chatStreams.Load(),
		Embeddings:       c.embeddings.Load(),
		RateLimited:      c.rateLimited.Load(),
		QuotaExceeded:    c.quotaExceeded.Load(),
		ServerErrors:     c.serverErrors.Load(),
		Slow:             c.slow.Load(),
		Disconnected:     c.disconnected.Load(),
		Unauthorized:     c.unauthorized.Load(),
		InvalidRequests:  c.invalidRequests.Load(),
		Canceled:         c.canceled.Load(),
		PromptTokens:     c.promptTokens.Load(),
		CachedTokens:     c.cachedTokens.Load(),
		CompletionTokens: c.completionTokens.Load(),
		ReasoningTokens:  c.reasoningTokens.Load(),
	}
}

// addUsage counts usage that a response reported to its client.
func (c *counters) addUsage(t tokenCounts) {
	c.promptTokens.Add(int64(t.prompt))
	c.cachedTokens.Add(int64(t.cached))
	c.completionTokens.Add(int64(t.completion))
	c.reasoningTokens.Add(int64(t.reasoning))
}
