package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrations are the schema's versions in order: migrations[i] turns
// version i into version i+1. A released migration never changes, and each
// is idempotent, so that the script of MigrationSQL can run on a database
// at any version.
var migrations = []string{
	// Version 1: raw records, per-minute rollups, the functions that merge
	// rollups, and TimescaleDB hypertables when the extension is present.
	`
CREATE TABLE IF NOT EXISTS aimeter_records (
	id                  bigserial   NOT NULL,
	time                timestamptz NOT NULL,
	endpoint            text        NOT NULL,
	provider            text        NOT NULL,
	model               text        NOT NULL,
	operation           text        NOT NULL,
	caller_key          text        NOT NULL,
	labels              jsonb,                 -- NULL when the call had none
	response_model      text        NOT NULL,
	input_tokens        bigint      NOT NULL,
	cached_input_tokens bigint      NOT NULL,
	cache_write_tokens  bigint      NOT NULL,
	output_tokens       bigint      NOT NULL,
	reasoning_tokens    bigint      NOT NULL,
	usage_known         boolean     NOT NULL,
	priced              boolean     NOT NULL,
	cost_nanos          bigint      NOT NULL,
	latency_ns          bigint      NOT NULL,
	ttft_ns             bigint      NOT NULL,
	stream              boolean     NOT NULL,
	chunks              bigint      NOT NULL,
	error               text        NOT NULL,
	http_status         integer     NOT NULL,
	PRIMARY KEY (time, id)
);

CREATE TABLE IF NOT EXISTS aimeter_rollups (
	minute              timestamptz NOT NULL,
	series_hash         bytea       NOT NULL,  -- SHA-256 of the five series columns
	endpoint            text        NOT NULL,
	provider            text        NOT NULL,
	model               text        NOT NULL,
	operation           text        NOT NULL,
	caller_key          text        NOT NULL,
	calls               bigint      NOT NULL,
	errors              bigint      NOT NULL,
	errors_by_category  jsonb       NOT NULL,  -- {"timeout": 2, ...}
	unpriced_calls      bigint      NOT NULL,
	unknown_usage_calls bigint      NOT NULL,
	stream_calls        bigint      NOT NULL,
	input_tokens        bigint      NOT NULL,
	cached_input_tokens bigint      NOT NULL,
	cache_write_tokens  bigint      NOT NULL,
	output_tokens       bigint      NOT NULL,
	reasoning_tokens    bigint      NOT NULL,
	cost_nanos          bigint      NOT NULL,
	latency_sum_ns      bigint      NOT NULL,
	latency_max_ns      bigint      NOT NULL,
	latency_bins        bigint[]    NOT NULL,  -- pairs: bucket's lowest value in µs, count
	ttft_sum_ns         bigint      NOT NULL,
	ttft_max_ns         bigint      NOT NULL,
	ttft_bins           bigint[]    NOT NULL,
	PRIMARY KEY (minute, series_hash)
);

-- aimeter_merge_bins adds two histograms stored as pairs of (bucket's lowest
-- value, count), each in increasing order of value as every writer stores
-- them, in one linear pass. Out-of-order input loses no count: its pairs
-- come out unmerged, and readers add up repeated buckets.
CREATE OR REPLACE FUNCTION aimeter_merge_bins(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
	i integer := 1;
	j integer := 1;
	na integer := coalesce(array_length(a, 1), 0);
	nb integer := coalesce(array_length(b, 1), 0);
	merged bigint[] := '{}';
BEGIN
	WHILE i < na OR j < nb LOOP
		IF j >= nb OR (i < na AND a[i] < b[j]) THEN
			merged := merged || a[i] || a[i + 1];
			i := i + 2;
		ELSIF i >= na OR b[j] < a[i] THEN
			merged := merged || b[j] || b[j + 1];
			j := j + 2;
		ELSE
			merged := merged || a[i] || (a[i + 1] + b[j + 1]);
			i := i + 2;
			j := j + 2;
		END IF;
	END LOOP;
	RETURN merged;
END
$fn$;

-- aimeter_merge_counts adds two JSON objects of counts key by key.
CREATE OR REPLACE FUNCTION aimeter_merge_counts(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
	SELECT coalesce(jsonb_object_agg(e.key, e.n), '{}')
	FROM (
		SELECT each.key, sum(each.value::bigint) AS n
		FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) AS each
		GROUP BY each.key
	) AS e
$fn$;

-- NOTE: this branch has not been run against TimescaleDB; the tests run on
-- plain PostgreSQL, where the extension is absent.
DO $ts$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
		PERFORM create_hypertable('aimeter_records', 'time',
			chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
		PERFORM create_hypertable('aimeter_rollups', 'minute',
			chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
	END IF;
END
$ts$;
`,

	// Version 2: histograms as compact bytea (see usage.EncodeBins), which
	// PostgreSQL sends and stores as they are, where bigint[] costs a
	// conversion per element on every read and write. Writers of version
	// 2 merge rollups in Go under a row lock, write both histograms into
	// the new columns and empty the arrays. Readers add both forms, so
	// rows that writers of version 1 still merge into stay exact, but
	// readers of version 1 see only the arrays: during an upgrade their
	// percentiles leave out what writers of version 2 wrote.
	`
ALTER TABLE aimeter_rollups
	ADD COLUMN IF NOT EXISTS latency_hist bytea NOT NULL DEFAULT '',
	ADD COLUMN IF NOT EXISTS ttft_hist    bytea NOT NULL DEFAULT '';
`,

	// Version 3: rollups of 15 minutes in aimeter_rollups_15m, which
	// writers of version 3 update in the transaction that updates the
	// minute rollups, filled here from the minute rollups. A row starting
	// at S holds the minutes of [S, S + 15m), with S a multiple of 15
	// minutes since the Unix epoch, so rows align with UTC days.
	//
	// NOTE: writers of version 2 do not know the wide tables. Records that
	// they write after this migration reach the minute rollups only, and
	// readers of version 3 miss them wherever they read wide rollups, so
	// stop writers of version 2 before migrating.
	wideRollupsMigrationSQL,

	// Version 4: the IDs of the batches written (usage.BatchID), so that a
	// batch retried after the reply to its COMMIT was lost is stored once.
	// Writers of version 3 record no IDs, and their retries are not
	// recognised.
	`CREATE TABLE IF NOT EXISTS aimeter_batches (
	id         bytea       PRIMARY KEY,
	written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS aimeter_batches_written_at ON aimeter_batches (written_at);
`,

	// Version 5: the output tokens and the latency sum of streamed calls
	// with known usage, from which analytics compute the stream speed, in
	// the minute and the wide rollups. Rows written before this migration
	// get 0 in both, so their calls add nothing to the stream speed, and
	// neither do the calls that writers of version 4 add after it.
	streamSumsMigrationSQL,
}

// createVersionsSQL creates the table that records the applied versions.
const createVersionsSQL = `CREATE TABLE IF NOT EXISTS aimeter_schema_migrations (
	version    integer     PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrationLockID is the key of the advisory lock that serializes
// migrations run by several instances at once. It spells "aimeter" in
// ASCII.
const migrationLockID = 0x61696d65746572

// Migrations returns the SQL of each schema version in order: element i
// turns version i into version i+1. Apply them in order, in one
// transaction each, and insert i+1 into aimeter_schema_migrations after
// each, or run the script that MigrationSQL returns.
func Migrations() []string {
	return append([]string(nil), migrations...)
}

// MigrationSQL returns a script that applies every migration and records
// its version, for psql or a migration tool. It may run again on a
// database at any version. The tables are created in the first schema of
// the search_path.
func MigrationSQL() string {
	var b strings.Builder
	b.WriteString("-- Schema of github.com/aimeter/aimeter/usage/pgstore.\n")
	for i, m := range migrations {
		fmt.Fprintf(&b, "\n-- Version %d.\nBEGIN;\nSELECT pg_advisory_xact_lock(%d);\n", i+1, migrationLockID)
		b.WriteString(createVersionsSQL + ";\n")
		b.WriteString(strings.TrimSpace(m))
		fmt.Fprintf(&b, "\nINSERT INTO aimeter_schema_migrations (version) VALUES (%d) ON CONFLICT DO NOTHING;\nCOMMIT;\n", i+1)
	}
	return b.String()
}

// migrate applies the migrations that the database lacks, under an
// advisory lock that makes instances starting at once take turns. With
// apply false it only checks that the schema is current.
func migrate(ctx context.Context, conn *pgx.Conn, apply bool) error {
	if !apply {
		version, err := schemaVersion(ctx, conn)
		if err != nil {
			return err
		}
		return checkVersion(version, true)
	}

	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// CREATE TABLE IF NOT EXISTS fails when another session creates
		// the same table at the same moment, so it waits for the lock too.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockID)); err != nil {
			return fmt.Errorf("lock for migration: %w", err)
		}
		if _, err := tx.Exec(ctx, createVersionsSQL); err != nil {
			return fmt.Errorf("create aimeter_schema_migrations: %w", err)
		}
		version, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if err := checkVersion(version, false); err != nil {
			return err
		}
		for v := version; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO aimeter_schema_migrations (version) VALUES ($1)`, v+1); err != nil {
				return fmt.Errorf("record version %d: %w", v+1, err)
			}
		}
		return nil
	})
}

// querier is a *pgx.Conn or a pgx.Tx.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion returns the highest applied version, or 0 when the
// versions table does not exist.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('aimeter_schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var version int
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM aimeter_schema_migrations`).Scan(&version); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return version, nil
}

func checkVersion(version int, mustBeCurrent bool) error {
	switch {
	case version > len(migrations):
		return fmt.Errorf("%w: the database has version %d, this package knows up to %d", ErrSchemaTooNew, version, len(migrations))
	case mustBeCurrent && version < len(migrations):
		return fmt.Errorf("%w: the database has version %d, this package needs %d; apply MigrationSQL or open without WithoutMigrations", ErrSchemaOutdated, version, len(migrations))
	}
	return nil
}
