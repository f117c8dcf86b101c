package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aimeter/aimeter/usage"
	"github.com/jackc/pgx/v5"
)

// insertRecordsSQL inserts a batch of records given as one array per
// column, which pgx sends in PostgreSQL's binary format. Unlike COPY, it
// can share a round trip with the statements that lock the rollups.
const insertRecordsSQL = `INSERT INTO aimeter_records (
	time, endpoint, provider, model, operation, caller_key, labels, response_model,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
	usage_known, priced, cost_nanos, latency_ns, ttft_ns, stream, chunks, error, http_status
)
SELECT time, endpoint, provider, model, operation, caller_key, labels::jsonb, response_model,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
	usage_known, priced, cost_nanos, latency_ns, ttft_ns, stream, chunks, error, http_status
FROM unnest(
	$1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
	$14::boolean[], $15::boolean[], $16::bigint[], $17::bigint[], $18::bigint[], $19::boolean[], $20::bigint[], $21::text[], $22::integer[]
) AS r(
	time, endpoint, provider, model, operation, caller_key, labels, response_model,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
	usage_known, priced, cost_nanos, latency_ns, ttft_ns, stream, chunks, error, http_status
)`

// rollupWriteSQL holds the statements that writeBatch runs on one rollup
// table.
type rollupWriteSQL struct {
	// insertKeys creates an empty row for each key of the batch that has
	// none, in the order of the keys. writeBatch fills them in before its
	// transaction commits, so no reader sees them empty.
	insertKeys string
	// lock locks the batch's rows in the order of the keys and returns
	// what they hold. FOR UPDATE inside the lateral subquery keeps the
	// planner from turning the lookups into a join, so each key takes one
	// probe of the primary key however large the table has grown since
	// the statement was prepared.
	lock string
	// update replaces the locked rows with their merged values.
	update string
}

// rollupStatements returns the statements of a rollup table whose rows
// start at the column key. A table with the histogram arrays of schema
// version 1 (legacyArrays) has them read by lock and emptied by update,
// which moves histograms into the bytea columns; for other tables lock
// returns empty arrays in their place, so one scan reads every table.
func rollupStatements(table, key string, legacyArrays bool) rollupWriteSQL {
	histColumns, emptyHist := "latency_hist, ttft_sum_ns, ttft_max_ns, ttft_hist", "'', 0, 0, ''"
	lockedArrays := [2]string{"'{}'::bigint[]", "'{}'::bigint[]"}
	clearArrays := ""
	if legacyArrays {
		histColumns, emptyHist = "latency_bins, ttft_sum_ns, ttft_max_ns, ttft_bins", "'{}', 0, 0, '{}'"
		lockedArrays = [2]string{"r.latency_bins", "r.ttft_bins"}
		clearArrays = "\n\tlatency_bins = '{}',\n\tttft_bins = '{}',"
	}
	r := strings.NewReplacer("TABLE", table, "KEY", key, "HIST_COLUMNS", histColumns, "EMPTY_HIST", emptyHist,
		"LATENCY_ARRAY", lockedArrays[0], "TTFT_ARRAY", lockedArrays[1], "CLEAR_ARRAYS", clearArrays)
	return rollupWriteSQL{
		insertKeys: r.Replace(`INSERT INTO TABLE (
	KEY, series_hash, endpoint, provider, model, operation, caller_key,
	calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, HIST_COLUMNS,
	stream_output_tokens, stream_latency_ns
)
SELECT k.KEY, k.series_hash, k.endpoint, k.provider, k.model, k.operation, k.caller_key,
	0, 0, '{}', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, EMPTY_HIST, 0, 0
FROM unnest($1::timestamptz[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
	WITH ORDINALITY AS k(KEY, series_hash, endpoint, provider, model, operation, caller_key, n)
ORDER BY k.n
ON CONFLICT (KEY, series_hash) DO NOTHING`),
		lock: r.Replace(`SELECT l.* FROM unnest($1::timestamptz[], $2::bytea[]) WITH ORDINALITY AS k(KEY, series_hash, n)
CROSS JOIN LATERAL (
	SELECT r.KEY, r.series_hash,
		r.calls, r.errors, r.errors_by_category, r.unpriced_calls, r.unknown_usage_calls, r.stream_calls,
		r.input_tokens, r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, r.cost_nanos,
		r.latency_sum_ns, r.latency_max_ns, LATENCY_ARRAY, r.latency_hist, r.ttft_sum_ns, r.ttft_max_ns, TTFT_ARRAY, r.ttft_hist,
		r.stream_output_tokens, r.stream_latency_ns
	FROM TABLE AS r
	WHERE r.KEY = k.KEY AND r.series_hash = k.series_hash
	FOR UPDATE
) AS l
ORDER BY k.n`),
		update: r.Replace(`UPDATE TABLE AS r SET
	calls = u.calls,
	errors = u.errors,
	errors_by_category = u.errors_by_category::jsonb,
	unpriced_calls = u.unpriced_calls,
	unknown_usage_calls = u.unknown_usage_calls,
	stream_calls = u.stream_calls,
	input_tokens = u.input_tokens,
	cached_input_tokens = u.cached_input_tokens,
	cache_write_tokens = u.cache_write_tokens,
	output_tokens = u.output_tokens,
	reasoning_tokens = u.reasoning_tokens,
	cost_nanos = u.cost_nanos,
	latency_sum_ns = u.latency_sum_ns,
	latency_max_ns = u.latency_max_ns,CLEAR_ARRAYS
	latency_hist = u.latency_hist,
	ttft_sum_ns = u.ttft_sum_ns,
	ttft_max_ns = u.ttft_max_ns,
	ttft_hist = u.ttft_hist,
	stream_output_tokens = u.stream_output_tokens,
	stream_latency_ns = u.stream_latency_ns
FROM unnest(
	$1::timestamptz[], $2::bytea[],
	$3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[],
	$9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[],
	$15::bigint[], $16::bigint[], $17::bytea[], $18::bigint[], $19::bigint[], $20::bytea[],
	$21::bigint[], $22::bigint[]
) AS u(
	KEY, series_hash,
	calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, latency_hist, ttft_sum_ns, ttft_max_ns, ttft_hist,
	stream_output_tokens, stream_latency_ns
)
WHERE r.KEY = u.KEY AND r.series_hash = u.series_hash`),
	}
}

// minuteRollupSQL holds the statements of the minute rollups.
var minuteRollupSQL = rollupStatements("aimeter_rollups", "minute", true)

// insertBatchIDSQL records the ID of the batch being written, stamped by
// the store's clock so that a prune by that clock removes it in time. It
// inserts nothing when a committed transaction already recorded the ID.
const insertBatchIDSQL = `INSERT INTO aimeter_batches (id, written_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`

// errBatchWritten rolls back a write whose batch ID is already recorded.
var errBatchWritten = errors.New("batch already written")

// Write stores records in aimeter_records and adds them to the rollups,
// in one transaction. A batch with an invalid record fails with an error
// wrapping usage.ErrInvalidRecord, and none of it is stored. A record is
// invalid when its time is zero, when a latency, token count or cost is
// negative, or when a string is not valid UTF-8 or contains a NUL byte.
// Records older than the retention are accepted and dropped. When ctx
// carries a usage.BatchID that a committed write already recorded, as a
// Tracker's retry after a lost reply does, Write stores nothing and
// returns nil.
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

	columns, err := recordColumnsOf(records)
	if err != nil {
		return fmt.Errorf("pgstore: write: %w", err)
	}
	deltas := aggregate(records)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if id, ok := usage.BatchIDFrom(ctx); ok {
			tag, err := tx.Exec(ctx, insertBatchIDSQL, id[:], s.now())
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errBatchWritten
			}
		}
		return writeBatch(ctx, tx, columns, deltas)
	})
	if errors.Is(err, errBatchWritten) {
		// An earlier attempt committed this batch, and only its reply was
		// lost: the batch is stored.
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgstore: write: %w", err)
	}
	s.pruneIfDue(ctx)
	return nil
}

// writeBatch inserts the records, unless columns is nil, and adds deltas
// to the minute rollups and to the wide rollups of every width, in two
// round trips. The first inserts the records, creates the missing rollup
// rows and locks every row the batch touches: the minute rows, then the
// rows of each width from the narrowest, each table in the order of the
// key, so that two writes touching the same rows do not deadlock each
// other. The second writes back each row merged with its delta, which is
// exact because no other writer can change a locked row in between.
func writeBatch(ctx context.Context, tx pgx.Tx, columns []any, deltas []rollupDelta) error {
	tables := make([]rollupTable, 0, 1+len(wideWidths))
	tables = append(tables, rollupTable{name: "rollups", deltas: deltas,
		insertKeys: minuteRollupSQL.insertKeys, lock: minuteRollupSQL.lock, update: minuteRollupSQL.update})
	for i, w := range wideWidths {
		sql := &wideStatementsByWidth[i]
		tables = append(tables, rollupTable{name: w.table, deltas: wideDeltas(deltas, w.width),
			insertKeys: sql.insertKeys, lock: sql.lock, update: sql.update})
	}

	batch := &pgx.Batch{}
	// A generic plan, which pgx's cached statements get after five runs,
	// cannot see how many keys the arrays hold and may join the rollups
	// with a sequential scan, whose cost grows with the table. A custom
	// plan probes the primary key once per key.
	batch.Queue(`SET LOCAL plan_cache_mode = force_custom_plan`)
	if columns != nil {
		batch.Queue(insertRecordsSQL, columns...)
	}
	for i := range tables {
		t := &tables[i]
		keys := rollupKeysOf(t.deltas)
		batch.Queue(t.insertKeys, keys.minutes, keys.hashes, keys.endpoints, keys.providers, keys.models, keys.operations, keys.callerKeys)
		batch.Queue(t.lock, keys.minutes, keys.hashes)
	}
	results := tx.SendBatch(ctx, batch)
	err := readLockedTables(results, columns != nil, tables)
	if closeErr := results.Close(); err == nil && closeErr != nil {
		err = closeErr
	}
	if err != nil {
		return err
	}

	updates := &pgx.Batch{}
	for i := range tables {
		t := &tables[i]
		update, err := mergeRollups(t.deltas, t.stored)
		if err != nil {
			return fmt.Errorf("merge %s: %w", t.name, err)
		}
		updates.Queue(t.update, update.args()...)
	}
	results = tx.SendBatch(ctx, updates)
	for i := range tables {
		if _, err := results.Exec(); err != nil {
			_ = results.Close()
			return fmt.Errorf("update %s: %w", tables[i].name, err)
		}
	}
	return results.Close()
}

// rollupTable is one table of rollups that a batch updates: its
// statements, the batch's deltas to it and the rows they lock.
type rollupTable struct {
	name                     string
	insertKeys, lock, update string
	deltas                   []rollupDelta
	stored                   []storedRollup
}

// readLockedTables reads the results of writeBatch's first round trip:
// the setting, the insert of the records when withRecords is set, then for
// each table the creation of its rows and the locked rows, which it keeps
// in the table's stored field in the order of their key.
func readLockedTables(results pgx.BatchResults, withRecords bool, tables []rollupTable) error {
	steps := []string{"set plan_cache_mode"}
	if withRecords {
		steps = append(steps, "insert records")
	}
	for _, step := range steps {
		if _, err := results.Exec(); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	for i := range tables {
		t := &tables[i]
		if _, err := results.Exec(); err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
		stored, err := readLockedRollups(results, len(t.deltas))
		if err != nil {
			return fmt.Errorf("lock %s: %w", t.name, err)
		}
		t.stored = stored
	}
	return nil
}

// recordColumnsOf returns the arguments of insertRecordsSQL: one slice per
// column of records.
func recordColumnsOf(records []usage.Record) ([]any, error) {
	n := len(records)
	var (
		times                                             = make([]time.Time, n)
		endpoints, providers, models, operations, callers = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		labels                                            = make([]*string, n)
		responseModels, errs                              = make([]string, n), make([]string, n)
		input, cached, cacheWrite, output, reasoning      = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		usageKnown, priced, stream                        = make([]bool, n), make([]bool, n), make([]bool, n)
		cost, latency, ttft, chunks                       = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		status                                            = make([]int32, n)
	)
	for i := range records {
		r := &records[i]
		encoded, err := encodeLabels(r.Call.Labels)
		if err != nil {
			return nil, fmt.Errorf("encode labels: %w", err)
		}
		if encoded != nil {
			text := string(encoded)
			labels[i] = &text
		}
		times[i] = r.Time
		endpoints[i], providers[i], models[i], operations[i], callers[i] = r.Call.Endpoint, r.Call.Provider, r.Call.Model, r.Call.Operation, r.Call.Key
		responseModels[i], errs[i] = r.ResponseModel, string(r.Error)
		input[i], cached[i], cacheWrite[i], output[i], reasoning[i] = r.Tokens.Input, r.Tokens.CachedInput, r.Tokens.CacheWrite, r.Tokens.Output, r.Tokens.Reasoning
		usageKnown[i], priced[i], stream[i] = r.UsageKnown, r.Priced, r.Stream
		cost[i], latency[i], ttft[i], chunks[i] = r.CostNanos, int64(r.Latency), int64(r.TTFT), int64(r.Chunks)
		status[i] = int32(r.HTTPStatus)
	}
	return []any{
		times, endpoints, providers, models, operations, callers, labels, responseModels,
		input, cached, cacheWrite, output, reasoning,
		usageKnown, priced, cost, latency, ttft, stream, chunks, errs, status,
	}, nil
}

// rollupKeys are the keys and series of a batch's rollup rows, one slice
// per column, in the order of the deltas.
type rollupKeys struct {
	minutes                                              []time.Time
	hashes                                               [][]byte
	endpoints, providers, models, operations, callerKeys []string
}

func rollupKeysOf(deltas []rollupDelta) rollupKeys {
	n := len(deltas)
	k := rollupKeys{
		minutes: make([]time.Time, n), hashes: make([][]byte, n),
		endpoints: make([]string, n), providers: make([]string, n), models: make([]string, n),
		operations: make([]string, n), callerKeys: make([]string, n),
	}
	for i := range deltas {
		d := &deltas[i]
		k.minutes[i], k.hashes[i] = d.minute, d.hash
		k.endpoints[i], k.providers[i], k.models[i] = d.series.Endpoint, d.series.Provider, d.series.Model
		k.operations[i], k.callerKeys[i] = d.series.Operation, d.series.Key
	}
	return k
}

// readLockedRollups reads the locked rows of one table, which it returns
// in the order of their key.
func readLockedRollups(results pgx.BatchResults, n int) ([]storedRollup, error) {
	rows, err := results.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	stored := make([]storedRollup, 0, n)
	for rows.Next() {
		var r storedRollup
		err := rows.Scan(&r.minute, &r.hash,
			&r.calls, &r.errors, &r.errorsByCategory, &r.unpriced, &r.unknownUsage, &r.streams,
			&r.tokens.Input, &r.tokens.CachedInput, &r.tokens.CacheWrite, &r.tokens.Output, &r.tokens.Reasoning, &r.costNanos,
			&r.latencySum, &r.latencyMax, &r.latencyBins, &r.latencyHist, &r.ttftSum, &r.ttftMax, &r.ttftBins, &r.ttftHist,
			&r.streamOutput, &r.streamLatency)
		if err != nil {
			return nil, err
		}
		stored = append(stored, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return stored, nil
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
// minute and series hash, the order in which PostgreSQL sorts the rollups'
// key.
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
