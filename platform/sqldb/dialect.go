package sqldb

import (
	"errors"
	"regexp"
	"runtime"

	"github.com/jackc/pgx/v5/pgconn"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between SQLite and PostgreSQL.
type dialect struct {
	name      string
	driver    string
	forUpdate string // the clause that locks a row read in a transaction
	maxConns  int
}

var (
	// SQLite locks the whole database for writing when a transaction
	// begins (_txlock=immediate), so it needs no row locks.
	sqlite = dialect{name: "sqlite", driver: "sqlite", forUpdate: "", maxConns: max(4, 2*runtime.GOMAXPROCS(0))}
	// Connections of the pool, enough for a 2-core machine to keep
	// PostgreSQL busy without queueing in it.
	postgres = dialect{name: "postgres", driver: "pgx", forUpdate: " FOR UPDATE", maxConns: 32}
)

var placeholder = regexp.MustCompile(`\$(\d+)`)

// rebind writes PostgreSQL's $1 placeholders as SQLite's ?1, which bind by
// number as $1 does (SQLite would read $1 as a name, numbered by order of
// appearance).
func (d dialect) rebind(q string) string {
	if d.name != "sqlite" {
		return q
	}
	return placeholder.ReplaceAllString(q, "?$1")
}

// isUnique reports whether err is a unique-constraint violation.
func (d dialect) isUnique(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var lite *msqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || lite.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
