package simprovider

import (
	"fmt"
	"math"
	"net/http"
)

// Fault is a failure that the server injects into a valid request. Requests
// that fail authentication or validation never get a fault.
type Fault string

// The faults a Server can inject.
const (
	// FaultNone injects nothing.
	FaultNone Fault = ""
	// FaultRateLimit sends a 429 with type "requests", code
	// "rate_limit_exceeded" and the retry-after and x-ratelimit-*-requests
	// headers built from Config.RetryAfter and Config.RateLimitRequests.
	FaultRateLimit Fault = "rate_limit"
	// FaultQuota sends a 429 with type and code "insufficient_quota" and no
	// retry-after header, because waiting does not restore a quota.
	FaultQuota Fault = "insufficient_quota"
	// FaultServerError sends a 500 with type "server_error" and a null code.
	FaultServerError Fault = "server_error"
	// FaultSlow waits Config.SlowDelay and then responds normally. The wait
	// ends early, with no response, when the request's context is done.
	FaultSlow Fault = "slow"
	// FaultDisconnect cuts the connection. A stream is cut after
	// Config.DisconnectAfter content chunks, and any other response before
	// its status line. The handler panics with http.ErrAbortHandler to do
	// so, which net/http turns into a closed connection, so middleware
	// that recovers panics must re-panic that value.
	FaultDisconnect Fault = "disconnect"
)

// known reports whether f is one of the Fault constants.
func (f Fault) known() bool {
	switch f {
	case FaultNone, FaultRateLimit, FaultQuota, FaultServerError, FaultSlow, FaultDisconnect:
		return true
	}
	return false
}

// FaultRates are the probabilities, each in [0, 1], that a valid request
// gets each fault. Their sum must not exceed 1. One uniform draw per request
// picks at most one fault. The zero FaultRates injects nothing.
type FaultRates struct {
	// RateLimit is the probability of FaultRateLimit.
	RateLimit float64
	// Quota is the probability of FaultQuota.
	Quota float64
	// ServerError is the probability of FaultServerError.
	ServerError float64
	// Slow is the probability of FaultSlow.
	Slow float64
	// Disconnect is the probability of FaultDisconnect.
	Disconnect float64
}

func (fr FaultRates) validate() error {
	rates := []struct {
		name string
		p    float64
	}{
		{"RateLimit", fr.RateLimit},
		{"Quota", fr.Quota},
		{"ServerError", fr.ServerError},
		{"Slow", fr.Slow},
		{"Disconnect", fr.Disconnect},
	}

	sum := 0.0
	for _, rate := range rates {
		// The negated comparison also rejects NaN.
		if !(rate.p >= 0 && rate.p <= 1) {
			return fmt.Errorf("invalid Faults.%s %v: must be in [0, 1]", rate.name, rate.p)
		}
		sum += rate.p
	}
	if sum > 1 {
		return fmt.Errorf("invalid Faults: the rates sum to %v, more than 1", sum)
	}
	return nil
}

func (fr FaultRates) isZero() bool { return fr == FaultRates{} }

// pick maps a uniform draw u in [0, 1) to a fault.
func (fr FaultRates) pick(u float64) Fault {
	steps := []struct {
		p     float64
		fault Fault
	}{
		{fr.RateLimit, FaultRateLimit},
		{fr.Quota, FaultQuota},
		{fr.ServerError, FaultServerError},
		{fr.Slow, FaultSlow},
		{fr.Disconnect, FaultDisconnect},
	}
	for _, step := range steps {
		if u < step.p {
			return step.fault
		}
		u -= step.p
	}
	return FaultNone
}

// forcedFaults is a run of requests that FailNext queued.
type forcedFaults struct {
	fault Fault
	count int
}

// FailNext makes the next n valid requests, of any endpoint, get fault f,
// ahead of Config.Fault and Config.Faults. FailNext(n, FaultNone) lets the
// next n requests through with no fault. Calls queue up in order.
//
// FailNext panics if n is negative or f is not one of the Fault constants,
// because that is a programmer mistake.
func (s *Server) FailNext(n int, f Fault) {
	if n < 0 || !f.known() {
		panic(fmt.Sprintf("simprovider: FailNext(%d, %q): need n >= 0 and a Fault constant", n, f))
	}
	if n == 0 {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.forced = append(s.forced, forcedFaults{fault: f, count: n})
}

// chooseFault returns the fault for a valid request: a queued one first, then
// the Config.Fault hook's choice, then a random draw from Config.Faults.
func (s *Server) chooseFault(r *http.Request, req Request) Fault {
	s.mu.Lock()
	if len(s.forced) > 0 {
		f := s.forced[0].fault
		s.forced[0].count--
		if s.forced[0].count == 0 {
			s.forced = s.forced[1:]
		}
		s.mu.Unlock()
		return f
	}
	s.mu.Unlock()

	// The hook is user code, so it runs without the lock.
	if s.cfg.Fault != nil {
		if f := s.cfg.Fault(r, req); f != FaultNone {
			return f
		}
	}

	if s.cfg.Faults.isZero() {
		return FaultNone
	}
	s.mu.Lock()
	var u float64
	if s.cfg.EvenFaults {
		// The fractional parts of n·(√5−1)/2 spread over [0, 1) more
		// evenly than random draws, so each fault's share over any run of
		// requests is close to its rate.
		s.faultDraws++
		_, u = math.Modf(float64(s.faultDraws) * 0.6180339887498949)
	} else {
		u = s.rng.Float64()
	}
	s.mu.Unlock()
	return s.cfg.Faults.pick(u)
}

// applyFault chooses the fault for a valid request and applies it. It
// reports whether the handler should go on to a normal response, which it
// should after FaultNone, after a completed FaultSlow wait, and for a stream
// with FaultDisconnect, which streamChat cuts later. An error fault gets its
// response here, and a non-streamed FaultDisconnect aborts the connection.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, req Request) (Fault, bool) {
	fault := s.chooseFault(r, req)
	if fault == FaultNone {
		return fault, true
	}
	s.cfg.Logger.Debug("simprovider: injecting fault", logKeyFault, string(fault), logKeyPath, req.Path, logKeyModel, req.Model)

	switch fault {
	case FaultRateLimit:
		s.stats.rateLimited.Add(1)
		writeRateLimit(w, req.Model, s.cfg.RateLimitRequests, s.cfg.RetryAfter)
	case FaultQuota:
		s.stats.quotaExceeded.Add(1)
		writeAPIError(w, http.StatusTooManyRequests, errQuota())
	case FaultServerError:
		s.stats.serverErrors.Add(1)
		writeAPIError(w, http.StatusInternalServerError, errServer())
	case FaultSlow:
		s.stats.slow.Add(1)
		return fault, s.wait(r, s.cfg.SlowDelay) == nil
	case FaultDisconnect:
		if req.Stream {
			return fault, true
		}
		s.stats.disconnected.Add(1)
		abortConnection()
	default:
		// Only Config.Fault can return an unknown value.
		s.stats.serverErrors.Add(1)
		s.cfg.Logger.Error("simprovider: Config.Fault returned an unknown fault", logKeyFault, string(fault))
		writeAPIError(w, http.StatusInternalServerError, apiError{
			Message: fmt.Sprintf("Config.Fault returned the unknown fault %q. Return one of the simprovider Fault constants.", string(fault)),
			Type:    "server_error",
		})
	}
	return fault, false
}

// abortConnection closes the client's connection without a complete
// response. net/http recovers this panic value without logging a stack.
func abortConnection() {
	panic(http.ErrAbortHandler)
}

// Log keys.
const (
	logKeyFault  = "fault"
	logKeyPath   = "path"
	logKeyModel  = "model"
	logKeyAddr   = "addr"
	logKeyStatus = "status"
	logKeyError  = "error"
)
