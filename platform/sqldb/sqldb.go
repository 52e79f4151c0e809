// Package sqldb stores the platform's tables in SQL: SQLite (pure Go,
// modernc.org/sqlite, WAL) by default, or PostgreSQL (pgx). One
// implementation serves both through database/sql; the dialects differ in
// their migrations, placeholders, row locks and error codes only.
package sqldb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/aside-cache/aside/platform"
)

// DefaultPath is the SQLite file used when no database URL is given.
const DefaultPath = "./data/aside.db"

// DB is a platform.DB on SQL. It is safe for concurrent use.
type DB struct {
	db      *sql.DB
	dialect dialect
	path    string            // the SQLite file, or ""
	queries map[string]string // by name, rewritten for the dialect
}

var _ platform.DB = (*DB)(nil)

//go:embed migrations
var migrations embed.FS

// Open connects to the database url names and applies the migrations it
// lacks. url is a postgres:// or postgresql:// URL, sqlite:PATH, file:PATH,
// or empty for DefaultPath.
func Open(ctx context.Context, url string) (*DB, error) {
	d, dsn, path, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	if path != "" {
		if err := ensureDir(path); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open(d.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open: %w", err)
	}
	db.SetMaxOpenConns(d.maxConns)
	db.SetMaxIdleConns(d.maxConns)
	s := &DB{db: db, dialect: d, path: path, queries: make(map[string]string, len(queries))}
	for name, q := range queries {
		s.queries[name] = d.rebind(strings.ReplaceAll(q, "%FOR_UPDATE%", d.forUpdate))
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Describe names the database for logs: its host, database and
// parameters, without the user, and with a password parameter hidden.
func Describe(rawURL string) string {
	d, _, path, err := parseURL(rawURL)
	switch {
	case err != nil:
		return "invalid database URL"
	case d.name == "sqlite":
		return "sqlite " + path
	}
	u, err := neturl.Parse(rawURL)
	if err != nil {
		return "postgres"
	}
	hidePasswords(u)
	desc := "postgres " + u.Host + u.Path
	if u.RawQuery != "" {
		desc += "?" + u.RawQuery
	}
	return desc
}

// parseURL returns the dialect, the driver's DSN and, for SQLite, the path.
func parseURL(url string) (d dialect, dsn, path string, err error) {
	switch {
	case url == "":
		path = DefaultPath
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return postgres, url, "", nil
	case strings.HasPrefix(url, "sqlite:"):
		path = strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
	case strings.HasPrefix(url, "file:"):
		path = strings.TrimPrefix(url, "file:")
	default:
		return d, "", "", fmt.Errorf("sqldb: DATABASE_URL %q: want postgres://..., sqlite:PATH or file:PATH", redact(url))
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return d, "", "", fmt.Errorf("sqldb: DATABASE_URL %q: want a file path after sqlite: (no ? or #)", redact(url))
	}
	return sqlite, sqliteDSN(path), path, nil
}

// redact hides the passwords of a URL shown in an error. One that does not
// parse is not shown at all: where its password sits is anyone's guess.
func redact(rawURL string) string {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		return "(a URL that does not parse)"
	}
	hidePasswords(u)
	return u.String()
}

// hidePasswords replaces both places a database URL can hold a password:
// its user information and a password query parameter, which libpq and
// pgx accept as well.
func hidePasswords(u *neturl.URL) {
	if _, ok := u.User.Password(); ok {
		u.User = neturl.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	hidden := false
	for k := range q {
		if strings.EqualFold(k, "password") {
			q[k], hidden = []string{"xxxxx"}, true
		}
	}
	if hidden {
		u.RawQuery = q.Encode()
	}
}

func sqliteDSN(path string) string {
	// WAL lets readers run beside the writer; _txlock=immediate takes the
	// write lock when a transaction begins, so that two writers wait for
	// each other (busy_timeout) instead of failing on upgrade.
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
}

// migrationLock is the PostgreSQL advisory lock that serialises the
// migrations of processes starting together on one database.
const migrationLock = 0x61736964 // "asid"

// migrate applies, in order, the migrations not yet recorded. On
// PostgreSQL it holds an advisory lock throughout, so that processes
// starting together on an empty database migrate it once; SQLite's
// immediate transactions serialise them by themselves.
func (s *DB) migrate(ctx context.Context) error {
	if s.dialect.name == "postgres" {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("sqldb: migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("sqldb: migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
		return s.migrateOn(ctx, conn)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqldb: migrate: %w", err)
	}
	defer conn.Close()
	return s.migrateOn(ctx, conn)
}

func (s *DB) migrateOn(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)`); err != nil {
		return fmt.Errorf("sqldb: migrations table: %w", err)
	}
	dir := "migrations/" + s.dialect.name
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	for _, name := range names {
		if err := s.apply(ctx, conn, name, dir+"/"+name); err != nil {
			return err
		}
	}
	return nil
}

func ensureDir(path string) error {
	if dir := filepath.Dir(path); dir != "" && dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("sqldb: create %s: %w", dir, err)
		}
	}
	return nil
}

// apply runs one migration in a transaction, unless it ran before.
func (s *DB) apply(ctx context.Context, conn *sql.Conn, version, file string) error {
	body, err := migrations.ReadFile(file)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: migrate: %w", err)
	}
	defer tx.Rollback()
	var done int
	if err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT count(*) FROM schema_migrations WHERE version = $1`), version).Scan(&done); err != nil {
		return fmt.Errorf("sqldb: migrate: %w", err)
	}
	if done > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("sqldb: migration %s: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO schema_migrations (version) VALUES ($1)`), version); err != nil {
		return fmt.Errorf("sqldb: migration %s: %w", version, err)
	}
	return tx.Commit()
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the connections.
func (s *DB) Close() error { return s.db.Close() }

// Dialect names the database: "sqlite" or "postgres".
func (s *DB) Dialect() string { return s.dialect.name }

// q returns the named query, rewritten for the dialect. An unknown name
// gives a statement the database refuses with the name in its error: a
// programming error every test catches, never a panic.
func (s *DB) q(name string) string {
	if q, ok := s.queries[name]; ok {
		return q
	}
	return "unknown query " + name
}

// tx runs fn in a transaction and commits it if fn returns nil.
func (s *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	return nil
}

// notFound turns sql.ErrNoRows into platform.ErrNotFound with context.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), platform.ErrNotFound)
	}
	return fmt.Errorf("sqldb: %s: %w", fmt.Sprintf(format, args...), err)
}

// utc normalises a time read from the database.
func utc(t time.Time) time.Time { return t.UTC() }
