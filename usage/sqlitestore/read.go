package sqlitestore

import (
	"context"
	"fmt"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

const selectRollupsSQL = `SELECT minute, endpoint, provider, model, operation, caller_key, ` + rollupColumns + `
FROM rollups WHERE minute >= ? AND minute < ?`

const selectRecentSQL = `SELECT
	time_ns, endpoint, provider, model, operation, caller_key, labels, response_model,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
	usage_known, priced, cost_nanos, latency_ns, ttft_ns, stream, chunks, error, http_status
FROM records WHERE time_ns >= ? ORDER BY time_ns DESC, id DESC LIMIT ?`

// Rollups returns the rollup of every series for each minute whose start
// lies in [since, until) and within the retention.
func (s *Store) Rollups(ctx context.Context, since, until time.Time) ([]usage.Rollup, error) {
	if err := s.acquire("rollups"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()

	// A minute starts on a whole second, so the minutes that start at or
	// after since are those that start at or after since rounded up to a
	// second, and likewise for until.
	lo, hi := ceilSeconds(since), ceilSeconds(until)
	lo = max(lo, ceilSeconds(s.cutoff()))
	if lo >= hi {
		return nil, nil
	}

	rows, err := s.reader.QueryContext(ctx, selectRollupsSQL, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: rollups: %w", err)
	}
	defer rows.Close()

	var out []usage.Rollup
	for rows.Next() {
		var (
			minute int64
			se     usage.Series
		)
		row, err := scanRollupRow(rows, &minute, &se.Endpoint, &se.Provider, &se.Model, &se.Operation, &se.Key)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: rollups: %w", err)
		}
		out = append(out, usage.Rollup{Start: time.Unix(minute, 0).UTC(), Width: time.Minute, Series: se, Stats: row.stats()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: rollups: %w", err)
	}
	return out, nil
}

// ceilSeconds returns t in Unix seconds, rounded up.
func ceilSeconds(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

// Recent returns up to limit of the newest records within the retention,
// newest first by time, and among records of the same time the last
// written first. A limit of zero or less returns none.
func (s *Store) Recent(ctx context.Context, limit int) ([]usage.Record, error) {
	if err := s.acquire("recent"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}

	rows, err := s.reader.QueryContext(ctx, selectRecentSQL, s.cutoff().UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: recent: %w", err)
	}
	defer rows.Close()

	var out []usage.Record
	for rows.Next() {
		var (
			r             usage.Record
			timeNS        int64
			labels        *string
			latency, ttft int64
			category      string
		)
		err := rows.Scan(
			&timeNS, &r.Call.Endpoint, &r.Call.Provider, &r.Call.Model, &r.Call.Operation, &r.Call.Key, &labels, &r.ResponseModel,
			&r.Tokens.Input, &r.Tokens.CachedInput, &r.Tokens.CacheWrite, &r.Tokens.Output, &r.Tokens.Reasoning,
			&r.UsageKnown, &r.Priced, &r.CostNanos, &latency, &ttft, &r.Stream, &r.Chunks, &category, &r.HTTPStatus)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: recent: %w", err)
		}
		if r.Call.Labels, err = decodeLabels(labels); err != nil {
			return nil, fmt.Errorf("sqlitestore: recent: %w", err)
		}
		r.Time = time.Unix(0, timeNS).UTC()
		r.Latency, r.TTFT = time.Duration(latency), time.Duration(ttft)
		r.Error = errmon.Category(category)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: recent: %w", err)
	}
	return out, nil
}
