package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// streamSums are the stream sums of usage.Stats.
type streamSums struct {
	output  int64
	latency time.Duration
}

// testStreamSums writes streamed and unstreamed calls of one series into
// the same minutes, in two batches so that the second merges into rows the
// first created. It checks the stream sums of the minute rollups and of
// usage.ReadRollups in buckets of one minute, 15 minutes and one hour.
// Only streamed calls with known usage count, failed ones included.
func testStreamSums(t *testing.T, st *suite) {
	s := st.openStore(t, 0)
	chat := usage.Call{Endpoint: "/api/ai/chat", Provider: "openai", Model: "gpt-4o", Operation: "chat"}
	embed := usage.Call{Endpoint: "/api/ai/embed", Provider: "openai", Model: "gpt-4o-mini", Operation: "embeddings"}
	call := func(c usage.Call, at time.Duration, stream, known bool, output int64, latency time.Duration) usage.Record {
		r := usage.Record{Time: base.Add(at), Call: c, Stream: stream, UsageKnown: known, Latency: latency}
		if known {
			r.Tokens = usage.Tokens{Input: 10, Output: output}
		}
		return r
	}
	failedStream := call(chat, time.Minute+40*time.Second, true, true, 20, 300*time.Millisecond)
	failedStream.Error = errmon.RateLimited

	first := []usage.Record{
		call(chat, time.Minute+5*time.Second, true, true, 100, time.Second+7),
		call(chat, time.Minute+10*time.Second, false, true, 900, 2*time.Second),
		call(chat, time.Minute+20*time.Second, true, false, 0, 5*time.Second),
	}
	second := []usage.Record{
		failedStream,
		call(chat, 2*time.Minute, true, true, 50, 500*time.Millisecond+123),
		call(embed, 2*time.Minute+time.Second, false, true, 70, time.Second),
		call(chat, 16*time.Minute, true, true, 30, 250*time.Millisecond),
	}
	write(t, s, first)
	write(t, s, second)

	chatSeries, embedSeries := usage.SeriesOf(&first[0]), usage.SeriesOf(&second[2])
	minute := map[bucketKey]streamSums{
		{base.Add(time.Minute).Unix(), chatSeries}:      {120, 1300*time.Millisecond + 7},
		{base.Add(2 * time.Minute).Unix(), chatSeries}:  {50, 500*time.Millisecond + 123},
		{base.Add(2 * time.Minute).Unix(), embedSeries}: {0, 0},
		{base.Add(16 * time.Minute).Unix(), chatSeries}: {30, 250 * time.Millisecond},
	}
	quarter := map[bucketKey]streamSums{
		{base.Unix(), chatSeries}:                       {170, 1800*time.Millisecond + 130},
		{base.Unix(), embedSeries}:                      {0, 0},
		{base.Add(15 * time.Minute).Unix(), chatSeries}: {30, 250 * time.Millisecond},
	}
	hour := map[bucketKey]streamSums{
		{base.Unix(), chatSeries}:  {200, 2050*time.Millisecond + 130},
		{base.Unix(), embedSeries}: {0, 0},
	}

	since, until := base.Add(-time.Hour), base.Add(2*time.Hour)
	checkStreamSums(t, "Rollups", mergeByBucket(rollups(t, s, since, until), time.Minute), minute)
	for _, c := range []struct {
		bucket time.Duration
		want   map[bucketKey]streamSums
	}{
		{time.Minute, minute},
		{15 * time.Minute, quarter},
		{time.Hour, hour},
	} {
		got, err := usage.ReadRollups(context.Background(), s, since, until, c.bucket)
		if err != nil {
			t.Fatalf("ReadRollups(bucket %v): %v", c.bucket, err)
		}
		checkStreamSums(t, fmt.Sprintf("ReadRollups(bucket %v)", c.bucket), mergeByBucket(got, c.bucket), c.want)
	}
	checkWideRows(t, s, since, until)
}

// checkStreamSums compares the stream sums of got with want, bucket by
// bucket.
func checkStreamSums(t *testing.T, where string, got map[bucketKey]*usage.Stats, want map[bucketKey]streamSums) {
	t.Helper()
	for k, w := range want {
		at := fmt.Sprintf("%s: bucket %s %s", where, time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.series.Model)
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing", at)
			continue
		}
		if g.StreamOutputTokens != w.output {
			t.Errorf("%s: StreamOutputTokens = %d, want %d", at, g.StreamOutputTokens, w.output)
		}
		if g.StreamLatency != w.latency {
			t.Errorf("%s: StreamLatency = %v, want %v", at, g.StreamLatency, w.latency)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d buckets, want %d", where, len(got), len(want))
	}
}
