package errmon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// capturePCs returns the program counters of a stack depth frames deeper
// than its caller.
//
//go:noinline
func capturePCs(depth int) []uintptr {
	if depth > 0 {
		return capturePCs(depth - 1)
	}
	pcs := make([]uintptr, 2*maxStackDepth)
	return pcs[:runtime.Callers(1, pcs)]
}

func TestCachedFramesMatchResolvedFrames(t *testing.T) {
	t.Parallel()
	for depth := 0; depth < 3*maxStackDepth; depth += 7 {
		pcs := capturePCs(depth)
		want := resolveFrames(append([]uintptr(nil), pcs...))

		first := cachedFrames(pcs)
		second := cachedFrames(pcs)
		assert.Equal(t, want, first, "depth %d, first call", depth)
		assert.Equal(t, want, second, "depth %d, second call", depth)

	}
}

// TestFrameCacheCopiesPCs checks that the cache keeps its own copy of the
// program counters, which the caller may reuse. It does not run in
// parallel, because other tests could evict the entry that it inspects.
func TestFrameCacheCopiesPCs(t *testing.T) {
	pcs := capturePCs(5)
	frames := cachedFrames(pcs)

	i, j := slotsOf(hashPCs(pcs), frameCacheSlots)
	found := false
	for _, slot := range []int{i, j} {
		e := frameCache[slot].Load()
		if e == nil || len(e.frames) == 0 || &e.frames[0] != &frames[0] {
			continue
		}
		found = true
		assert.Equal(t, pcs, e.pcs)
		assert.NotSame(t, &pcs[0], &e.pcs[0], "the entry shares the caller's array")
	}
	assert.True(t, found, "no entry holds the frames")
}

func TestFrameCacheBounded(t *testing.T) {
	t.Parallel()
	base := capturePCs(0)
	for i := 0; i < 4*frameCacheSlots; i++ {
		// Program counters a few bytes apart form distinct stacks.
		pcs := append([]uintptr{base[0] + uintptr(i%8)}, base[1:]...)
		pcs[len(pcs)-1] += uintptr(i / 8)
		require.Equal(t, resolveFrames(append([]uintptr(nil), pcs...)), cachedFrames(pcs), "stack %d", i)
	}
	assert.LessOrEqual(t, countSlots(frameCache[:]), frameCacheSlots)
}

// randomFingerprintKey returns a key from a small set of values, so that
// keys repeat.
func randomFingerprintKey(rng *rand.Rand) fingerprintKey {
	categories := []Category{RateLimited, Auth, Network}
	messages := []string{"Rate limit reached for gpt-4o-mini", "Rate limit reached for gpt-4o", "connection refused", "", "x"}
	functions := []string{"main.a", "main.b", "main.(*Server).chat"}
	stack := make([]Frame, rng.Intn(5))
	for i := range stack {
		stack[i].Function = functions[rng.Intn(len(functions))]
	}
	return newFingerprintKey(categories[rng.Intn(len(categories))], []int{0, 429, 500}[rng.Intn(3)],
		[]string{"", "rate_limit_exceeded"}[rng.Intn(2)], messages[rng.Intn(len(messages))], stack)
}

func TestFingerprintCacheMatchesComputation(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(10))
	cache := newFingerprintCache()
	for i := 0; i < 5000; i++ {
		key := randomFingerprintKey(rng)
		require.Equal(t, computeFingerprint(key, nil), cache.fingerprint(key, nil), "key %+v", key)
	}
}

// TestFingerprintCacheSplitsDeeperFrames checks keys that differ only in
// the frames that the cache's hash leaves out, which share their slots.
func TestFingerprintCacheSplitsDeeperFrames(t *testing.T) {
	t.Parallel()
	cache := newFingerprintCache()
	stack := []Frame{{Function: "main.inner"}, {Function: "main.routeA"}, {Function: "main.serve"}}
	other := []Frame{{Function: "main.inner"}, {Function: "main.routeB"}, {Function: "main.serve"}}
	a := newFingerprintKey(Timeout, 0, "", "deadline exceeded", stack)
	b := newFingerprintKey(Timeout, 0, "", "deadline exceeded", other)

	for i := 0; i < 3; i++ {
		assert.Equal(t, computeFingerprint(a, nil), cache.fingerprint(a, nil), "round %d", i)
		assert.Equal(t, computeFingerprint(b, nil), cache.fingerprint(b, nil), "round %d", i)
	}
	assert.NotEqual(t, cache.fingerprint(a, nil), cache.fingerprint(b, nil))
}

func TestFingerprintCacheBounded(t *testing.T) {
	t.Parallel()
	cache := newFingerprintCache()
	for i := 0; i < 10*fingerprintCacheSlots; i++ {
		key := newFingerprintKey(Unknown, 0, "", fmt.Sprintf("failure %d", i), nil)
		require.Equal(t, computeFingerprint(key, nil), cache.fingerprint(key, nil))
	}
	assert.LessOrEqual(t, countSlots(cache.slots[:]), fingerprintCacheSlots)
}

func TestFingerprintCacheSkipsLongKeys(t *testing.T) {
	t.Parallel()
	cache := newFingerprintCache()
	key := newFingerprintKey(Unknown, 0, "", strings.Repeat("a", maxFingerprintKeyBytes+1), nil)

	for i := 0; i < 2; i++ {
		assert.Equal(t, computeFingerprint(key, nil), cache.fingerprint(key, nil))
	}
	assert.Equal(t, 0, countSlots(cache.slots[:]))
}

func TestFingerprintCacheCopiesText(t *testing.T) {
	t.Parallel()
	cache := newFingerprintCache()
	text := "error text: " + strings.Repeat("x", 1000)
	key := newFingerprintKey(Unknown, 0, text[:5], text[:10], nil)
	cache.fingerprint(key, nil)

	for i := range cache.slots {
		e := cache.slots[i].Load()
		if e == nil {
			continue
		}
		assert.Equal(t, key, e.key)
		textData := uintptr(unsafe.Pointer(unsafe.StringData(text)))
		assert.NotEqual(t, textData, uintptr(unsafe.Pointer(unsafe.StringData(e.key.message))), "message shares memory with the error text")
		assert.NotEqual(t, textData, uintptr(unsafe.Pointer(unsafe.StringData(e.key.code))), "code shares memory with the error text")
	}
	assert.Equal(t, 1, countSlots(cache.slots[:]))
}

func TestFingerprintHookSeesComputedInputs(t *testing.T) {
	t.Parallel()
	m := NewMonitor(Config{})
	var inputs []string
	m.onFingerprintInput = func(input []byte) { inputs = append(inputs, string(input)) }

	var events []Event
	for i := 0; i < 3; i++ {
		for _, err := range []error{errors.New("first failure"), errors.New("second failure")} {
			events = append(events, recordHere(m, err))
		}
	}

	// One input per distinct fingerprint, because repeats come from the
	// cache.
	require.Len(t, inputs, 2)
	for i, ev := range events {
		input := fingerprintInput(ev.Category, ev.HTTPStatus, ev.Code, ev.Message, ev.Stack)
		assert.Equal(t, inputs[i%2], string(input), "event %d", i)
	}
}

//go:noinline
func recordHere(m *Monitor, err error) Event {
	return m.Record(err, CallInfo{})
}

// TestFingerprintIsTruncatedSHA256 pins the fingerprint to the first 16
// bytes of the SHA-256 of fingerprintInput in hex, so that fingerprints
// stay the same from one process, and one version, to the next.
func TestFingerprintIsTruncatedSHA256(t *testing.T) {
	t.Parallel()
	m := NewMonitor(Config{})
	for i := 0; i < 2; i++ {
		ev := recordHere(m, errors.New("upstream failed with 503"))
		sum := sha256.Sum256(fingerprintInput(ev.Category, ev.HTTPStatus, ev.Code, ev.Message, ev.Stack))
		assert.Equal(t, hex.EncodeToString(sum[:16]), ev.Fingerprint, "event %d", i)
	}

	input := "unknown\x000\x00\x00upstream failed with <n>\x00main.f"
	key := newFingerprintKey(Unknown, 0, "", "upstream failed with 503", []Frame{{Function: "main.f"}})
	assert.Equal(t, input, string(key.input()))
	assert.Equal(t, "1fb63bc2451e9ae5bf36ca95284e56f8", computeFingerprint(key, nil))
}

func TestMonitorFingerprintCacheBounded(t *testing.T) {
	t.Parallel()
	m := NewMonitor(Config{})
	for i := 0; i < 10*fingerprintCacheSlots; i++ {
		ev := recordHere(m, fmt.Errorf("failure %c%c", 'a'+i%26, 'a'+i/26%26))
		require.Equal(t, computeFingerprint(newFingerprintKey(ev.Category, ev.HTTPStatus, ev.Code, ev.Message, ev.Stack), nil), ev.Fingerprint)
	}
	assert.LessOrEqual(t, countSlots(m.fingerprints.slots[:]), fingerprintCacheSlots)
}

// TestRecordConcurrentlyFromManyStacks records from goroutines with stacks
// of different depths, which share the frame and fingerprint caches, and
// checks every event against the computation without caches.
func TestRecordConcurrentlyFromManyStacks(t *testing.T) {
	t.Parallel()
	m := NewMonitor(Config{RecentEvents: 1000})
	var wg sync.WaitGroup
	events := make([][]Event, 8)
	for g := range events {
		g := g
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				err := fmt.Errorf("failure %c", 'a'+(g+i)%5)
				events[g] = append(events[g], recordAtDepth(m, err, (g+i)%7))
			}
		}()
	}
	wg.Wait()

	for g := range events {
		for i, ev := range events[g] {
			want := computeFingerprint(newFingerprintKey(ev.Category, ev.HTTPStatus, ev.Code, ev.Message, ev.Stack), nil)
			require.Equal(t, want, ev.Fingerprint, "goroutine %d, event %d", g, i)
			require.NotEmpty(t, ev.Stack)
			require.Equal(t, "github.com/aimeter/aimeter/errmon.recordAtDepth", ev.Stack[0].Function)
		}
	}
}

//go:noinline
func recordAtDepth(m *Monitor, err error, depth int) Event {
	if depth > 0 {
		return recordAtDepth(m, err, depth-1)
	}
	return m.Record(err, CallInfo{})
}

func TestEventIDsAreUniqueVersion4(t *testing.T) {
	t.Parallel()
	var ids eventIDs
	var mu sync.Mutex
	seen := make(map[string]bool)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3*eventIDBatch; i++ {
				id := ids.newID()
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	require.Len(t, seen, 4*3*eventIDBatch)
	for id := range seen {
		parsed, err := uuid.Parse(id)
		require.NoError(t, err, id)
		assert.Equal(t, uuid.Version(4), parsed.Version(), id)
		assert.Equal(t, uuid.RFC4122, parsed.Variant(), id)
	}
}
