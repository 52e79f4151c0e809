package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/aside-cache/aside/platform"
)

// CreateUser inserts a user; a taken open id is platform.ErrConflict.
func (s *DB) CreateUser(ctx context.Context, n platform.NewUser, now time.Time) (platform.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q("createUser"), n.OpenID, n.Name, n.Email, n.Role, now))
	if err != nil {
		return u, s.writeErr(err, "create user with open id %q", n.OpenID)
	}
	return u, nil
}

// writeErr names a unique violation as a conflict.
func (s *DB) writeErr(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if s.dialect.isUnique(err) {
		return fmt.Errorf("%s: open id taken: %w", what, platform.ErrConflict)
	}
	return notFound(err, "%s", what)
}

// UserByID reads a user.
func (s *DB) UserByID(ctx context.Context, id int64) (platform.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q("userByID"), id))
	if err != nil {
		return u, notFound(err, "user %d", id)
	}
	return u, nil
}

// UserByOpenID reads a user by open id.
func (s *DB) UserByOpenID(ctx context.Context, openID string) (platform.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q("userByOpenID"), openID))
	if err != nil {
		return u, notFound(err, "user with open id %q", openID)
	}
	return u, nil
}

// UpdateUser applies p to the user and returns it before and after.
func (s *DB) UpdateUser(ctx context.Context, id int64, p platform.UserPatch, now time.Time) (before, after platform.User, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if before, err = scanUser(tx.QueryRowContext(ctx, s.q("lockUser"), id)); err != nil {
			return notFound(err, "user %d", id)
		}
		next := before
		if p.OpenID != nil {
			next.OpenID = *p.OpenID
		}
		if p.Name != nil {
			next.Name = *p.Name
		}
		if p.Email != nil {
			next.Email = *p.Email
		}
		if p.Role != nil {
			next.Role = *p.Role
		}
		after, err = scanUser(tx.QueryRowContext(ctx, s.q("updateUser"), id, next.OpenID, next.Name, next.Email, next.Role, now))
		if err != nil {
			return s.writeErr(err, "update user %d", id)
		}
		return nil
	})
	return before, after, err
}

// SignIn records a sign-in of the user with openID and stores the session.
func (s *DB) SignIn(ctx context.Context, openID string, sess platform.Session) (u platform.User, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if u, err = scanUser(tx.QueryRowContext(ctx, s.q("signIn"), openID, sess.CreatedAt)); err != nil {
			return notFound(err, "user with open id %q", openID)
		}
		if _, err := tx.ExecContext(ctx, s.q("createSession"), sess.TokenHash, u.ID, sess.CreatedAt, sess.ExpiresAt); err != nil {
			return fmt.Errorf("sqldb: create session: %w", err)
		}
		return nil
	})
	return u, err
}

// DeleteUser removes the user, and with it (ON DELETE CASCADE) its jobs,
// their results and its sessions.
func (s *DB) DeleteUser(ctx context.Context, id int64) (r platform.Removed, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if r.User, err = scanUser(tx.QueryRowContext(ctx, s.q("lockUser"), id)); err != nil {
			return notFound(err, "user %d", id)
		}
		if r.JobIDs, err = queryAll(ctx, tx, scanOne[int64], s.q("jobIDsOfUser"), id); err != nil {
			return fmt.Errorf("sqldb: jobs of user %d: %w", id, err)
		}
		if r.SessionHashes, err = queryAll(ctx, tx, scanOne[string], s.q("hashesOfUser"), id); err != nil {
			return fmt.Errorf("sqldb: sessions of user %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, s.q("deleteUser"), id); err != nil {
			return fmt.Errorf("sqldb: delete user %d: %w", id, err)
		}
		return nil
	})
	return r, err
}

func scanOne[T any](r scanner) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}

// RecentUsers returns the n most recently updated users.
func (s *DB) RecentUsers(ctx context.Context, n int) ([]platform.User, error) {
	users, err := queryAll(ctx, s.db, scanUser, s.q("recentUsers"), n)
	if err != nil {
		return nil, fmt.Errorf("sqldb: recent users: %w", err)
	}
	return users, nil
}
