package redisbudget_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests run against a real Redis server: the one at
// AIMETER_TEST_REDIS_ADDR when it is set, or else one that TestMain starts
// from the redis-server binary on PATH, on a free loopback port with
// persistence off. Without either, the tests skip, unless CI=true, where
// they fail.
const (
	envRedisAddr = "AIMETER_TEST_REDIS_ADDR"
	envCI        = "CI"
)

// server is the address of the test server, or empty with the reason in
// missing.
var server struct {
	addr    string
	missing string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if addr := os.Getenv(envRedisAddr); addr != "" {
		server.addr = addr
		return m.Run()
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		server.missing = envRedisAddr + " is not set and redis-server is not on PATH (on Debian: apt-get install redis-server)"
		return m.Run()
	}
	addr, stop, err := startServer(bin)
	if err != nil {
		server.missing = err.Error()
		return m.Run()
	}
	defer stop()
	server.addr = addr
	return m.Run()
}

// startServer runs redis-server on a free loopback port, without
// persistence, and waits until it logs that it accepts connections.
// Another process may take the port between choosing and binding it, so
// it tries a few.
func startServer(bin string) (addr string, stop func(), err error) {
	for attempt := 0; attempt < 5; attempt++ {
		port, perr := freePort()
		if perr != nil {
			return "", nil, perr
		}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--save", "", "--appendonly", "no", "--loglevel", "notice")
		out, perr := cmd.StdoutPipe()
		if perr != nil {
			return "", nil, perr
		}
		cmd.Stderr = cmd.Stdout
		if err = cmd.Start(); err != nil {
			return "", nil, fmt.Errorf("start redis-server: %w", err)
		}

		// Read the log until the server is ready, and drain it after.
		ready := make(chan struct{})
		exited := make(chan string, 1)
		go func() {
			var log strings.Builder
			announced := false
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				log.WriteString(line + "\n")
				if !announced && strings.Contains(line, "Ready to accept connections") {
					announced = true
					close(ready)
				}
			}
			_ = cmd.Wait()
			exited <- log.String()
		}()

		select {
		case <-ready:
			if err = ping(addr); err == nil {
				return addr, func() {
					_ = cmd.Process.Kill()
					<-exited
				}, nil
			}
			_ = cmd.Process.Kill()
			<-exited
		case log := <-exited:
			err = fmt.Errorf("redis-server exited: %s", log)
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			err = fmt.Errorf("redis-server on %s was not ready within 10s", addr)
		}
	}
	return "", nil, fmt.Errorf("redis-server did not start: %w", err)
}

func ping(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newClient returns a client of the test server, closed when the test
// ends, or skips the test (fails it with CI=true) when there is no server.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	if server.addr == "" {
		if os.Getenv(envCI) == "true" {
			t.Fatalf("no Redis server for the test with CI=true: %s", server.missing)
		}
		t.Skipf("no Redis server: %s", server.missing)
	}
	c := redis.NewClient(&redis.Options{Addr: server.addr, PoolSize: 80})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var prefixes atomic.Int64

// testPrefix returns a key prefix that no other test of this run uses, so
// tests can share the server and run in parallel.
func testPrefix(t testing.TB) string {
	name := strings.NewReplacer("/", ":", " ", "_").Replace(t.Name())
	return fmt.Sprintf("test:%d:%d:%s:", os.Getpid(), prefixes.Add(1), name)
}

// keysWithPrefix returns every key on the server that starts with prefix.
func keysWithPrefix(t testing.TB, c *redis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan %s*: %v", prefix, err)
	}
	return keys
}

// closedAddr returns the address of a loopback port that was just closed,
// for clients that must fail to connect.
func closedAddr(t testing.TB) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
