package sqldb

import (
	"context"
	"fmt"
	"time"

	"github.com/aside-cache/aside/platform"
)

// SessionByHash reads a session by the hash of its token.
func (s *DB) SessionByHash(ctx context.Context, hash string) (platform.Session, error) {
	sess, err := scanSession(s.db.QueryRowContext(ctx, s.q("sessionByHash"), hash))
	if err != nil {
		return sess, notFound(err, "session")
	}
	return sess, nil
}

// DeleteSession removes a session and returns it.
func (s *DB) DeleteSession(ctx context.Context, hash string) (platform.Session, error) {
	sess, err := scanSession(s.db.QueryRowContext(ctx, s.q("deleteSession"), hash))
	if err != nil {
		return sess, notFound(err, "session")
	}
	return sess, nil
}

// PruneSessions deletes the sessions expired before now.
func (s *DB) PruneSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q("pruneSessions"), now)
	if err != nil {
		return 0, fmt.Errorf("sqldb: prune sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
