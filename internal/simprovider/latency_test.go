package simprovider

import (
	"math/rand"
	"sort"
	"testing"
	"time"
)

func TestFixed(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewSource(1))
	for _, d := range []time.Duration{0, time.Millisecond, time.Minute} {
		if got := Fixed(d).Draw(r); got != d {
			t.Errorf("Fixed(%v).Draw = %v, want %v", d, got, d)
		}
	}
}

func TestLogNormalQuantiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		median, p99 time.Duration
	}{
		{name: "demo default", median: 150 * time.Millisecond, p99: time.Second},
		{name: "narrow", median: 10 * time.Millisecond, p99: 12 * time.Millisecond},
		{name: "constant", median: 50 * time.Millisecond, p99: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 20000
			r := rand.New(rand.NewSource(42))
			l := LogNormal(tt.median, tt.p99)
			draws := make([]time.Duration, n)
			for i := range draws {
				draws[i] = l.Draw(r)
			}
			sort.Slice(draws, func(i, j int) bool { return draws[i] < draws[j] })

			// With 20000 draws the sample median is within a few percent
			// and the sample p99 within about ten percent.
			checkNear(t, "median", draws[n/2], tt.median, 0.05)
			checkNear(t, "p99", draws[n*99/100], tt.p99, 0.12)
		})
	}
}

func checkNear(t *testing.T, name string, got, want time.Duration, tolerance float64) {
	t.Helper()
	diff := float64(got-want) / float64(want)
	if diff < -tolerance || diff > tolerance {
		t.Errorf("%s = %v, want %v within %.0f%%", name, got, want, tolerance*100)
	}
}

func TestLatencyPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		make func()
	}{
		{name: "negative fixed", make: func() { Fixed(-time.Second) }},
		{name: "zero median", make: func() { LogNormal(0, time.Second) }},
		{name: "p99 below median", make: func() { LogNormal(time.Second, time.Millisecond) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", tt.name)
				}
			}()
			tt.make()
		})
	}
}

func TestSpikeAddsLatencyDuringItsPeriod(t *testing.T) {
	sp := Spike{Every: time.Minute, Length: 10 * time.Second, Extra: 500 * time.Millisecond}
	base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 500 * time.Millisecond},
		{9 * time.Second, 500 * time.Millisecond},
		{10 * time.Second, 0},
		{59 * time.Second, 0},
		{60 * time.Second, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := sp.extraAt(base.Add(tt.at)); got != tt.want {
			t.Errorf("extra at +%v = %v, want %v", tt.at, got, tt.want)
		}
	}
	if got := (Spike{}).extraAt(base); got != 0 {
		t.Errorf("zero Spike adds %v, want 0", got)
	}
}
