package budget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
	openai "github.com/sashabaranov/go-openai"
)

// Names of the response header fields that Middleware and WriteError set.
// They describe one budget: the one that rejected the request, or on an
// admitted request the one with the smallest share of its limit left.
const (
	// HeaderName carries the budget's name.
	HeaderName = "X-Budget-Name"
	// HeaderUnit carries the budget's unit: "usd" or "tokens".
	HeaderUnit = "X-Budget-Unit"
	// HeaderLimit carries the budget's limit per window, in USD or tokens.
	HeaderLimit = "X-Budget-Limit"
	// HeaderRemaining carries what the key may still reserve, in USD or
	// tokens.
	HeaderRemaining = "X-Budget-Remaining"
	// HeaderReset carries the Unix time in seconds, rounded up, at which
	// the request would fit (on a rejection) or at which what was reserved
	// now stops counting (on an admission).
	HeaderReset = "X-Budget-Reset"
)

// ledgerUnavailable is the error field of the 503 response to a ledger
// failure.
const ledgerUnavailable = "budget ledger unavailable"

// RequestFunc returns the Request that Middleware estimates for an HTTP
// request. It may read r.Body, but must leave a body the handler can read
// again.
type RequestFunc func(r *http.Request) (Request, error)

type reservationContextKey struct{}

// ReservationFromContext returns the reservation that Middleware stored in
// ctx, and false when there is none. A handler that settles it by hand
// with Reservation.Settle takes it over from the tracker.
func ReservationFromContext(ctx context.Context) (*Reservation, bool) {
	r, ok := ctx.Value(reservationContextKey{}).(*Reservation)
	return r, ok
}

// Middleware returns HTTP middleware that reserves the estimate of each
// request under the key that key returns, before the handler runs.
//
// A request that does not fit gets the response of WriteError: status 402
// from a Spend budget, 429 from a Tokens budget. An admitted request
// reaches next with the X-Budget-* fields set and the reservation in its
// context (see ReservationFromContext). The first call tracked with that
// context by a tracker that g observes settles the reservation with its
// record. When next returns without such a call, the reservation is
// released. So each request's reservation covers one
// provider call; a handler that makes several (an agent) should reserve
// each with TrackCall instead.
//
// A failed KeyFunc or RequestFunc gets status 400 with the JSON body
// {"error": "..."}. Middleware panics if key or request is nil.
func (g *Guard) Middleware(key ratelimit.KeyFunc, request RequestFunc) func(http.Handler) http.Handler {
	if key == nil || request == nil {
		panic("budget: Middleware: nil key or request function")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.serve(w, r, next, key, request)
		})
	}
}

func (g *Guard) serve(w http.ResponseWriter, r *http.Request, next http.Handler, key ratelimit.KeyFunc, request RequestFunc) {
	k, err := key(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	req, err := request(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}

	res, err := g.Reserve(r.Context(), k, req)
	if err != nil {
		g.WriteError(w, err)
		return
	}
	if i := res.tightest(); i >= 0 {
		h := &res.holds[i]
		setHeaders(w.Header(), &h.Budget, res.remaining[i], resetOf(h))
	}

	ctx := context.WithValue(r.Context(), reservationContextKey{}, res)
	ctx, s := g.bind(ctx, res)
	defer func() {
		// Runs when next panics too.
		if s.close() {
			_ = res.Release()
		}
	}()
	next.ServeHTTP(w, r.WithContext(ctx))
}

// WriteError writes the response for an error that the guard returned from
// Reserve, TrackCall or TrackChatStream, and reports whether err was one:
//
//   - an *ExceededError: status 402 Payment Required for a Spend budget,
//     429 Too Many Requests for a Tokens budget, the X-Budget-* fields,
//     Retry-After in whole seconds (left out when the request can never
//     fit), and the JSON body
//     {"error":"budget exceeded","budget":"daily","unit":"usd","limit":1,
//     "remaining":0.0004,"requested":0.0021,"reset":"2026-12-05T05:00:00Z",
//     "retry_after_seconds":3600}, with amounts in USD or tokens; a request
//     that can never fit has the error "request exceeds the budget's limit"
//     and no reset;
//   - ErrUnpriced: status 400 with {"error": "..."};
//   - ErrLedger: status 503 with {"error":"budget ledger unavailable"}.
//
// For any other error, such as one of the wrapped provider call, and for
// nil, it writes nothing and returns false, so a handler can write its own
// response for those:
//
//	resp, err := budget.TrackCall(ctx, guard, tracker, call, req, fn)
//	if guard.WriteError(w, err) {
//		return
//	}
func (g *Guard) WriteError(w http.ResponseWriter, err error) bool {
	var ex *ExceededError
	switch {
	case err == nil:
		return false
	case errors.As(err, &ex):
		g.writeExceeded(w, ex)
	case errors.Is(err, ErrUnpriced):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	case errors.Is(err, ErrLedger):
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: ledgerUnavailable})
	default:
		return false
	}
	return true
}

// exceededBody is the JSON body of a 402 or 429 response.
type exceededBody struct {
	Error             string      `json:"error"`
	Budget            string      `json:"budget"`
	Unit              Unit        `json:"unit"`
	Limit             json.Number `json:"limit"`
	Remaining         json.Number `json:"remaining"`
	Requested         json.Number `json:"requested"`
	Reset             *time.Time  `json:"reset,omitempty"`
	RetryAfterSeconds *int64      `json:"retry_after_seconds,omitempty"`
}

type errorBody struct {
	Error string `json:"error"`
}

func (g *Guard) writeExceeded(w http.ResponseWriter, ex *ExceededError) {
	now := g.now()
	b := Budget{Name: ex.Budget, Unit: ex.Unit, Limit: ex.Limit}
	setHeaders(w.Header(), &b, ex.Remaining, ex.Reset)

	body := exceededBody{
		Error:     ErrExceeded.Error(),
		Budget:    ex.Budget,
		Unit:      ex.Unit,
		Limit:     ex.Unit.number(ex.Limit),
		Remaining: ex.Unit.number(ex.Remaining),
		Requested: ex.Unit.number(ex.Requested),
	}
	if ex.Reset.IsZero() {
		body.Error = "request exceeds the budget's limit"
	} else {
		reset := ex.Reset.UTC()
		secs := int64(ex.RetryAfter(now) / time.Second)
		body.Reset, body.RetryAfterSeconds = &reset, &secs
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}

	status := http.StatusTooManyRequests
	if ex.Unit == Spend {
		status = http.StatusPaymentRequired
	}
	writeJSON(w, status, body)
}

// setHeaders sets the X-Budget-* fields for budget b. A zero reset leaves
// out HeaderReset.
func setHeaders(h http.Header, b *Budget, remaining int64, reset time.Time) {
	h.Set(HeaderName, b.Name)
	h.Set(HeaderUnit, string(b.Unit))
	h.Set(HeaderLimit, b.Unit.number(b.Limit).String())
	h.Set(HeaderRemaining, b.Unit.number(remaining).String())
	if !reset.IsZero() {
		secs := reset.Unix()
		if reset.Nanosecond() > 0 {
			secs++
		}
		h.Set(HeaderReset, strconv.FormatInt(secs, 10))
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		// The bodies are fixed structs of strings and numbers.
		panic(fmt.Sprintf("budget: encode response body: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// DefaultMaxBody is the largest request body, 1 MiB, that ChatBody reads
// when its maxBytes is not positive.
const DefaultMaxBody = 1 << 20

// ChatBody returns a RequestFunc for request bodies in the form of an
// OpenAI chat completion request, such as {"model": "gpt-4o-mini",
// "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 200}.
// defaultModel is used when the body names none. It reads at most maxBytes
// (DefaultMaxBody when maxBytes is not positive), rejects a longer or
// malformed body, and puts the body back for the handler.
func ChatBody(defaultModel string, maxBytes int64) RequestFunc {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBody
	}
	return func(r *http.Request) (Request, error) {
		if r.Body == nil {
			return Request{}, errors.New("read chat request: missing body")
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(data))
		if err != nil {
			return Request{}, fmt.Errorf("read chat request: %w", err)
		}
		if int64(len(data)) > maxBytes {
			return Request{}, fmt.Errorf("read chat request: body is larger than %d bytes", maxBytes)
		}

		var chat openai.ChatCompletionRequest
		if err := json.Unmarshal(data, &chat); err != nil {
			return Request{}, fmt.Errorf("read chat request: invalid JSON: %w", err)
		}
		if chat.Model == "" {
			chat.Model = defaultModel
		}
		return ChatRequest(chat), nil
	}
}
