package budget

import (
	"context"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// TrackCall reserves req's estimate under call.Key with g and runs fn
// inside usage.TrackCall with t. It settles the reservation with the
// call's record exactly once, however fn ends: with a result, an error, a
// canceled context or a panic, which is re-panicked.
//
// When req.Model is empty it is call.Model, and when req.Price is nil it
// is call.Price. A rejected reservation returns its error (an
// *ExceededError, ErrUnpriced or the ledger's) without running fn; such a
// call is not recorded, because it was never made.
//
// The settlement comes from g's EndCall, so g must be one of t's
// observers (usage.WithObserver(g)). When it is not, or t is nil, the
// reservation is settled at its estimate when TrackCall returns, and
// Stats.Unobserved counts it.
func TrackCall[T any](ctx context.Context, g *Guard, t *usage.Tracker, call usage.Call, req Request, fn func(context.Context) (T, error)) (T, error) {
	if req.Model == "" {
		req.Model = call.Model
	}
	if req.Price == nil {
		req.Price = call.Price
	}
	res, err := g.Reserve(ctx, call.Key, req)
	if err != nil {
		var zero T
		return zero, err
	}

	ctx, s := g.bind(ctx, res)
	defer func() {
		// Runs during a panic too. With the guard observing t, the
		// tracker has settled by now and close finds the slot taken.
		if s.close() {
			_ = res.settleEstimate()
		}
	}()
	return usage.TrackCall(ctx, t, call, fn)
}

// TrackChatStream reserves the estimate of req under call.Key with g and
// opens a tracked chat stream with usage.TrackChatStream. The reservation
// is settled exactly once when the stream's record is written: at EOF with
// the usage of the last chunk, on an error, when Close is called early,
// or when ctx is canceled. ChatStream.Recorded is closed once that
// happened.
// A stream that is never read to the end, closed or canceled holds its
// reservation until its window ends.
//
// As with TrackCall, g must be one of t's observers; otherwise the
// reservation is settled at its estimate as soon as the stream opens.
func TrackChatStream(ctx context.Context, g *Guard, t *usage.Tracker, call usage.Call, client usage.ChatStreamer, req openai.ChatCompletionRequest) (*usage.ChatStream, error) {
	est := ChatRequest(req)
	if est.Model == "" {
		est.Model = call.Model
	}
	if est.Price == nil {
		est.Price = call.Price
	}
	res, err := g.Reserve(ctx, call.Key, est)
	if err != nil {
		return nil, err
	}

	ctx, s := g.bind(ctx, res)
	defer func() {
		if v := recover(); v != nil {
			// The tracker records no stream whose opening panicked, so
			// nothing else will settle it.
			_ = res.Settle(&usage.Record{Error: errmon.Panic})
			panic(v)
		}
	}()
	stream, err := usage.TrackChatStream(ctx, t, call, client, req)
	if s.close() {
		_ = res.settleEstimate()
	}
	return stream, err
}
