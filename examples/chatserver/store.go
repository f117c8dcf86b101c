package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/pgstore"
	"github.com/aimeter/aimeter/usage/sqlitestore"
)

// storeConnectTimeout bounds how long opening a PostgreSQL store may take,
// connection and migrations included.
const storeConnectTimeout = 30 * time.Second

// openStore opens the store named by spec: "memory", "sqlite:PATH" for a
// SQLite file, or "postgres:DSN" for a PostgreSQL database, where DSN is a
// URL or key=value pairs as pgx accepts them. A postgres:// or
// postgresql:// URL may also be given alone.
func openStore(spec string) (usage.Store, error) {
	kind, rest, _ := strings.Cut(spec, ":")
	switch {
	case spec == "memory":
		return usage.NewMemoryStore(), nil
	case kind == "memory":
		return nil, errors.New("store memory takes no argument; use -store memory")

	case kind == "sqlite":
		if rest == "" {
			return nil, errors.New("store sqlite: missing file path; use -store sqlite:PATH, such as sqlite:usage.db")
		}
		s, err := sqlitestore.Open(rest)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil

	case kind == "postgres" || kind == "postgresql":
		dsn := rest
		if strings.HasPrefix(rest, "//") {
			// A URL such as postgres://user@host/db, scheme included.
			dsn = spec
		}
		if dsn == "" {
			return nil, errors.New("store postgres: missing DSN; use -store postgres:DSN, such as postgres://user@localhost/db")
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeConnectTimeout)
		defer cancel()
		s, err := pgstore.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
	// Only the kind is quoted: the rest may be a DSN with a password.
	return nil, fmt.Errorf("unknown store %q; use memory, sqlite:PATH or postgres:DSN", kind)
}

// storeLabel describes the store named by spec for logs: the kind, and the
// path of a SQLite file, but never a PostgreSQL DSN, which may hold a
// password.
func storeLabel(spec string) string {
	kind, rest, _ := strings.Cut(spec, ":")
	switch kind {
	case "memory":
		return "memory"
	case "sqlite":
		return "sqlite:" + rest
	case "postgres", "postgresql":
		return "postgres"
	}
	return kind
}
