package sqlitestore

import (
	"context"
	"fmt"
)

// pruneBatch is how many rows one delete statement removes, so that a
// prune after a long pause holds the write lock for short spells and
// other writers can run between them.
const pruneBatch = 5000

const (
	deleteRecordsSQL = `DELETE FROM records WHERE id IN (SELECT id FROM records WHERE time_ns < ? LIMIT ?)`
	deleteRollupsSQL = `DELETE FROM rollups WHERE rowid IN (SELECT rowid FROM rollups WHERE minute < ? LIMIT ?)`
)

// Prune deletes the records and rollups older than the retention before
// the store's clock and returns their pages to the file system. Write runs
// it at most once every ten minutes, so call it to prune a store that is
// only read, or at a time of your choosing.
func (s *Store) Prune(ctx context.Context) error {
	if err := s.acquire("prune"); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.prune(ctx)
}

// pruneIfDue prunes when the time set by the previous prune has come. A
// failure is logged, not returned, because the batch that Write was called
// for is already stored. s.mu must be held for reading.
func (s *Store) pruneIfDue(ctx context.Context) {
	now := s.now()
	s.pruneMu.Lock()
	if now.Before(s.nextPrune) {
		s.pruneMu.Unlock()
		return
	}
	s.nextPrune = now.Add(pruneInterval)
	s.pruneMu.Unlock()

	if err := s.prune(ctx); err != nil {
		s.logger.WarnContext(ctx, "sqlitestore: prune failed; retrying at the next write after the interval", "path", s.path, "error", err)
	}
}

// prune does the work of Prune. s.mu must be held for reading.
func (s *Store) prune(ctx context.Context) error {
	cutoff := s.cutoff()
	records, err := s.deleteInBatches(ctx, deleteRecordsSQL, cutoff.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlitestore: prune records: %w", err)
	}
	rollups, err := s.deleteInBatches(ctx, deleteRollupsSQL, ceilSeconds(cutoff))
	if err != nil {
		return fmt.Errorf("sqlitestore: prune rollups: %w", err)
	}
	if records+rollups == 0 {
		return nil
	}
	if _, err := s.writer.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
		return fmt.Errorf("sqlitestore: incremental vacuum: %w", err)
	}
	return nil
}

// deleteInBatches runs query with (bound, pruneBatch) until it deletes
// fewer than pruneBatch rows, and returns how many rows it deleted.
func (s *Store) deleteInBatches(ctx context.Context, query string, bound int64) (int64, error) {
	var total int64
	for {
		res, err := s.writer.ExecContext(ctx, query, bound, pruneBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
