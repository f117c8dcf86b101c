package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dsnEnv names the environment variable with the DSN of the PostgreSQL
// server that the tests use. Each test works in a schema of its own there
// and drops it at the end.
const dsnEnv = "AIMETER_TEST_POSTGRES_DSN"

// testDSN returns the DSN of the test server. Without one the test is
// skipped, or fails when CI=true, because CI must run every test.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn != "" {
		return dsn
	}
	const msg = dsnEnv + " is not set, so the PostgreSQL tests cannot run: " +
		"run `make test` from the repository root, which starts a throwaway server, " +
		"or set " + dsnEnv + " to a server's DSN, such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// newSchema creates an empty schema on the test server, drops it when the
// test ends, and returns its name.
func newSchema(tb testing.TB) string {
	tb.Helper()
	dsn := testDSN(tb)
	ctx := context.Background()

	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		tb.Fatal(err)
	}
	name := "aimeter_test_" + hex.EncodeToString(suffix[:])

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("connect to drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// newPool connects a pool whose search_path is schema, and closes it when
// the test ends.
func newPool(tb testing.TB, schema string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(testDSN(tb))
	if err != nil {
		tb.Fatalf("parse %s: %v", dsnEnv, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// dsnWithSearchPath returns the test server's DSN with search_path set to
// schema, in the DSN's own form: URL or key=value pairs.
func dsnWithSearchPath(tb testing.TB, schema string) string {
	tb.Helper()
	dsn := testDSN(tb)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatalf("parse %s: %v", dsnEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
