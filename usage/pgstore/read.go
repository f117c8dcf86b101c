package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	"github.com/jackc/pgx/v5"
)

const selectRollupsSQL = `SELECT minute, endpoint, provider, model, operation, caller_key,
	calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, latency_bins, latency_hist, ttft_sum_ns, ttft_max_ns, ttft_bins, ttft_hist,
	stream_output_tokens, stream_latency_ns
FROM aimeter_rollups WHERE minute >= $1 AND minute < $2`

const selectRecentSQL = `SELECT
	time, endpoint, provider, model, operation, caller_key, labels, response_model,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
	usage_known, priced, cost_nanos, latency_ns, ttft_ns, stream, chunks, error, http_status
FROM aimeter_records WHERE time >= $1 ORDER BY time DESC, id DESC LIMIT $2`

// Rollups returns the rollup of every series for each minute whose start
// lies in [since, until) and within the retention. Each minute and series
// is one row, however many instances wrote to it.
func (s *Store) Rollups(ctx context.Context, since, until time.Time) ([]usage.Rollup, error) {
	if err := s.acquire("rollups"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()

	lo, hi := ceilSecond(since), ceilSecond(until)
	if cut := ceilSecond(s.cutoff()); lo.Before(cut) {
		lo = cut
	}
	if !lo.Before(hi) {
		return nil, nil
	}

	rows, err := s.pool.Query(ctx, selectRollupsSQL, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("pgstore: rollups: %w", err)
	}
	out, err := scanRollups(rows, time.Minute)
	if err != nil {
		return nil, fmt.Errorf("pgstore: rollups: %w", err)
	}
	return out, nil
}

// scanRollups reads rollups of width w in the columns of selectRollupsSQL
// and closes rows.
func scanRollups(rows pgx.Rows, w time.Duration) ([]usage.Rollup, error) {
	defer rows.Close()
	var out []usage.Rollup
	for rows.Next() {
		var (
			r                      usage.Rollup
			st                     = &r.Stats
			se                     = &r.Series
			counts                 []byte
			latencySum, latencyMax int64
			ttftSum, ttftMax       int64
			latencyBins, ttftBins  []int64
			latencyHist, ttftHist  []byte
			streamLatency          int64
		)
		err := rows.Scan(&r.Start, &se.Endpoint, &se.Provider, &se.Model, &se.Operation, &se.Key,
			&st.Calls, &st.Errors, &counts, &st.UnpricedCalls, &st.UnknownUsageCalls, &st.StreamCalls,
			&st.Tokens.Input, &st.Tokens.CachedInput, &st.Tokens.CacheWrite, &st.Tokens.Output, &st.Tokens.Reasoning, &st.CostNanos,
			&latencySum, &latencyMax, &latencyBins, &latencyHist, &ttftSum, &ttftMax, &ttftBins, &ttftHist,
			&st.StreamOutputTokens, &streamLatency)
		if err != nil {
			return nil, err
		}
		st.StreamLatency = time.Duration(streamLatency)
		if st.ErrorsByCategory, err = decodeCounts(counts); err != nil {
			return nil, err
		}
		if st.Latency, err = histogramOf(latencyBins, latencyHist, latencySum, latencyMax); err != nil {
			return nil, err
		}
		if st.TTFT, err = histogramOf(ttftBins, ttftHist, ttftSum, ttftMax); err != nil {
			return nil, err
		}
		r.Start = r.Start.UTC()
		r.Width = w
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// histogramOf rebuilds a stored histogram from its two forms.
func histogramOf(pairs []int64, encoded []byte, sum, max int64) (usage.Histogram, error) {
	bins, err := storedBins(pairs, encoded)
	if err != nil {
		return usage.Histogram{}, err
	}
	return usage.HistogramFromBins(bins, time.Duration(sum), time.Duration(max)), nil
}

// Recent returns up to limit of the newest records within the retention,
// newest first by time, and among records of the same microsecond the last
// written first. Times come back with microsecond precision, as PostgreSQL
// keeps them. A limit of zero or less returns none.
func (s *Store) Recent(ctx context.Context, limit int) ([]usage.Record, error) {
	if err := s.acquire("recent"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}

	rows, err := s.pool.Query(ctx, selectRecentSQL, s.cutoff(), limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: recent: %w", err)
	}
	defer rows.Close()

	var out []usage.Record
	for rows.Next() {
		var (
			r                     usage.Record
			labels                []byte
			latency, ttft, chunks int64
			category              string
			status                int32
		)
		err := rows.Scan(
			&r.Time, &r.Call.Endpoint, &r.Call.Provider, &r.Call.Model, &r.Call.Operation, &r.Call.Key, &labels, &r.ResponseModel,
			&r.Tokens.Input, &r.Tokens.CachedInput, &r.Tokens.CacheWrite, &r.Tokens.Output, &r.Tokens.Reasoning,
			&r.UsageKnown, &r.Priced, &r.CostNanos, &latency, &ttft, &r.Stream, &chunks, &category, &status)
		if err != nil {
			return nil, fmt.Errorf("pgstore: recent: %w", err)
		}
		if r.Call.Labels, err = decodeLabels(labels); err != nil {
			return nil, fmt.Errorf("pgstore: recent: %w", err)
		}
		r.Time = r.Time.UTC()
		r.Latency, r.TTFT = time.Duration(latency), time.Duration(ttft)
		r.Chunks, r.HTTPStatus = int(chunks), int(status)
		r.Error = errmon.Category(category)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: recent: %w", err)
	}
	return out, nil
}
