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

// NewSession signs in the user with openID and password: it records the
// sign-in and returns a new session's token, which is shown once and
// never stored. A wrong pair is ErrUnauthorized, the same for an unknown
// open id as for a wrong password, and answers only after a delay. A
// sign-in past MaxSessions ends the user's oldest session.
func (r *Repository) NewSession(ctx context.Context, openID, password string) (token string, s Session, err error) {
	if err := checkText("openId", openID, maxOpenID, true); err != nil {
		return "", s, err
	}
	if len(password) > maxPassword {
		return "", s, invalid("password is %d bytes, more than %d", len(password), maxPassword)
	}
	c, err := r.checkCredentials(ctx, openID, password)
	if err != nil {
		return "", s, err
	}
	var raw [32]byte
	rand.Read(raw[:])
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	now := r.now()
	s = Session{TokenHash: hashToken(token), UserID: c.User.ID, CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	u, ended, err := r.db.SignIn(ctx, c, s, MaxSessions)
	if isNotFound(err) {
		// The password or open id changed (or the user went) while the
		// password was hashed: what it checked no longer signs in.
		return "", Session{}, unauthorized("the open id or the password is wrong")
	}
	if err != nil {
		return "", s, err
	}
	r.invalidate(ctx, "sign in", of(r.users, id(u.ID)), of(r.byOpenID, u.OpenID), of(r.sessions, append(ended, s.TokenHash)...))
	return token, s, nil
}

// checkCredentials returns the credentials openID and password sign in
// with, or ErrUnauthorized after failedSignInDelay.
func (r *Repository) checkCredentials(ctx context.Context, openID, password string) (Credential, error) {
	c, err := r.db.Credentials(ctx, openID)
	if err != nil && !isNotFound(err) {
		return c, err
	}
	ok, verr := r.passwords.verify(ctx, c.PasswordHash, password) // the same work for an unknown user
	if verr != nil {
		return c, verr
	}
	if err != nil || !ok {
		slowDown(ctx)
		return Credential{}, unauthorized("the open id or the password is wrong")
	}
	return c, nil
}

// ActorOf returns the actor a session token signs in (see SessionUser).
func (r *Repository) ActorOf(ctx context.Context, token string) (Actor, error) {
	u, err := r.SessionUser(ctx, token)
	if err != nil {
		return Actor{}, err
	}
	return Actor{User: u}, nil
}

// EndAllSessions signs the actor out everywhere: every session of theirs
// ends, in the database and in the cache.
func (r *Repository) EndAllSessions(ctx context.Context, by Actor) error {
	if by.system {
		return invalid("sign-out everywhere needs a signed-in user")
	}
	ended, err := r.db.EndSessions(ctx, by.User.ID)
	if err != nil {
		return err
	}
	r.invalidate(ctx, "sign out everywhere", of(r.sessions, ended...))
	return nil
}

// EnsureAdmin makes the user with openID an admin: how a deployment gets
// its first admin (ASIDE_ADMIN_OPEN_ID and ASIDE_ADMIN_PASSWORD). A
// missing user is created with password (required then). A user who is
// not an admin is promoted only when password is theirs, or when they
// have none (it is then set): an open id is free to take once its user is
// gone or renamed, and a start must not make admin whoever took the
// configured one (ErrForbidden). An admin's password is set only when they
// have none, so that a restart neither resets a password changed since nor
// ends the admin's sessions.
func (r *Repository) EnsureAdmin(ctx context.Context, openID, password string) (User, error) {
	c, err := r.db.Credentials(ctx, openID)
	switch {
	case isNotFound(err):
		return r.CreateUser(ctx, System, NewUser{OpenID: openID, Name: "Administrator", Role: RoleAdmin, Password: password})
	case err != nil:
		return c.User, err
	}
	var p UserPatch
	if c.User.Role != RoleAdmin {
		if err := r.ownsAccount(ctx, c, password); err != nil {
			return c.User, err
		}
		admin := RoleAdmin
		p.Role = &admin
	}
	if c.PasswordHash == "" && password != "" {
		p.Password = &password
	}
	if p.Role == nil && p.Password == nil {
		return c.User, nil
	}
	return r.UpdateUser(ctx, System, c.User.ID, p)
}

// ownsAccount tells whether password proves the start's right to promote
// the user c: it is their password, or they have none.
func (r *Repository) ownsAccount(ctx context.Context, c Credential, password string) error {
	if c.PasswordHash == "" {
		return nil
	}
	ok, err := r.passwords.verify(ctx, c.PasswordHash, password)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: user %d (%q) is not an admin, and the password given is not theirs: not promoted", ErrForbidden, c.User.ID, c.User.OpenID)
	}
	return nil
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
	r.invalidate(ctx, "sign out", of(r.sessions, hash))
	return unauthorizedIfMissing(err, "unknown session")
}

// PruneSessions deletes expired sessions from the database; their cached
// entries are refused at expiry already, and age out.
func (r *Repository) PruneSessions(ctx context.Context) (int, error) {
	return r.db.PruneSessions(ctx, r.now())
}
