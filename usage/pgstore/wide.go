package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aimeter/aimeter/usage"
)

// wideWidth is one width of wide rollups and the table that keeps them.
type wideWidth struct {
	width time.Duration
	table string
}

// wideWidths are the wide rollups the store keeps, in increasing order of
// width. A 24-hour window read in buckets of 15 minutes or more touches 96
// rows per series instead of 1,440. A table of hourly rollups would cut
// that to 24 for buckets of an hour or more, but maintaining it costs
// every write as much as the 15-minute table does.
var wideWidths = []wideWidth{
	{15 * time.Minute, "aimeter_rollups_15m"},
}

var _ usage.WideRollupStore = (*Store)(nil)

// wideRollupsMigrationSQL creates the tables of the wide rollups and fills
// them from the minute rollups. The tables have the columns of
// aimeter_rollups, with start in place of minute and without the bigint[]
// histograms of version 1. A toast_tuple_target of 8160 bytes keeps rows
// of up to about 2,000 histogram buckets in the table's own page, where
// the default of 2 KB would compress them and move them to the TOAST
// table on every update.
var wideRollupsMigrationSQL = func() string {
	var b bytes.Buffer
	for _, w := range wideWidths {
		fmt.Fprintf(&b, `
CREATE TABLE IF NOT EXISTS %s (
	start               timestamptz NOT NULL,  -- a multiple of the width since the Unix epoch
	series_hash         bytea       NOT NULL,
	endpoint            text        NOT NULL,
	provider            text        NOT NULL,
	model               text        NOT NULL,
	operation           text        NOT NULL,
	caller_key          text        NOT NULL,
	calls               bigint      NOT NULL,
	errors              bigint      NOT NULL,
	errors_by_category  jsonb       NOT NULL,
	unpriced_calls      bigint      NOT NULL,
	unknown_usage_calls bigint      NOT NULL,
	stream_calls        bigint      NOT NULL,
	input_tokens        bigint      NOT NULL,
	cached_input_tokens bigint      NOT NULL,
	cache_write_tokens  bigint      NOT NULL,
	output_tokens       bigint      NOT NULL,
	reasoning_tokens    bigint      NOT NULL,
	cost_nanos          bigint      NOT NULL,
	latency_sum_ns      bigint      NOT NULL,
	latency_max_ns      bigint      NOT NULL,
	latency_hist        bytea       NOT NULL,
	ttft_sum_ns         bigint      NOT NULL,
	ttft_max_ns         bigint      NOT NULL,
	ttft_hist           bytea       NOT NULL,
	PRIMARY KEY (start, series_hash)
) WITH (toast_tuple_target = 8160);
`, w.table)
	}
	b.WriteString(histogramFunctionsSQL)
	for _, w := range wideWidths {
		b.WriteString(wideRollupsBackfill(w))
	}
	return b.String()
}()

// histogramFunctionsSQL defines the functions that the backfill of the
// wide rollups uses to add up histograms. aimeter_hist_bins reads both
// stored forms of a histogram as rows of (bucket's lowest value in µs,
// count). aimeter_encode_bins encodes buckets in increasing order of value
// as usage.EncodeBins does.
const histogramFunctionsSQL = `
CREATE OR REPLACE FUNCTION aimeter_hist_bins(pairs bigint[], hist bytea) RETURNS TABLE (micros bigint, n bigint)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
	field integer := 0;  -- 0 is the bucket count, then value deltas and counts alternate
	v bigint := 0;
	shift integer := 0;
	prev bigint := 0;
	b integer;
BEGIN
	FOR i IN 1 .. coalesce(array_length(pairs, 1), 0) / 2 LOOP
		micros := pairs[2 * i - 1];
		n := pairs[2 * i];
		RETURN NEXT;
	END LOOP;
	IF length(hist) = 0 THEN
		RETURN;
	END IF;
	IF get_byte(hist, 0) <> 1 THEN
		RAISE EXCEPTION 'aimeter: histogram encoding version %, want 1', get_byte(hist, 0);
	END IF;
	FOR pos IN 1 .. length(hist) - 1 LOOP
		b := get_byte(hist, pos);
		v := v | ((b & 127)::bigint << shift);
		shift := shift + 7;
		IF b < 128 THEN
			IF field > 0 AND field % 2 = 1 THEN
				prev := prev + v;
			ELSIF field > 0 THEN
				micros := prev;
				n := v;
				RETURN NEXT;
			END IF;
			field := field + 1;
			v := 0;
			shift := 0;
		END IF;
	END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION aimeter_uvarint(v bigint) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
	encoded bytea := '';
BEGIN
	LOOP
		IF v < 128 THEN
			RETURN encoded || set_byte('\x00'::bytea, 0, v::integer);
		END IF;
		encoded := encoded || set_byte('\x00'::bytea, 0, ((v & 127) | 128)::integer);
		v := v >> 7;
	END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION aimeter_encode_bins(micros bigint[], counts bigint[]) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
	nb integer := coalesce(array_length(micros, 1), 0);
	encoded bytea := '\x01';
	prev bigint := 0;
BEGIN
	IF nb = 0 THEN
		RETURN ''::bytea;
	END IF;
	encoded := encoded || aimeter_uvarint(nb);
	FOR i IN 1 .. nb LOOP
		encoded := encoded || aimeter_uvarint(micros[i] - prev) || aimeter_uvarint(counts[i]);
		prev := micros[i];
	END LOOP;
	RETURN encoded;
END
$fn$;
`

// wideRollupsBackfill returns the statement that fills the table of w
// from the minute rollups, for the rows it lacks.
func wideRollupsBackfill(w wideWidth) string {
	seconds := int64(w.width / time.Second)
	inWidth := fmt.Sprintf("r.series_hash = g.series_hash AND r.minute >= g.start AND r.minute < g.start + interval '%d seconds'", seconds)
	hist := func(kind string) string {
		return fmt.Sprintf(`(SELECT aimeter_encode_bins(array_agg(b.micros ORDER BY b.micros), array_agg(b.n ORDER BY b.micros))
		FROM (SELECT d.micros, sum(d.n)::bigint AS n
			FROM aimeter_rollups AS r CROSS JOIN LATERAL aimeter_hist_bins(r.%[1]s_bins, r.%[1]s_hist) AS d
			WHERE %[2]s GROUP BY d.micros) AS b)`, kind, inWidth)
	}
	return fmt.Sprintf(`
INSERT INTO %[1]s (start, series_hash, endpoint, provider, model, operation, caller_key,
	calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, latency_hist, ttft_sum_ns, ttft_max_ns, ttft_hist)
SELECT g.start, g.series_hash, g.endpoint, g.provider, g.model, g.operation, g.caller_key,
	g.calls, g.errors,
	(SELECT coalesce(jsonb_object_agg(c.key, c.n), '{}')
		FROM (SELECT e.key, sum(e.value::bigint) AS n
			FROM aimeter_rollups AS r CROSS JOIN LATERAL jsonb_each_text(r.errors_by_category) AS e
			WHERE %[3]s GROUP BY e.key) AS c),
	g.unpriced_calls, g.unknown_usage_calls, g.stream_calls,
	g.input_tokens, g.cached_input_tokens, g.cache_write_tokens, g.output_tokens, g.reasoning_tokens, g.cost_nanos,
	g.latency_sum_ns, g.latency_max_ns, coalesce(%[4]s, ''),
	g.ttft_sum_ns, g.ttft_max_ns, coalesce(%[5]s, '')
FROM (
	SELECT to_timestamp(floor(extract(epoch FROM minute) / %[2]d) * %[2]d) AS start, series_hash,
		min(endpoint) AS endpoint, min(provider) AS provider, min(model) AS model,
		min(operation) AS operation, min(caller_key) AS caller_key,
		sum(calls)::bigint AS calls, sum(errors)::bigint AS errors,
		sum(unpriced_calls)::bigint AS unpriced_calls, sum(unknown_usage_calls)::bigint AS unknown_usage_calls,
		sum(stream_calls)::bigint AS stream_calls,
		sum(input_tokens)::bigint AS input_tokens, sum(cached_input_tokens)::bigint AS cached_input_tokens,
		sum(cache_write_tokens)::bigint AS cache_write_tokens, sum(output_tokens)::bigint AS output_tokens,
		sum(reasoning_tokens)::bigint AS reasoning_tokens, sum(cost_nanos)::bigint AS cost_nanos,
		sum(latency_sum_ns)::bigint AS latency_sum_ns, max(latency_max_ns) AS latency_max_ns,
		sum(ttft_sum_ns)::bigint AS ttft_sum_ns, max(ttft_max_ns) AS ttft_max_ns
	FROM aimeter_rollups
	GROUP BY 1, 2
) AS g
ON CONFLICT (start, series_hash) DO NOTHING;
`, w.table, seconds, inWidth, hist("latency"), hist("ttft"))
}

// streamSumsMigrationSQL adds the stream sums to the minute rollups and to
// the tables of the wide rollups, and fills each wide row that has none
// from the minute rows it spans. On the first run the minute rows hold 0,
// so the fill changes nothing. It matters when the script of MigrationSQL
// runs again after writers of version 5 have added stream sums: a wide row
// that they updated already holds its sums and is left as it is.
var streamSumsMigrationSQL = func() string {
	var b bytes.Buffer
	b.WriteString(`
ALTER TABLE aimeter_rollups
	ADD COLUMN IF NOT EXISTS stream_output_tokens bigint NOT NULL DEFAULT 0,
	ADD COLUMN IF NOT EXISTS stream_latency_ns    bigint NOT NULL DEFAULT 0;
`)
	for _, w := range wideWidths {
		seconds := int64(w.width / time.Second)
		fmt.Fprintf(&b, `
ALTER TABLE %[1]s
	ADD COLUMN IF NOT EXISTS stream_output_tokens bigint NOT NULL DEFAULT 0,
	ADD COLUMN IF NOT EXISTS stream_latency_ns    bigint NOT NULL DEFAULT 0;
UPDATE %[1]s AS w SET
	stream_output_tokens = g.stream_output_tokens,
	stream_latency_ns = g.stream_latency_ns
FROM (
	SELECT to_timestamp(floor(extract(epoch FROM minute) / %[2]d) * %[2]d) AS start, series_hash,
		sum(stream_output_tokens)::bigint AS stream_output_tokens, sum(stream_latency_ns)::bigint AS stream_latency_ns
	FROM aimeter_rollups
	GROUP BY 1, 2
	HAVING sum(stream_output_tokens) <> 0 OR sum(stream_latency_ns) <> 0
) AS g
WHERE w.start = g.start AND w.series_hash = g.series_hash
	AND w.stream_output_tokens = 0 AND w.stream_latency_ns = 0;
`, w.table, seconds)
	}
	return b.String()
}()

// wideStatements are the statements that maintain and read the table of
// one width, as writeBatch and WideRollups run them.
type wideStatements struct {
	insertKeys, lock, update, selectWindow, prune string
}

// wideSQL returns the statements of the table of w, whose rows start at
// the column start and which has no histogram arrays of schema version 1.
func wideSQL(w wideWidth) wideStatements {
	write := rollupStatements(w.table, "start", false)
	return wideStatements{
		insertKeys: write.insertKeys,
		lock:       write.lock,
		update:     write.update,
		selectWindow: fmt.Sprintf(`SELECT start, endpoint, provider, model, operation, caller_key,
	calls, errors, errors_by_category, unpriced_calls, unknown_usage_calls, stream_calls,
	input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nanos,
	latency_sum_ns, latency_max_ns, '{}'::bigint[], latency_hist, ttft_sum_ns, ttft_max_ns, '{}'::bigint[], ttft_hist,
	stream_output_tokens, stream_latency_ns
FROM %s WHERE start >= $1 AND start < $2`, w.table),
		prune: fmt.Sprintf(`DELETE FROM %s WHERE start <= $1`, w.table),
	}
}

// wideStatementsByWidth holds wideSQL of each of wideWidths, in the same
// order.
var wideStatementsByWidth = func() []wideStatements {
	out := make([]wideStatements, len(wideWidths))
	for i, w := range wideWidths {
		out[i] = wideSQL(w)
	}
	return out
}()

// wideDeltas folds the minute deltas of a batch into one delta per start
// of width w and series, sorted by start and series hash as aggregate
// sorts the minute deltas.
func wideDeltas(deltas []rollupDelta, w time.Duration) []rollupDelta {
	type key struct {
		start int64
		hash  string
	}
	index := make(map[key]int, len(deltas))
	var out []rollupDelta
	for i := range deltas {
		d := &deltas[i]
		start := d.minute.Truncate(w)
		k := key{start: start.Unix(), hash: string(d.hash)}
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, rollupDelta{minute: start, hash: d.hash, series: d.series})
		}
		out[j].stats.Merge(&d.stats)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].minute.Equal(out[j].minute) {
			return out[i].minute.Before(out[j].minute)
		}
		return bytes.Compare(out[i].hash, out[j].hash) < 0
	})
	return out
}

// RollupWidths returns the widths of the wide rollups the store keeps:
// 15 minutes.
func (s *Store) RollupWidths() []time.Duration {
	out := make([]time.Duration, len(wideWidths))
	for i, w := range wideWidths {
		out[i] = w.width
	}
	return out
}

// WideRollups returns the rollups of width w, one of RollupWidths, whose
// start lies in [from, until), where from is since or, when later, the
// first multiple of w at or after the retention cutoff. since and until
// must be multiples of w. Each rollup equals the merge of the minute
// rollups it spans.
func (s *Store) WideRollups(ctx context.Context, w time.Duration, since, until time.Time) ([]usage.Rollup, time.Time, error) {
	i := slices.IndexFunc(wideWidths, func(ww wideWidth) bool { return ww.width == w })
	if i < 0 {
		return nil, since, fmt.Errorf("pgstore: wide rollups: width %v is not kept; RollupWidths lists the widths kept", w)
	}
	if !since.Truncate(w).Equal(since) || !until.Truncate(w).Equal(until) {
		return nil, since, fmt.Errorf("pgstore: wide rollups: window [%v, %v) is not aligned to %v", since, until, w)
	}
	if err := s.acquire("wide rollups"); err != nil {
		return nil, since, err
	}
	defer s.mu.RUnlock()

	from := since.UTC()
	cut := s.cutoff()
	if first := cut.Truncate(w); first.Before(cut) {
		cut = first.Add(w)
	}
	if from.Before(cut) {
		from = cut.UTC()
	}
	if !from.Before(until) {
		return nil, until.UTC(), nil
	}

	rows, err := s.pool.Query(ctx, wideStatementsByWidth[i].selectWindow, from, until)
	if err != nil {
		return nil, from, fmt.Errorf("pgstore: wide rollups: %w", err)
	}
	out, err := scanRollups(rows, w)
	if err != nil {
		return nil, from, fmt.Errorf("pgstore: wide rollups: %w", err)
	}
	return out, from, nil
}
