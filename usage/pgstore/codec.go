package pgstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// seriesHash returns the SHA-256 of the series' strings, each preceded by
// its length, so that the rollups key stays 32 bytes however long the
// strings are. A B-tree entry in PostgreSQL holds at most about 2.7 KB.
func seriesHash(se *usage.Series) []byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, s := range []string{se.Endpoint, se.Provider, se.Model, se.Operation, se.Key} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	return h.Sum(nil)
}

// decodeBins decodes a histogram that usage.EncodeBins encoded, with an
// error wrapping ErrCorrupt when it is invalid.
func decodeBins(b []byte) ([]usage.Bin, error) {
	bins, err := usage.DecodeBins(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return bins, nil
}

// unflattenBins reads a histogram as version 1 of the schema kept it in
// bigint[]: pairs of lowest value in microseconds and count.
func unflattenBins(pairs []int64) ([]usage.Bin, error) {
	if len(pairs)%2 != 0 {
		return nil, fmt.Errorf("%w: histogram has %d values, want pairs", ErrCorrupt, len(pairs))
	}
	bins := make([]usage.Bin, len(pairs)/2)
	for i := range bins {
		bins[i] = usage.Bin{Micros: pairs[2*i], Count: pairs[2*i+1]}
		if bins[i].Count <= 0 {
			return nil, fmt.Errorf("%w: histogram bucket %d has count %d", ErrCorrupt, i, bins[i].Count)
		}
	}
	return bins, nil
}

// encodeLabels encodes labels as JSON, or returns nil for SQL NULL when
// there are none.
func encodeLabels(labels map[string]string) ([]byte, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	return json.Marshal(labels)
}

func decodeLabels(b []byte) (map[string]string, error) {
	if b == nil {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: labels: %v", ErrCorrupt, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func encodeCounts(m map[errmon.Category]int64) ([]byte, error) {
	if len(m) == 0 {
		return []byte("{}"), nil
	}
	return json.Marshal(m)
}

func decodeCounts(b []byte) (map[errmon.Category]int64, error) {
	if string(b) == "{}" {
		return nil, nil
	}
	var m map[errmon.Category]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: errors by category: %v", ErrCorrupt, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// validateRecord reports why the store cannot keep r. It applies
// usage.ValidateRecord and adds what PostgreSQL needs: text of valid UTF-8
// without NUL bytes, which the text and jsonb types cannot hold.
func validateRecord(r *usage.Record) error {
	if err := usage.ValidateRecord(r); err != nil {
		return err
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
		if problem := checkText(f.value); problem != "" {
			return fmt.Errorf("%w: %s %s", usage.ErrInvalidRecord, f.name, problem)
		}
	}
	for k, v := range r.Call.Labels {
		if problem := checkText(k); problem != "" {
			return fmt.Errorf("%w: a label name %s", usage.ErrInvalidRecord, problem)
		}
		if problem := checkText(v); problem != "" {
			return fmt.Errorf("%w: label %q %s", usage.ErrInvalidRecord, k, problem)
		}
	}
	return nil
}

// checkText returns why PostgreSQL text cannot hold s, or "".
func checkText(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL byte, which PostgreSQL text cannot store"
	}
	return ""
}

// ceilSecond returns t rounded up to a whole second, in UTC. A minute
// starts on a whole second, so the minutes that start at or after t are
// those that start at or after ceilSecond(t); PostgreSQL, which keeps
// microseconds, would otherwise round t down.
func ceilSecond(t time.Time) time.Time {
	c := t.Truncate(time.Second)
	if c.Before(t) {
		c = c.Add(time.Second)
	}
	return c.UTC()
}
