package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aimeter/aimeter/usage"
)

const insertRecordSQL = `INSERT INTO records (
	time_ns, endpoint, provider, model, operation, caller_key, labels, response_model,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
	usage_known, priced, cost_nanos, latency_ns, ttft_ns, stream, chunks, error, http_status
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const selectRollupSQL = `SELECT ` + rollupColumns + ` FROM rollups
WHERE minute = ? AND endpoint = ? AND provider = ? AND model = ? AND operation = ? AND caller_key = ?`

// rollupColumns are the rollups table's columns after the key, in the
// order that scanRollupRow reads and upsertRollupSQL writes them.
const rollupColumns = `calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, latency_bins, ttft_sum_ns, ttft_max_ns, ttft_bins,
	stream_output_tokens, stream_latency_ns`

const upsertRollupSQL = `INSERT INTO rollups (minute, endpoint, provider, model, operation, caller_key, ` + rollupColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, endpoint, provider, model, operation, caller_key) DO UPDATE SET
	calls = excluded.calls,
	errors = excluded.errors,
	errors_by_category = excluded.errors_by_category,
	unpriced_calls = excluded.unpriced_calls,
	unknown_usage_calls = excluded.unknown_usage_calls,
	stream_calls = excluded.stream_calls,
	input_tokens = excluded.input_tokens,
	cached_input_tokens = excluded.cached_input_tokens,
	cache_write_tokens = excluded.cache_write_tokens,
	output_tokens = excluded.output_tokens,
	reasoning_tokens = excluded.reasoning_tokens,
	cost_nanos = excluded.cost_nanos,
	latency_sum_ns = excluded.latency_sum_ns,
	latency_max_ns = excluded.latency_max_ns,
	latency_bins = excluded.latency_bins,
	ttft_sum_ns = excluded.ttft_sum_ns,
	ttft_max_ns = excluded.ttft_max_ns,
	ttft_bins = excluded.ttft_bins,
	stream_output_tokens = excluded.stream_output_tokens,
	stream_latency_ns = excluded.stream_latency_ns`

// Write stores records and folds them into the rollups in one
// transaction. A batch with an invalid record fails with an error wrapping
// usage.ErrInvalidRecord, and none of it is stored. A record is invalid
// when its time is zero or outside the years 1678 to 2262, when a latency,
// token count or cost is negative, or when a string is not valid UTF-8.
// Records older than the retention are accepted and dropped.
func (s *Store) Write(ctx context.Context, records []usage.Record) error {
	for i := range records {
		if err := validateRecord(&records[i]); err != nil {
			return fmt.Errorf("sqlitestore: write: record %d: %w", i, err)
		}
	}
	if err := s.acquire("write"); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	// Records older than the retention are dropped as a prune would
	// drop them, so a write never touches the rows a prune is deleting.
	records = usage.RecordsSince(records, s.cutoff())
	if len(records) == 0 {
		return nil
	}

	if err := s.writeBatch(ctx, records); err != nil {
		return fmt.Errorf("sqlitestore: write: %w", err)
	}
	s.pruneIfDue(ctx)
	return nil
}

func (s *Store) writeBatch(ctx context.Context, records []usage.Record) (err error) {
	rows := aggregate(records)

	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	if err := insertRecords(ctx, tx, records); err != nil {
		return err
	}
	if err := mergeRollups(ctx, tx, rows); err != nil {
		return err
	}
	return tx.Commit()
}

func insertRecords(ctx context.Context, tx *sql.Tx, records []usage.Record) error {
	stmt, err := tx.PrepareContext(ctx, insertRecordSQL)
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	defer stmt.Close()

	for i := range records {
		r := &records[i]
		labels, err := encodeLabels(r.Call.Labels)
		if err != nil {
			return fmt.Errorf("encode labels: %w", err)
		}
		_, err = stmt.ExecContext(ctx,
			r.Time.UnixNano(), r.Call.Endpoint, r.Call.Provider, r.Call.Model, r.Call.Operation, r.Call.Key, labels, r.ResponseModel,
			r.Tokens.Input, r.Tokens.CachedInput, r.Tokens.CacheWrite, r.Tokens.Output, r.Tokens.Reasoning,
			r.UsageKnown, r.Priced, r.CostNanos, int64(r.Latency), int64(r.TTFT), r.Stream, r.Chunks, string(r.Error), r.HTTPStatus)
		if err != nil {
			return fmt.Errorf("insert record: %w", err)
		}
	}
	return nil
}

// mergeRollups adds rows to the rollups table: each row's stored version,
// if any, is read, merged in Go and written back. The transaction holds
// SQLite's write lock, so no other writer can change a row in between.
func mergeRollups(ctx context.Context, tx *sql.Tx, rows map[bucketKey]*rollupRow) error {
	sel, err := tx.PrepareContext(ctx, selectRollupSQL)
	if err != nil {
		return fmt.Errorf("prepare select rollup: %w", err)
	}
	defer sel.Close()
	upsert, err := tx.PrepareContext(ctx, upsertRollupSQL)
	if err != nil {
		return fmt.Errorf("prepare upsert rollup: %w", err)
	}
	defer upsert.Close()

	for k, row := range rows {
		se := &k.series
		stored, err := scanRollupRow(sel.QueryRowContext(ctx, k.minute, se.Endpoint, se.Provider, se.Model, se.Operation, se.Key))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read rollup: %w", err)
		default:
			stored.merge(row)
			row = &stored
		}

		args, err := rollupArgs(row)
		if err != nil {
			return err
		}
		args = append([]any{k.minute, se.Endpoint, se.Provider, se.Model, se.Operation, se.Key}, args...)
		if _, err := upsert.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("upsert rollup: %w", err)
		}
	}
	return nil
}

// rollupArgs returns the values of rollupColumns for row.
func rollupArgs(row *rollupRow) ([]any, error) {
	counts, err := encodeCounts(row.errorsByCategory)
	if err != nil {
		return nil, fmt.Errorf("encode errors by category: %w", err)
	}
	return []any{
		row.calls, row.errors, counts, row.unpriced, row.unknownUsage, row.streams,
		row.tokens.Input, row.tokens.CachedInput, row.tokens.CacheWrite, row.tokens.Output, row.tokens.Reasoning, row.costNanos,
		int64(row.latency.sum), int64(row.latency.max), usage.EncodeBins(row.latency.bins),
		int64(row.ttft.sum), int64(row.ttft.max), usage.EncodeBins(row.ttft.bins),
		row.streamOutput, int64(row.streamLatency),
	}, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanRollupRow reads the values of rollupColumns, after any that dest
// names first.
func scanRollupRow(sc scanner, dest ...any) (rollupRow, error) {
	var (
		row                    rollupRow
		counts                 *string
		latencySum, latencyMax int64
		ttftSum, ttftMax       int64
		latencyBins, ttftBins  []byte
		streamLatency          int64
	)
	dest = append(dest,
		&row.calls, &row.errors, &counts, &row.unpriced, &row.unknownUsage, &row.streams,
		&row.tokens.Input, &row.tokens.CachedInput, &row.tokens.CacheWrite, &row.tokens.Output, &row.tokens.Reasoning, &row.costNanos,
		&latencySum, &latencyMax, &latencyBins, &ttftSum, &ttftMax, &ttftBins,
		&row.streamOutput, &streamLatency)
	if err := sc.Scan(dest...); err != nil {
		return rollupRow{}, err
	}

	var err error
	if row.errorsByCategory, err = decodeCounts(counts); err != nil {
		return rollupRow{}, err
	}
	if row.latency.bins, err = decodeBins(latencyBins); err != nil {
		return rollupRow{}, err
	}
	if row.ttft.bins, err = decodeBins(ttftBins); err != nil {
		return rollupRow{}, err
	}
	row.latency.sum, row.latency.max = time.Duration(latencySum), time.Duration(latencyMax)
	row.ttft.sum, row.ttft.max = time.Duration(ttftSum), time.Duration(ttftMax)
	row.streamLatency = time.Duration(streamLatency)
	return row, nil
}
