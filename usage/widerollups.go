package usage

import (
	"context"
	"fmt"
	"time"
)

// WideRollupStore is a Store that also keeps rollups wider than a minute,
// so that a read over a long window touches fewer rows and histograms.
// ReadRollups uses it when a Store implements it.
//
// A wide rollup of width w aggregates the minute rollups of one series
// whose start lies in [Start, Start+w). Every width is a whole number of
// minutes that divides a day, and Start is a multiple of w since the zero
// time.Time, so wide rollups align with UTC days. A wide rollup must equal
// the merge of its minute rollups at every moment a reader can see, late
// records included.
type WideRollupStore interface {
	Store
	// RollupWidths returns the widths of the wide rollups the store keeps,
	// in increasing order. It never includes a minute.
	RollupWidths() []time.Duration
	// WideRollups returns the rollups of width w, one of RollupWidths,
	// whose start lies in [from, until), in no particular order. Both since
	// and until must be multiples of w. from is since, or the first
	// multiple of w at or after the store's retention cutoff when that is
	// later, so that every rollup returned lies wholly within the
	// retention. The minute rollups of [since, from) are for the caller to
	// read.
	WideRollups(ctx context.Context, w time.Duration, since, until time.Time) (rollups []Rollup, from time.Time, err error)
}

// ReadRollups returns the rollups of every series for the minutes whose
// start lies in [since, until), as s.Rollups does, but reads wide rollups
// where s is a WideRollupStore. bucket is the widest span the caller adds
// rollups up over, such as the bucket of a time series; zero or less
// means one minute.
//
// It reads the aligned middle of the window from the widest kept width
// that divides bucket, and the unaligned edges from minute rollups. Each
// rollup returned then lies within one bucket of width bucket starting at
// a multiple of bucket, and the rollups merged by series and bucket equal
// exactly those that minute rollups give. Stores without wide rollups are
// read with s.Rollups alone.
func ReadRollups(ctx context.Context, s Store, since, until time.Time, bucket time.Duration) ([]Rollup, error) {
	ws, ok := s.(WideRollupStore)
	if !ok || !since.Before(until) {
		return s.Rollups(ctx, since, until)
	}
	w := widestDividing(ws.RollupWidths(), bucket)
	if w == 0 {
		return s.Rollups(ctx, since, until)
	}

	// lo is since rounded up to w, and the minutes before it are one
	// edge. hi is until rounded down, and the minutes from hi on are the
	// other edge.
	lo := since.Truncate(w)
	if lo.Before(since) {
		lo = lo.Add(w)
	}
	hi := until.Truncate(w)
	if !lo.Before(hi) {
		return s.Rollups(ctx, since, until)
	}

	wide, from, err := ws.WideRollups(ctx, w, lo, hi)
	if err != nil {
		return nil, err
	}
	if from.Before(lo) || from.After(hi) || from.Sub(lo)%w != 0 {
		return nil, fmt.Errorf("usage: read rollups: WideRollups of [%v, %v) returned from %v, want a multiple of %v in that range", lo, hi, from, w)
	}
	out := wide
	for _, edge := range [][2]time.Time{{since, from}, {hi, until}} {
		if !edge[0].Before(edge[1]) {
			continue
		}
		minutes, err := s.Rollups(ctx, edge[0], edge[1])
		if err != nil {
			return nil, err
		}
		out = append(out, minutes...)
	}
	return out, nil
}

// widestDividing returns the widest of widths that divides bucket into
// whole parts, or 0 when none does.
func widestDividing(widths []time.Duration, bucket time.Duration) time.Duration {
	var best time.Duration
	for _, w := range widths {
		if w > time.Minute && w%time.Minute == 0 && bucket >= w && bucket%w == 0 && (24*time.Hour)%w == 0 && w > best {
			best = w
		}
	}
	return best
}
