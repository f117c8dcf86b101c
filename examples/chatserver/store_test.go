package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aimeter/aimeter/internal/simprovider"
	"github.com/jackc/pgx/v5"
)

// postgresDSNEnv names the environment variable with the DSN of the
// PostgreSQL server for tests; `make test` starts one and sets it.
const postgresDSNEnv = "AIMETER_TEST_POSTGRES_DSN"

func TestOpenStoreRejectsBadSpecs(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"", `unknown store ""`},
		{"redis:localhost", `unknown store "redis"`},
		{"memory:big", "takes no argument"},
		{"mysql://root:s3cret@db/app", `unknown store "mysql"`},
		{"sqlite:", "missing file path"},
		{"postgres:", "missing DSN"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := openStore(tt.spec)
			if err == nil {
				_ = s.Close()
				t.Fatalf("openStore(%q) succeeded, want an error", tt.spec)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("openStore(%q) = %q, want it to contain %q", tt.spec, err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("openStore(%q) = %q shows the password", tt.spec, err)
			}
		})
	}
}

func TestSQLiteStoreKeepsCallsAcrossRestarts(t *testing.T) {
	testKeepsCallsAcrossRestarts(t, "sqlite:"+filepath.Join(t.TempDir(), "usage.db"))
}

func TestPostgresStoreKeepsCallsAcrossRestarts(t *testing.T) {
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		const msg = postgresDSNEnv + " is not set, so the PostgreSQL test cannot run: " +
			"run `make test` from the repository root, which starts a throwaway server, or set it to a server's DSN"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	testKeepsCallsAcrossRestarts(t, "postgres:"+dsnInNewSchema(t, dsn))
}

// testKeepsCallsAcrossRestarts runs the server on the store that spec
// names, makes calls, stops it, starts it again on the same store, and
// checks that analytics still count the earlier calls.
func testKeepsCallsAcrossRestarts(t *testing.T, spec string) {
	sim, err := simprovider.Start(simprovider.Config{Latency: simprovider.Fixed(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	env := map[string]string{"OPENAI_BASE_URL": sim.URL(), "OPENAI_API_KEY": "sk-test"}
	getenv := func(k string) string { return env[k] }

	base, stop := startRun(t, spec, getenv)
	for i := 0; i < 5; i++ {
		if resp, body := post(t, base+"/api/ai/chat", hiBody); resp.StatusCode != http.StatusOK {
			t.Fatalf("chat: status %d: %s", resp.StatusCode, body)
		}
	}
	first := getSnapshot(t, base)
	if first.Usage.Calls != 5 || first.Usage.Tokens.Total == 0 {
		t.Fatalf("first run: usage.calls = %d, tokens = %d; want 5 and above zero", first.Usage.Calls, first.Usage.Tokens.Total)
	}
	stop()

	base, _ = startRun(t, spec, getenv)
	second := getSnapshot(t, base)
	if second.Usage.Calls != first.Usage.Calls {
		t.Errorf("after restart: usage.calls = %d, want %d", second.Usage.Calls, first.Usage.Calls)
	}
	if second.Usage.Tokens != first.Usage.Tokens {
		t.Errorf("after restart: tokens = %+v, want %+v", second.Usage.Tokens, first.Usage.Tokens)
	}
	if second.Usage.CostUSD != first.Usage.CostUSD {
		t.Errorf("after restart: cost_usd = %v, want %v", second.Usage.CostUSD, first.Usage.CostUSD)
	}
	if second.Performance.Calls != first.Performance.Calls {
		t.Errorf("after restart: performance.calls = %d, want %d", second.Performance.Calls, first.Performance.Calls)
	}

	if resp, body := post(t, base+"/api/ai/chat", hiBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("chat after restart: status %d: %s", resp.StatusCode, body)
	}
	if got := getSnapshot(t, base).Usage.Calls; got != 6 {
		t.Errorf("after one more call: usage.calls = %d, want 6", got)
	}
}

// startRun starts run with the store that spec names on a free loopback
// port, and returns the server's base URL and a function that stops the
// server and waits until run returns.
func startRun(t *testing.T, spec string, getenv func(string) string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	var logs bytes.Buffer
	var logsMu sync.Mutex
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-store", spec}, getenv, lockedWriter{&logs, &logsMu}, ready)
	}()

	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("run: %v", err)
	}

	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-errc; err != nil {
			logsMu.Lock()
			defer logsMu.Unlock()
			t.Errorf("run: %v\n%s", err, logs.String())
		}
	}
	t.Cleanup(stop)
	return "http://" + addr, stop
}

// dsnInNewSchema creates an empty schema on the server, drops it when the
// test ends, and returns dsn with its search_path set to that schema.
func dsnInNewSchema(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatal(err)
	}
	schema := "aimeter_test_" + hex.EncodeToString(suffix[:])
	ident := pgx.Identifier{schema}.Sanitize()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", postgresDSNEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("connect to drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", postgresDSNEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
