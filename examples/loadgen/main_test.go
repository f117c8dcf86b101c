package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// chatserverProcess is the example chat server running as a process of its
// own, with its log lines collected.
type chatserverProcess struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs []string
	seen chan string // every log line, for waiting on one
}

// buildChatserver compiles examples/chatserver into a temporary folder.
func buildChatserver(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chatserver")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "build", "-o", bin, "../chatserver").CombinedOutput()
	if err != nil {
		t.Fatalf("build chatserver: %v\n%s", err, out)
	}
	return bin
}

// startChatserver runs bin with args and extra environment and waits for
// its "listening" line.
func startChatserver(t *testing.T, bin string, env []string, args ...string) *chatserverProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &chatserverProcess{cmd: cmd, seen: make(chan string, 1<<16)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})

	urlLine := regexp.MustCompile(`url=(http://\S+)`)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
			if m := urlLine.FindStringSubmatch(line); m != nil && strings.Contains(line, "chatserver listening") {
				ready <- m[1]
			}
			select {
			case p.seen <- line:
			default:
			}
		}
	}()
	select {
	case p.url = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("chatserver did not start; log:\n%s", p.log())
	}
	return p
}

func (p *chatserverProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// waitForLog waits until a log line contains want, or the deadline passes.
// The server's clock is real, so alerts that depend on a window passing
// take real time.
func (p *chatserverProcess) waitForLog(t *testing.T, want string, within time.Duration) {
	t.Helper()
	if strings.Contains(p.log(), want) {
		return
	}
	deadline := time.After(within)
	for {
		select {
		case line := <-p.seen:
			if strings.Contains(line, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line with %q within %v; log:\n%s", want, within, p.log())
		}
	}
}

// analyticsCounts reads the numbers the load test compares.
func analyticsCounts(t *testing.T, base string) (calls, errors int64, byCategory map[string]int64) {
	t.Helper()
	resp, err := http.Get(base + "/api/analytics?type=all")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap struct {
		Usage struct {
			Calls int64 `json:"calls"`
		} `json:"usage"`
		Errors struct {
			Total      int64            `json:"total"`
			ByCategory map[string]int64 `json:"by_category"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	return snap.Usage.Calls, snap.Errors.Total, snap.Errors.ByCategory
}

var statusLine = regexp.MustCompile(`(?m)^status:(.*)$`)

// statusCounts parses the "status:" line of loadgen's summary.
func statusCounts(t *testing.T, summary string) map[string]int64 {
	t.Helper()
	m := statusLine.FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("summary has no status line:\n%s", summary)
	}
	counts := map[string]int64{}
	for _, field := range strings.Fields(m[1]) {
		code, n, _ := strings.Cut(field, "=")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatalf("status field %q: %v", field, err)
		}
		counts[code] = v
	}
	return counts
}

// TestLoadWithInjectedFaults drives the chat server while its simulated
// provider fails 20% of calls with 429s, 500s and timeouts, and checks
// that the server's analytics count each kind at its injected share, that
// every 200 the clients saw is a successful call in the analytics, and that
// the error-rate alert fires under the faults and resolves after them.
func TestLoadWithInjectedFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and drives the chat server; skipped with -short")
	}
	bin := buildChatserver(t)
	injected := map[string]float64{"rate_limited": 0.08, "provider_error": 0.07, "timeout": 0.05}
	srv := startChatserver(t, bin, []string{
		"AIMETER_SIM_FAULTS=rate_limit=0.08,server_error=0.07,slow=0.05",
		"AIMETER_SIM_EVEN=1",
		"AIMETER_SIM_LATENCY=0",
		"AIMETER_SIM_SLOW=10s",
		"OPENAI_BASE_URL=", "OPENAI_API_KEY=",
	}, "-provider-timeout", "300ms", "-alert-error-rate", "0.1", "-alert-window", "10s", "-alert-min-calls", "50")

	var out bytes.Buffer
	args := []string{"-url", srv.url, "-c", "16", "-n", "2000", "-mix", "chat=80,stream=20", "-keys", "400", "-progress", "off", "-strict"}
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, out.String())
	}
	t.Logf("loadgen summary:\n%s", out.String())

	calls, errors, byCategory := analyticsCounts(t, srv.url)
	if calls < 2000 {
		t.Fatalf("usage.calls = %d, want at least the 2000 requests sent", calls)
	}
	for category, share := range injected {
		got := float64(byCategory[category]) / float64(calls)
		if math.Abs(got-share) > 0.01 {
			t.Errorf("share of %s = %.4f, want %.2f within one percentage point", category, got, share)
		}
	}
	wantRate := 0.20
	if got := float64(errors) / float64(calls); math.Abs(got-wantRate) > 0.01 {
		t.Errorf("error rate = %.4f, want %.2f within one percentage point", got, wantRate)
	}
	statuses := statusCounts(t, out.String())
	if statuses["200"] != calls-errors {
		t.Errorf("client 200s = %d, want usage.calls - errors = %d - %d = %d", statuses["200"], calls, errors, calls-errors)
	}

	srv.waitForLog(t, "alert firing", 5*time.Second)
	// With no traffic, the 10 s window empties and the server's periodic
	// evaluation resolves the alert.
	srv.waitForLog(t, "alert resolved", 60*time.Second)
}

// TestShutdownLosesNothing stops the chat server with SIGTERM while
// loadgen keeps it busy, then checks that the server exits in time, logs
// no lost records, and that its SQLite store holds one record for every
// 200 the clients got.
func TestShutdownLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and drives the chat server; skipped with -short")
	}
	bin := buildChatserver(t)
	dbPath := filepath.Join(t.TempDir(), "usage.db")
	srv := startChatserver(t, bin, []string{"AIMETER_SIM_LATENCY=2ms", "OPENAI_BASE_URL=", "OPENAI_API_KEY="},
		"-store", "sqlite:"+dbPath)

	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		args := []string{"-url", srv.url, "-c", "8", "-d", "30s", "-mix", "chat=100", "-keys", "1000", "-progress", "off"}
		done <- run(context.Background(), args, &out, io.Discard)
	}()

	// Stop the server once it has served a few hundred requests.
	srv.waitForLog(t, "chatserver listening", time.Second)
	for {
		resp, err := http.Get(srv.url + "/api/analytics?type=usage")
		if err != nil {
			t.Fatal(err)
		}
		var snap struct {
			Usage struct {
				Calls int64 `json:"calls"`
			} `json:"usage"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&snap)
		resp.Body.Close()
		if snap.Usage.Calls >= 300 {
			break
		}
	}
	stopAt := time.Now()
	if err := srv.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("chatserver exit: %v\n%s", err, srv.log())
	}
	if took := time.Since(stopAt); took > 25*time.Second {
		t.Errorf("shutdown took %v, want it within the server's timeouts", took)
	}
	// loadgen cannot read the analytics of a stopped server. It returns
	// that error and still prints its own counts.
	<-done

	log := srv.log()
	if !strings.Contains(log, "records_lost=0") {
		t.Errorf("log lacks records_lost=0:\n%s", log)
	}
	written := regexp.MustCompile(`records_written=(\d+)`).FindStringSubmatch(log)
	if written == nil {
		t.Fatalf("log lacks records_written:\n%s", log)
	}

	// The store, reopened by a second server, holds every call.
	srv2 := startChatserver(t, bin, []string{"OPENAI_BASE_URL=", "OPENAI_API_KEY="}, "-store", "sqlite:"+dbPath)
	calls, _, _ := analyticsCounts(t, srv2.url)
	if strconv.FormatInt(calls, 10) != written[1] {
		t.Errorf("calls in the store after restart = %d, want the %s written", calls, written[1])
	}
	ok := statusCounts(t, out.String())["200"]
	if ok == 0 || ok != calls {
		t.Errorf("client 200s = %d, want the %d calls in the store", ok, calls)
	}
}

// redisAddr returns the address of a Redis server for the test: the one in
// AIMETER_TEST_REDIS_ADDR, or one it starts on a free loopback port. It
// skips the test when there is none, or fails it under CI=true.
func redisAddr(t *testing.T) string {
	t.Helper()
	if addr := os.Getenv("AIMETER_TEST_REDIS_ADDR"); addr != "" {
		return addr
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found and AIMETER_TEST_REDIS_ADDR not set; CI must provide Redis")
		}
		t.Skip("redis-server not found and AIMETER_TEST_REDIS_ADDR not set; make test starts one")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i == 100 {
			t.Fatalf("redis-server on %s did not start: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicasShareLimitsThroughRedis runs three chat servers on one
// Redis and sends 150 requests from one client spread across them within
// a second: the API limit of 100 per minute holds across the three.
func TestReplicasShareLimitsThroughRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three chat servers; skipped with -short")
	}
	addr := redisAddr(t)
	bin := buildChatserver(t)
	// A prefix of its own keeps this run's keys apart from other tests on
	// a shared server.
	key := "replicas-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var servers []*chatserverProcess
	for i := 0; i < 3; i++ {
		servers = append(servers, startChatserver(t, bin, []string{"AIMETER_SIM_LATENCY=0", "OPENAI_BASE_URL=", "OPENAI_API_KEY="},
			// A loaded test machine can take longer than the default
			// 50 ms, which would fail open and admit everything.
			"-redis", addr, "-redis-timeout", "2s"))
	}

	var ok, limited, other int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, servers[i%3].url+"/api/ai/chat", strings.NewReader(`{"messages":[{"role":"user","content":"Hi"}]}`))
			req.Header.Set("X-API-Key", key)
			resp, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				other++
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				limited++
			default:
				other++
			}
		}(i)
	}
	wg.Wait()
	if ok < 100 || ok > 101 || ok+limited != 150 || other != 0 {
		t.Errorf("across three replicas: %d passed, %d rejected, %d other; want 100 (at most 101) and the rest 429", ok, limited, other)
	}
}
