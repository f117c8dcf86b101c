package simprovider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The API paths a Server serves. Both take POST only.
const (
	PathChatCompletions = "/v1/chat/completions"
	PathEmbeddings      = "/v1/embeddings"
)

// maxBodyBytes bounds a request body, so a runaway client cannot exhaust
// memory.
const maxBodyBytes = 16 << 20

// Request is the summary of a parsed, valid API request that Config.Fault
// receives.
type Request struct {
	// Path is PathChatCompletions or PathEmbeddings.
	Path string
	// Model is the requested model, as given.
	Model string
	// Stream is true for a streamed chat completion.
	Stream bool
	// IncludeUsage is true when a stream asked for a final usage chunk
	// with stream_options.include_usage.
	IncludeUsage bool
	// Inputs is the number of chat messages or embedding inputs.
	Inputs int
	// PromptTokens is the server's estimate of the prompt's tokens, which
	// it also reports in usage.
	PromptTokens int
}

// Server is a simulated OpenAI-compatible provider. It is an http.Handler,
// so it can be mounted on any server or httptest.Server. Start also serves
// it on a TCP port, by default a free loopback one.
//
// A Server is safe for concurrent use. Call Close when done with it.
type Server struct {
	cfg Config

	// baseCtx is canceled by Close, which ends every wait in progress.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	// mu guards rng, cache, forced and closed.
	mu  sync.Mutex
	rng *rand.Rand
	// faultDraws counts the draws of EvenFaults; guarded by mu.
	faultDraws int64
	cache      promptCache
	forced     []forcedFaults
	closed     bool
	inflight   sync.WaitGroup // Add only with mu held and closed false

	stats counters

	// Set by Start only.
	httpServer *http.Server
	serveDone  chan struct{}
	addr       string

	closeOnce sync.Once
}

// New returns a Server that serves cfg as an http.Handler, without
// listening. Use Start to listen on a port as well.
//
// New panics with an error that wraps ErrInvalidConfig if cfg has an invalid
// field, because that is a programmer mistake.
func New(cfg Config) *Server {
	if err := cfg.validate(); err != nil {
		panic(fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	cfg = cfg.withDefaults()

	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:        cfg,
		baseCtx:    ctx,
		cancelBase: cancel,
		rng:        rand.New(rand.NewSource(cfg.Seed)),
		cache:      newPromptCache(cfg.CacheEntries),
	}
}

// Start returns a Server that listens on cfg.Addr, by default a free
// loopback port. Its URL method returns the base URL to give go-openai's
// ClientConfig.BaseURL. It returns an error wrapping ErrInvalidConfig if
// cfg has an invalid field, or the listen error.
func Start(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s := New(cfg)

	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		s.cancelBase()
		return nil, fmt.Errorf("simprovider: listen on %s: %w", s.cfg.Addr, err)
	}

	s.addr = ln.Addr().String()
	s.serveDone = make(chan struct{})
	s.httpServer = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	go s.serve(ln)

	s.cfg.Logger.Info("simprovider: listening", logKeyAddr, s.addr)
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	defer close(s.serveDone)

	err := s.httpServer.Serve(ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.cfg.Logger.Error("simprovider: serve failed", logKeyAddr, s.addr, logKeyError, err)
	}
}

// URL returns the base URL of a Server from Start, such as
// "http://127.0.0.1:40123/v1", which is what go-openai's
// ClientConfig.BaseURL expects. It returns "" for a Server from New.
func (s *Server) URL() string {
	if s.addr == "" {
		return ""
	}
	return "http://" + s.addr + "/v1"
}

// Close stops the server: it stops listening (for a Server from Start), ends
// every wait in progress as if the client had gone away, and returns when
// every request in progress has returned. Requests that arrive after Close
// get 503. Close is safe to call more than once and always returns nil.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()

		s.cancelBase()
		if s.httpServer != nil {
			_ = s.httpServer.Close()
			<-s.serveDone
		}
		s.inflight.Wait()

		if s.httpServer != nil {
			s.cfg.Logger.Info("simprovider: stopped", logKeyAddr, s.addr)
		}
	})
	return nil
}

// enter registers a request in progress, or reports false after Close.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// ServeHTTP serves POST /v1/chat/completions and POST /v1/embeddings. Any
// other path gets 404 and any other method 405, with OpenAI-shaped bodies.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.requests.Add(1)
	if !s.enter() {
		writeAPIError(w, http.StatusServiceUnavailable, errClosed())
		return
	}
	defer s.inflight.Done()

	// Waits end when the client goes away or when Close is called.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.baseCtx, cancel)
	defer stop()
	r = r.WithContext(ctx)

	var serve func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case PathChatCompletions:
		serve = s.serveChat
	case PathEmbeddings:
		serve = s.serveEmbeddings
	default:
		s.reject(w, r, &s.stats.invalidRequests, http.StatusNotFound, errInvalidURL(r.Method, r.URL.Path))
		return
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reject(w, r, &s.stats.invalidRequests, http.StatusMethodNotAllowed, errInvalidURL(r.Method, r.URL.Path))
		return
	}
	if e, ok := checkAuthorization(r.Header.Get("Authorization")); !ok {
		s.reject(w, r, &s.stats.unauthorized, http.StatusUnauthorized, e)
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	w.Header().Set("x-request-id", s.newID("req_", 32))
	serve(w, r)
}

// checkAuthorization accepts any non-empty bearer key, because the server
// has no accounts, but rejects a missing or malformed header as OpenAI does.
func checkAuthorization(header string) (apiError, bool) {
	if header == "" {
		return errMissingKey(), false
	}
	scheme, key, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		return errInvalidKey(), false
	}
	return apiError{}, true
}

// reject counts, logs and sends an error response that no fault caused,
// such as a 401 or a 400.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, counter *atomic.Int64, status int, e apiError) {
	counter.Add(1)
	s.cfg.Logger.Debug("simprovider: request rejected", logKeyPath, r.URL.Path, logKeyStatus, status, logKeyError, e.Message)
	writeAPIError(w, status, e)
}

// wait sleeps for d with Config.Sleep, skipping the call when d is 0. When
// the sleep ends early, it counts the request as canceled.
func (s *Server) wait(r *http.Request, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if err := s.cfg.Sleep(r.Context(), d); err != nil {
		s.canceled(r, err)
		return err
	}
	return nil
}

// canceled counts and logs a request that ended before its response was
// complete.
func (s *Server) canceled(r *http.Request, err error) {
	s.stats.canceled.Add(1)
	s.cfg.Logger.Debug("simprovider: request ended before its response was complete", logKeyPath, r.URL.Path, logKeyError, err)
}

// newID returns prefix followed by n random letters and digits.
func (s *Server) newID(prefix string, n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return prefix + randomID(s.rng, n)
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomID returns n random letters and digits drawn from r.
func randomID(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[r.Intn(len(idAlphabet))]
	}
	return string(b)
}
