package platform

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// tokenLen is the length of a session token: 32 random bytes, base64url.
const tokenLen = 43

// hashToken is the only form of a token that is stored or becomes part of
// a cache key.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func unauthorized(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, fmt.Sprintf(format, args...))
}

// NewSession signs in the user with openID: it records the sign-in and
// returns a new session's token, which is shown once and never stored.
func (r *Repository) NewSession(ctx context.Context, openID string) (token string, s Session, err error) {
	if err := checkText("openId", openID, maxOpenID, true); err != nil {
		return "", s, err
	}
	var raw [32]byte
	rand.Read(raw[:])
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	now := r.now()
	s = Session{TokenHash: hashToken(token), CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	u, err := r.db.SignIn(ctx, openID, s)
	if err != nil {
		return "", s, err
	}
	s.UserID = u.ID
	r.invalidate(ctx, "sign in", keyOf(r.users, id(u.ID)), keyOf(r.byOpenID, u.OpenID), keyOf(r.sessions, s.TokenHash))
	return token, s, nil
}

// SessionUser returns the user a token signs in. A missing, malformed,
// unknown or expired token is ErrUnauthorized: an expired session is never
// served, whatever the cache holds.
func (r *Repository) SessionUser(ctx context.Context, token string) (User, error) {
	s, err := r.session(ctx, token)
	if err != nil {
		return User{}, err
	}
	u, err := r.GetUser(ctx, s.UserID)
	if err != nil {
		return User{}, unauthorizedIfMissing(err, "the session's user is gone")
	}
	return u, nil
}

func (r *Repository) session(ctx context.Context, token string) (Session, error) {
	if len(token) != tokenLen {
		return Session{}, unauthorized("malformed session token")
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return Session{}, unauthorized("malformed session token")
	}
	hash := hashToken(token)
	s, err := read(ctx, r, r.sessions, hash, "session", func(ctx context.Context) (Session, error) {
		return r.db.SessionByHash(ctx, hash)
	})
	if err != nil {
		return s, unauthorizedIfMissing(err, "unknown session")
	}
	if !r.now().Before(s.ExpiresAt) {
		return Session{}, unauthorized("session expired at %s", s.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))
	}
	return s, nil
}

func unauthorizedIfMissing(err error, msg string) error {
	if isNotFound(err) {
		return unauthorized("%s", msg)
	}
	return err
}

// EndSession signs a session out. A session whose row is gone already
// (signed out elsewhere, its user deleted) is ErrUnauthorized, but its
// cached entry is removed all the same: the cache served it to get here,
// and would go on serving it until its TTL.
func (r *Repository) EndSession(ctx context.Context, token string) error {
	if _, err := r.session(ctx, token); err != nil {
		return err
	}
	hash := hashToken(token)
	_, err := r.db.DeleteSession(ctx, hash)
	if err != nil && !isNotFound(err) {
		return err
	}
	r.invalidate(ctx, "sign out", keyOf(r.sessions, hash))
	return unauthorizedIfMissing(err, "unknown session")
}

// PruneSessions deletes expired sessions from the database; their cached
// entries are refused at expiry already, and age out.
func (r *Repository) PruneSessions(ctx context.Context) (int, error) {
	return r.db.PruneSessions(ctx, r.now())
}
