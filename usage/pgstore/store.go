package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aimeter/aimeter/usage"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors returned by Open, New and reads. A closed store returns
// usage.ErrClosed and an invalid record usage.ErrInvalidRecord, both
// wrapped.
var (
	// ErrSchemaTooNew is returned by Open and New when the database was
	// migrated by a newer version of this package than the running one.
	ErrSchemaTooNew = errors.New("pgstore: database schema is newer than this version of pgstore")
	// ErrSchemaOutdated is returned by Open and New with
	// WithoutMigrations when the database lacks migrations.
	ErrSchemaOutdated = errors.New("pgstore: database schema is out of date")
	// ErrCorrupt is returned when a stored rollup cannot be decoded.
	ErrCorrupt = errors.New("pgstore: corrupt rollup")
)

// DefaultRetention is how long records and rollups are kept unless
// WithRetention sets another.
const DefaultRetention = 7 * 24 * time.Hour

// pruneInterval is the least time between two prunes that Write starts in
// one Store.
const pruneInterval = 10 * time.Minute

// Store is a usage.Store on PostgreSQL. Open or New returns it; Close must
// be called to release it. A Store is safe for concurrent use, and several
// Stores, in one process or many, may share one database.
type Store struct {
	pool      *pgxpool.Pool
	ownsPool  bool
	retention time.Duration
	now       func() time.Time
	logger    *slog.Logger
	migrate   bool

	// mu is held for reading by every call that uses the pool, and for
	// writing by Close, so that Close waits for calls in flight.
	mu     sync.RWMutex
	closed bool

	pruneMu   sync.Mutex
	nextPrune time.Time // when Write prunes next; zero means at once
}

var (
	_ usage.Store      = (*Store)(nil)
	_ usage.BatchSizer = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithRetention sets how long records and rollups are kept, measured back
// from the store's clock. The default is DefaultRetention (7 days).
// Durations of zero or less keep the default.
func WithRetention(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.retention = d
		}
	}
}

// WithClock sets the clock that decides which data is past its retention.
// The default is time.Now. A nil clock keeps the default.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithLogger sets the logger that reports failures the store handles on
// its own, such as a failed prune after a successful write. The default
// discards them. A nil logger keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.logger = l
		}
	}
}

// WithoutMigrations makes Open and New check that the schema is current
// instead of migrating it, for deployments that apply MigrationSQL with
// their own tools. They then fail with ErrSchemaOutdated on an older
// schema.
func WithoutMigrations() Option {
	return func(s *Store) { s.migrate = false }
}

// Open connects to the database that dsn names, in the forms that
// pgxpool.ParseConfig accepts, and applies the migrations it lacks. The
// tables live in the first schema of the connection's search_path. Close
// closes the connections.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error of ParseConfig may quote the DSN, password included.
		return nil, errors.New("pgstore: open: invalid connection string; see the forms that pgxpool.ParseConfig accepts")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	s, err := newStore(ctx, pool, true, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New returns a store on pool and applies the migrations that the
// database lacks. Close leaves pool open; the caller closes it after the
// store.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	return newStore(ctx, pool, false, opts)
}

func newStore(ctx context.Context, pool *pgxpool.Pool, ownsPool bool, opts []Option) (*Store, error) {
	s := &Store{
		pool:      pool,
		ownsPool:  ownsPool,
		retention: DefaultRetention,
		now:       time.Now,
		logger:    slog.New(slog.DiscardHandler),
		migrate:   true,
	}
	for _, o := range opts {
		o(s)
	}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	defer conn.Release()
	if err := migrate(ctx, conn.Conn(), s.migrate); err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	return s, nil
}

// Retention returns how long records and rollups are kept.
func (s *Store) Retention() time.Duration { return s.retention }

// PreferredBatchSize returns 2,048, the batch size a usage.Tracker uses
// with this store unless usage.WithBatchSize sets another. Each batch pays
// for a transaction, three round trips and the rollup rows it locks, so
// larger batches sustain more records per second. BENCHMARKS.md gives the
// rates measured with 512 and 2,048.
func (s *Store) PreferredBatchSize() int { return 2048 }

// Close waits for the calls in flight, then closes the connections if Open
// made them. Calls after Close return usage.ErrClosed; calling Close again
// returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// acquire holds s.mu for reading and fails when the store is closed. The
// caller releases s.mu with RUnlock.
func (s *Store) acquire(op string) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("pgstore: %s: %w", op, usage.ErrClosed)
	}
	return nil
}

// cutoff returns the start of the data that retention still keeps.
func (s *Store) cutoff() time.Time {
	return s.now().Add(-s.retention)
}
