package ratelimit

import (
	"context"
	"hash/maphash"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// checkTable checks that the table holds exactly the keys and states of
// want, that every key is found from its home slot, and that the counts of
// the table and its arena agree with its entries.
func checkTable(t *testing.T, tab *keyTable, seed maphash.Seed, want map[string]state) {
	t.Helper()
	if tab.count != len(want) {
		t.Fatalf("count: got %d, want %d", tab.count, len(want))
	}
	occupied, arenaBytes := 0, 0
	for i := range tab.slots {
		e := &tab.slots[i]
		if e.hash == 0 {
			continue
		}
		occupied++
		if e.keyLen > inlineKey {
			arenaBytes += int(e.keyLen)
		}
		key := string(tab.keyOf(e))
		st, ok := want[key]
		if !ok {
			t.Fatalf("slot %d holds %q, which was not inserted or was deleted", i, key)
		}
		if e.st != st {
			t.Fatalf("state of %q: got %+v, want %+v", key, e.st, st)
		}
		if e.hash != hash32(maphash.String(seed, key)) {
			t.Fatalf("slot %d: hash of %q does not match the key", i, key)
		}
	}
	if occupied != tab.count {
		t.Fatalf("occupied slots: got %d, want count %d", occupied, tab.count)
	}
	if live := len(tab.arena) - tab.garbage; live != arenaBytes {
		t.Fatalf("live arena bytes: got %d, want %d", live, arenaBytes)
	}
	if tab.count > maxLoad(len(tab.slots)) {
		t.Fatalf("count %d above the load limit of %d slots", tab.count, len(tab.slots))
	}
	for key, st := range want {
		i, ok := tab.lookup(key, maphash.String(seed, key))
		if !ok {
			t.Fatalf("lookup(%q): not found", key)
		}
		if tab.slots[i].st != st {
			t.Fatalf("lookup(%q): got state %+v, want %+v", key, tab.slots[i].st, st)
		}
	}
}

// testKey returns the key numbered i, longer than inlineKey for one number
// in four, so that the arena is exercised too.
func testKey(i int) string {
	k := "key-" + strconv.Itoa(i)
	if i%4 == 3 {
		k += strings.Repeat("-long", 10)
	}
	return k
}

func TestKeyTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	seed := maphash.MakeSeed()
	tab := keyTable{maxArena: defaultMaxArena}
	want := map[string]state{}

	now := int64(0)
	for step := 0; step < 200_000; step++ {
		key := testKey(rng.Intn(3000))
		h := maphash.String(seed, key)
		switch op := rng.Intn(100); {
		case op < 60:
			// Spend: update a present key, insert an absent one. Each key
			// stays busy for up to 50 steps.
			st := state{tat: now + 1 + rng.Int63n(50), frac: uint64(rng.Intn(3))}
			if i, ok := tab.lookup(key, h); ok {
				tab.slots[i].st = st
			} else {
				// An insertion into a full table first drops the keys
				// that have refilled.
				before := tab.count
				tab.insert(key, h, st, now)
				if tab.count != before+1 {
					for k, s := range want {
						if s.refilled(now) {
							delete(want, k)
						}
					}
				}
			}
			want[key] = st
		case op < 80:
			if i, ok := tab.lookup(key, h); ok {
				tab.deleteAt(i)
				delete(want, key)
			}
		case op < 85:
			dropped := tab.sweep(now, rng.Intn(40))
			for k, s := range want {
				if _, ok := tab.lookup(k, maphash.String(seed, k)); !ok {
					if !s.refilled(now) {
						t.Fatalf("step %d: sweep dropped %q, which has not refilled", step, k)
					}
					delete(want, k)
					dropped--
				}
			}
			if dropped != 0 {
				t.Fatalf("step %d: sweep miscounted its drops by %d", step, dropped)
			}
		case op < 86:
			tab.sweep(now, -1)
			for k, s := range want {
				if s.refilled(now) {
					delete(want, k)
				}
			}
			tab.resize()
		default:
			now++
		}
		if step%997 == 0 {
			checkTable(t, &tab, seed, want)
		}
	}
	checkTable(t, &tab, seed, want)
}

func TestKeyTableFullSweepDropsEveryRefilledKey(t *testing.T) {
	seed := maphash.MakeSeed()
	tab := keyTable{maxArena: defaultMaxArena}
	want := map[string]state{}
	for i := 0; i < 5000; i++ {
		key := testKey(i)
		// Even keys refill at time 10, odd ones stay busy.
		st := state{tat: 10 + int64(i%2)*100}
		tab.insert(key, maphash.String(seed, key), st, 0)
		want[key] = st
	}
	checkTable(t, &tab, seed, want)

	if got := tab.sweep(11, -1); got != 2500 {
		t.Errorf("sweep at 11: dropped %d keys, want 2500", got)
	}
	for k, st := range want {
		if st.refilled(11) {
			delete(want, k)
		}
	}
	checkTable(t, &tab, seed, want)

	tab.resize()
	checkTable(t, &tab, seed, want)
	if tab.garbage != 0 {
		t.Errorf("arena garbage after resize: got %d bytes, want 0", tab.garbage)
	}
}

func TestKeyTableLongKeysFillArena(t *testing.T) {
	seed := maphash.MakeSeed()
	// Room for four keys of 100 bytes.
	tab := keyTable{maxArena: 400}
	long := func(i int) string { return strconv.Itoa(i) + strings.Repeat("x", 99-len(strconv.Itoa(i))) }

	for i := 0; i < 4; i++ {
		key := long(i)
		if !tab.fits(key) {
			t.Fatalf("key %d of 4 does not fit", i)
		}
		tab.insert(key, maphash.String(seed, key), state{tat: 1}, 0)
	}
	if tab.fits(long(4)) {
		t.Errorf("fifth long key fits in an arena of 400 bytes")
	}
	if !tab.fits("short") {
		t.Errorf("short key does not fit, though it needs no arena")
	}

	// Deleting one makes room again, through a compaction.
	key := long(0)
	i, _ := tab.lookup(key, maphash.String(seed, key))
	tab.deleteAt(i)
	if !tab.fits(long(4)) {
		t.Fatalf("long key does not fit after a delete")
	}
	tab.insert(long(4), maphash.String(seed, long(4)), state{tat: 1}, 0)
	want := map[string]state{long(1): {tat: 1}, long(2): {tat: 1}, long(3): {tat: 1}, long(4): {tat: 1}}
	checkTable(t, &tab, seed, want)
}

func TestMemoryLongKeyBeyondArenaUsesOverflow(t *testing.T) {
	m := NewMemory(Rule{Name: "test", Limit: 1, Window: 60e9})
	for i := range m.shards {
		m.shards[i].keys.maxArena = 64
	}
	long := strings.Repeat("k", 65)
	if d := m.AllowAt(long, 1, m.epoch); !d.Allowed {
		t.Fatalf("first request: got rejected, want allowed in the overflow bucket")
	}
	if got := m.Overflowed(); got != 1 {
		t.Errorf("Overflowed: got %d, want 1", got)
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len: got %d, want 0", got)
	}
	if d := m.AllowAt(long, 1, m.epoch); d.Allowed {
		t.Errorf("second request in the overflow bucket: got allowed, want rejected")
	}
}

func TestMemoryAllowDoesNotAllocate(t *testing.T) {
	const keyCount = 10_000
	keys := make([]string, keyCount)
	for i := range keys {
		keys[i] = testKey(i)
	}
	tests := []struct {
		name string
		rule Rule
	}{
		// Every key keeps its state between requests.
		{name: "live keys", rule: Rule{Name: "live", Limit: 1e9, Window: 1e18}},
		// Every key has refilled by its next request, so its state is
		// dropped and inserted again.
		{name: "refilled keys", rule: Rule{Name: "refilled", Limit: 1e9, Window: 1e9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory(tt.rule)
			now := m.epoch
			i := 0
			allow := func() {
				now = now.Add(1000)
				m.AllowAt(keys[i%keyCount], 1, now)
				i++
			}
			// Two rounds let the table and the arena reach their size.
			for j := 0; j < 2*keyCount; j++ {
				allow()
			}
			if got := testing.AllocsPerRun(3*keyCount, allow); got != 0 {
				t.Errorf("AllowAt: got %v allocations per call, want 0", got)
			}
		})
	}
}

func TestShardLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is tuned for 64-bit platforms")
	}
	var s shard
	if got := unsafe.Sizeof(s); got%64 != 0 {
		t.Errorf("shard size: got %d bytes, want a multiple of 64", got)
	}
	if end := unsafe.Offsetof(s.front) + unsafe.Sizeof(s.front); end > 56 {
		t.Errorf("the fields written for the key in front end at byte %d, want at most 56", end)
	}
	if got := unsafe.Sizeof(entry{}); got != 64 {
		t.Errorf("entry size: got %d bytes, want 64", got)
	}
}

// modelLimiter is the reference for a Memory in TestMemoryMatchesModel: the
// same arithmetic over a plain map, with no table, front or sweeps.
type modelLimiter struct {
	gcra   gcra
	states map[string]state
}

func newModelLimiter(rule Rule) *modelLimiter {
	return &modelLimiter{gcra: newGCRA(rule), states: map[string]state{}}
}

func (m *modelLimiter) offset(key string, t int64) span {
	st, ok := m.states[key]
	if !ok {
		return span{}
	}
	return st.offset(t)
}

func (m *modelLimiter) put(key string, d span, t int64) {
	if d.isZero() {
		delete(m.states, key)
		return
	}
	m.states[key] = state{tat: t + int64(d.ns), frac: d.frac}
}

// test returns the decision for n units of key at time t without spending.
func (m *modelLimiter) test(key string, n int64, t int64) (Decision, span) {
	d := m.offset(key, t)
	o, next := m.gcra.price(n)
	if o == outcomeAllowed {
		o, next = m.gcra.spend(d, next)
	}
	var dec Decision
	m.gcra.decision(o, d, next, &dec)
	return dec, next
}

func (m *modelLimiter) allow(key string, n int64, t int64) Decision {
	dec, next := m.test(key, n, t)
	if dec.Allowed && n > 0 {
		m.put(key, next, t)
	}
	return dec
}

// live returns the number of keys that have not refilled at time t.
func (m *modelLimiter) live(t int64) int {
	n := 0
	for _, st := range m.states {
		if !st.refilled(t) {
			n++
		}
	}
	return n
}

func TestMemoryMatchesModel(t *testing.T) {
	rules := []Rule{
		{Name: "a", Limit: 5, Window: 100, Burst: 7},
		{Name: "b", Limit: 3, Window: 70},
	}
	base := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	now := int64(0)
	clock := WithClock(func() time.Time { return base.Add(time.Duration(now)) })
	a, b := NewMemory(rules[0], clock), NewMemory(rules[1], clock)
	modelA, modelB := newModelLimiter(rules[0]), newModelLimiter(rules[1])
	all := All(a, b).(*composite)
	rng := rand.New(rand.NewSource(4))

	for step := 0; step < 100_000; step++ {
		key := testKey(rng.Intn(300))
		n := int64(rng.Intn(9))
		now += int64(rng.Intn(8))
		switch op := rng.Intn(100); {
		case op < 60:
			got, want := a.AllowAt(key, n, base.Add(time.Duration(now))), modelA.allow(key, n, now)
			if got != want {
				t.Fatalf("step %d: AllowAt(%q, %d): got %+v, want %+v", step, key, n, got, want)
			}
		case op < 75:
			used := int64(rng.Intn(9))
			if err := a.SettleAt(key, n, used, base.Add(time.Duration(now))); err != nil {
				t.Fatalf("step %d: SettleAt: %v", step, err)
			}
			modelA.put(key, modelA.gcra.settle(modelA.offset(key, now), n, used), now)
		case op < 95:
			got, err := all.AllowRules(context.Background(), key, n, nil)
			if err != nil {
				t.Fatalf("step %d: AllowRules: %v", step, err)
			}
			wantA, nextA := modelA.test(key, n, now)
			wantB, nextB := modelB.test(key, n, now)
			admitted := wantA.Allowed && wantB.Allowed
			if len(got) != 2 || got[0].Allowed != wantA.Allowed || got[1].Allowed != wantB.Allowed {
				t.Fatalf("step %d: AllowRules(%q, %d): got %+v, want %+v and %+v", step, key, n, got, wantA, wantB)
			}
			if admitted && (got[0] != wantA || got[1] != wantB) {
				t.Fatalf("step %d: AllowRules(%q, %d): got %+v, want %+v and %+v", step, key, n, got, wantA, wantB)
			}
			if admitted && n > 0 {
				modelA.put(key, nextA, now)
				modelB.put(key, nextB, now)
			}
		default:
			a.SweepAt(base.Add(time.Duration(now)))
			if got, want := a.Len(), modelA.live(now); got != want {
				t.Fatalf("step %d: Len after SweepAt: got %d, want %d", step, got, want)
			}
		}
	}
}
