// Command loadgen drives a running chat server (examples/chatserver, or any
// server with the same routes) with concurrent clients, then compares what
// the clients saw with what the server's analytics counted.
//
//	go run ./examples/loadgen -url http://localhost:3000 -c 20 -n 5000 -mix chat=70,stream=20,agent=10 -keys 50
//
// Each client sends chat, streamed chat and agent requests in the given
// proportions, each with an X-API-Key header drawn from a pool of -keys
// keys (none when -keys is 0, so the server limits by IP). On a terminal it
// shows a progress line with the rate and status counts. At the end it
// prints status codes, client-side latency percentiles, and the server's
// counts over the same run next to its own, saying where they differ.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// config holds the settings the flags set.
type config struct {
	url         string
	clients     int
	count       int64
	duration    time.Duration
	mix         mix
	keys        int
	timeout     time.Duration
	progress    bool
	exitOnDiffs bool
}

// run parses args, drives the server and prints the summary to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	client := &http.Client{Timeout: cfg.timeout}

	before, err := fetchCounts(ctx, client, cfg.url)
	if err != nil {
		return fmt.Errorf("read analytics before the run: %w", err)
	}

	res := drive(ctx, client, cfg, stderr)

	// The server writes records in the background; its analytics handler
	// waits for them, so one read after the run is enough.
	after, err := fetchCounts(context.Background(), client, cfg.url)
	if err != nil {
		// The clients' own counts are still worth printing, as when the
		// server was stopped during the run.
		report(stdout, res, nil)
		return fmt.Errorf("read analytics after the run: %w", err)
	}
	delta := after.minus(before)
	diffs := report(stdout, res, &delta)
	if diffs > 0 && cfg.exitOnDiffs {
		return fmt.Errorf("%d counts differ between the clients and the server", diffs)
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{}
	fs.StringVar(&cfg.url, "url", "http://localhost:3000", "base URL of the chat server")
	fs.IntVar(&cfg.clients, "c", 10, "number of concurrent clients")
	fs.Int64Var(&cfg.count, "n", 1000, "total number of requests; 0 means run for -d")
	fs.DurationVar(&cfg.duration, "d", 0, "how long to run, such as 30s; 0 means until -n requests are sent")
	mixSpec := fs.String("mix", "chat=70,stream=20,agent=10", "share of each request kind: chat, stream, agent")
	fs.IntVar(&cfg.keys, "keys", 0, "number of API keys to spread requests over; 0 sends none")
	fs.DurationVar(&cfg.timeout, "timeout", time.Minute, "timeout of one request")
	progress := fs.String("progress", "auto", "progress line: auto (only on a terminal), on or off")
	fs.BoolVar(&cfg.exitOnDiffs, "strict", false, "exit with status 1 when the server's counts differ from the clients'")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q; see -h", fs.Args())
	}
	switch {
	case cfg.clients < 1:
		return cfg, fmt.Errorf("-c %d: need at least one client", cfg.clients)
	case cfg.count < 0 || cfg.duration < 0:
		return cfg, errors.New("-n and -d must not be negative")
	case cfg.count == 0 && cfg.duration == 0:
		return cfg, errors.New("set -n or -d to bound the run")
	case cfg.keys < 0:
		return cfg, fmt.Errorf("-keys %d must not be negative", cfg.keys)
	}
	m, err := parseMix(*mixSpec)
	if err != nil {
		return cfg, err
	}
	cfg.mix = m
	switch *progress {
	case "auto":
		cfg.progress = isTerminal(stderr)
	case "on":
		cfg.progress = true
	case "off":
	default:
		return cfg, fmt.Errorf("-progress %q: want auto, on or off", *progress)
	}
	cfg.url = strings.TrimRight(cfg.url, "/")
	return cfg, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// kind is a kind of request.
type kind int

const (
	kindChat kind = iota
	kindStream
	kindAgent
	kinds
)

var kindNames = [kinds]string{"chat", "stream", "agent"}

// mix holds the share of each kind, as cumulative weights.
type mix struct{ cumulative [kinds]int }

func parseMix(spec string) (mix, error) {
	var m mix
	var weights [kinds]int
	for _, part := range strings.Split(spec, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.Atoi(value)
		if !ok || err != nil || w < 0 {
			return m, fmt.Errorf("-mix %q: want kind=weight pairs such as chat=70,stream=20,agent=10", spec)
		}
		found := false
		for k, n := range kindNames {
			if n == name {
				weights[k], found = w, true
			}
		}
		if !found {
			return m, fmt.Errorf("-mix: unknown kind %q; want chat, stream or agent", name)
		}
	}
	total := 0
	for k := range weights {
		total += weights[k]
		m.cumulative[k] = total
	}
	if total == 0 {
		return m, fmt.Errorf("-mix %q: every weight is zero", spec)
	}
	return m, nil
}

func (m mix) pick(r *rand.Rand) kind {
	n := r.Intn(m.cumulative[kinds-1])
	for k := kind(0); k < kinds; k++ {
		if n < m.cumulative[k] {
			return k
		}
	}
	return kindChat
}

// outcome is the result of one request.
type outcome struct {
	kind    kind
	status  int // 0 when the request failed without a response
	latency time.Duration
}

// results gathers outcomes from every client.
type results struct {
	mu        sync.Mutex
	byKind    [kinds]map[int]int64
	latencies []time.Duration
	elapsed   time.Duration
}

func (r *results) add(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byKind[o.kind] == nil {
		r.byKind[o.kind] = make(map[int]int64)
	}
	r.byKind[o.kind][o.status]++
	r.latencies = append(r.latencies, o.latency)
}

// drive runs the clients until the count or the duration is reached or ctx
// ends.
func drive(ctx context.Context, client *http.Client, cfg config, stderr io.Writer) *results {
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	res := &results{}
	var sent, done, ok, limited, failed atomic.Int64
	start := time.Now()

	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	if cfg.progress {
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
				case <-stopProgress:
					fmt.Fprintln(stderr)
					return
				}
				n := done.Load()
				rate := float64(n) / time.Since(start).Seconds()
				bar := progressBar(n, cfg.count, 30)
				fmt.Fprintf(stderr, "\r%s %d done  %.0f req/s  200: %d  429: %d  other: %d ",
					bar, n, rate, ok.Load(), limited.Load(), failed.Load())
			}
		}()
	}

	var wg sync.WaitGroup
	for c := 0; c < cfg.clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(c) + 1))
			for ctx.Err() == nil {
				if cfg.count > 0 && sent.Add(1) > cfg.count {
					return
				}
				k := cfg.mix.pick(rng)
				key := ""
				if cfg.keys > 0 {
					key = "loadgen-key-" + strconv.Itoa(rng.Intn(cfg.keys))
				}
				o := send(ctx, client, cfg.url, k, key)
				if ctx.Err() != nil && o.status == 0 {
					return // cut off by the end of the run, not a failure
				}
				res.add(o)
				done.Add(1)
				switch o.status {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
				default:
					failed.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(stopProgress)
	progressDone.Wait()
	return res
}

func progressBar(done, total int64, width int) string {
	if total <= 0 {
		return ""
	}
	filled := int(done * int64(width) / total)
	if filled > width {
		filled = width
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

// send makes one request of kind k and reads its whole response.
func send(ctx context.Context, client *http.Client, base string, k kind, key string) outcome {
	path, body := "/api/ai/chat", `{"messages":[{"role":"user","content":"Write a haiku about rate limits."}]}`
	switch k {
	case kindStream:
		body = `{"messages":[{"role":"user","content":"Tell me a short story."}],"stream":true}`
	case kindAgent:
		path = "/api/ai/agent"
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		return outcome{kind: k}
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{kind: k, latency: time.Since(start)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	status := resp.StatusCode
	if err != nil {
		status = 0
	}
	// A stream that failed after its 200 header ends with an error event.
	if k == kindStream && status == http.StatusOK && bytes.Contains(data, []byte("event: error")) {
		status = http.StatusBadGateway
	}
	return outcome{kind: k, status: status, latency: time.Since(start)}
}

// counts are the server's totals that loadgen compares with its own.
type counts struct {
	chatCalls, agentCalls int64
	errors                int64
	rejected              int64
}

func (c counts) minus(o counts) counts {
	return counts{
		chatCalls:  c.chatCalls - o.chatCalls,
		agentCalls: c.agentCalls - o.agentCalls,
		errors:     c.errors - o.errors,
		rejected:   c.rejected - o.rejected,
	}
}

// fetchCounts reads the server's analytics.
func fetchCounts(ctx context.Context, client *http.Client, base string) (counts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/analytics?type=all", nil)
	if err != nil {
		return counts{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return counts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counts{}, fmt.Errorf("GET /api/analytics: status %d", resp.StatusCode)
	}
	var snap struct {
		Errors struct {
			ByCategory map[string]int64 `json:"by_category"`
		} `json:"errors"`
		Usage struct {
			ByEndpoint []struct {
				Endpoint string `json:"endpoint"`
				Calls    int64  `json:"calls"`
			} `json:"by_endpoint"`
		} `json:"usage"`
		RateLimits struct {
			ByRule []struct {
				Rejected int64 `json:"rejected"`
			} `json:"by_rule"`
		} `json:"rate_limits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return counts{}, fmt.Errorf("decode analytics: %w", err)
	}
	var c counts
	for _, e := range snap.Usage.ByEndpoint {
		switch e.Endpoint {
		case "/api/ai/chat":
			c.chatCalls += e.Calls
		case "/api/ai/agent":
			c.agentCalls += e.Calls
		}
	}
	// Every failed call counts here, canceled ones included, because a
	// client that gave up still got no response.
	for _, n := range snap.Errors.ByCategory {
		c.errors += n
	}
	for _, r := range snap.RateLimits.ByRule {
		c.rejected += r.Rejected
	}
	return c, nil
}

// report prints the summary and returns how many counts differ from the
// server's. A nil server prints the clients' counts alone.
func report(w io.Writer, res *results, server *counts) int {
	var total, ok, limited, failed [kinds]int64
	statuses := map[int]int64{}
	for k := kind(0); k < kinds; k++ {
		for status, n := range res.byKind[k] {
			total[k] += n
			statuses[status] += n
			switch {
			case status == http.StatusOK:
				ok[k] += n
			case status == http.StatusTooManyRequests:
				limited[k] += n
			case status >= 500 || status == 0:
				failed[k] += n
			}
		}
	}
	all := total[kindChat] + total[kindStream] + total[kindAgent]
	fmt.Fprintf(w, "requests: %d in %v (%.0f req/s)\n", all, res.elapsed.Round(time.Millisecond), float64(all)/res.elapsed.Seconds())
	codes := make([]int, 0, len(statuses))
	for s := range statuses {
		codes = append(codes, s)
	}
	sort.Ints(codes)
	fmt.Fprint(w, "status:")
	for _, s := range codes {
		name := strconv.Itoa(s)
		if s == 0 {
			name = "no-response"
		}
		fmt.Fprintf(w, " %s=%d", name, statuses[s])
	}
	fmt.Fprintln(w)
	p50, p95, p99 := percentiles(res.latencies)
	fmt.Fprintf(w, "latency: p50 %v  p95 %v  p99 %v\n", p50, p95, p99)
	if server == nil {
		return 0
	}

	// What the server should have counted, from what the clients saw. A
	// chat or stream request that got past the limits made one provider
	// call. An agent request that passed made three, and one that failed
	// made between one and three, because the agent stops at the first
	// failed step.
	chatCalls := ok[kindChat] + failed[kindChat] + ok[kindStream] + failed[kindStream]
	agentMin := 3*ok[kindAgent] + failed[kindAgent]
	agentMax := 3*ok[kindAgent] + 3*failed[kindAgent]
	rejected := limited[kindChat] + limited[kindStream] + limited[kindAgent]
	failedAll := failed[kindChat] + failed[kindStream] + failed[kindAgent]

	fmt.Fprintln(w, "client vs server:")
	diffs := 0
	line := func(name string, lo, hi, got int64) {
		mark := "ok"
		if got < lo || got > hi {
			mark = "DIFFERS"
			diffs++
		}
		want := strconv.FormatInt(lo, 10)
		if hi != lo {
			want = fmt.Sprintf("%d..%d", lo, hi)
		}
		fmt.Fprintf(w, "  %-22s client %-12s server %-8d %s\n", name, want, got, mark)
	}
	line("chat provider calls", chatCalls, chatCalls, server.chatCalls)
	line("agent provider calls", agentMin, agentMax, server.agentCalls)
	line("failed provider calls", failedAll, failedAll, server.errors)
	line("rate-limit rejections", rejected, rejected, server.rejected)
	if diffs > 0 {
		fmt.Fprintln(w, "The server's counts include any other traffic it served during the run.")
	}
	return diffs
}

func percentiles(d []time.Duration) (p50, p95, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) time.Duration {
		i := int(q*float64(len(d))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(d) {
			i = len(d) - 1
		}
		return d[i].Round(time.Microsecond)
	}
	return at(0.50), at(0.95), at(0.99)
}
