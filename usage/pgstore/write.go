package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aimeter/aimeter/usage"
	"github.com/jackc/pgx/v5"
)

// recordColumns are the columns that Write copies into aimeter_records, in
// the order of recordValues.
var recordColumns = []string{
	"time", "endpoint", "provider", "model", "operation", "caller_key", "labels", "response_model",
	"input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
	"usage_known", "priced", "cost_nanos", "latency_ns", "ttft_ns", "stream", "chunks", "error", "http_status",
}

// upsertRollupSQL adds one batch's aggregate to a rollup row. Every column
// is a sum or a maximum, so the merge is exact in any order, and the row
// lock that ON CONFLICT DO UPDATE takes makes it exact when several
// instances write the same row at once.
const upsertRollupSQL = `INSERT INTO aimeter_rollups AS r (
	minute, series_hash, endpoint, provider, model, operation, caller_key,
	calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, latency_bins, ttft_sum_ns, ttft_max_ns, ttft_bins
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
ON CONFLICT (minute, series_hash) DO UPDATE SET
	calls = r.calls + EXCLUDED.calls,
	errors = r.errors + EXCLUDED.errors,
	errors_by_category = aimeter_merge_counts(r.errors_by_category, EXCLUDED.errors_by_category),
	unpriced_calls = r.unpriced_calls + EXCLUDED.unpriced_calls,
	unknown_usage_calls = r.unknown_usage_calls + EXCLUDED.unknown_usage_calls,
	stream_calls = r.stream_calls + EXCLUDED.stream_calls,
	input_tokens = r.input_tokens + EXCLUDED.input_tokens,
	cached_input_tokens = r.cached_input_tokens + EXCLUDED.cached_input_tokens,
	cache_write_tokens = r.cache_write_tokens + EXCLUDED.cache_write_tokens,
	output_tokens = r.output_tokens + EXCLUDED.output_tokens,
	reasoning_tokens = r.reasoning_tokens + EXCLUDED.reasoning_tokens,
	cost_nanos = r.cost_nanos + EXCLUDED.cost_nanos,
	latency_sum_ns = r.latency_sum_ns + EXCLUDED.latency_sum_ns,
	latency_max_ns = greatest(r.latency_max_ns, EXCLUDED.latency_max_ns),
	latency_bins = aimeter_merge_bins(r.latency_bins, EXCLUDED.latency_bins),
	ttft_sum_ns = r.ttft_sum_ns + EXCLUDED.ttft_sum_ns,
	ttft_max_ns = greatest(r.ttft_max_ns, EXCLUDED.ttft_max_ns),
	ttft_bins = aimeter_merge_bins(r.ttft_bins, EXCLUDED.ttft_bins)`

// Write copies records into aimeter_records and adds them to the rollups,
// in one transaction. A batch with an invalid record fails with an error
// wrapping usage.ErrInvalidRecord, and none of it is stored. A record is
// invalid when its time is zero, when a latency, token count or cost is
// negative, or when a string is not valid UTF-8 or contains a NUL byte.
// Records older than the retention are accepted and dropped.
func (s *Store) Write(ctx context.Context, records []usage.Record) error {
	for i := range records {
		if err := validateRecord(&records[i]); err != nil {
			return fmt.Errorf("pgstore: write: record %d: %w", i, err)
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

	deltas := aggregate(records)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := copyRecords(ctx, tx, records); err != nil {
			return err
		}
		return upsertRollups(ctx, tx, deltas)
	})
	if err != nil {
		return fmt.Errorf("pgstore: write: %w", err)
	}
	s.pruneIfDue(ctx)
	return nil
}

func copyRecords(ctx context.Context, tx pgx.Tx, records []usage.Record) error {
	src := pgx.CopyFromSlice(len(records), func(i int) ([]any, error) {
		r := &records[i]
		labels, err := encodeLabels(r.Call.Labels)
		if err != nil {
			return nil, fmt.Errorf("encode labels: %w", err)
		}
		return []any{
			r.Time, r.Call.Endpoint, r.Call.Provider, r.Call.Model, r.Call.Operation, r.Call.Key, labels, r.ResponseModel,
			r.Tokens.Input, r.Tokens.CachedInput, r.Tokens.CacheWrite, r.Tokens.Output, r.Tokens.Reasoning,
			r.UsageKnown, r.Priced, r.CostNanos, int64(r.Latency), int64(r.TTFT), r.Stream, int64(r.Chunks), string(r.Error), int32(r.HTTPStatus),
		}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"aimeter_records"}, recordColumns, src); err != nil {
		return fmt.Errorf("copy records: %w", err)
	}
	return nil
}

// upsertRollups sends one upsert per delta in one round trip. The deltas
// are sorted by key, so two writes that touch the same rows lock them in
// the same order and do not deadlock each other.
func upsertRollups(ctx context.Context, tx pgx.Tx, deltas []rollupDelta) error {
	batch := &pgx.Batch{}
	for i := range deltas {
		d := &deltas[i]
		st := &d.stats
		counts, err := encodeCounts(st.ErrorsByCategory)
		if err != nil {
			return fmt.Errorf("encode errors by category: %w", err)
		}
		batch.Queue(upsertRollupSQL,
			d.minute, d.hash, d.series.Endpoint, d.series.Provider, d.series.Model, d.series.Operation, d.series.Key,
			st.Calls, st.Errors, counts, st.UnpricedCalls, st.UnknownUsageCalls, st.StreamCalls,
			st.Tokens.Input, st.Tokens.CachedInput, st.Tokens.CacheWrite, st.Tokens.Output, st.Tokens.Reasoning, st.CostNanos,
			int64(st.Latency.Sum()), int64(st.Latency.Max()), flattenBins(st.Latency.Bins()),
			int64(st.TTFT.Sum()), int64(st.TTFT.Max()), flattenBins(st.TTFT.Bins()))
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("upsert rollups: %w", err)
	}
	return nil
}

// rollupDelta is the aggregate of one batch's records of one series in one
// minute.
type rollupDelta struct {
	minute time.Time
	hash   []byte
	series usage.Series
	stats  usage.Stats
}

// aggregate folds records into one delta per minute and series, sorted by
// minute and series hash.
func aggregate(records []usage.Record) []rollupDelta {
	type key struct {
		minute int64
		series usage.Series
	}
	index := make(map[key]int)
	var deltas []rollupDelta
	for i := range records {
		r := &records[i]
		minute := r.Time.Truncate(time.Minute)
		k := key{minute: minute.Unix(), series: usage.SeriesOf(r)}
		j, ok := index[k]
		if !ok {
			j = len(deltas)
			index[k] = j
			deltas = append(deltas, rollupDelta{minute: minute.UTC(), hash: seriesHash(&k.series), series: k.series})
		}
		deltas[j].stats.Add(r)
	}
	sort.Slice(deltas, func(i, j int) bool {
		if !deltas[i].minute.Equal(deltas[j].minute) {
			return deltas[i].minute.Before(deltas[j].minute)
		}
		return bytes.Compare(deltas[i].hash, deltas[j].hash) < 0
	})
	return deltas
}
