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
// aimeter_records keeps every record, keyed by (time, id); Write copies a
// batch in with COPY. aimeter_rollups keeps one row per minute and series,
// keyed by (minute, series_hash), where series_hash is the SHA-256 of the
// series, so that long strings cannot overflow the index. A histogram is
// an array of (lowest value in microseconds, count) pairs beside its exact
// sum and maximum. When the timescaledb extension is installed in the
// database before the first migration, both tables become hypertables on
// their time column.
//
// # Exact merges across instances
//
// Write adds each batch to the rollups with INSERT ... ON CONFLICT DO
// UPDATE, which adds the counts and sums, keeps the larger maximum, and
// merges histograms and error counts with the SQL functions
// aimeter_merge_bins and aimeter_merge_counts. PostgreSQL locks the row for
// the update, so any number of instances may write the same minute and
// series at once and the totals stay exact. Each write locks its rows in
// the order of their key, so two writes do not deadlock each other.
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
