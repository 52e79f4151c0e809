package sqldb

import (
	"context"
	"database/sql"
)

// Exec runs a statement straight on the database, for tests that go
// behind the data access's back.
func (s *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.dialect.rebind(query), args...)
}
