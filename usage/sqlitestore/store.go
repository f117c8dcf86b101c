package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aimeter/aimeter/usage"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Errors returned by Open and by reads. A closed store returns
// usage.ErrClosed and an invalid record usage.ErrInvalidRecord, both
// wrapped.
var (
	// ErrSchemaTooNew is returned by Open when the file was migrated by a
	// newer version of this package than the running one.
	ErrSchemaTooNew = errors.New("sqlitestore: database schema is newer than this version of sqlitestore")
	// ErrCorrupt is returned when a stored rollup cannot be decoded.
	ErrCorrupt = errors.New("sqlitestore: corrupt rollup")
)

// Defaults of the options.
const (
	// DefaultRetention is how long records and rollups are kept unless
	// WithRetention sets another.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultBusyTimeout is how long a write waits for another
	// connection's lock unless WithBusyTimeout sets another.
	DefaultBusyTimeout = 5 * time.Second
)

// pruneInterval is the least time between two prunes that Write starts.
const pruneInterval = 10 * time.Minute

// Store is a usage.Store on one SQLite file. Open returns it; Close must
// be called to release the file. A Store is safe for concurrent use.
type Store struct {
	path        string
	retention   time.Duration
	busyTimeout time.Duration
	now         func() time.Time
	logger      *slog.Logger

	writer *sql.DB // one connection, the only one that writes
	reader *sql.DB // read-only connections

	// mu is held for reading by every call that uses the database, and
	// for writing by Close, so that Close waits for calls in flight.
	mu     sync.RWMutex
	closed bool

	pruneMu   sync.Mutex
	nextPrune time.Time // when Write prunes next; zero means at once
}

var _ usage.Store = (*Store)(nil)

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

// WithBusyTimeout sets how long a statement waits for a lock that another
// connection or process holds before it fails. The default is
// DefaultBusyTimeout (5 seconds). Durations below one millisecond keep the
// default.
func WithBusyTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d >= time.Millisecond {
			s.busyTimeout = d
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

// Open opens the SQLite file at path, creating it when it does not exist,
// and applies the schema migrations it lacks. path is a file system path,
// not a URI; ":memory:" is rejected because every connection would see a
// database of its own.
func Open(path string, opts ...Option) (*Store, error) {
	s := &Store{
		path:        path,
		retention:   DefaultRetention,
		busyTimeout: DefaultBusyTimeout,
		now:         time.Now,
		logger:      slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlitestore: open %q: want the path of a file, not a URI or an in-memory database", path)
	}

	if err := s.open(); err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	return s, nil
}

// open connects the writer, migrates the schema, then connects the
// readers, which need the schema in place.
func (s *Store) open() error {
	ctx := context.Background()
	var err error
	s.writer, err = sql.Open("sqlite", s.dsn(false))
	if err != nil {
		return err
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)

	if err := migrate(ctx, s.writer); err != nil {
		_ = s.writer.Close()
		return err
	}

	s.reader, err = sql.Open("sqlite", s.dsn(true))
	if err != nil {
		_ = s.writer.Close()
		return err
	}
	s.reader.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	if err := s.reader.PingContext(ctx); err != nil {
		_ = s.writer.Close()
		_ = s.reader.Close()
		return err
	}
	return nil
}

// dsn returns the driver's connection string for s.path. Every connection
// runs the pragmas in order: auto_vacuum first, because it takes effect
// only before the first table is created.
func (s *Store) dsn(readOnly bool) string {
	pragmas := []string{
		"auto_vacuum(INCREMENTAL)",
		"journal_mode(WAL)",
		fmt.Sprintf("busy_timeout(%d)", s.busyTimeout.Milliseconds()),
		// In WAL mode NORMAL keeps the file consistent through a crash;
		// a power loss can lose the last transactions, not corrupt it.
		"synchronous(NORMAL)",
	}
	if readOnly {
		pragmas = append(pragmas, "query_only(1)")
	}
	var b strings.Builder
	b.WriteString("file:")
	b.WriteString(escapePath(s.path))
	for i, p := range pragmas {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString("_pragma=")
		b.WriteString(p)
	}
	if !readOnly {
		// The writer takes the write lock when a transaction begins
		// (BEGIN IMMEDIATE). It then waits there, under the busy timeout,
		// for a writer in another process, instead of failing with
		// SQLITE_BUSY at its first write when two readers upgrade at once.
		b.WriteString("&_txlock=immediate")
	}
	return b.String()
}

// escapePath escapes the characters that a SQLite URI gives a meaning.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Retention returns how long records and rollups are kept.
func (s *Store) Retention() time.Duration { return s.retention }

// Path returns the path of the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close closes the file after the calls in flight finish. Calls after Close
// return usage.ErrClosed; calling Close again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := errors.Join(s.reader.Close(), s.writer.Close())
	if err != nil {
		return fmt.Errorf("sqlitestore: close: %w", err)
	}
	return nil
}

// acquire holds s.mu for reading and fails when the store is closed. The
// caller releases s.mu with RUnlock.
func (s *Store) acquire(op string) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("sqlitestore: %s: %w", op, usage.ErrClosed)
	}
	return nil
}

// cutoff returns the start of the data that retention still keeps.
func (s *Store) cutoff() time.Time {
	return s.now().Add(-s.retention)
}
