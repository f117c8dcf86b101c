package usage

import (
	"context"
	"errors"
	"time"

	"github.com/aimeter/aimeter/errmon"
)

// Errors returned by stores and the tracker.
var (
	// ErrClosed is returned when a store or tracker is used after Close.
	ErrClosed = errors.New("usage: closed")
	// ErrInvalidRecord is returned, wrapped with the reason, when a store is
	// given a record it cannot keep.
	ErrInvalidRecord = errors.New("usage: invalid record")
)

// Store keeps records and the per-minute rollups that analytics reads.
//
// Implementations must be safe for concurrent use. Write must not keep the
// records slice after it returns. Close releases resources; calls after
// Close return ErrClosed.
type Store interface {
	// Write stores a batch of records. When ctx carries a BatchID (see
	// BatchIDFrom) that the store has already committed, Write may return
	// nil without storing the batch again.
	Write(ctx context.Context, records []Record) error
	// Rollups returns the aggregates of every series for each minute whose
	// start lies in [since, until), in no particular order.
	Rollups(ctx context.Context, since, until time.Time) ([]Rollup, error)
	// Recent returns up to limit of the newest records, newest first:
	// by write order or by Time, as the store keeps them. A limit of zero
	// or less returns none.
	Recent(ctx context.Context, limit int) ([]Record, error)
	// Retention is how far back the store keeps rollups.
	Retention() time.Duration
	// Close releases the store.
	Close() error
}

// Series names one line of a breakdown: the calls of one caller key to one
// endpoint, one model of one provider and one operation.
type Series struct {
	Endpoint  string
	Provider  string
	Model     string
	Operation string
	// Key is the caller's key (Call.Key); empty when calls carry none.
	Key string
}

// SeriesOf returns the series a record belongs to.
func SeriesOf(r *Record) Series {
	return Series{Endpoint: r.Call.Endpoint, Provider: r.Call.Provider, Model: r.Call.Model, Operation: r.Call.Operation, Key: r.Call.Key}
}

// Rollup is the aggregate of one series over one bucket of time.
type Rollup struct {
	// Start is the start of the bucket, in UTC.
	Start time.Time
	// Width is the bucket's length.
	Width time.Duration
	// Series names the calls aggregated.
	Series Series
	// Stats holds the aggregate.
	Stats Stats
}

// Stats aggregates a set of calls. The zero value is an empty aggregate.
// Stats is not safe for concurrent use.
type Stats struct {
	// Calls counts every call, failed ones included.
	Calls int64
	// Errors counts calls that failed for any reason except cancellation
	// by the caller.
	Errors int64
	// ErrorsByCategory counts failed calls, canceled ones included, by
	// category. It is nil when there were none.
	ErrorsByCategory map[errmon.Category]int64
	// UnpricedCalls counts calls with known usage to a model missing from
	// the price table; their cost is not in CostNanos.
	UnpricedCalls int64
	// UnknownUsageCalls counts calls whose usage the response did not carry.
	UnknownUsageCalls int64
	// StreamCalls counts streamed calls.
	StreamCalls int64
	// StreamOutputTokens sums the output tokens of streamed calls with
	// known usage. Divided by StreamLatency it gives the stream speed.
	StreamOutputTokens int64
	// StreamLatency sums the latencies of streamed calls with known usage,
	// the same calls StreamOutputTokens counts.
	StreamLatency time.Duration
	// Tokens sums the tokens of calls with known usage.
	Tokens Tokens
	// CostNanos sums the cost of priced calls, in nano-dollars.
	CostNanos int64
	// Latency is the distribution of call latencies.
	Latency Histogram
	// TTFT is the distribution of times to first token of streamed calls.
	TTFT Histogram
}

// Add folds one record into s.
func (s *Stats) Add(r *Record) {
	s.Calls++
	if r.Error != "" {
		if r.Error.IsProviderFailure() {
			s.Errors++
		}
		if s.ErrorsByCategory == nil {
			s.ErrorsByCategory = make(map[errmon.Category]int64, 2)
		}
		s.ErrorsByCategory[r.Error]++
	}
	switch {
	case !r.UsageKnown:
		s.UnknownUsageCalls++
	case !r.Priced:
		s.UnpricedCalls++
		s.Tokens = s.Tokens.Add(r.Tokens)
	default:
		s.Tokens = s.Tokens.Add(r.Tokens)
		s.CostNanos += r.CostNanos
	}
	s.Latency.Record(r.Latency)
	if r.Stream {
		s.StreamCalls++
		if r.UsageKnown {
			s.StreamOutputTokens += r.Tokens.Output
			s.StreamLatency += r.Latency
		}
		if r.TTFT > 0 {
			s.TTFT.Record(r.TTFT)
		}
	}
}

// Merge adds the aggregate o into s.
func (s *Stats) Merge(o *Stats) {
	s.Calls += o.Calls
	s.Errors += o.Errors
	for c, n := range o.ErrorsByCategory {
		if s.ErrorsByCategory == nil {
			s.ErrorsByCategory = make(map[errmon.Category]int64, len(o.ErrorsByCategory))
		}
		s.ErrorsByCategory[c] += n
	}
	s.UnpricedCalls += o.UnpricedCalls
	s.UnknownUsageCalls += o.UnknownUsageCalls
	s.StreamCalls += o.StreamCalls
	s.StreamOutputTokens += o.StreamOutputTokens
	s.StreamLatency += o.StreamLatency
	s.Tokens = s.Tokens.Add(o.Tokens)
	s.CostNanos += o.CostNanos
	s.Latency.Merge(&o.Latency)
	s.TTFT.Merge(&o.TTFT)
}

// Clone returns a deep copy of s with compact histograms.
func (s *Stats) Clone() Stats {
	c := *s
	if s.ErrorsByCategory != nil {
		c.ErrorsByCategory = make(map[errmon.Category]int64, len(s.ErrorsByCategory))
		for k, v := range s.ErrorsByCategory {
			c.ErrorsByCategory[k] = v
		}
	}
	c.Latency = s.Latency.Clone()
	c.TTFT = s.TTFT.Clone()
	return c
}

// RecordsSince returns the records whose Time is at or after cutoff, for
// stores that drop what is past their retention before writing. It returns
// records itself when it drops none and never changes the caller's slice.
func RecordsSince(records []Record, cutoff time.Time) []Record {
	first := -1
	for i := range records {
		if records[i].Time.Before(cutoff) {
			first = i
			break
		}
	}
	if first < 0 {
		return records
	}

	kept := append(make([]Record, 0, len(records)-1), records[:first]...)
	for i := first + 1; i < len(records); i++ {
		if !records[i].Time.Before(cutoff) {
			kept = append(kept, records[i])
		}
	}
	return kept
}
