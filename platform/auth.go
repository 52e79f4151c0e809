package platform

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Actor is who makes a change: a signed-in user, or the system (the
// server itself, and every request when authorization is off).
type Actor struct {
	User   User
	system bool
}

// System is the actor that may do anything: the server's own writes, and
// every request when authorization is off (ASIDE_AUTH=off).
var System = Actor{system: true}

// IsAdmin reports whether a may act on anything.
func (a Actor) IsAdmin() bool { return a.system || a.User.Role == RoleAdmin }

// mayActFor reports whether a may change what userID owns: their user,
// their jobs and results.
func (a Actor) mayActFor(userID int64) bool { return a.IsAdmin() || a.User.ID == userID }

// owns refuses a change of what userID owns by anyone else than that user
// or an admin.
func (a Actor) owns(userID int64, what string) error {
	if a.mayActFor(userID) {
		return nil
	}
	return fmt.Errorf("%w: %s belongs to another user", ErrForbidden, what)
}

// The password rules: at least 8 bytes, at most 256 (argon2 reads them
// all, so the bound bounds its work).
const (
	minPassword = 8
	maxPassword = 256
)

func checkPassword(pw string) error {
	switch {
	case len(pw) < minPassword:
		return invalid("password is %d bytes, fewer than %d", len(pw), minPassword)
	case len(pw) > maxPassword:
		return invalid("password is %d bytes, more than %d", len(pw), maxPassword)
	case strings.TrimSpace(pw) == "":
		return invalid("password is blank")
	}
	return checkText("password", pw, maxPassword, true)
}

// Argon2id, with the parameters OWASP names as its minimum: 19 MiB of
// memory and two passes, about 25 ms on one core here. At most
// hashingSlots hash at once, so that sign-ins cannot buy more than
// hashingSlots × 19 MiB however many arrive.
const (
	argonTime    = 2
	argonMemory  = 19 << 10 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
	hashingSlots = 2
)

// hasher hashes and checks passwords, a bounded number at a time.
type hasher struct {
	slots chan struct{}
}

func newHasher() *hasher { return &hasher{slots: make(chan struct{}, hashingSlots)} }

// acquire waits for a hashing slot, or for ctx.
func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.slots }

// hash returns pw's argon2id hash in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, base64 without padding.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return hashPassword(pw), nil
}

// hashPassword hashes pw with a new salt, outside any bound: for the
// hasher, and for the demo data's one password.
func hashPassword(pw string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	return encodeHash(salt, argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen))
}

func encodeHash(salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// verify reports whether pw matches hash. An empty or foreign hash (a user
// with no password) matches nothing, after the same work as a real one, so
// that the time taken does not tell which users exist.
func (h *hasher) verify(ctx context.Context, hash, pw string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	salt, key, ok := decodeHash(hash)
	if !ok {
		argon2.IDKey([]byte(pw), make([]byte, argonSaltLen), argonTime, argonMemory, argonThreads, argonKeyLen)
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// decodeHash reads a hash encodeHash wrote, with this package's parameters.
func decodeHash(hash string) (salt, key []byte, ok bool) {
	parts := strings.Split(hash, "$")
	want := fmt.Sprintf("m=%d,t=%d,p=%d", argonMemory, argonTime, argonThreads)
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) || parts[3] != want {
		return nil, nil, false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) != argonKeyLen {
		return nil, nil, false
	}
	return salt, key, true
}

// failedSignInDelay is how long a failed sign-in waits before it answers,
// on top of the hash: with the hashing slots it bounds guesses to a few a
// second per process.
const failedSignInDelay = 250 * time.Millisecond

// slowDown waits failedSignInDelay, or for ctx.
func slowDown(ctx context.Context) {
	t := time.NewTimer(failedSignInDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
