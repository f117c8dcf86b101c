package redislimit

import (
	"bytes"
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
// from the redis-server binary on PATH. Without either, the tests that need
// Redis skip, unless CI=true, where they fail.
const (
	envRedisAddr = "AIMETER_TEST_REDIS_ADDR"
	envCI        = "CI"
)

// testRedis is the server the tests use.
var testRedis struct {
	// addr is the server's host:port, or empty when there is none.
	addr string
	// missing is the reason there is no server.
	missing string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// go-redis logs every failed dial, and the failure tests fail many on
	// purpose. The tests check the errors themselves.
	redis.SetLogger(quietLogger{})

	if addr := os.Getenv(envRedisAddr); addr != "" {
		testRedis.addr = addr
		return m.Run()
	}

	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testRedis.missing = envRedisAddr + " is not set and redis-server is not on PATH (on Debian: apt-get install redis-server)"
		return m.Run()
	}
	srv, err := startRedisServer(bin, 0)
	if err != nil {
		testRedis.missing = err.Error()
		return m.Run()
	}
	defer srv.stop()
	testRedis.addr = srv.addr
	return m.Run()
}

// quietLogger discards go-redis's log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// skipOrFail skips the test for the reason that there is no Redis, or
// fails it when CI=true, where a missing Redis is a broken setup.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(envCI) == "true" {
		t.Fatalf("no Redis server for the test with CI=true: %s", reason)
	}
	t.Skipf("no Redis server: %s", reason)
}

// newTestClient returns a client of the test server, closed when the test
// ends.
func newTestClient(t testing.TB) *redis.Client {
	t.Helper()
	if testRedis.addr == "" {
		skipOrFail(t, testRedis.missing)
	}
	c := redis.NewClient(&redis.Options{Addr: testRedis.addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// prefixCount makes the key prefixes of tests unique within a run.
var prefixCount atomic.Int64

// testPrefix returns a key prefix that no other test of this run uses, so
// that tests can share the server and run in parallel.
func testPrefix(t testing.TB) string {
	name := strings.NewReplacer("/", ":", " ", "_").Replace(t.Name())
	return fmt.Sprintf("test:%d:%d:%s:", os.Getpid(), prefixCount.Add(1), name)
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
		t.Fatalf("scan keys %s*: %v", prefix, err)
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

// redisServer is a redis-server process that a test started on loopback.
type redisServer struct {
	bin  string
	port int
	addr string
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

// startRedisServer starts redis-server on 127.0.0.1 at port, or at a free
// port when port is zero, with persistence off, and waits until it replies
// to PING.
func startRedisServer(bin string, port int) (*redisServer, error) {
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	s := &redisServer{bin: bin, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: new(bytes.Buffer)}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	if err := s.waitReady(5 * time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("redis-server on port %d: %w; its output: %s", port, err, s.out)
	}
	return s, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the server with PING until it replies or timeout passes.
// It polls because a starting server gives no other signal.
func (s *redisServer) waitReady(timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %v: %w", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server and waits for it to exit.
func (s *redisServer) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// restart starts a new server on the same port.
func (s *redisServer) restart() error {
	next, err := startRedisServer(s.bin, s.port)
	if err != nil {
		return err
	}
	*s = *next
	return nil
}

// startOwnRedis starts a redis-server that only the calling test uses, for
// tests that stop it, and stops it when the test ends.
func startOwnRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		skipOrFail(t, "the test stops and restarts its own server, and redis-server is not on PATH")
	}
	s, err := startRedisServer(bin, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}
