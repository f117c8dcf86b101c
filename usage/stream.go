package usage

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// ChatStreamer opens go-openai chat streams; *openai.Client implements it.
type ChatStreamer interface {
	CreateChatCompletionStream(ctx context.Context, req openai.ChatCompletionRequest) (*openai.ChatCompletionStream, error)
}

// ChatStream is a go-openai chat stream that records one Record when it
// ends. Use Recv and Close as on *openai.ChatCompletionStream.
//
// The record is written exactly once, whichever comes first: Recv returns
// io.EOF (success), Recv returns another error (a failure, or canceled when
// ctx was canceled), Close is called before EOF (canceled by the caller), or
// ctx is canceled while nobody reads (canceled, with the latency up to the
// cancel). Usage is the last non-nil usage any chunk carried; a stream that
// ends without one is recorded with unknown usage.
//
// Recv and Close must not be called concurrently with each other, as with
// the go-openai stream.
type ChatStream struct {
	stream  *openai.ChatCompletionStream
	tracker *Tracker
	call    Call
	ctx     context.Context // the observers' context
	start   time.Time
	wall    time.Time

	recorded chan struct{} // closed once the record is handed on

	mu      sync.Mutex
	done    bool
	ttft    time.Duration
	chunks  int
	usage   *openai.Usage
	model   string
	stopCtx func() bool
}

// TrackChatStream opens a chat stream through client and tracks it. When
// req.StreamOptions is nil it asks for include_usage, so that the provider
// sends the usage on its last chunk; a caller that set StreamOptions keeps
// its choice. When opening fails, the failure is recorded and returned.
func TrackChatStream(ctx context.Context, t *Tracker, call Call, client ChatStreamer, req openai.ChatCompletionRequest) (*ChatStream, error) {
	if req.StreamOptions == nil {
		req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	req.Stream = true
	if call.Model == "" {
		call.Model = req.Model
	}
	if call.Operation == "" {
		call.Operation = OperationChat
	}

	if t != nil && len(t.observers) > 0 {
		ctx = t.startCall(ctx, call)
	}
	s := &ChatStream{tracker: t, call: call, ctx: ctx, start: time.Now(), recorded: make(chan struct{})}
	if t != nil {
		s.wall = t.now()
	}
	stream, err := client.CreateChatCompletionStream(ctx, req)
	if err != nil {
		if t != nil {
			t.finishStream(ctx, s.call, s.wall, time.Since(s.start), err, 0, 0, nil, "")
		}
		return nil, err
	}
	s.stream = stream
	if t != nil {
		s.stopCtx = context.AfterFunc(ctx, func() { s.end(context.Cause(ctx)) })
	}
	return s, nil
}

// Recv returns the next chunk, as (*openai.ChatCompletionStream).Recv does.
func (s *ChatStream) Recv() (openai.ChatCompletionStreamResponse, error) {
	chunk, err := s.stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.end(nil)
		} else {
			s.end(err)
		}
		return chunk, err
	}

	s.mu.Lock()
	s.chunks++
	if s.ttft == 0 && hasContent(&chunk) {
		s.ttft = time.Since(s.start)
	}
	if chunk.Usage != nil {
		u := *chunk.Usage
		s.usage = &u
	}
	if chunk.Model != "" {
		s.model = chunk.Model
	}
	s.mu.Unlock()
	return chunk, nil
}

// hasContent reports whether a chunk carries the first output of the
// stream. A chunk may have no choices at all (the usage chunk), so this
// never indexes Choices[0] blindly.
func hasContent(c *openai.ChatCompletionStreamResponse) bool {
	for i := range c.Choices {
		d := &c.Choices[i].Delta
		if d.Content != "" || d.ReasoningContent != "" || len(d.ToolCalls) > 0 || d.FunctionCall != nil || d.Refusal != "" {
			return true
		}
	}
	return false
}

// Close closes the stream. Closing before EOF records the call as canceled
// by the caller.
func (s *ChatStream) Close() error {
	s.end(context.Canceled)
	return s.stream.Close()
}

// TTFT returns the time to the first chunk with content, or zero.
func (s *ChatStream) TTFT() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ttft
}

// Recorded returns a channel that is closed once the stream's record has
// been handed to the tracker, however the stream ended. A cancel of the
// stream's context records it from another goroutine; Recorded tells when
// that has happened.
func (s *ChatStream) Recorded() <-chan struct{} { return s.recorded }

// end records the stream once. err is nil at EOF.
func (s *ChatStream) end(err error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	if s.tracker == nil {
		s.done = true
		s.mu.Unlock()
		close(s.recorded)
		return
	}
	s.done = true
	latency := time.Since(s.start)
	ttft, chunks, usage, model := s.ttft, s.chunks, s.usage, s.model
	s.mu.Unlock()

	if s.stopCtx != nil {
		s.stopCtx()
	}
	s.tracker.finishStream(s.ctx, s.call, s.wall, latency, err, ttft, chunks, usage, model)
	close(s.recorded)
}

// finishStream builds the record of a finished stream and hands it on.
func (t *Tracker) finishStream(ctx context.Context, call Call, wall time.Time, latency time.Duration, err error, ttft time.Duration, chunks int, u *openai.Usage, model string) {
	r := Record{Time: wall.UTC(), Call: call, Latency: latency, TTFT: ttft, Stream: true, Chunks: chunks, ResponseModel: model}
	if err != nil {
		r.Error, r.HTTPStatus = t.recordFailure(err, call)
	} else {
		r.Tokens, r.UsageKnown = TokensFromOpenAI(u)
		if t.monitor != nil {
			t.monitor.RecordSuccess(callInfo(call))
		}
	}
	t.emit(ctx, &r)
}
