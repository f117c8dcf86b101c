package pgstore

import (
	"context"
	"fmt"
)

// Prune deletes the records, rollups (minute and wide) and batch IDs older
// than the retention before the store's clock. Write runs it at most once
// every ten minutes in each
// Store, so call it to prune a database that this process only reads.
// PostgreSQL's autovacuum makes the space of the deleted rows reusable.
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
		s.logger.WarnContext(ctx, "pgstore: prune failed, next try after the prune interval", "error", err)
	}
}

// prune does the work of Prune. s.mu must be held for reading.
//
// NOTE: on TimescaleDB hypertables DELETE works too, but drop_chunks would
// free whole chunks at once where DELETE leaves the space to autovacuum.
// The hypertable branch is not tested: the test machines have no
// TimescaleDB.
func (s *Store) prune(ctx context.Context) error {
	cutoff := s.cutoff()
	if _, err := s.pool.Exec(ctx, `DELETE FROM aimeter_records WHERE time < $1`, cutoff); err != nil {
		return fmt.Errorf("pgstore: prune records: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM aimeter_rollups WHERE minute < $1`, ceilSecond(cutoff)); err != nil {
		return fmt.Errorf("pgstore: prune rollups: %w", err)
	}
	// A batch ID is kept as long as the records, so that a batch retried
	// after a long outage is still recognised.
	if _, err := s.pool.Exec(ctx, `DELETE FROM aimeter_batches WHERE written_at < $1`, cutoff); err != nil {
		return fmt.Errorf("pgstore: prune batch IDs: %w", err)
	}
	// A wide row is kept while any of its minutes is within the retention.
	for i, w := range wideWidths {
		if _, err := s.pool.Exec(ctx, wideStatementsByWidth[i].prune, cutoff.Add(-w.width)); err != nil {
			return fmt.Errorf("pgstore: prune %s: %w", w.table, err)
		}
	}
	return nil
}
