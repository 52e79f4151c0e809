package platform_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aside-cache/aside/platform"
)

// signedIn creates a user with role and returns it as an actor, with a
// session token.
func signedIn(t *testing.T, r *platform.Repository, openID string, role platform.Role) (platform.Actor, string) {
	t.Helper()
	ctx := context.Background()
	u, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: openID, Role: role, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := r.NewSession(ctx, openID, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	by, err := r.ActorOf(ctx, token)
	if err != nil || by.User.ID != u.ID {
		t.Fatalf("ActorOf = %+v, %v", by, err)
	}
	return by, token
}

// A user changes only what they own (their user, their jobs, their
// results) and never their role; an admin changes anything.
func TestMutationsActOnlyOnWhatTheActorOwns(t *testing.T) {
	r, _ := newRepo(t, true)
	ctx := context.Background()
	alice, _ := signedIn(t, r, "alice", platform.RoleUser)
	bob, _ := signedIn(t, r, "bob", platform.RoleUser)
	admin, _ := signedIn(t, r, "admin", platform.RoleAdmin)
	name, role := "Mallory", platform.RoleAdmin
	bobs, err := r.CreateJob(ctx, bob, platform.NewJob{Type: "export"})
	if err != nil || bobs.UserID != bob.User.ID {
		t.Fatalf("bob's own job = %+v, %v; want it his by default", bobs, err)
	}
	forbidden := map[string]func() error{
		"alice renames bob": func() error {
			_, err := r.UpdateUser(ctx, alice, bob.User.ID, platform.UserPatch{Name: &name})
			return err
		},
		"alice makes herself admin": func() error {
			_, err := r.UpdateUser(ctx, alice, alice.User.ID, platform.UserPatch{Role: &role})
			return err
		},
		"alice deletes bob": func() error { return r.DeleteUser(ctx, alice, bob.User.ID) },
		"alice creates a user": func() error {
			_, err := r.CreateUser(ctx, alice, platform.NewUser{OpenID: "x", Password: testPassword})
			return err
		},
		"alice submits for bob": func() error {
			_, err := r.CreateJob(ctx, alice, platform.NewJob{UserID: bob.User.ID, Type: "x"})
			return err
		},
		"alice updates bob's job": func() error {
			_, err := r.UpdateJob(ctx, alice, bobs.ID, platform.JobPatch{Progress: new(int)})
			return err
		},
		"alice completes bob's job": func() error {
			_, err := r.PutJobResult(ctx, alice, bobs.ID, []byte(`{"forged":true}`))
			return err
		},
	}
	for what, do := range forbidden {
		if err := do(); !errors.Is(err, platform.ErrForbidden) {
			t.Errorf("%s = %v; want ErrForbidden", what, err)
		}
	}
	if _, err := r.UpdateUser(ctx, alice, alice.User.ID, platform.UserPatch{Name: &name}); err != nil {
		t.Errorf("alice renames herself: %v", err)
	}
	if _, err := r.UpdateUser(ctx, admin, bob.User.ID, platform.UserPatch{Role: &role}); err != nil {
		t.Errorf("the admin makes bob an admin: %v", err)
	}
	if _, err := r.PutJobResult(ctx, admin, bobs.ID, []byte(`{"ok":true}`)); err != nil {
		t.Errorf("the admin completes bob's job: %v", err)
	}
}

// Signing in needs the right password; a wrong one and an unknown open id
// answer alike, and only after a delay.
func TestSignInNeedsThePassword(t *testing.T) {
	r, _ := newRepo(t, true)
	ctx := context.Background()
	signedIn(t, r, "carol", platform.RoleUser)
	for _, c := range []struct{ openID, password string }{{"carol", "wrong password"}, {"nobody", testPassword}} {
		start := time.Now()
		_, _, err := r.NewSession(ctx, c.openID, c.password)
		if !errors.Is(err, platform.ErrUnauthorized) || err.Error() != "unauthorized: the open id or the password is wrong" {
			t.Errorf("NewSession(%s, %s) = %v; want the one ErrUnauthorized", c.openID, c.password, err)
		}
		if took := time.Since(start); took < 250*time.Millisecond {
			t.Errorf("a failed sign-in answered in %v; want the 250 ms delay", took)
		}
	}
}

// A new password or open id ends every session of the user at once,
// cached ones included; sign-out everywhere too; a sign-in past
// MaxSessions ends the oldest.
func TestSessionsEndWithTheirCredentials(t *testing.T) {
	r, _ := newRepo(t, true)
	ctx := context.Background()
	dave, first := signedIn(t, r, "dave", platform.RoleUser)
	for range platform.MaxSessions - 1 {
		if _, _, err := r.NewSession(ctx, "dave", testPassword); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.ActorOf(ctx, first); err != nil {
		t.Fatalf("the first of %d sessions: %v", platform.MaxSessions, err)
	}
	latest, _, err := r.NewSession(ctx, "dave", testPassword) // one past the cap
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ActorOf(ctx, first); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("the oldest session after %d sign-ins = %v; want it ended", platform.MaxSessions+1, err)
	}
	pw := "a new password, long enough"
	if _, err := r.UpdateUser(ctx, dave, dave.User.ID, platform.UserPatch{Password: &pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ActorOf(ctx, latest); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("a session after a password change = %v; want it ended", err)
	}
	if _, _, err := r.NewSession(ctx, "dave", testPassword); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("the old password after the change = %v; want it refused", err)
	}
	token, _, err := r.NewSession(ctx, "dave", pw)
	if err != nil {
		t.Fatal(err)
	}
	openID := "dave-2"
	if _, err := r.UpdateUser(ctx, dave, dave.User.ID, platform.UserPatch{OpenID: &openID}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ActorOf(ctx, token); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("a session after an open id change = %v; want it ended", err)
	}
	a, _, _ := r.NewSession(ctx, "dave-2", pw)
	b, _, _ := r.NewSession(ctx, "dave-2", pw)
	by, err := r.ActorOf(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.EndAllSessions(ctx, by); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{a, b} {
		if _, err := r.ActorOf(ctx, tok); !errors.Is(err, platform.ErrUnauthorized) {
			t.Errorf("a session after sign-out everywhere = %v; want it ended", err)
		}
	}
}

// The first admin of a deployment: EnsureAdmin creates the user, or
// promotes one whose password it is given; it never resets a password a
// user has, so that a restart ends no session. A user who took the
// configured open id (free once its admin was deleted or renamed) is not
// promoted by the next start without their password: before, she was.
func TestEnsureAdmin(t *testing.T) {
	r, _ := newRepo(t, true)
	ctx := context.Background()
	if _, err := r.EnsureAdmin(ctx, "root", ""); !errors.Is(err, platform.ErrInvalid) {
		t.Errorf("EnsureAdmin of a new open id without a password = %v; want ErrInvalid", err)
	}
	u, err := r.EnsureAdmin(ctx, "root", testPassword)
	if err != nil || u.Role != platform.RoleAdmin {
		t.Fatalf("EnsureAdmin of a new open id = %+v, %v", u, err)
	}
	_, token := signedIn(t, r, "eve", platform.RoleUser)
	for _, password := range []string{"another long password", ""} {
		if _, err := r.EnsureAdmin(ctx, "eve", password); !errors.Is(err, platform.ErrForbidden) {
			t.Errorf("EnsureAdmin of a user with the password %q, not hers = %v; want ErrForbidden", password, err)
		}
	}
	if by, err := r.ActorOf(ctx, token); err != nil || by.IsAdmin() {
		t.Errorf("eve after refused promotions = %+v, %v; want a user", by, err)
	}
	if u, err := r.EnsureAdmin(ctx, "eve", testPassword); err != nil || u.Role != platform.RoleAdmin {
		t.Fatalf("EnsureAdmin of a user with her password = %+v, %v", u, err)
	}
	if by, err := r.ActorOf(ctx, token); err != nil || !by.IsAdmin() {
		t.Errorf("eve's session after the promotion = %+v, %v; want it alive, and an admin's", by, err)
	}
	if _, _, err := r.NewSession(ctx, "eve", testPassword); err != nil {
		t.Errorf("the promoted admin signs in with her own password: %v", err)
	}
}
