package promexport

import (
	"sync/atomic"

	"github.com/aimeter/aimeter/errmon"
	"github.com/aimeter/aimeter/usage"
	"github.com/prometheus/client_golang/prometheus"
)

// maxCachedCallKeys bounds the cache from a call's raw label values to its
// series, so that a stream of invented model names or keys cannot grow
// memory without limit. Calls with raw values that did not fit still count
// correctly but take the locked path.
const maxCachedCallKeys = 10000

// callKey holds the raw label values of a call, before the caps apply.
type callKey struct {
	endpoint, operation, provider, model, key string
}

// seriesKey holds the exported label values of a series, after the caps.
type seriesKey callKey

// histKey holds the label values that the histograms share.
type histKey struct {
	operation, provider, model string
}

// series holds the counters of one label set of the aimeter_* call
// counters. Collect reads them into const metrics.
type series struct {
	labels []string // values in the order of the descriptors' labels

	calls        atomic.Int64
	unpriced     atomic.Int64
	unknownUsage atomic.Int64
	costNanos    atomic.Int64
	tokens       [numTokenTypes]atomic.Int64
	errors       []atomic.Int64 // indexed like errmon.Categories

	hist *histSet
}

// histSet holds the histogram children of one operation, provider and
// model, shared by every series with those labels. Each child is created
// on its first observation, so that a model that never streams exports no
// empty time-to-first-chunk histogram.
type histSet struct {
	duration       lazyObserver
	durationErrors []lazyObserver // indexed like errmon.Categories
	tokensIn       lazyObserver
	tokensOut      lazyObserver
	ttft           lazyObserver
}

func newHistSet(m *metrics, k histKey) *histSet {
	h := &histSet{durationErrors: make([]lazyObserver, len(errmon.Categories))}
	h.duration.init(m.duration, k.operation, k.provider, k.model, "")
	for i, c := range errmon.Categories {
		h.durationErrors[i].init(m.duration, k.operation, k.provider, k.model, string(c))
	}
	h.tokensIn.init(m.tokenUsage, k.operation, k.provider, k.model, tokenInput)
	h.tokensOut.init(m.tokenUsage, k.operation, k.provider, k.model, tokenOutput)
	h.ttft.init(m.ttft, k.operation, k.provider, k.model)
	return h
}

// lazyObserver is a histogram child resolved on first use. Resolving it
// once keeps the label hashing of HistogramVec off the hot path.
type lazyObserver struct {
	p      atomic.Pointer[prometheus.Observer]
	vec    *prometheus.HistogramVec
	values []string
}

func (l *lazyObserver) init(vec *prometheus.HistogramVec, values ...string) {
	l.vec, l.values = vec, values
}

// observe records v, creating the child first if needed. Two goroutines may
// both resolve it, which is harmless because WithLabelValues returns the
// same child to both.
func (l *lazyObserver) observe(v float64) {
	if o := l.p.Load(); o != nil {
		(*o).Observe(v)
		return
	}
	o := l.vec.WithLabelValues(l.values...)
	l.p.Store(&o)
	o.Observe(v)
}

// unknownIndex is the index of errmon.Unknown in errmon.Categories.
var unknownIndex = func() int {
	for i, c := range errmon.Categories {
		if c == errmon.Unknown {
			return i
		}
	}
	panic("promexport: errmon.Categories lacks errmon.Unknown")
}()

// categoryIndex returns the index of c in errmon.Categories. A category
// outside the list, which errmon.Classify never returns, counts as Unknown.
func categoryIndex(c errmon.Category) int {
	for i, known := range errmon.Categories {
		if known == c {
			return i
		}
	}
	return unknownIndex
}

// boundedSet admits up to max distinct values and maps later ones to
// OverflowLabelValue. It is not safe for concurrent use.
type boundedSet struct {
	max  int
	seen map[string]struct{}
}

func newBoundedSet(max int) *boundedSet {
	return &boundedSet{max: max, seen: make(map[string]struct{})}
}

// bound returns v when it is admitted and OverflowLabelValue otherwise.
func (b *boundedSet) bound(v string) string {
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return OverflowLabelValue
	}
	b.seen[v] = struct{}{}
	return v
}

// operationName returns the GenAI semantic-convention name of an aimeter
// operation: usage.OperationCompletion, the legacy completions API, is
// text_completion there. Other names are already the conventions' names
// (chat, embeddings) or have none (image), and pass through.
func operationName(op string) string {
	if op == usage.OperationCompletion {
		return "text_completion"
	}
	return op
}
