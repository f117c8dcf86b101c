package storetest

import (
	"math/rand"
	"sort"
	"strconv"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// Values the generated records draw their series from. Several series share
// each minute so that a store has to keep them apart.
var (
	endpoints  = []string{"/api/ai/chat", "/api/ai/agent", "/api/ai/embed"}
	providers  = []string{"openai", "simulated"}
	models     = []string{"gpt-4o-mini", "gpt-4o", "o3-mini", "text-embedding-3-small"}
	operations = []string{"chat", "embeddings"}
	keys       = []string{"", "user-1", "tenant-42"}
	categories = []errmon.Category{
		errmon.RateLimited, errmon.QuotaExceeded, errmon.Timeout,
		errmon.Canceled, errmon.Network, errmon.ProviderError, errmon.Unknown,
	}
)

// generateRecords returns n records with times spread over span after
// start, in increasing order of time, drawn from a random source seeded
// with seed. They mix every kind of call a store must count apart: failed,
// canceled, unpriced, unknown usage, streamed with and without a time to
// first token, latencies from zero to beyond the histogram's one-hour
// range, and labels.
func generateRecords(seed int64, n int, start time.Time, span time.Duration) []usage.Record {
	rng := rand.New(rand.NewSource(seed))
	records := make([]usage.Record, n)
	for i := range records {
		records[i] = generateRecord(rng, start.Add(time.Duration(rng.Int63n(int64(span)))))
	}
	sort.SliceStable(records, func(i, j int) bool { return records[i].Time.Before(records[j].Time) })
	return records
}

func generateRecord(rng *rand.Rand, at time.Time) usage.Record {
	model := models[rng.Intn(len(models))]
	r := usage.Record{
		Time: at,
		Call: usage.Call{
			Endpoint:  endpoints[rng.Intn(len(endpoints))],
			Provider:  providers[rng.Intn(len(providers))],
			Model:     model,
			Operation: operations[rng.Intn(len(operations))],
			Key:       keys[rng.Intn(len(keys))],
		},
		Latency: randomLatency(rng),
	}
	if rng.Intn(3) == 0 {
		r.Call.Labels = map[string]string{"region": "eu-" + strconv.Itoa(rng.Intn(3)), "trace": strconv.FormatInt(rng.Int63(), 36)}
	}
	if rng.Intn(2) == 0 {
		r.ResponseModel = model + "-2024-07-18"
	}

	// Usage: known for most calls, and priced for most of those. The
	// cost reaches thousands of dollars so that sums need all 64 bits.
	if rng.Intn(10) > 0 {
		r.UsageKnown = true
		r.Tokens.Input = rng.Int63n(200_000)
		r.Tokens.CachedInput = rng.Int63n(r.Tokens.Input + 1)
		r.Tokens.Output = rng.Int63n(20_000)
		r.Tokens.Reasoning = rng.Int63n(r.Tokens.Output + 1)
		if rng.Intn(4) == 0 {
			r.Tokens.CacheWrite = rng.Int63n(10_000)
		}
		if rng.Intn(5) > 0 {
			r.Priced = true
			r.CostNanos = rng.Int63n(5_000_000_000_000)
		}
	}

	if rng.Intn(3) == 0 {
		r.Stream = true
		r.Chunks = rng.Intn(500)
		if rng.Intn(4) > 0 {
			r.TTFT = time.Duration(rng.Int63n(int64(r.Latency) + 1))
		}
	}

	if rng.Intn(6) == 0 {
		r.Error = categories[rng.Intn(len(categories))]
		r.HTTPStatus = []int{0, 429, 500, 503}[rng.Intn(4)]
	}
	return r
}

// randomLatency draws a latency in nanoseconds, mostly between 10 ms and
// 10 s, sometimes zero, below a microsecond, or longer than one hour.
func randomLatency(rng *rand.Rand) time.Duration {
	switch rng.Intn(20) {
	case 0:
		return 0
	case 1:
		return time.Duration(rng.Int63n(int64(time.Microsecond)))
	case 2:
		return time.Hour + time.Duration(rng.Int63n(int64(2*time.Hour)))
	}
	return 10*time.Millisecond + time.Duration(rng.Int63n(int64(10*time.Second)))
}

// bucketKey names one rollup: a series in the minute that starts at start
// (Unix seconds).
type bucketKey struct {
	start  int64
	series usage.Series
}

// reference folds records into per-minute Stats with Stats.Add, the
// aggregation every store must reproduce.
func reference(records []usage.Record) map[bucketKey]*usage.Stats {
	out := make(map[bucketKey]*usage.Stats)
	for i := range records {
		r := &records[i]
		k := bucketKey{start: r.Time.Truncate(time.Minute).Unix(), series: usage.SeriesOf(r)}
		st, ok := out[k]
		if !ok {
			st = &usage.Stats{}
			out[k] = st
		}
		st.Add(r)
	}
	for _, st := range out {
		compact(st)
	}
	return out
}

// compact turns the histograms of st into their compact form, in which
// reading bins and cloning cost little.
func compact(st *usage.Stats) {
	st.Latency.Compact()
	st.TTFT.Compact()
}

// total merges every Stats of m into one.
func total(m map[bucketKey]*usage.Stats) usage.Stats {
	var s usage.Stats
	for _, st := range m {
		s.Merge(st)
	}
	return s
}

// batches splits records into consecutive batches whose sizes cycle
// through sizes.
func batches(records []usage.Record, sizes ...int) [][]usage.Record {
	var out [][]usage.Record
	for i := 0; len(records) > 0; i++ {
		n := sizes[i%len(sizes)]
		if n > len(records) {
			n = len(records)
		}
		out = append(out, records[:n])
		records = records[n:]
	}
	return out
}
