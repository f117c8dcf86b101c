package budget

import (
	"encoding/json"

	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// Estimator counts the tokens of text as a model would see it, before the
// call is made. The tokenizer module's Estimator counts exactly for OpenAI
// models; CharEstimator guesses for any model.
//
// Implementations must be safe for concurrent use and must not keep text.
type Estimator interface {
	// CountTokens returns the number of tokens text takes in model's
	// encoding, or an estimate when the encoding is unknown.
	CountTokens(model, text string) int
}

// CharEstimator estimates one token per four bytes of UTF-8, rounded up:
// the usual rule of thumb of four characters per token for English text.
// Scripts whose characters take two or three bytes come out at about one
// token per character, which is close for most of them. It is an estimate,
// not a count, and may be below the real count for text in some scripts,
// for code, and for unusual strings.
type CharEstimator struct{}

// CountTokens returns ⌈len(text)/4⌉. It ignores the model.
func (CharEstimator) CountTokens(_, text string) int { return (len(text) + 3) / 4 }

// Token counts for the parts of a chat request that are not text, from
// OpenAI's description of how chat models see their input.
const (
	// tokensPerMessage frames each message.
	tokensPerMessage = 3
	// tokensPerName is added when a message has a name.
	tokensPerName = 1
	// tokensReplyPriming starts the assistant's reply.
	tokensReplyPriming = 3
	// tokensImageLow is what an image sent with detail "low" costs.
	tokensImageLow = 85
	// tokensImage is an estimate for an image sent with detail "high" or
	// "auto": a 1024×1024 image in high detail costs 765 tokens, and larger
	// ones cost more.
	tokensImage = 765
)

// Request describes a provider call for its estimate: the text it sends
// and the output it may produce. Build one with ChatRequest,
// CompletionRequest or EmbeddingRequest, or fill it in.
type Request struct {
	// Model is the requested model. It picks the encoding that counts the
	// tokens and the price. Empty means the model of the usage.Call, for
	// TrackCall.
	Model string
	// Messages are the messages of a chat request. Each is counted with the
	// framing tokens that chat models add.
	Messages []openai.ChatCompletionMessage
	// Texts are counted as plain text: completion prompts, embedding
	// inputs, or tool definitions in JSON.
	Texts []string
	// InputTokens are input tokens counted by the caller, added to what
	// Messages and Texts count.
	InputTokens int64
	// MaxOutputTokens bounds each choice's output, as max_tokens or
	// max_completion_tokens do; reasoning tokens count against it. Zero
	// means the guard's Config.OutputCeiling.
	MaxOutputTokens int64
	// Choices is the number of completions requested (n). Zero means one.
	Choices int
	// NoOutput is set for calls that produce no output tokens, such as
	// embeddings.
	NoOutput bool
	// Price, when not nil, prices the estimate instead of the guard's price
	// table, as usage.Call.Price prices the record.
	Price *usage.Price
}

// ChatRequest returns the Request of a go-openai chat completion request:
// its messages, its tools and functions as JSON text, its
// max_completion_tokens (or else max_tokens) and n.
func ChatRequest(req openai.ChatCompletionRequest) Request {
	r := Request{Model: req.Model, Messages: req.Messages, Choices: req.N}
	r.MaxOutputTokens = int64(req.MaxCompletionTokens)
	if r.MaxOutputTokens == 0 {
		r.MaxOutputTokens = int64(req.MaxTokens)
	}
	if len(req.Tools) > 0 {
		r.Texts = append(r.Texts, jsonText(req.Tools))
	}
	if len(req.Functions) > 0 {
		r.Texts = append(r.Texts, jsonText(req.Functions))
	}
	return r
}

// CompletionRequest returns the Request of a go-openai completion request.
// A prompt may be a string, a list of strings, or token lists. best_of
// counts as the number of choices when it exceeds n, because the provider
// generates and bills that many.
func CompletionRequest(req openai.CompletionRequest) Request {
	r := Request{Model: req.Model, MaxOutputTokens: int64(req.MaxTokens), Choices: max(req.N, req.BestOf)}
	r.Texts, r.InputTokens = inputTexts(req.Prompt)
	if req.Prompt != nil && len(r.Texts) > 1 {
		// Each prompt of a batch gets its own n completions.
		r.Choices = max(r.Choices, 1) * len(r.Texts)
	}
	return r
}

// EmbeddingRequest returns the Request of a go-openai embedding request,
// whose input may be a string, a list of strings, or token lists. It has no
// output.
func EmbeddingRequest(req openai.EmbeddingRequest) Request {
	r := Request{Model: string(req.Model), NoOutput: true}
	r.Texts, r.InputTokens = inputTexts(req.Input)
	return r
}

// inputTexts splits a prompt or embedding input into texts to count and
// tokens already counted.
func inputTexts(in any) (texts []string, tokens int64) {
	switch v := in.(type) {
	case nil:
	case string:
		texts = []string{v}
	case []string:
		texts = v
	case []int:
		tokens = int64(len(v))
	case [][]int:
		for _, t := range v {
			tokens += int64(len(t))
		}
	case []any:
		for _, e := range v {
			t, n := inputTexts(e)
			texts = append(texts, t...)
			tokens += n
		}
	case float64:
		// One token id from a decoded JSON list.
		tokens = 1
	default:
		texts = []string{jsonText(v)}
	}
	return texts, tokens
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// Estimate is the amount a guard reserves for a request, in tokens and in
// nano-dollars.
type Estimate struct {
	// Model is the model the estimate was priced for.
	Model string
	// Tokens are the input tokens counted, and the output tokens the call
	// may produce at most.
	Tokens usage.Tokens
	// CostNanos is the cost of Tokens in nano-dollars at the model's
	// uncached input rate, so it is at least the cost of the same tokens
	// with some of them cached. It is zero when Priced is false.
	CostNanos int64
	// Priced is true when a price was found for the model.
	Priced bool
}

// amount returns the estimate in unit u.
func (e Estimate) amount(u Unit) int64 {
	if u == Spend {
		return e.CostNanos
	}
	return e.Tokens.Total()
}

// countInput returns the input tokens of r as est counts them for model.
func countInput(est Estimator, model string, r *Request) int64 {
	n := r.InputTokens
	for _, t := range r.Texts {
		n += int64(est.CountTokens(model, t))
	}
	if len(r.Messages) > 0 {
		n += tokensReplyPriming
	}
	for i := range r.Messages {
		n += countMessage(est, model, &r.Messages[i])
	}
	return n
}

// countMessage returns the tokens of one chat message with its framing.
func countMessage(est Estimator, model string, m *openai.ChatCompletionMessage) int64 {
	count := func(s string) int64 {
		if s == "" {
			return 0
		}
		return int64(est.CountTokens(model, s))
	}

	n := tokensPerMessage + count(m.Role) + count(m.Content) + count(m.Refusal) + count(m.ToolCallID)
	if m.Name != "" {
		n += tokensPerName + count(m.Name)
	}
	for i := range m.MultiContent {
		p := &m.MultiContent[i]
		n += count(p.Text)
		if p.ImageURL != nil {
			if p.ImageURL.Detail == openai.ImageURLDetailLow {
				n += tokensImageLow
			} else {
				n += tokensImage
			}
		}
	}
	if f := m.FunctionCall; f != nil {
		n += count(f.Name) + count(f.Arguments)
	}
	for i := range m.ToolCalls {
		n += count(m.ToolCalls[i].Function.Name) + count(m.ToolCalls[i].Function.Arguments)
	}
	return n
}
