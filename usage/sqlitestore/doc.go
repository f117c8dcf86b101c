// Package sqlitestore keeps usage records and their per-minute rollups in
// one SQLite file, through modernc.org/sqlite, a SQLite compiled to pure Go,
// so it needs no cgo.
//
// It is the embedded persistent usage.Store: records and rollups survive a
// restart, and analytics read the same per-minute rollups as from the
// memory store.
//
//	store, err := sqlitestore.Open("usage.db", sqlitestore.WithRetention(30*24*time.Hour))
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	tracker := usage.NewTracker(store)
//
// # Storage
//
// Open creates the file when it does not exist, switches it to
// write-ahead logging (WAL), and applies the schema migrations that the
// file lacks, recording each in the schema_migrations table. The records
// table keeps every record. The rollups table keeps one row per minute and
// series, with the latency and time-to-first-token histograms encoded as
// compact blobs of their non-empty buckets, beside their exact sums and
// maxima. Write adds a batch and folds it into the rollups in one
// transaction, so a batch is stored whole or not at all.
//
// # Retention
//
// Records and rollups older than the retention (default 7 days) before the
// store's clock are hidden from reads at once and deleted by Write at most
// once every ten minutes, or by Prune. The file is opened with
// incremental auto-vacuum, so deleted pages are returned to the file system.
//
// # Concurrency
//
// A Store is safe for concurrent use. It writes through one connection,
// because SQLite allows one writer at a time, and reads through a pool of
// read-only connections that WAL lets run beside the writer. Other
// processes may open the same file, to read or to write: SQLite's locks
// serialize the writers, and each waits up to the busy timeout (default 5
// seconds) for the others.
package sqlitestore
