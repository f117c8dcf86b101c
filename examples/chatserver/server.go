package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aimeter/aimeter/analytics"
	"github.com/aimeter/aimeter/analytics/promexport"
	"github.com/aimeter/aimeter/budget"
	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/usage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	openai "github.com/sashabaranov/go-openai"
)

// maxBodyBytes bounds a request body. A larger body gets a 400 response.
const maxBodyBytes = 1 << 20

// defaultModel is the model a chat request gets when it names none.
const defaultModel = "gpt-4o-mini"

// config holds the settings the server is built from.
type config struct {
	// Client calls the provider.
	Client *openai.Client
	// Provider names the provider in records, such as "openai".
	Provider string
	// Store keeps the records.
	Store usage.Store
	// Logger receives the server's own log lines.
	Logger *slog.Logger
	// Clock stamps records and drives the limiters; nil means time.Now.
	Clock func() time.Time
	// Secrets are strings, such as the provider's API key, that must never
	// appear in error events or logs.
	Secrets []string
	// Alerts are the error-rate rules whose alerts are logged.
	Alerts []errmon.AlertRule
	// Guard, when set, holds each client key to its spend budgets.
	Guard *budget.Guard
	// Limits builds the route limits from the three rules; nil keeps them
	// in memory. The -redis flag sets it.
	Limits func(api, agent, stream ratelimit.Rule) routeLimits
	// Observers see every provider call, such as an OpenTelemetry
	// exporter.
	Observers []usage.Observer
	// APIRule, AgentRule and StreamRule replace the presets of the same
	// names when set; benchmarks use them to lift the limits.
	APIRule, AgentRule, StreamRule ratelimit.Rule
	// TrackerOptions are applied after the server's own tracker options,
	// so they can change its queue size or retry backoff.
	TrackerOptions []usage.TrackerOption
}

// routeLimits are the limiters of the three routes. Chat spends the API
// rule. Stream spends the API and streaming rules at once, all or nothing.
// Agent spends the agent rule. Reporters supply each rule's counts once.
type routeLimits struct {
	chat, stream, agent ratelimit.Limiter
	reporters           []ratelimit.StatsReporter
}

// memoryLimits keeps the route limits in this process.
func memoryLimits(api, agent, stream ratelimit.Rule, now func() time.Time) routeLimits {
	clock := ratelimit.WithClock(now)
	apiLimit := ratelimit.NewMemory(api, clock)
	agentLimit := ratelimit.NewMemory(agent, clock)
	streamLimit := ratelimit.NewMemory(stream, clock)
	return routeLimits{
		chat:      apiLimit,
		stream:    ratelimit.All(apiLimit, streamLimit),
		agent:     agentLimit,
		reporters: []ratelimit.StatsReporter{apiLimit, agentLimit, streamLimit},
	}
}

// orPreset returns r, or preset when r is the zero Rule.
func orPreset(r, preset ratelimit.Rule) ratelimit.Rule {
	if r == (ratelimit.Rule{}) {
		return preset
	}
	return r
}

// app is the chat server: its limiters, tracker and routes.
type app struct {
	client   *openai.Client
	provider string
	logger   *slog.Logger
	tracker  *usage.Tracker
	monitor  *errmon.Monitor
	metrics  *promexport.Exporter
	guard    *budget.Guard

	limits  routeLimits
	key     ratelimit.KeyFunc
	handler http.Handler
}

// newApp builds the server's routes around cfg.
func newApp(cfg config) *app {
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	a := &app{
		client:   cfg.Client,
		provider: cfg.Provider,
		logger:   cfg.Logger,
	}
	var redact []*regexp.Regexp
	for _, secret := range cfg.Secrets {
		if secret != "" {
			redact = append(redact, regexp.MustCompile(regexp.QuoteMeta(secret)))
		}
	}
	a.monitor = errmon.NewMonitor(errmon.Config{
		Clock:   now,
		Logger:  cfg.Logger,
		Redact:  redact,
		Rules:   cfg.Alerts,
		OnAlert: []func(errmon.Alert){errmon.LogAlerts(cfg.Logger)},
	})
	a.metrics = promexport.New()
	opts := []usage.TrackerOption{usage.WithMonitor(a.monitor), usage.WithClock(now), usage.WithLogger(cfg.Logger), usage.WithObserver(a.metrics)}
	if cfg.Guard != nil {
		// The guard settles each reservation from the call's record.
		a.guard = cfg.Guard
		opts = append(opts, usage.WithObserver(cfg.Guard))
	}
	for _, o := range cfg.Observers {
		opts = append(opts, usage.WithObserver(o))
	}
	opts = append(opts, cfg.TrackerOptions...)
	a.tracker = usage.NewTracker(cfg.Store, opts...)

	rules := [3]ratelimit.Rule{
		orPreset(cfg.APIRule, ratelimit.APIRule),
		orPreset(cfg.AgentRule, ratelimit.AgentRule),
		orPreset(cfg.StreamRule, ratelimit.StreamRule),
	}
	if cfg.Limits != nil {
		a.limits = cfg.Limits(rules[0], rules[1], rules[2])
	} else {
		a.limits = memoryLimits(rules[0], rules[1], rules[2], now)
	}
	byKey := clientKey(ratelimit.KeyByHeader(apiKeyHeader), ratelimit.KeyByIP())
	a.key = byKey

	chatLimited := ratelimit.Middleware(a.limits.chat, byKey)(http.HandlerFunc(a.chat))
	streamLimited := ratelimit.Middleware(a.limits.stream, byKey)(http.HandlerFunc(a.chatStream))
	agentLimited := ratelimit.Middleware(a.limits.agent, byKey)(http.HandlerFunc(a.agent))

	mux := http.NewServeMux()
	mux.Handle("/api/ai/chat", postOnly(parseChat(chatLimited, streamLimited)))
	mux.Handle("/api/ai/agent", postOnly(parseChat(agentLimited, agentLimited)))
	mux.Handle("/api/analytics", analytics.Handler(analytics.Config{
		Store:    cfg.Store,
		Errors:   a.monitor,
		Limiters: a.limits.reporters,
		Tracker:  a.tracker,
		Clock:    now,
		Budgets:  budgetReporter(a.guard),
	}))
	mux.Handle("/dashboard", analytics.Dashboard(analytics.DashboardConfig{APIPath: "/api/analytics"}))

	// Each app has a registry of its own, so tests can run several.
	a.metrics.AddTracker(a.tracker)
	for _, l := range a.limits.reporters {
		a.metrics.AddRateLimiter(l)
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(a.metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	a.handler = mux
	return a
}

// ServeHTTP serves every route.
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Close writes every queued record.
func (a *app) Close(ctx context.Context) error { return a.tracker.Close(ctx) }

// apiKeyHeader carries the client's API key. Limits and usage are kept per
// key when a request has one, and per client IP otherwise.
const apiKeyHeader = "X-API-Key"

// clientKey returns the key function of the limits: "key:" and a hash of
// the API key header when the request has one, "ip:" and the client's
// address otherwise. The raw API key is never stored.
func clientKey(byHeader, byIP ratelimit.KeyFunc) ratelimit.KeyFunc {
	return func(r *http.Request) (string, error) {
		if r.Header.Get(apiKeyHeader) != "" {
			k, err := byHeader(r)
			return "key:" + k, err
		}
		ip, err := byIP(r)
		return "ip:" + ip, err
	}
}

// chatRequest is the body of the chat and agent routes.
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	Stream   bool          `json:"stream"`
	// MaxTokens caps the reply, in tokens; it also bounds what a budget
	// reserves for the reply. Zero leaves it to the provider.
	MaxTokens int `json:"max_tokens"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequestKey struct{}

// parseChat reads and checks the JSON body before any limit is spent, so a
// malformed request costs the client nothing and reaches no provider. It
// hands valid requests to plain or, when they ask to stream, to streamed.
func parseChat(plain, streamed http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes))
				return
			}
			writeError(w, http.StatusBadRequest, "could not read the request body")
			return
		}
		var req chatRequest
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "request body is not valid JSON: "+err.Error())
			return
		}
		if err := req.validate(); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if req.Model == "" {
			req.Model = defaultModel
		}
		if !validModel(req.Model) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf(`"model" must be at most %d letters, digits or ".:_/-"`, maxModelBytes))
			return
		}

		ctx := context.WithValue(r.Context(), chatRequestKey{}, &req)
		if req.Stream {
			streamed.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		plain.ServeHTTP(w, r.WithContext(ctx))
	})
}

// maxModelBytes bounds a model name. Each distinct name becomes a series
// in the usage store, so names are kept short and plain.
const maxModelBytes = 128

// validModel reports whether name is a plausible model name: the names of
// OpenAI, Azure deployments and fine-tuned models ("ft:gpt-4o-mini:org::id")
// all pass.
func validModel(name string) bool {
	if len(name) > maxModelBytes {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == ':', c == '_', c == '/', c == '-':
		default:
			return false
		}
	}
	return true
}

func (req *chatRequest) validate() error {
	if len(req.Messages) == 0 {
		return errors.New(`"messages" must hold at least one message`)
	}
	if req.MaxTokens < 0 {
		return fmt.Errorf(`"max_tokens" %d must not be negative`, req.MaxTokens)
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant", "developer":
		default:
			return fmt.Errorf(`messages[%d].role %q must be one of system, user, assistant, developer`, i, m.Role)
		}
		if strings.TrimSpace(m.Content) == "" {
			return fmt.Errorf(`messages[%d].content must not be empty`, i)
		}
	}
	return nil
}

func (req *chatRequest) openai() openai.ChatCompletionRequest {
	msgs := make([]openai.ChatCompletionMessage, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
	}
	return openai.ChatCompletionRequest{Model: req.Model, Messages: msgs, MaxCompletionTokens: req.MaxTokens}
}

func requestOf(r *http.Request) *chatRequest {
	return r.Context().Value(chatRequestKey{}).(*chatRequest)
}

// chatReply is the JSON response of the chat route.
type chatReply struct {
	Model   string       `json:"model"`
	Content string       `json:"content"`
	Usage   usage.Tokens `json:"usage"`
}

func (a *app) chat(w http.ResponseWriter, r *http.Request) {
	req := requestOf(r)
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: a.provider, Model: req.Model, Key: a.callerKey(r)}
	resp, err := a.createChat(r.Context(), call, req.openai())
	if err != nil {
		a.providerFailed(w, err)
		return
	}
	tokens, _ := usage.TokensFromOpenAI(&resp.Usage)
	writeJSON(w, http.StatusOK, chatReply{Model: resp.Model, Content: firstContent(&resp), Usage: tokens})
}

func firstContent(resp *openai.ChatCompletionResponse) string {
	if len(resp.Choices) == 0 {
		return ""
	}
	return resp.Choices[0].Message.Content
}

// chatStream relays a streamed chat as server-sent events: one
// `data: {"content": …}` event per chunk with text, then `data: [DONE]`, or
// an `event: error` with a JSON body when the provider fails mid-stream.
func (a *app) chatStream(w http.ResponseWriter, r *http.Request) {
	req := requestOf(r)
	call := usage.Call{Endpoint: "/api/ai/chat", Provider: a.provider, Model: req.Model, Key: a.callerKey(r)}
	stream, err := a.openStream(r.Context(), call, req.openai())
	if err != nil {
		a.providerFailed(w, err)
		return
	}
	defer stream.Close()

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			fmt.Fprint(w, "data: [DONE]\n\n")
			break
		}
		if err != nil {
			// The monitor has logged the failure; the client only learns
			// its category.
			category := errmon.Classify(err)
			payload, _ := json.Marshal(map[string]string{"error": "provider stream failed", "category": string(category)})
			fmt.Fprintf(w, "event: error\ndata: %s\n\n", payload)
			break
		}
		for _, c := range chunk.Choices {
			if c.Delta.Content == "" {
				continue
			}
			payload, _ := json.Marshal(map[string]string{"content": c.Delta.Content})
			fmt.Fprintf(w, "data: %s\n\n", payload)
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
}

// agentReply is the JSON response of the agent route.
type agentReply struct {
	Model  string      `json:"model"`
	Steps  []agentStep `json:"steps"`
	Answer string      `json:"answer"`
}

type agentStep struct {
	Name    string       `json:"name"`
	Content string       `json:"content"`
	Usage   usage.Tokens `json:"usage"`
}

// agentSteps are the chained calls of one agent run. Each step receives the
// conversation so far plus its own instruction.
var agentSteps = []struct{ name, instruction string }{
	{"plan", "Write a short plan for answering the request."},
	{"act", "Carry out the plan and draft an answer."},
	{"review", "Check the draft and give the final answer."},
}

func (a *app) agent(w http.ResponseWriter, r *http.Request) {
	req := requestOf(r)
	reply := agentReply{Model: req.Model}
	key := a.callerKey(r)
	history := req.openai().Messages
	for _, step := range agentSteps {
		history = append(history, openai.ChatCompletionMessage{Role: "system", Content: step.instruction})
		call := usage.Call{Endpoint: "/api/ai/agent", Provider: a.provider, Model: req.Model, Key: key, Labels: map[string]string{"step": step.name}}
		stepReq := openai.ChatCompletionRequest{Model: req.Model, Messages: history}
		resp, err := a.createChat(r.Context(), call, stepReq)
		if err != nil {
			a.providerFailed(w, err)
			return
		}
		content := firstContent(&resp)
		tokens, _ := usage.TokensFromOpenAI(&resp.Usage)
		reply.Steps = append(reply.Steps, agentStep{Name: step.name, Content: content, Usage: tokens})
		history = append(history, openai.ChatCompletionMessage{Role: "assistant", Content: content})
		reply.Answer = content
	}
	writeJSON(w, http.StatusOK, reply)
}

// createChat makes one tracked chat completion, within the caller's
// budget when the server has one.
func (a *app) createChat(ctx context.Context, call usage.Call, req openai.ChatCompletionRequest) (openai.ChatCompletionResponse, error) {
	fn := func(ctx context.Context) (openai.ChatCompletionResponse, error) {
		return a.client.CreateChatCompletion(ctx, req)
	}
	if a.guard == nil {
		return usage.TrackCall(ctx, a.tracker, call, fn)
	}
	return budget.TrackCall(ctx, a.guard, a.tracker, call, budget.ChatRequest(req), fn)
}

// openStream opens one tracked chat stream, within the caller's budget
// when the server has one.
func (a *app) openStream(ctx context.Context, call usage.Call, req openai.ChatCompletionRequest) (*usage.ChatStream, error) {
	if a.guard == nil {
		return usage.TrackChatStream(ctx, a.tracker, call, a.client, req)
	}
	return budget.TrackChatStream(ctx, a.guard, a.tracker, call, a.client, req)
}

// budgetReporter returns g as the analytics' budget source, or nil, so that
// a nil guard leaves the budgets section out.
func budgetReporter(g *budget.Guard) analytics.BudgetReporter {
	if g == nil {
		return nil
	}
	return g
}

// callerKey returns the key usage is kept under: the same key the limits
// use, which holds no secret.
func (a *app) callerKey(r *http.Request) string {
	k, err := a.key(r)
	if err != nil {
		return ""
	}
	return k
}

// providerFailed responds to a failed provider call with a JSON body naming the
// error category: 504 when the provider timed out, 503 when the call was
// canceled, and 502 for every other failure.
//
// The monitor has already logged the failure with its redacted message.
//
// A call the budget rejected before it reached the provider gets a 402
// (or 429 for a token budget) with the budget's headers instead.
func (a *app) providerFailed(w http.ResponseWriter, err error) {
	if a.guard != nil && a.guard.WriteError(w, err) {
		return
	}
	category := errmon.Classify(err)
	status := http.StatusBadGateway
	switch category {
	case errmon.Timeout:
		status = http.StatusGatewayTimeout
	case errmon.Canceled:
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]string{"error": "provider call failed: " + string(category), "category": string(category)})
}

// postOnly responds with 405 and a JSON error to every method but POST.
func postOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed; use POST")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
