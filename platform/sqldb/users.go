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
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q("createUser"), n.OpenID, n.Name, n.Email, n.Role, now, n.PasswordHash))
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

// UpdateUser applies p to the user. A new open id or password ends the
// user's sessions in the same transaction.
func (s *DB) UpdateUser(ctx context.Context, id int64, p platform.UserPatch, now time.Time) (up platform.UserUpdate, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if up.Before, err = scanUser(tx.QueryRowContext(ctx, s.q("lockUser"), id)); err != nil {
			return notFound(err, "user %d", id)
		}
		next := p.Apply(up.Before)
		up.After, err = scanUser(tx.QueryRowContext(ctx, s.q("updateUser"), id, next.OpenID, next.Name, next.Email, next.Role, now))
		if err != nil {
			return s.writeErr(err, "update user %d", id)
		}
		if p.PasswordHash != nil {
			if _, err := tx.ExecContext(ctx, s.q("setPassword"), id, *p.PasswordHash); err != nil {
				return fmt.Errorf("sqldb: set the password of user %d: %w", id, err)
			}
		}
		if p.PasswordHash != nil || next.OpenID != up.Before.OpenID {
			up.EndedSessions, err = queryAll(ctx, tx, scanOne[string], s.q("endSessions"), id)
		}
		return err
	})
	return up, err
}

// Credentials reads a user by open id, with its password hash.
func (s *DB) Credentials(ctx context.Context, openID string) (c platform.Credential, err error) {
	c.User, err = scanUser(withHash{s.db.QueryRowContext(ctx, s.q("credentials"), openID), &c.PasswordHash})
	if err != nil {
		return c, notFound(err, "user with open id %q", openID)
	}
	return c, nil
}

// withHash scans a user's row followed by its password hash.
type withHash struct {
	r    scanner
	hash *string
}

func (w withHash) Scan(dest ...any) error { return w.r.Scan(append(dest, w.hash)...) }

// SignIn records a sign-in with c and stores the session, and ends the
// user's oldest live sessions past the newest keep, in one transaction;
// it returns the hashes of those it ended. The sign-in's UPDATE matches
// the user only with c's open id and hash, and holds the user's row: a
// change committed before it leaves nothing to match (ErrNotFound), and
// one that commits after it waits for the row, then ends this session
// with the others (PostgreSQL re-reads the row an UPDATE waited for;
// SQLite's immediate transactions run one at a time).
func (s *DB) SignIn(ctx context.Context, c platform.Credential, sess platform.Session, keep int) (u platform.User, ended []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, s.q("signIn"), c.User.ID, sess.CreatedAt, c.User.OpenID, c.PasswordHash)
		if u, err = scanUser(row); err != nil {
			return notFound(err, "user %d with the credentials the sign-in checked", c.User.ID)
		}
		if _, err := tx.ExecContext(ctx, s.q("createSession"), sess.TokenHash, u.ID, sess.CreatedAt, sess.ExpiresAt); err != nil {
			return fmt.Errorf("sqldb: create session: %w", err)
		}
		live, err := queryAll(ctx, tx, scanOne[string], s.q("liveSessions"), u.ID, sess.CreatedAt)
		if err != nil || len(live) <= keep {
			return err
		}
		for _, h := range live[keep:] {
			if _, err := tx.ExecContext(ctx, s.q("deleteSession"), h); err != nil {
				return fmt.Errorf("sqldb: end an old session: %w", err)
			}
		}
		ended = live[keep:]
		return nil
	})
	return u, ended, err
}

// EndSessions removes every session of the user and returns their hashes.
func (s *DB) EndSessions(ctx context.Context, userID int64) ([]string, error) {
	var ended []string
	err := s.tx(ctx, func(tx *sql.Tx) (err error) {
		ended, err = queryAll(ctx, tx, scanOne[string], s.q("endSessions"), userID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: end the sessions of user %d: %w", userID, err)
	}
	return ended, nil
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
