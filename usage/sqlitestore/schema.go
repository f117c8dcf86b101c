package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are the schema's versions in order: migrations[i] turns
// version i into version i+1. A released migration never changes; a new
// schema is a new entry.
var migrations = []string{
	// Version 1: raw records and per-minute rollups.
	`
CREATE TABLE records (
	id                  INTEGER PRIMARY KEY,
	time_ns             INTEGER NOT NULL, -- Unix nanoseconds
	endpoint            TEXT    NOT NULL,
	provider            TEXT    NOT NULL,
	model               TEXT    NOT NULL,
	operation           TEXT    NOT NULL,
	caller_key          TEXT    NOT NULL,
	labels              TEXT,             -- JSON object, NULL when empty
	response_model      TEXT    NOT NULL,
	input_tokens        INTEGER NOT NULL,
	cached_input_tokens INTEGER NOT NULL,
	cache_write_tokens  INTEGER NOT NULL,
	output_tokens       INTEGER NOT NULL,
	reasoning_tokens    INTEGER NOT NULL,
	usage_known         INTEGER NOT NULL,
	priced              INTEGER NOT NULL,
	cost_nanos          INTEGER NOT NULL,
	latency_ns          INTEGER NOT NULL,
	ttft_ns             INTEGER NOT NULL,
	stream              INTEGER NOT NULL,
	chunks              INTEGER NOT NULL,
	error               TEXT    NOT NULL,
	http_status         INTEGER NOT NULL
);
CREATE INDEX records_time ON records (time_ns);

CREATE TABLE rollups (
	minute              INTEGER NOT NULL, -- Unix seconds of the minute's start
	endpoint            TEXT    NOT NULL,
	provider            TEXT    NOT NULL,
	model               TEXT    NOT NULL,
	operation           TEXT    NOT NULL,
	caller_key          TEXT    NOT NULL,
	calls               INTEGER NOT NULL,
	errors              INTEGER NOT NULL,
	errors_by_category  TEXT,             -- JSON object, NULL when empty
	unpriced_calls      INTEGER NOT NULL,
	unknown_usage_calls INTEGER NOT NULL,
	stream_calls        INTEGER NOT NULL,
	input_tokens        INTEGER NOT NULL,
	cached_input_tokens INTEGER NOT NULL,
	cache_write_tokens  INTEGER NOT NULL,
	output_tokens       INTEGER NOT NULL,
	reasoning_tokens    INTEGER NOT NULL,
	cost_nanos          INTEGER NOT NULL,
	latency_sum_ns      INTEGER NOT NULL,
	latency_max_ns      INTEGER NOT NULL,
	latency_bins        BLOB    NOT NULL, -- see usage.EncodeBins
	ttft_sum_ns         INTEGER NOT NULL,
	ttft_max_ns         INTEGER NOT NULL,
	ttft_bins           BLOB    NOT NULL
);
CREATE UNIQUE INDEX rollups_minute_series ON rollups (minute, endpoint, provider, model, operation, caller_key);
`,
	// Version 2: the output tokens and the latency sum of streamed calls
	// with known usage, from which analytics compute the stream speed.
	// Rows written before this migration get 0 in both, so their calls add
	// nothing to the stream speed.
	`
ALTER TABLE rollups ADD COLUMN stream_output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups ADD COLUMN stream_latency_ns    INTEGER NOT NULL DEFAULT 0;
`,
}

// migrate applies the migrations that db lacks, each in a transaction of
// its own that also records its version, and turns on incremental
// auto-vacuum if the file was created without it. Because the writer's
// transactions take the write lock at BEGIN, two processes that open a new
// file at once apply each migration once.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version       INTEGER PRIMARY KEY,
	applied_at_ns INTEGER NOT NULL
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}

	for {
		done, err := migrateOne(ctx, db)
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	return ensureIncrementalVacuum(ctx, db)
}

// migrateOne applies the next missing migration and reports whether none
// was missing.
func migrateOne(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	var version int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return false, fmt.Errorf("%w: the file has version %d, this package knows up to %d", ErrSchemaTooNew, version, len(migrations))
	}
	if version == len(migrations) {
		return true, tx.Rollback()
	}

	if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", version+1, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at_ns) VALUES (?, ?)`, version+1, time.Now().UnixNano()); err != nil {
		return false, fmt.Errorf("record version %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", version+1, err)
	}
	return false, nil
}

// ensureIncrementalVacuum turns on incremental auto-vacuum in a file that
// was created without it. Changing the mode of a file that has tables
// takes a VACUUM, which rewrites the file once.
func ensureIncrementalVacuum(ctx context.Context, db *sql.DB) error {
	const incremental = 2
	var mode int
	if err := db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode == incremental {
		return nil
	}
	if _, err := db.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return fmt.Errorf("set auto_vacuum: %w", err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum to enable auto_vacuum: %w", err)
	}
	return nil
}
