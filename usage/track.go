package usage

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/aimeter/aimeter/errmon"
	openai "github.com/sashabaranov/go-openai"
)

// Operation names the tracker fills in when Call.Operation is empty.
const (
	OperationChat       = "chat"
	OperationCompletion = "completion"
	OperationEmbeddings = "embeddings"
	OperationImage      = "image"
)

// UsageReporter is implemented by response types of the caller's own that
// carry token usage. TokenUsage returns false when the response holds no
// usage, which records the call as having unknown usage rather than zero.
type UsageReporter interface {
	TokenUsage() (Tokens, bool)
}

// TrackCall runs fn, measures it and records one Record with t.
//
// Token usage is read from the response: go-openai chat completions,
// completions, embeddings and image responses (values or pointers), and any
// type that implements UsageReporter. Other types record unknown usage; use
// TrackCallFunc to pass an extractor for them. A failed call records its
// error category and HTTP status, unknown usage and no cost, and goes to
// the tracker's monitor when it has one. A panic in fn is recorded with its
// stack as category panic and then re-panicked with the same value.
//
// TrackCall returns exactly what fn returns. Recording never fails the call
// and never blocks it for long (see Tracker). A nil tracker runs fn alone.
func TrackCall[T any](ctx context.Context, t *Tracker, call Call, fn func(context.Context) (T, error)) (T, error) {
	return TrackCallFunc(ctx, t, call, fn, nil)
}

// TrackCallFunc is TrackCall with an extractor that reads the usage of the
// response. extract returns false when the response holds no usage. With a
// nil extract, TrackCallFunc reads usage as TrackCall does.
func TrackCallFunc[T any](ctx context.Context, t *Tracker, call Call, fn func(context.Context) (T, error), extract func(T) (Tokens, bool)) (resp T, err error) {
	if t == nil {
		return fn(ctx)
	}
	if call.Operation == "" {
		// Observers and records want the operation before the response
		// arrives; the response type tells it for go-openai calls.
		call.Operation = operationOf[T]()
	}
	if len(t.observers) > 0 {
		ctx = t.startCall(ctx, call)
	}
	watch, wall := t.startClock()

	defer func() {
		if v := recover(); v != nil {
			perr := &errmon.PanicError{Value: v, Stack: debug.Stack()}
			t.finish(ctx, call, wall, watch.elapsed(), perr, nil)
			panic(v)
		}
	}()

	resp, err = fn(ctx)
	latency := watch.elapsed()

	if err != nil {
		t.finish(ctx, call, wall, latency, err, nil)
		return resp, err
	}
	var u responseUsage
	if extract != nil {
		u.tokens, u.known = extract(resp)
	} else {
		u = usageOf(&resp)
	}
	if call.Operation == "" {
		call.Operation = u.operation
	}
	t.finish(ctx, call, wall, latency, nil, &u)
	return resp, nil
}

// finish builds the record of a finished call and hands it on.
func (t *Tracker) finish(ctx context.Context, call Call, wall time.Time, latency time.Duration, err error, u *responseUsage) {
	r := Record{Time: wall.UTC(), Call: call, Latency: latency}
	if err != nil {
		r.Error, r.HTTPStatus = t.recordFailure(err, call)
	} else {
		if u != nil {
			r.Tokens, r.UsageKnown, r.ResponseModel = u.tokens, u.known, u.model
		}
		if t.monitor != nil {
			t.monitor.RecordSuccess(callInfo(call))
		}
	}
	t.emit(ctx, &r)
}

// recordFailure returns the category and HTTP status of a failed call's
// error. With a monitor, the event that the monitor records supplies
// them, so the error is classified once.
func (t *Tracker) recordFailure(err error, call Call) (errmon.Category, int) {
	if t.monitor != nil {
		ev := t.monitor.Record(err, callInfo(call))
		return ev.Category, ev.HTTPStatus
	}
	d := errmon.Inspect(err)
	return d.Category, d.HTTPStatus
}

func callInfo(c Call) errmon.CallInfo {
	return errmon.CallInfo{Endpoint: c.Endpoint, Provider: c.Provider, Model: c.Model, Operation: c.Operation}
}

// responseUsage is what usageOf reads from a response.
type responseUsage struct {
	tokens    Tokens
	known     bool
	model     string
	operation string
}

// operationOf returns the operation of the go-openai response type T, or
// "" for other types.
func operationOf[T any]() string {
	var p *T
	switch any(p).(type) {
	case *openai.ChatCompletionResponse, **openai.ChatCompletionResponse:
		return OperationChat
	case *openai.CompletionResponse, **openai.CompletionResponse:
		return OperationCompletion
	case *openai.EmbeddingResponse, **openai.EmbeddingResponse:
		return OperationEmbeddings
	case *openai.ImageResponse, **openai.ImageResponse:
		return OperationImage
	}
	return ""
}

// usageOf reads token usage from the response types it knows. It takes a
// pointer and only reads through it, so the response stays on the caller's
// stack: boxing a large response into an interface would allocate on every
// call.
func usageOf[T any](resp *T) responseUsage {
	switch v := any(resp).(type) {
	case *openai.ChatCompletionResponse:
		return chatUsage(v)
	case **openai.ChatCompletionResponse:
		if *v != nil {
			return chatUsage(*v)
		}
		return responseUsage{}
	case *openai.CompletionResponse:
		return completionUsage(v)
	case **openai.CompletionResponse:
		if *v != nil {
			return completionUsage(*v)
		}
		return responseUsage{}
	case *openai.EmbeddingResponse:
		return embeddingUsage(v)
	case **openai.EmbeddingResponse:
		if *v != nil {
			return embeddingUsage(*v)
		}
		return responseUsage{}
	case *openai.ImageResponse:
		return imageUsage(v)
	case **openai.ImageResponse:
		if *v != nil {
			return imageUsage(*v)
		}
		return responseUsage{}
	}
	return reporterUsage(*resp)
}

// reporterUsage reads usage from a response type that implements
// UsageReporter.
func reporterUsage[T any](resp T) responseUsage {
	if r, ok := any(resp).(UsageReporter); ok {
		tok, known := r.TokenUsage()
		return responseUsage{tokens: tok, known: known}
	}
	return responseUsage{}
}

func chatUsage(r *openai.ChatCompletionResponse) responseUsage {
	tok, ok := TokensFromOpenAI(&r.Usage)
	return responseUsage{tokens: tok, known: ok, model: r.Model, operation: OperationChat}
}

func completionUsage(r *openai.CompletionResponse) responseUsage {
	tok, ok := TokensFromOpenAI(r.Usage)
	return responseUsage{tokens: tok, known: ok, model: r.Model, operation: OperationCompletion}
}

func embeddingUsage(r *openai.EmbeddingResponse) responseUsage {
	tok, ok := TokensFromOpenAI(&r.Usage)
	return responseUsage{tokens: tok, known: ok, model: string(r.Model), operation: OperationEmbeddings}
}

func imageUsage(r *openai.ImageResponse) responseUsage {
	u := r.Usage
	if u.InputTokens == 0 && u.OutputTokens == 0 && u.TotalTokens == 0 {
		return responseUsage{operation: OperationImage}
	}
	tok := Tokens{Input: int64(u.InputTokens), Output: int64(u.OutputTokens)}
	return responseUsage{tokens: tok, known: true, operation: OperationImage}
}

// TokensFromOpenAI converts go-openai's Usage. It returns false for a nil
// usage or one whose counts are all zero, which is how a response without
// a usage object decodes: such a call has unknown usage, not zero tokens.
//
// Cached tokens stay inside Input and reasoning tokens inside Output, as
// OpenAI reports them; counts a provider reports beyond their total (a
// cached count above the prompt count) are capped to it.
func TokensFromOpenAI(u *openai.Usage) (Tokens, bool) {
	if u == nil || (u.PromptTokens == 0 && u.CompletionTokens == 0 && u.TotalTokens == 0) {
		return Tokens{}, false
	}
	t := Tokens{Input: int64(u.PromptTokens), Output: int64(u.CompletionTokens)}
	if t.Input == 0 && t.Output == 0 {
		// Only total_tokens: a server that reports no split.
		t.Input = int64(u.TotalTokens)
	}
	if d := u.PromptTokensDetails; d != nil {
		t.CachedInput = clampTokens(int64(d.CachedTokens), t.Input)
	}
	if d := u.CompletionTokensDetails; d != nil {
		t.Reasoning = clampTokens(int64(d.ReasoningTokens), t.Output)
	}
	return t, true
}

func clampTokens(n, max int64) int64 {
	if n < 0 {
		return 0
	}
	if n > max {
		return max
	}
	return n
}

// String returns a short form such as "in=2006 (cached 1920) out=300".
func (t Tokens) String() string {
	return fmt.Sprintf("in=%d (cached %d) out=%d (reasoning %d)", t.Input, t.CachedInput, t.Output, t.Reasoning)
}
