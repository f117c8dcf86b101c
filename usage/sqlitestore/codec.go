package sqlitestore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// binsVersion is the first byte of an encoded histogram.
const binsVersion = 1

// encodeBins encodes the non-empty buckets of a histogram, in increasing
// order of value. The blob is a version byte and the number of buckets,
// then for each bucket its lowest value in microseconds minus the previous
// bucket's, and its count. Numbers are unsigned varints. An empty
// histogram is an empty blob.
func encodeBins(bins []usage.Bin) []byte {
	if len(bins) == 0 {
		return []byte{}
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(bins)*4)
	b = append(b, binsVersion)
	b = binary.AppendUvarint(b, uint64(len(bins)))
	var prev int64
	for _, bin := range bins {
		b = binary.AppendUvarint(b, uint64(bin.Micros-prev))
		b = binary.AppendUvarint(b, uint64(bin.Count))
		prev = bin.Micros
	}
	return b
}

// decodeBins decodes what encodeBins encoded.
func decodeBins(b []byte) ([]usage.Bin, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != binsVersion {
		return nil, fmt.Errorf("%w: histogram encoding version %d, want %d", ErrCorrupt, b[0], binsVersion)
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad histogram bucket count", ErrCorrupt)
	}
	b = b[k:]
	bins := make([]usage.Bin, n)
	var prev int64
	for i := range bins {
		delta, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return nil, fmt.Errorf("%w: histogram bucket %d truncated", ErrCorrupt, i)
		}
		count, k2 := binary.Uvarint(b[k1:])
		next := prev + int64(delta)
		if k2 <= 0 || count == 0 || count > math.MaxInt64 || delta > math.MaxInt64 || next < prev || (i > 0 && delta == 0) {
			return nil, fmt.Errorf("%w: histogram bucket %d invalid", ErrCorrupt, i)
		}
		b = b[k1+k2:]
		prev = next
		bins[i] = usage.Bin{Micros: prev, Count: int64(count)}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the histogram", ErrCorrupt, len(b))
	}
	return bins, nil
}

// mergeBins returns the buckets of a and b, both in increasing order of
// value, with the counts of equal buckets added.
func mergeBins(a, b []usage.Bin) []usage.Bin {
	out := make([]usage.Bin, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0].Micros < b[0].Micros:
			out, a = append(out, a[0]), a[1:]
		case a[0].Micros > b[0].Micros:
			out, b = append(out, b[0]), b[1:]
		default:
			out = append(out, usage.Bin{Micros: a[0].Micros, Count: a[0].Count + b[0].Count})
			a, b = a[1:], b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// encodeLabels encodes labels as a JSON object, or NULL when there are
// none. validateRecord has checked that every string is valid UTF-8, which
// JSON keeps exactly.
func encodeLabels(labels map[string]string) (any, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func decodeLabels(s *string) (map[string]string, error) {
	if s == nil {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(*s), &m); err != nil {
		return nil, fmt.Errorf("%w: labels: %v", ErrCorrupt, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func encodeCounts(m map[errmon.Category]int64) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func decodeCounts(s *string) (map[errmon.Category]int64, error) {
	if s == nil {
		return nil, nil
	}
	var m map[errmon.Category]int64
	if err := json.Unmarshal([]byte(*s), &m); err != nil {
		return nil, fmt.Errorf("%w: errors by category: %v", ErrCorrupt, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// Times a record may carry: Unix nanoseconds in an int64 reach from 1678
// to 2262.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// validateRecord reports why the store cannot keep r. It applies
// usage.ValidateRecord and adds what SQLite needs: a time that Unix
// nanoseconds can hold, and strings of valid UTF-8, which the JSON of the
// labels would otherwise change.
func validateRecord(r *usage.Record) error {
	if err := usage.ValidateRecord(r); err != nil {
		return err
	}
	if r.Time.Before(minTime) || r.Time.After(maxTime) {
		return fmt.Errorf("%w: time %v outside the years 1678 to 2262", usage.ErrInvalidRecord, r.Time)
	}

	fields := []struct{ name, value string }{
		{"Call.Endpoint", r.Call.Endpoint},
		{"Call.Provider", r.Call.Provider},
		{"Call.Model", r.Call.Model},
		{"Call.Operation", r.Call.Operation},
		{"Call.Key", r.Call.Key},
		{"ResponseModel", r.ResponseModel},
		{"Error", string(r.Error)},
	}
	for _, f := range fields {
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("%w: %s is not valid UTF-8", usage.ErrInvalidRecord, f.name)
		}
	}
	for k, v := range r.Call.Labels {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("%w: label %q is not valid UTF-8", usage.ErrInvalidRecord, k)
		}
	}
	return nil
}
