package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// Log keys of the messages the handlers write.
const (
	logKeyError = "error"
	logKeyQuery = "query"
)

// Handler returns an http.Handler that serves the Snapshot of a request's
// query parameters as JSON:
//
//	GET ?type=all|usage|errors|performance&window=15m|1h|24h|7d
//	GET ?type=…&since=RFC3339&until=RFC3339
//
// Every parameter is optional. The type defaults to all, and the window to
// the store's Retention back from now. An until may end a window, but since
// cannot be given together with window. Further parameters shape the data:
//
//   - endpoint, provider, model, key: keep only the calls that match each
//     given value exactly.
//   - sort=cost|calls: the order of breakdown rows. Default: cost.
//   - top=1..1000: the rows each breakdown lists before its other row.
//     Default: 20.
//   - bucket=1m|5m|10m|15m|30m|1h|3h|6h|12h|1d: the width of the points of
//     the time series, at most 1441 of them. Default: chosen from the
//     window for at most 100 points.
//
// Responses other than 200 carry a JSON body {"error": "…"}:
//   - 400 for an invalid parameter, naming it.
//   - 403 when cfg.Authorize returns false.
//   - 405, with an Allow header, for methods other than GET and HEAD.
//   - 500 when the store fails. The store's error goes to cfg.Logger, not
//     to the client.
//
// Every response has Cache-Control: no-store.
//
// Handler panics when cfg.Store is nil, because that is a programming
// mistake. The handler reads cfg on every request, so the Limiters slice
// must not change after the call.
func Handler(cfg Config) http.Handler {
	if cfg.Store == nil {
		panic("analytics: Handler: config has no Store")
	}
	return &handler{cfg: cfg}
}

type handler struct {
	cfg Config
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	header := w.Header()
	header.Set("Cache-Control", "no-store")
	header.Set("X-Content-Type-Options", "nosniff")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		header.Set("Allow", "GET, HEAD")
		h.writeJSONError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed, only GET and HEAD are")
		return
	}
	if h.cfg.Authorize != nil && !h.cfg.Authorize(r) {
		h.writeJSONError(w, r, http.StatusForbidden, "not authorized to read analytics")
		return
	}

	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		h.writeJSONError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	snap, err := Build(r.Context(), h.cfg, q)
	if err != nil {
		var qe *QueryError
		if errors.As(err, &qe) {
			h.writeJSONError(w, r, http.StatusBadRequest, qe.Error())
			return
		}
		// A client that went away needs no response and no log line.
		if !errors.Is(err, context.Canceled) {
			h.cfg.logger().ErrorContext(r.Context(), "analytics: build snapshot failed", logKeyError, err, logKeyQuery, r.URL.RawQuery)
		}
		h.writeJSONError(w, r, http.StatusInternalServerError, "reading the usage store failed, and the server log contains the cause")
		return
	}
	h.writeJSON(w, r, http.StatusOK, snap)
}

// errorBody is the JSON body of every response other than 200.
type errorBody struct {
	Error string `json:"error"`
}

func (h *handler) writeJSONError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.writeJSON(w, r, status, errorBody{Error: msg})
}

// writeJSON encodes v and writes it with status. A HEAD request gets the
// headers only.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		// Every float in a snapshot is finite, so encoding fails only on a
		// time outside the years 0 to 9999, such as one from a broken Clock.
		h.cfg.logger().ErrorContext(r.Context(), "analytics: encode response failed", logKeyError, err, logKeyQuery, r.URL.RawQuery)
		buf.Reset()
		buf.WriteString(`{"error":"encoding the response failed"}` + "\n")
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
