package sqlitestore

import (
	"errors"
	"testing"

	"github.com/aimeter/aimeter/usage"
)

func TestDecodeBinsWrapsErrCorrupt(t *testing.T) {
	_, err := decodeBins([]byte{9, 1, 5, 1})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("decodeBins of an unknown version = %v, want ErrCorrupt", err)
	}
	if !errors.Is(err, usage.ErrInvalidBins) {
		t.Errorf("decodeBins of an unknown version = %v, want usage.ErrInvalidBins", err)
	}
}
