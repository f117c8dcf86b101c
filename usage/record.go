package usage

import (
	"time"

	"github.com/aimeter/aimeter/errmon"
)

// Tokens counts the tokens of one call or a sum of calls.
//
// Input counts every prompt token, cached ones included, and Output counts
// every completion token, reasoning ones included, as OpenAI and the
// OpenTelemetry GenAI conventions report them. CachedInput and Reasoning are
// therefore parts of Input and Output, never additions to them.
type Tokens struct {
	// Input is the number of prompt tokens, CachedInput included.
	Input int64 `json:"input"`
	// CachedInput is the number of prompt tokens served from the
	// provider's prompt cache.
	CachedInput int64 `json:"cached_input"`
	// CacheWrite is the number of prompt tokens written to the provider's
	// prompt cache, for providers that bill cache writes separately.
	CacheWrite int64 `json:"cache_write,omitempty"`
	// Output is the number of completion tokens, Reasoning included.
	Output int64 `json:"output"`
	// Reasoning is the number of completion tokens a reasoning model spent
	// on hidden reasoning.
	Reasoning int64 `json:"reasoning"`
}

// Total returns Input plus Output.
func (t Tokens) Total() int64 { return t.Input + t.Output }

// Add returns the sum of t and o.
func (t Tokens) Add(o Tokens) Tokens {
	return Tokens{
		Input:       t.Input + o.Input,
		CachedInput: t.CachedInput + o.CachedInput,
		CacheWrite:  t.CacheWrite + o.CacheWrite,
		Output:      t.Output + o.Output,
		Reasoning:   t.Reasoning + o.Reasoning,
	}
}

// Call describes a provider call before it runs.
type Call struct {
	// Endpoint is the caller's own route or feature name, such as
	// "/api/ai/chat". Stores keep it and analytics serves it as given, so
	// it must not carry a secret, such as a query string with a key.
	Endpoint string
	// Provider is the provider's name, such as "openai".
	Provider string
	// Model is the requested model, such as "gpt-4o-mini".
	Model string
	// Operation is the kind of call: "chat", "completion", "embeddings",
	// "image". Empty means the tracker infers it from the response type.
	Operation string
	// Key identifies the caller (a user, tenant or API key hash) for
	// per-key reports. It must not be a secret.
	Key string
	// Labels are extra dimensions kept on the record. The map is not
	// copied, so it must not change after the call starts.
	Labels map[string]string
	// Price, when not nil, prices this call instead of the tracker's
	// table: a negotiated rate, or a model the table lacks. Stores do not
	// keep it.
	Price *Price
}

// Record is what the store keeps about one finished call.
type Record struct {
	// Time is when the call started, in UTC.
	Time time.Time
	// Call is the call as described by the caller, with Operation filled in.
	Call Call
	// ResponseModel is the model the provider said it used, when it said.
	ResponseModel string
	// Tokens holds the call's token usage; it is zero when UsageKnown is
	// false.
	Tokens Tokens
	// UsageKnown is false when the response carried no usage, so the
	// tokens and cost of the call are unknown rather than zero.
	UsageKnown bool
	// Priced is true when the model was found in the price table and the
	// usage was known, so CostNanos is the call's cost.
	Priced bool
	// CostNanos is the call's cost in nano-dollars (1e-9 USD), rounded once.
	CostNanos int64
	// Latency is the wall time of the call, measured with the monotonic
	// clock.
	Latency time.Duration
	// TTFT is the time to the first streamed token; zero unless Stream.
	TTFT time.Duration
	// Stream is true for streamed calls.
	Stream bool
	// Chunks is the number of stream chunks received.
	Chunks int
	// Error is the failure category, or empty when the call succeeded.
	Error errmon.Category
	// HTTPStatus is the provider's HTTP status for a failed call, or 0.
	HTTPStatus int
}

// Failed reports whether the call ended with an error of any category.
func (r *Record) Failed() bool { return r.Error != "" }
