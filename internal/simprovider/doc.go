// Package simprovider is a simulated OpenAI-compatible provider. The example
// server uses it when no real provider is configured, and tests use it to
// drive go-openai against a server whose usage, latency and failures they
// control.
//
// It serves two endpoints in the OpenAI wire format, so that
// github.com/sashabaranov/go-openai decodes its responses as it decodes
// OpenAI's:
//
//   - POST /v1/chat/completions, as one JSON body or, with "stream": true,
//     as server-sent events. A stream ends with a chunk that has empty
//     choices and the usage only when stream_options.include_usage is true.
//   - POST /v1/embeddings, with deterministic unit vectors and usage that
//     has no completion tokens.
//
// Every request needs an Authorization header with a bearer key, which may
// be anything. The model is echoed as given. Replies are always text: the
// server never returns tool calls.
//
// # Usage
//
// Prompt tokens are estimated from the request at one token per four
// characters plus a per-message overhead. Replies are generated text of a
// random length, cut to max_completion_tokens or max_tokens. A prompt whose
// leading messages were seen before reports them as cached tokens. Reasoning
// models (o1, o3, o4 and gpt-5 names) report reasoning tokens, which are part
// of completion_tokens as OpenAI counts them.
//
// # Latency
//
// Config.Latency is the time to first token and Config.ChunkDelay the time
// per further token, both drawn from a seeded random source. Latency:
// Fixed(0) makes every response immediate, and Config.Sleep replaces the
// timer so that tests need not wait.
//
// # Faults
//
// A valid request can be made to fail with a 429 rate limit, a 429 quota
// error, a 500, a slow response or a cut connection. Server.FailNext
// queues faults for the next requests, Config.Fault chooses one per request,
// and Config.Faults draws them at random.
//
// # Concurrency
//
// A Server is safe for concurrent use by many clients, and its methods may
// be called while it serves.
//
// # Example
//
//	sim, err := simprovider.Start(simprovider.Config{Latency: simprovider.Fixed(0)})
//	if err != nil {
//		return err
//	}
//	defer sim.Close()
//
//	cfg := openai.DefaultConfig("any-key")
//	cfg.BaseURL = sim.URL()
//	client := openai.NewClientWithConfig(cfg)
package simprovider
