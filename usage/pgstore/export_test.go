package pgstore

import (
	"context"
	"fmt"

	"github.com/aimeter/aimeter/usage"
	"github.com/jackc/pgx/v5"
)

// AddToRollups adds records to the rollups as Write does, without storing
// the records themselves, for tests that load the raw rows by other means.
func AddToRollups(ctx context.Context, s *Store, records []usage.Record) error {
	deltas := aggregate(records)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return writeBatch(ctx, tx, nil, deltas)
	})
	if err != nil {
		return fmt.Errorf("pgstore: add to rollups: %w", err)
	}
	return nil
}

// DecodeBins decodes a histogram as the latency_hist and ttft_hist
// columns keep it.
var DecodeBins = decodeBins
