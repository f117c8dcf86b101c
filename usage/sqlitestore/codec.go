package sqlitestore

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
)

// decodeBins decodes a histogram that usage.EncodeBins encoded, with an
// error wrapping ErrCorrupt when it is invalid.
func decodeBins(b []byte) ([]usage.Bin, error) {
	bins, err := usage.DecodeBins(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return bins, nil
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
