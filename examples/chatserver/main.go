// Command chatserver is a small AI chat service with aimeter around every
// provider call: per-client rate limits, token and cost tracking, error
// monitoring, and analytics with a dashboard.
//
// Run it from the repository root:
//
//	go run ./examples/chatserver
//
// With OPENAI_BASE_URL set, it calls that OpenAI-compatible server with
// OPENAI_API_KEY. With only OPENAI_API_KEY, it calls OpenAI. With neither,
// it starts a simulated OpenAI-compatible provider on a loopback port.
//
// Routes:
//
//	POST /api/ai/chat     chat completion, 100 requests/min per client;
//	                      with "stream": true also 50 streams/min, as SSE
//	POST /api/ai/agent    three chained calls, 20 runs/min per client
//	GET  /api/analytics   usage, errors, performance and rate-limit JSON
//	GET  /dashboard       the analytics dashboard
//	GET  /metrics         Prometheus exposition
//
// With OTEL_EXPORTER_OTLP_ENDPOINT set, it also exports OpenTelemetry GenAI
// metrics and a span per provider call through OTLP over HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/internal/simprovider"
	"github.com/aimeter/aimeter/usage"
	"github.com/redis/go-redis/v9"
	openai "github.com/sashabaranov/go-openai"
)

// shutdownTimeout bounds how long in-flight requests may run after SIGINT
// or SIGTERM, and closeTimeout how long queued records then have to reach
// the store.
const (
	shutdownTimeout = 15 * time.Second
	closeTimeout    = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one stops the process at once.
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "chatserver:", err)
		os.Exit(1)
	}
}

// run parses args, starts the server and serves until ctx ends. When ready
// is not nil, it receives the listening address once the server accepts
// connections.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("chatserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:3000", "address to listen on, host:port")
	storeSpec := fs.String("store", "memory", `where usage records are kept: "memory", "sqlite:PATH" or "postgres:DSN"`)
	redisAddr := fs.String("redis", "", "address of a Redis server, host:port, to keep the rate limits in so that every replica shares them; empty keeps them in this process")
	redisTimeout := fs.Duration("redis-timeout", 500*time.Millisecond, "longest wait for one Redis limit decision before it fails open")
	dailyUSD := fs.Float64("budget-daily-usd", 0, "spend budget per client key and calendar day, in USD; a call that would cross it gets a 402 response; 0 turns it off")
	budgetZone := fs.String("budget-tz", "UTC", "time zone whose midnight starts a budget day, such as Europe/Berlin")
	providerTimeout := fs.Duration("provider-timeout", 2*time.Minute, "timeout of one provider call")
	alertRate := fs.Float64("alert-error-rate", 0.05, "log an alert when the share of failed provider calls exceeds this; 0 turns it off")
	alertWindow := fs.Duration("alert-window", 5*time.Minute, "window of the error-rate alert, from 10s to 1h")
	alertMinCalls := fs.Int64("alert-min-calls", 20, "calls the error-rate alert needs in its window before it can fire")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see -h", fs.Args())
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	store, err := openStore(*storeSpec)
	if err != nil {
		return err
	}
	defer store.Close()

	client, providerName, providerDesc, closeProvider, err := openProvider(getenv, logger, *providerTimeout)
	if err != nil {
		return err
	}
	defer closeProvider()

	otlp, stopOTLP, err := openOTLP(ctx, getenv)
	if err != nil {
		return err
	}
	var observers []usage.Observer
	if otlp != nil {
		observers = append(observers, otlp)
		logger.Info("exporting OpenTelemetry metrics and traces", "endpoint", getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := stopOTLP(sctx); err != nil {
			logger.Warn("OpenTelemetry export did not finish", "error", err)
		}
	}()

	var alerts []errmon.AlertRule
	if *dailyUSD < 0 {
		return fmt.Errorf("-budget-daily-usd %v must not be negative; 0 turns the budget off", *dailyUSD)
	}
	if *alertRate > 0 {
		rule := errmon.AlertRule{Name: "provider-error-rate", Window: *alertWindow, ErrorRate: *alertRate, MinCalls: *alertMinCalls}
		if err := rule.Validate(); err != nil {
			return fmt.Errorf("error-rate alert: %w", err)
		}
		alerts = append(alerts, rule)
	}

	cfg := config{Client: client, Provider: providerName, Store: store, Logger: logger, Secrets: []string{getenv("OPENAI_API_KEY")}, Observers: observers, Alerts: alerts}
	limitsAt := "memory"
	var redisClient *redis.Client
	if *redisAddr != "" {
		client, build, err := openRedis(*redisAddr, *redisTimeout, logger)
		if err != nil {
			return err
		}
		defer client.Close()
		redisClient = client
		cfg.Limits = build
		limitsAt = "redis " + *redisAddr
	}
	if *dailyUSD > 0 {
		guard, err := dailyBudget(*dailyUSD, *budgetZone, redisClient, logger)
		if err != nil {
			return err
		}
		cfg.Guard = guard
		logger.Info("daily spend budget per key", "usd", *dailyUSD, "time_zone", *budgetZone, "ledger", limitsAt)
	}

	a := newApp(cfg)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	// ReadTimeout covers the body too, so a client that stops sending
	// cannot hold a connection, or shutdown, for long. There is no
	// WriteTimeout: streamed replies may run for minutes.
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	logger.Info("chatserver listening", "url", "http://"+ln.Addr().String(), "provider", providerDesc, "store", storeLabel(*storeSpec), "limits", limitsAt)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	// Rules are evaluated as calls arrive; the tick resolves an alert when
	// calls stop coming.
	tick := time.NewTicker(errmon.RateBucket)
	defer tick.Stop()
	go func() {
		for {
			select {
			case <-tick.C:
				a.monitor.Evaluate()
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// Stop accepting, let in-flight calls finish, then write every record.
	logger.Info("chatserver shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("in-flight requests did not finish in time", "error", err)
	}
	cctx, cancelClose := context.WithTimeout(context.Background(), closeTimeout)
	defer cancelClose()
	if err := a.Close(cctx); err != nil {
		logger.Warn("queued records were not all written in time", "error", err)
	}
	st := a.tracker.Stats()
	logger.Info("chatserver stopped", "records_written", st.Written, "records_lost", st.Dropped+st.Pending)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// openProvider picks the provider from the environment: OPENAI_BASE_URL
// (with OPENAI_API_KEY), then OPENAI_API_KEY alone for OpenAI, then the
// simulated provider. It returns the client, the provider name for
// records, a description for the start-up log, and a function that stops
// what it started.
func openProvider(getenv func(string) string, logger *slog.Logger, timeout time.Duration) (*openai.Client, string, string, func(), error) {
	baseURL, key := getenv("OPENAI_BASE_URL"), getenv("OPENAI_API_KEY")
	httpClient := &http.Client{Timeout: timeout}
	switch {
	case baseURL != "":
		cfg := openai.DefaultConfig(key)
		cfg.BaseURL = baseURL
		cfg.HTTPClient = httpClient
		shown := baseURL
		if u, err := url.Parse(baseURL); err == nil {
			shown = u.Redacted() // never log a password in the URL
		}
		return openai.NewClientWithConfig(cfg), "openai", "OpenAI-compatible server at " + shown, func() {}, nil
	case key != "":
		cfg := openai.DefaultConfig(key)
		cfg.HTTPClient = httpClient
		return openai.NewClientWithConfig(cfg), "openai", "OpenAI", func() {}, nil
	}

	simCfg, err := simConfig(getenv)
	if err != nil {
		return nil, "", "", nil, err
	}
	simCfg.Logger = logger
	sim, err := simprovider.Start(simCfg)
	if err != nil {
		return nil, "", "", nil, fmt.Errorf("start simulated provider: %w", err)
	}
	cfg := openai.DefaultConfig("sk-simulated")
	cfg.BaseURL = sim.URL()
	cfg.HTTPClient = httpClient
	return openai.NewClientWithConfig(cfg), "simulated", "simulated OpenAI-compatible provider at " + sim.URL(), func() { _ = sim.Close() }, nil
}

// simConfig reads the simulated provider's settings from the environment:
//
//	AIMETER_SIM_FAULTS   shares of injected faults, such as
//	                     "rate_limit=0.1,server_error=0.05,slow=0.05";
//	                     kinds: rate_limit, insufficient_quota,
//	                     server_error, slow, disconnect
//	AIMETER_SIM_LATENCY  time to first token: "0" for none, a fixed
//	                     duration such as "50ms", or "median,p99" such as
//	                     "150ms,1s"
//	AIMETER_SIM_SLOW     how long a slow fault waits, such as "30s"
//	AIMETER_SIM_EVEN     "1" spreads the faults evenly over the requests
//	                     instead of drawing them at random
//	AIMETER_SIM_SPIKE    a latency spike that repeats, such as
//	                     "every=60s,for=10s,extra=500ms"
func simConfig(getenv func(string) string) (simprovider.Config, error) {
	var cfg simprovider.Config
	if spec := getenv("AIMETER_SIM_FAULTS"); spec != "" {
		for _, part := range strings.Split(spec, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			share, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return cfg, fmt.Errorf("AIMETER_SIM_FAULTS: %q is not kind=share", part)
			}
			switch simprovider.Fault(name) {
			case simprovider.FaultRateLimit:
				cfg.Faults.RateLimit = share
			case simprovider.FaultQuota:
				cfg.Faults.Quota = share
			case simprovider.FaultServerError:
				cfg.Faults.ServerError = share
			case simprovider.FaultSlow:
				cfg.Faults.Slow = share
			case simprovider.FaultDisconnect:
				cfg.Faults.Disconnect = share
			default:
				return cfg, fmt.Errorf("AIMETER_SIM_FAULTS: unknown fault %q; want rate_limit, insufficient_quota, server_error, slow or disconnect", name)
			}
		}
	}
	if spec := getenv("AIMETER_SIM_LATENCY"); spec != "" {
		median, p99, both := strings.Cut(spec, ",")
		m, err := time.ParseDuration(median)
		if spec == "0" {
			m, err = 0, nil
		}
		if err != nil {
			return cfg, fmt.Errorf("AIMETER_SIM_LATENCY: %q is not a duration", median)
		}
		if both {
			p, err := time.ParseDuration(p99)
			if err != nil || p < m {
				return cfg, fmt.Errorf("AIMETER_SIM_LATENCY: %q is not a p99 at least the median", p99)
			}
			cfg.Latency = simprovider.LogNormal(m, p)
		} else {
			cfg.Latency = simprovider.Fixed(m)
		}
	}
	cfg.EvenFaults = getenv("AIMETER_SIM_EVEN") == "1"
	if spec := getenv("AIMETER_SIM_SPIKE"); spec != "" {
		for _, part := range strings.Split(spec, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			d, err := time.ParseDuration(value)
			if err != nil {
				return cfg, fmt.Errorf("AIMETER_SIM_SPIKE: %q is not name=duration", part)
			}
			switch name {
			case "every":
				cfg.Spike.Every = d
			case "for":
				cfg.Spike.Length = d
			case "extra":
				cfg.Spike.Extra = d
			default:
				return cfg, fmt.Errorf("AIMETER_SIM_SPIKE: unknown %q; want every, for and extra", name)
			}
		}
	}
	if spec := getenv("AIMETER_SIM_SLOW"); spec != "" {
		d, err := time.ParseDuration(spec)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("AIMETER_SIM_SLOW: %q is not a positive duration", spec)
		}
		cfg.SlowDelay = d
	}
	return cfg, nil
}
