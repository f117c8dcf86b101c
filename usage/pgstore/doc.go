// Package pgstore keeps usage records and their per-minute rollups in
// PostgreSQL, through github.com/jackc/pgx/v5, so that several instances of
// a service share one history.
//
//	store, err := pgstore.Open(ctx, "postgres://aimeter@db/app?sslmode=verify-full")
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	tracker := usage.NewTracker(store)
//
// # Schema
//
// Open and New apply the schema migrations that the database lacks, under
// an advisory lock so that instances starting together take turns, and
// record each version in aimeter_schema_migrations. With
// WithoutMigrations they only check the version, for deployments that
// apply MigrationSQL (or the statements of Migrations) with their own
// tools. Every table and function name starts with "aimeter_" and lives in
// the first schema of the connection's search_path.
//
// aimeter_records keeps every record, keyed by (time, id). aimeter_rollups
// keeps one row per minute and series, keyed by (minute, series_hash),
// where series_hash is the SHA-256 of the series, so that long strings
// cannot overflow the index. A histogram is a bytea of varint-encoded
// buckets (lowest value in microseconds, count) beside its exact sum and
// maximum. Version 1 of the schema kept the buckets in a bigint[] of
// pairs, which readers still add in. When the timescaledb extension is
// installed in the database before the first migration, both tables
// become hypertables on their time column.
//
// Schema version 3 adds wide rollups: aimeter_rollups_15m keeps one row
// per 15 minutes and series, keyed by (start, series_hash), with the
// columns of a minute rollup. Write updates it in the transaction that
// updates the minute rollups, and the migration fills it from the minute
// rollups already stored. Store implements usage.WideRollupStore, so
// usage.ReadRollups, and with it analytics.Build, reads a 24-hour window
// in 15-minute buckets from 96 rows per series instead of 1,440. The
// wide table is a plain table, also under TimescaleDB.
//
// # Exact merges across instances
//
// Write sends a batch in two round trips inside one transaction. The
// first inserts the records from one array per column, creates the
// missing rollup rows with INSERT ... ON CONFLICT DO NOTHING and locks
// every rollup row of the batch with SELECT ... FOR UPDATE, both in the
// order of the key. The second writes back each row merged in Go with
// the batch: counts and sums added, maxima kept, histograms and error
// counts added bucket by bucket. The rows of aimeter_rollups_15m are
// created, locked and written back in the same round trips, after the
// minute rows. The row locks make the merge exact
// however many instances write the same minute and series at once, and
// the common order keeps two writes from deadlocking each other.
//
// A write whose context carries a usage.BatchID first records the ID in
// aimeter_batches (schema version 4). When the ID is already there, an
// earlier attempt at the same batch committed and only its reply was
// lost, so the write stores nothing and succeeds: a Tracker's retry never
// counts a call twice. Batch IDs are pruned with the records. Writers
// of schema version 1, which merge with the SQL functions
// aimeter_merge_bins and aimeter_merge_counts under the row lock that
// INSERT ... ON CONFLICT DO UPDATE takes, stay exact beside them.
//
// # Retention
//
// Records and rollups older than the retention (default 7 days) before the
// store's clock are hidden from reads at once and deleted by Write at most
// once every ten minutes, or by Prune.
//
// # Concurrency
//
// A Store is safe for concurrent use.
package pgstore
