package usage

import (
	"errors"
	"fmt"
	"testing"
)

func TestBinsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		bins []Bin
	}{
		{"empty", nil},
		{"one", []Bin{{Micros: 1, Count: 1}}},
		{"zero value first", []Bin{{Micros: 0, Count: 3}, {Micros: 1, Count: 1}}},
		{"wide range", []Bin{{Micros: 12, Count: 1}, {Micros: 3_600_000_000, Count: 1 << 50}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBins(EncodeBins(tt.bins))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.bins) && len(got)+len(tt.bins) > 0 {
				t.Errorf("DecodeBins(EncodeBins(%v)) = %v", tt.bins, got)
			}
		})
	}
}

func TestDecodeBinsRejectsDamage(t *testing.T) {
	good := EncodeBins([]Bin{{Micros: 5, Count: 2}, {Micros: 9, Count: 1}})
	tests := []struct {
		name string
		blob []byte
	}{
		{"unknown version", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"zero count", []byte{binsVersion, 1, 5, 0}},
		{"repeated bucket", []byte{binsVersion, 2, 5, 1, 0, 1}},
		{"count larger than the blob", []byte{binsVersion, 100, 5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeBins(tt.blob); !errors.Is(err, ErrInvalidBins) {
				t.Errorf("DecodeBins(%x) = %v, want ErrInvalidBins", tt.blob, err)
			}
		})
	}
}

func TestMergeBins(t *testing.T) {
	a := []Bin{{Micros: 1, Count: 2}, {Micros: 5, Count: 1}}
	b := []Bin{{Micros: 1, Count: 3}, {Micros: 3, Count: 4}, {Micros: 9, Count: 1}}
	got := MergeBins(a, b)
	want := []Bin{{Micros: 1, Count: 5}, {Micros: 3, Count: 4}, {Micros: 5, Count: 1}, {Micros: 9, Count: 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("MergeBins = %v, want %v", got, want)
	}
}

func FuzzDecodeBins(f *testing.F) {
	f.Add(EncodeBins([]Bin{{Micros: 5, Count: 2}, {Micros: 9, Count: 1}}))
	f.Add([]byte{binsVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, blob []byte) {
		bins, err := DecodeBins(blob)
		if err != nil {
			return
		}
		// Whatever decodes must survive another round trip unchanged.
		again, err := DecodeBins(EncodeBins(bins))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(bins) {
			t.Errorf("DecodeBins(%x) = %v, and after a round trip %v, %v", blob, bins, again, err)
		}
	})
}
