package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimeter/aimeter/internal/simprovider"
	"github.com/aimeter/aimeter/usage"
	openai "github.com/sashabaranov/go-openai"
)

// testServer runs the chat server on a loopback listener in front of a
// simulated provider that responds immediately.
type testServer struct {
	url   string
	sim   *simprovider.Server
	app   *app
	store usage.Store
}

func startServer(t *testing.T, simCfg simprovider.Config) *testServer {
	t.Helper()
	return startServerWith(t, simCfg, config{})
}

// startServerWith is startServer with extra settings: Guard, Alerts and
// the rules are taken from extra.
func startServerWith(t *testing.T, simCfg simprovider.Config, extra config) *testServer {
	t.Helper()
	if simCfg.Latency == nil {
		simCfg.Latency = simprovider.Fixed(0)
	}
	sim, err := simprovider.Start(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })

	cfg := openai.DefaultConfig("sk-test")
	cfg.BaseURL = sim.URL()
	cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	store := usage.NewMemoryStore()
	a := newApp(config{
		Client:   openai.NewClientWithConfig(cfg),
		Provider: "simulated",
		Store:    store,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Guard:    extra.Guard,
		Alerts:   extra.Alerts,
	})
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		srv.Close()
		_ = a.Close(context.Background())
	})
	return &testServer{url: srv.URL, sim: sim, app: a, store: store}
}

const hiBody = `{"messages":[{"role":"user","content":"Hi"}]}`

func post(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, b
}

// snapshot is the part of the analytics JSON the tests read.
type snapshot struct {
	Usage struct {
		Calls             int64 `json:"calls"`
		UnknownUsageCalls int64 `json:"unknown_usage_calls"`
		Tokens            struct {
			Input  int64 `json:"input"`
			Output int64 `json:"output"`
			Total  int64 `json:"total"`
		} `json:"tokens"`
		CostUSD float64 `json:"cost_usd"`
		ByModel []struct {
			Model   string  `json:"model"`
			Calls   int64   `json:"calls"`
			CostUSD float64 `json:"cost_usd"`
		} `json:"by_model"`
	} `json:"usage"`
	Errors struct {
		Total      int64            `json:"total"`
		ByCategory map[string]int64 `json:"by_category"`
		Recent     []struct {
			Category string `json:"category"`
			Message  string `json:"message"`
		} `json:"recent"`
	} `json:"errors"`
	Performance struct {
		Calls     int64              `json:"calls"`
		LatencyMS map[string]float64 `json:"latency_ms"`
		TTFTMS    map[string]float64 `json:"ttft_ms"`
	} `json:"performance"`
	RateLimits struct {
		ByRule []struct {
			Rule     string `json:"rule"`
			Allowed  int64  `json:"allowed"`
			Rejected int64  `json:"rejected"`
		} `json:"by_rule"`
	} `json:"rate_limits"`
}

func getSnapshot(t *testing.T, base string) snapshot {
	t.Helper()
	resp, err := http.Get(base + "/api/analytics?type=all")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/analytics: status %d", resp.StatusCode)
	}
	var s snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("decode analytics: %v", err)
	}
	return s
}

func (s snapshot) rejected(rule string) int64 {
	var n int64
	for _, r := range s.RateLimits.ByRule {
		if rule == "" || r.Rule == rule {
			n += r.Rejected
		}
	}
	return n
}

// burst sends n concurrent requests and returns the responses' status
// codes, headers and bodies.
func burst(t *testing.T, url, body string, n int) []result {
	t.Helper()
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			resp, err := http.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results[i] = result{status: resp.StatusCode, header: resp.Header, body: b}
		}(i)
	}
	close(start)
	wg.Wait()
	return results
}

type result struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func TestChatBurstIsLimitedAndMetered(t *testing.T) {
	ts := startServer(t, simprovider.Config{})
	results := burst(t, ts.url+"/api/ai/chat", hiBody, 110)

	var ok, limited int64
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("request failed: %v", r.err)
		}
		switch r.status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			var body map[string]any
			if err := json.Unmarshal(r.body, &body); err != nil || body["error"] != "rate limit exceeded" {
				t.Errorf("429 body = %s, want JSON with error \"rate limit exceeded\"", r.body)
			}
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
				if r.header.Get(h) == "" {
					t.Errorf("429 response lacks %s", h)
				}
			}
			if got := r.header.Get("X-RateLimit-Remaining"); got != "0" {
				t.Errorf("X-RateLimit-Remaining on 429 = %q, want 0", got)
			}
		default:
			t.Errorf("status %d, body %s; want 200 or 429", r.status, r.body)
		}
	}
	if ok < 100 || ok > 101 {
		t.Errorf("200 responses = %d, want 100 (101 if a unit refilled during the burst)", ok)
	}
	if ok+limited != 110 {
		t.Errorf("200s %d + 429s %d != 110", ok, limited)
	}

	s := getSnapshot(t, ts.url)
	if s.Usage.Calls != ok {
		t.Errorf("usage.calls = %d, want %d (the 200 responses)", s.Usage.Calls, ok)
	}
	if s.Usage.Tokens.Input <= 0 || s.Usage.Tokens.Output <= 0 || s.Usage.CostUSD <= 0 {
		t.Errorf("tokens %+v, cost_usd %v; want both above zero", s.Usage.Tokens, s.Usage.CostUSD)
	}
	var sawDefault bool
	for _, m := range s.Usage.ByModel {
		if m.Model == defaultModel && m.Calls == ok && m.CostUSD > 0 {
			sawDefault = true
		}
	}
	if !sawDefault {
		t.Errorf("usage.by_model = %+v, want %s with %d calls and a cost", s.Usage.ByModel, defaultModel, ok)
	}
	lat := s.Performance.LatencyMS
	if !(lat["p50"] <= lat["p95"] && lat["p95"] <= lat["p99"]) {
		t.Errorf("latency_ms = %v, want p50 <= p95 <= p99", lat)
	}
	if got := s.rejected(""); got != limited {
		t.Errorf("rate_limits rejections = %d, want %d (the 429 responses)", got, limited)
	}
}

func TestLimitsArePerAPIKey(t *testing.T) {
	ts := startServer(t, simprovider.Config{})
	send := func(key string) int {
		req, err := http.NewRequest(http.MethodPost, ts.url+"/api/ai/agent", strings.NewReader(hiBody))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set(apiKeyHeader, key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 20; i++ {
		if got := send("key-a"); got != http.StatusOK {
			t.Fatalf("request %d with key-a: status %d, want 200", i, got)
		}
	}
	if got := send("key-a"); got != http.StatusTooManyRequests {
		t.Errorf("21st request with key-a: status %d, want 429", got)
	}
	if got := send("key-b"); got != http.StatusOK {
		t.Errorf("first request with key-b: status %d, want 200 (its own limit)", got)
	}
	if got := send(""); got != http.StatusOK {
		t.Errorf("first request without a key: status %d, want 200 (limited by IP)", got)
	}

	if err := ts.app.tracker.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recent, err := ts.store.Recent(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, r := range recent {
		keys[r.Call.Key] = true
		if strings.Contains(r.Call.Key, "key-a") || strings.Contains(r.Call.Key, "key-b") {
			t.Errorf("record key %q holds the raw API key", r.Call.Key)
		}
	}
	if len(keys) != 3 {
		t.Errorf("distinct record keys = %v, want 3 (two API keys and one IP)", keys)
	}
}

func TestAgentLimit(t *testing.T) {
	ts := startServer(t, simprovider.Config{})
	var ok, limited int
	for i := 0; i < 21; i++ {
		resp, body := post(t, ts.url+"/api/ai/agent", hiBody)
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
			var reply agentReply
			if err := json.Unmarshal(body, &reply); err != nil || len(reply.Steps) != len(agentSteps) {
				t.Errorf("agent reply = %s, want %d steps", body, len(agentSteps))
			}
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	if ok != 20 || limited != 1 {
		t.Errorf("agent: %d passed and %d rejected, want 20 and 1", ok, limited)
	}
	s := getSnapshot(t, ts.url)
	if want := int64(20 * len(agentSteps)); s.Usage.Calls != want {
		t.Errorf("usage.calls = %d, want %d (every step tracked)", s.Usage.Calls, want)
	}
	if got := s.rejected("agent"); got != 1 {
		t.Errorf("agent rejections = %d, want 1", got)
	}
}

func TestChatStreamSendsEventsAndTTFT(t *testing.T) {
	ts := startServer(t, simprovider.Config{})
	resp, err := http.Post(ts.url+"/api/ai/chat", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":"Tell me a story"}],"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	if got := resp.Header.Get("RateLimit-Policy"); !strings.Contains(got, `"stream"`) {
		t.Errorf("RateLimit-Policy = %q, want an item for the stream rule", got)
	}

	var events int
	var done bool
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "data: [DONE]" {
			done = true
			continue
		}
		if strings.HasPrefix(line, "data: ") {
			events++
		}
	}
	if events == 0 || !done {
		t.Errorf("got %d data events, [DONE] %v; want content events and [DONE]", events, done)
	}

	s := getSnapshot(t, ts.url)
	if s.Performance.TTFTMS == nil {
		t.Fatalf("performance.ttft_ms missing after a streamed call")
	}
	if s.Usage.UnknownUsageCalls != 0 || s.Usage.Tokens.Output == 0 {
		t.Errorf("streamed call: unknown usage %d, output tokens %d; want usage read from the stream", s.Usage.UnknownUsageCalls, s.Usage.Tokens.Output)
	}
}

func TestProviderErrorsAreReported(t *testing.T) {
	tests := []struct {
		fault    simprovider.Fault
		category string
	}{
		{simprovider.FaultRateLimit, "rate_limited"},
		{simprovider.FaultServerError, "provider_error"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			ts := startServer(t, simprovider.Config{})
			ts.sim.FailNext(1, tt.fault)
			resp, body := post(t, ts.url+"/api/ai/chat", hiBody)
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status = %d, want 502", resp.StatusCode)
			}
			var reply map[string]string
			if err := json.Unmarshal(body, &reply); err != nil || reply["category"] != tt.category || reply["error"] == "" {
				t.Errorf("body = %s, want a JSON error with category %q", body, tt.category)
			}

			s := getSnapshot(t, ts.url)
			if got := s.Errors.ByCategory[tt.category]; got != 1 {
				t.Errorf("errors.by_category[%s] = %d, want 1", tt.category, got)
			}
			if s.Errors.Total != 1 {
				t.Errorf("errors.total = %d, want 1", s.Errors.Total)
			}
			if len(s.Errors.Recent) != 1 || s.Errors.Recent[0].Category != tt.category {
				t.Errorf("errors.recent = %+v, want one %s event", s.Errors.Recent, tt.category)
			}
		})
	}
}

func TestBadInputIsRejected(t *testing.T) {
	ts := startServer(t, simprovider.Config{})
	huge := `{"messages":[{"role":"user","content":"` + strings.Repeat("a", 1<<20) + `"}]}`
	tests := []struct {
		name string
		body string
	}{
		{"invalid JSON", `{"messages": [`},
		{"no messages", `{"model":"gpt-4o-mini"}`},
		{"empty messages", `{"messages":[]}`},
		{"body over 1 MiB", huge},
		{"markup in the model name", `{"model":"<img src=x onerror=alert(1)>","messages":[{"role":"user","content":"Hi"}]}`},
		{"negative max_tokens", `{"max_tokens":-1,"messages":[{"role":"user","content":"Hi"}]}`},
		{"model name too long", `{"model":"` + strings.Repeat("m", maxModelBytes+1) + `","messages":[{"role":"user","content":"Hi"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, ts.url+"/api/ai/chat", tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", resp.StatusCode)
			}
			var reply map[string]string
			if err := json.Unmarshal(body, &reply); err != nil || reply["error"] == "" {
				t.Errorf("body = %s, want a JSON error", body)
			}
		})
	}
	if got := ts.sim.Stats().Requests; got != 0 {
		t.Errorf("provider requests = %d, want 0 after bad input", got)
	}
	if s := getSnapshot(t, ts.url); s.Usage.Calls != 0 {
		t.Errorf("usage.calls = %d, want 0 after bad input", s.Usage.Calls)
	}
}

// TestRunServesSeedCheck starts the server as main does, with nothing in
// the environment, and runs the burst against it.
func TestRunServesSeedCheck(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	var logs bytes.Buffer
	var logsMu sync.Mutex
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(string) string { return "" }, lockedWriter{&logs, &logsMu}, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		t.Fatalf("run: %v", err)
	}
	base := "http://" + addr

	results := burst(t, base+"/api/ai/chat", hiBody, 110)
	var ok, limited int64
	for _, r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("request failed: %v", r.err)
		case r.status == http.StatusOK:
			ok++
		case r.status == http.StatusTooManyRequests:
			limited++
		default:
			t.Errorf("status %d: %s", r.status, r.body)
		}
	}
	if ok < 100 || ok > 101 || ok+limited != 110 {
		t.Errorf("200s = %d, 429s = %d; want 100 (at most 101) and the rest", ok, limited)
	}
	s := getSnapshot(t, base)
	if s.Usage.Calls != ok || s.Usage.CostUSD <= 0 {
		t.Errorf("usage.calls = %d, cost_usd = %v; want %d and above zero", s.Usage.Calls, s.Usage.CostUSD, ok)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	logsMu.Lock()
	out := logs.String()
	logsMu.Unlock()
	for _, want := range []string{"chatserver listening", "simulated", "store=memory", "records_lost=0", "records_written=" + strconv.FormatInt(ok, 10)} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestRunFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &out, nil); err != nil {
		t.Errorf("run -h = %v, want nil", err)
	}
	if !strings.Contains(out.String(), "-addr") {
		t.Errorf("-h output lacks -addr:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"extra"}, func(string) string { return "" }, &out, nil); err == nil {
		t.Errorf("run with a stray argument = nil, want an error")
	}
	if err := run(context.Background(), []string{"-store", "bogus"}, func(string) string { return "" }, &out, nil); err == nil {
		t.Errorf("run -store bogus = nil, want an error")
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestMetricsRoute(t *testing.T) {
	ts := startServer(t, simprovider.Config{})
	if resp, body := post(t, ts.url+"/api/ai/chat", hiBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("chat: status %d: %s", resp.StatusCode, body)
	}
	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`aimeter_calls_total{endpoint="/api/ai/chat",gen_ai_operation_name="chat",gen_ai_provider_name="simulated",gen_ai_request_model="gpt-4o-mini"} 1`,
		"gen_ai_client_operation_duration_seconds_bucket",
		`aimeter_ratelimit_decisions_total{decision="allowed",rule="api"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestRunExportsOTLP(t *testing.T) {
	paths := make(chan string, 16)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case paths <- r.URL.Path:
		default:
		}
	}))
	defer collector.Close()

	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard, ready)
	}()
	addr := <-ready
	if resp, body := post(t, "http://"+addr+"/api/ai/chat", hiBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("chat: status %d: %s", resp.StatusCode, body)
	}
	cancel() // shutdown flushes the exporters
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(paths) > 0 {
		got[<-paths] = true
	}
	if !got["/v1/traces"] || !got["/v1/metrics"] {
		t.Errorf("collector received %v, want /v1/traces and /v1/metrics", got)
	}
}

func TestDailyBudgetRejectsWith402(t *testing.T) {
	guard, err := dailyBudget(0.042, "Europe/Berlin", nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, simprovider.Config{}, config{Guard: guard})
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`

	var passed int
	var rejected *http.Response
	var rejectedBody []byte
	for i := 0; i < 20 && rejected == nil; i++ {
		resp, b := post(t, ts.url+"/api/ai/chat", body)
		switch resp.StatusCode {
		case http.StatusOK:
			passed++
		case http.StatusPaymentRequired:
			rejected, rejectedBody = resp, b
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	if rejected == nil || passed == 0 {
		t.Fatalf("%d calls passed and none was rejected; want some to pass and then a 402", passed)
	}
	var reply map[string]any
	if err := json.Unmarshal(rejectedBody, &reply); err != nil || reply["error"] == nil {
		t.Errorf("402 body = %s, want a JSON error", rejectedBody)
	}
	if got := rejected.Header.Get("X-Budget-Remaining"); got == "" {
		t.Errorf("402 lacks X-Budget-Remaining; headers %v", rejected.Header)
	}

	// The ledger holds exactly what the recorded calls cost.
	s := getSnapshot(t, ts.url)
	if s.Usage.Calls != int64(passed) {
		t.Errorf("usage.calls = %d, want the %d calls that passed (a rejected call is never made)", s.Usage.Calls, passed)
	}
	resp, err := http.Get(ts.url + "/api/analytics?type=all")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap struct {
		Usage struct {
			CostUSD float64 `json:"cost_usd"`
		} `json:"usage"`
		Budgets struct {
			Keys []struct {
				Spent    float64 `json:"spent"`
				Reserved float64 `json:"reserved"`
			} `json:"keys"`
		} `json:"budgets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Budgets.Keys) != 1 {
		t.Fatalf("budgets.keys = %+v, want one key", snap.Budgets.Keys)
	}
	if k := snap.Budgets.Keys[0]; k.Spent != snap.Usage.CostUSD || k.Reserved != 0 {
		t.Errorf("budget spent %v, reserved %v; want the recorded cost %v and nothing reserved", k.Spent, k.Reserved, snap.Usage.CostUSD)
	}
}

func TestSimConfigFromEnvironment(t *testing.T) {
	env := map[string]string{
		"AIMETER_SIM_FAULTS":  "rate_limit=0.1,server_error=0.05",
		"AIMETER_SIM_LATENCY": "150ms,1s",
		"AIMETER_SIM_SLOW":    "3s",
		"AIMETER_SIM_EVEN":    "1",
		"AIMETER_SIM_SPIKE":   "every=60s,for=10s,extra=500ms",
	}
	cfg, err := simConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Faults.RateLimit != 0.1 || cfg.Faults.ServerError != 0.05 || !cfg.EvenFaults || cfg.SlowDelay != 3*time.Second {
		t.Errorf("faults = %+v, even %v, slow %v; want the environment's", cfg.Faults, cfg.EvenFaults, cfg.SlowDelay)
	}
	if want := (simprovider.Spike{Every: time.Minute, Length: 10 * time.Second, Extra: 500 * time.Millisecond}); cfg.Spike != want {
		t.Errorf("Spike = %+v, want %+v", cfg.Spike, want)
	}
	for _, bad := range []map[string]string{
		{"AIMETER_SIM_FAULTS": "teapot=0.5"},
		{"AIMETER_SIM_LATENCY": "fast"},
		{"AIMETER_SIM_SPIKE": "every=soon"},
	} {
		if _, err := simConfig(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("simConfig(%v) = nil error, want one", bad)
		}
	}
}
