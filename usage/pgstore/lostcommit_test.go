package pgstore_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimeter/aimeter/usage"
	"github.com/aimeter/aimeter/usage/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// replyCutter is a TCP proxy in front of the test server. Once armed, it
// forwards the next COMMIT from the client to the server, reads the server's reply
// and, instead of passing it on, closes the connection: the transaction is
// committed, but the client receives only an error.
type replyCutter struct {
	target string
	ln     net.Listener
	armed  atomic.Bool
	cut    atomic.Int64
	wg     sync.WaitGroup
}

func newReplyCutter(t *testing.T, target string) *replyCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyCutter{target: target, ln: ln}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *replyCutter) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(client, server)
	}
}

// serve forwards one connection in both directions until either side
// closes it or the proxy cuts a commit's reply.
func (p *replyCutter) serve(client, server net.Conn) {
	defer p.wg.Done()
	var cutting atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && cutting.Load() {
				// The server replied to the COMMIT, so it is durable now.
				p.cut.Add(1)
				_ = client.Close()
				_ = server.Close()
				return
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = client.Close()
				return
			}
		}
	}()

	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if bytes.Contains(bytes.ToLower(buf[:n]), []byte("commit")) && p.armed.CompareAndSwap(true, false) {
				cutting.Store(true)
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = server.Close()
	<-done
}

// TestLostCommitReplyStoresBatchOnce loses the reply to the COMMIT of a
// batch that the database did commit. The tracker writes the batch again
// under the same BatchID, and the store must keep it once: the records and
// the rollups count every call exactly once.
func TestLostCommitReplyStoresBatchOnce(t *testing.T) {
	schema := newSchema(t)
	direct := newPool(t, schema)

	cfg, err := pgxpool.ParseConfig(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newReplyCutter(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	cfg.ConnConfig.Host = "127.0.0.1"
	cfg.ConnConfig.Port = uint16(proxy.ln.Addr().(*net.TCPAddr).Port)
	cfg.ConnConfig.Fallbacks = nil
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	tr := usage.NewTracker(store, usage.WithBatchSize(100), usage.WithRetryBackoff(func(int) time.Duration { return 0 }))
	proxy.armed.Store(true)
	const n = 300
	start := time.Now().UTC().Truncate(time.Minute)
	for i := 0; i < n; i++ {
		tr.Record(usage.Record{
			Time:       start.Add(time.Duration(i) * time.Millisecond),
			Call:       usage.Call{Endpoint: "/chat", Provider: "openai", Model: "gpt-4o-mini"},
			Tokens:     usage.Tokens{Input: 10, Output: 5},
			UsageKnown: true,
			Latency:    time.Duration(i+1) * time.Millisecond,
		})
	}
	closeCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := tr.Close(closeCtx); err != nil {
		t.Fatal(err)
	}

	if got := proxy.cut.Load(); got != 1 {
		t.Fatalf("the proxy cut %d commit replies, want 1", got)
	}
	if st := tr.Stats(); st.Written != n || st.Dropped != 0 || st.Pending != 0 {
		t.Errorf("tracker stats = %+v, want %d written", st, n)
	}
	var rows, calls int64
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM aimeter_records").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := direct.QueryRow(ctx, "SELECT coalesce(sum(calls), 0) FROM aimeter_rollups").Scan(&calls); err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Errorf("aimeter_records holds %d rows, want %d", rows, n)
	}
	if calls != n {
		t.Errorf("the rollups count %d calls, want %d", calls, n)
	}
}

// TestBatchIDsSkipOnlyRepeats checks that a batch ID suppresses only a
// second write of the same batch: two batches of identical records under
// different IDs are both stored, one ID written from two stores at once is
// stored once, and a prune removes IDs older than the retention.
func TestBatchIDsSkipOnlyRepeats(t *testing.T) {
	schema := newSchema(t)
	pool := newPool(t, schema)
	ctx := context.Background()
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := start
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	open := func() *pgstore.Store {
		s, err := pgstore.New(ctx, pool, pgstore.WithClock(clock), pgstore.WithRetention(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	first, second := open(), open()

	records := make([]usage.Record, 50)
	for i := range records {
		records[i] = usage.Record{
			Time:       start.Add(time.Duration(i) * time.Second),
			Call:       usage.Call{Endpoint: "/chat", Provider: "openai", Model: "gpt-4o-mini"},
			Tokens:     usage.Tokens{Input: 10, Output: 5},
			UsageKnown: true,
			Latency:    time.Second,
		}
	}
	idA, idB := usage.BatchID{1}, usage.BatchID{2}
	if err := first.Write(usage.WithBatchID(ctx, idA), records); err != nil {
		t.Fatal(err)
	}
	if err := first.Write(usage.WithBatchID(ctx, idB), records); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, s := range []*pgstore.Store{first, second} {
		wg.Add(1)
		go func(s *pgstore.Store) {
			defer wg.Done()
			errs <- s.Write(usage.WithBatchID(ctx, usage.BatchID{3}), records)
		}(s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	count := func(query string) int64 {
		t.Helper()
		var n int64
		if err := pool.QueryRow(ctx, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count("SELECT count(*) FROM aimeter_records"); got != 150 {
		t.Errorf("aimeter_records holds %d rows, want 150 (three batches of 50)", got)
	}
	if got := count("SELECT coalesce(sum(calls), 0) FROM aimeter_rollups"); got != 150 {
		t.Errorf("the rollups count %d calls, want 150", got)
	}
	if got := count("SELECT count(*) FROM aimeter_batches"); got != 3 {
		t.Errorf("aimeter_batches holds %d IDs, want 3", got)
	}

	mu.Lock()
	now = start.Add(48 * time.Hour)
	mu.Unlock()
	if err := first.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count("SELECT count(*) FROM aimeter_batches"); got != 0 {
		t.Errorf("after a prune past the retention, aimeter_batches holds %d IDs, want 0", got)
	}
}
