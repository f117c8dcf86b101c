package usage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrInvalidBins is returned, wrapped with the reason, by DecodeBins when
// its input is not an encoding that EncodeBins produced.
var ErrInvalidBins = errors.New("usage: invalid histogram encoding")

// binsVersion is the first byte of an encoded histogram.
const binsVersion = 1

// EncodeBins returns the compact form of a histogram's buckets, which must
// be in strictly increasing order of value with positive counts, as
// Histogram.Bins returns them. The form is a version byte and the number
// of buckets, then for each bucket its lowest value in microseconds minus
// the previous bucket's, and its count. Numbers are unsigned varints, so a
// bucket of a typical latency takes 3 to 4 bytes. No buckets encode as an
// empty slice. The SQLite and PostgreSQL stores keep histograms in this
// form.
func EncodeBins(bins []Bin) []byte {
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

// DecodeBins returns the buckets that EncodeBins encoded into b. An empty
// b holds no buckets. Input that does not decode into buckets in strictly
// increasing order with positive counts fails with an error wrapping
// ErrInvalidBins.
func DecodeBins(b []byte) ([]Bin, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != binsVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrInvalidBins, b[0], binsVersion)
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: invalid bucket count", ErrInvalidBins)
	}
	b = b[k:]
	bins := make([]Bin, n)
	var prev int64
	for i := range bins {
		delta, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return nil, fmt.Errorf("%w: bucket %d truncated", ErrInvalidBins, i)
		}
		count, k2 := binary.Uvarint(b[k1:])
		next := prev + int64(delta)
		if k2 <= 0 || count == 0 || count > math.MaxInt64 || delta > math.MaxInt64 || next < prev || (i > 0 && delta == 0) {
			return nil, fmt.Errorf("%w: bucket %d invalid", ErrInvalidBins, i)
		}
		b = b[k1+k2:]
		prev = next
		bins[i] = Bin{Micros: prev, Count: int64(count)}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last bucket", ErrInvalidBins, len(b))
	}
	return bins, nil
}

// MergeBins returns the buckets of a and b, both in strictly increasing
// order of value, with the counts of equal buckets added. It changes
// neither input.
func MergeBins(a, b []Bin) []Bin { return mergeSortedBins(a, b) }
