package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Who may change what, over HTTP, with authorization on (the default):
// the findings of the security review, each refused. Anyone could sign in
// as anyone with an open id alone, make themselves admin, change or delete
// anyone's users and jobs, and send a cross-site text/plain POST.
func TestOnlyOwnersAndAdminsChangeThings(t *testing.T) {
	for name, e := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := start(t, withAuth(e(t)))
			var alice, bob user
			s.must(201, "POST", "/api/users", map[string]any{"openId": "alice", "password": testPassword}, &alice)
			s.must(201, "POST", "/api/users", map[string]any{"openId": "bob", "password": testPassword}, &bob)
			asAlice := []string{"Authorization", "Bearer " + s.signIn("alice", testPassword)}
			asBob := []string{"Authorization", "Bearer " + s.signIn("bob", testPassword)}
			nobody := []string{"Authorization", ""}
			var bobsJob job
			s.must(201, "POST", "/api/jobs", map[string]any{"type": "export"}, &bobsJob, asBob...)
			if bobsJob.UserID != bob.ID {
				t.Fatalf("bob's job belongs to %d; want bob (%d): a job is its submitter's by default", bobsJob.UserID, bob.ID)
			}
			bobPath, jobPath := fmt.Sprint("/api/users/", bob.ID), fmt.Sprint("/api/jobs/", bobsJob.ID)

			s.expectError(401, "UNAUTHORIZED", "POST", "/api/sessions", map[string]string{"openId": "bob"}, nobody...)
			s.expectError(401, "UNAUTHORIZED", "POST", "/api/sessions", map[string]string{"openId": "bob", "password": "guess guess"}, nobody...)
			s.expectError(401, "UNAUTHORIZED", "PATCH", bobPath, map[string]any{"role": "admin"}, nobody...)
			s.expectError(401, "UNAUTHORIZED", "POST", "/api/users", map[string]any{"openId": "eve", "password": testPassword}, nobody...)
			s.expectError(403, "FORBIDDEN", "POST", "/api/users", map[string]any{"openId": "eve", "password": testPassword}, asAlice...)
			s.expectError(403, "FORBIDDEN", "PATCH", fmt.Sprint("/api/users/", alice.ID), map[string]any{"role": "admin"}, asAlice...)
			s.expectError(403, "FORBIDDEN", "PATCH", bobPath, map[string]any{"name": "Mallory"}, asAlice...)
			s.expectError(403, "FORBIDDEN", "DELETE", bobPath, nil, asAlice...)
			s.expectError(403, "FORBIDDEN", "POST", "/api/jobs", map[string]any{"userId": bob.ID, "type": "x"}, asAlice...)
			s.expectError(403, "FORBIDDEN", "PATCH", jobPath, map[string]any{"progress": 50}, asAlice...)
			s.expectError(403, "FORBIDDEN", "PUT", jobPath+"/result", map[string]any{"result": map[string]bool{"forged": true}}, asAlice...)
			// A page on another site: a form or text/plain body, or its Origin.
			s.expectError(400, "BAD_REQUEST", "PATCH", bobPath, `{"name":"csrf"}`, append(asBob, "Content-Type", "text/plain")...)
			s.expectError(403, "FORBIDDEN", "PATCH", bobPath, map[string]any{"name": "csrf"}, append(asBob, "Origin", "https://evil.example")...)

			var after user
			s.must(200, "GET", bobPath, nil, &after, nobody...) // reads stay public
			if after.Name != "" || after.Role != "user" {
				t.Errorf("bob after the refused changes = %+v; want him untouched", after)
			}
			s.must(200, "PATCH", bobPath, map[string]any{"name": "Robert"}, nil, append(asBob, "Origin", s.base)...)
			s.must(200, "PATCH", jobPath, map[string]any{"progress": 50}, nil, asBob...)
			s.must(200, "PATCH", bobPath, map[string]any{"role": "admin"}, nil) // the admin
		})
	}
}

// Sign-in answers no-store; sign-out everywhere ends every session of the
// user; a new password ends them too; and every authenticated request
// reads its session through the cache: one sessions hit per request.
func TestSessionsOverHTTP(t *testing.T) {
	s := start(t, withAuth(env{}))
	var carol user
	s.must(201, "POST", "/api/users", map[string]any{"openId": "carol", "password": testPassword}, &carol)
	status, raw := s.call("POST", "/api/sessions", map[string]string{"openId": "carol", "password": testPassword}, "Authorization", "")
	if status != 201 {
		t.Fatalf("sign-in = %d %s", status, raw)
	}
	req, _ := http.NewRequest("POST", s.base+"/api/sessions", strings.NewReader(`{"openId":"carol","password":"`+testPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control of a sign-in = %q; want no-store", cc)
	}

	first := []string{"Authorization", "Bearer " + s.signIn("carol", testPassword)}
	second := []string{"Authorization", "Bearer " + s.signIn("carol", testPassword)}
	path := fmt.Sprint("/api/users/", carol.ID)
	s.must(200, "PATCH", path, map[string]any{"name": "Carol"}, nil, first...) // the session's first read: a miss
	before := s.stats().Namespaces["sessions"]
	for i := range 5 {
		s.must(200, "PATCH", path, map[string]any{"name": fmt.Sprint("Carol ", i)}, nil, first...)
	}
	if after := s.stats().Namespaces["sessions"]; after.Hits-before.Hits != 5 || after.Misses != before.Misses {
		t.Errorf("5 authenticated requests: sessions hits +%d, misses +%d; want +5 and +0", after.Hits-before.Hits, after.Misses-before.Misses)
	}

	s.must(204, "DELETE", "/api/sessions", nil, nil, first...)
	for _, who := range [][]string{first, second} {
		s.expectError(401, "UNAUTHORIZED", "GET", "/api/session", nil, who...)
	}
	third := []string{"Authorization", "Bearer " + s.signIn("carol", testPassword)}
	s.must(200, "PATCH", path, map[string]any{"password": "a brand new password"}, nil, third...)
	s.expectError(401, "UNAUTHORIZED", "GET", "/api/session", nil, third...)
	s.expectError(401, "UNAUTHORIZED", "POST", "/api/sessions", map[string]string{"openId": "carol", "password": testPassword}, "Authorization", "")
	s.signIn("carol", "a brand new password")
}

// A sign-in with the old password that is in flight when the password or
// the open id changes gets no session that outlives the change: someone
// who knows the old password and keeps signing in while its owner changes
// it is signed out with the rest. Before, 1-4 of the sessions signed in
// around the change stayed live in every round (the sign-in checked the
// password, waited for a hashing slot, then made a session the change
// had not seen).
func TestASignInRacingAChangeOfCredentialsKeepsNoSession(t *testing.T) {
	for name, e := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := start(t, withAuth(e(t)))
			for round, change := range []string{"password", "openId", "password", "openId"} {
				var victim user
				openID := fmt.Sprint("victim-", round)
				s.must(201, "POST", "/api/users", map[string]any{"openId": openID, "password": testPassword}, &victim)
				tokens := signInUntil(s, openID, func() {
					time.Sleep(100 * time.Millisecond) // sign-ins under way
					patch := map[string]any{"password": "a brand new password"}
					if change == "openId" {
						patch = map[string]any{"openId": openID + "-renamed"}
					}
					s.must(200, "PATCH", fmt.Sprint("/api/users/", victim.ID), patch, nil)
				})
				live := 0
				for _, token := range tokens {
					if status, _ := s.call("GET", "/api/session", nil, "Authorization", "Bearer "+token); status != 401 {
						live++
					}
				}
				if live > 0 {
					t.Errorf("round %d: %d of the %d sessions signed in with the old credentials outlive a change of %s; want none", round, live, len(tokens), change)
				}
			}
		})
	}
}

// signInUntil signs in as openID with testPassword on four goroutines
// until change has returned and the sign-ins under way then have ended;
// it returns the tokens they got.
func signInUntil(s *server, openID string, change func()) []string {
	var (
		mu     sync.Mutex
		tokens []string
		done   atomic.Bool
		wg     sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for !done.Load() {
				var out struct{ Token string }
				status, raw := s.call("POST", "/api/sessions", map[string]string{"openId": openID, "password": testPassword}, "Authorization", "")
				if status == 201 && json.Unmarshal(raw, &out) == nil {
					mu.Lock()
					tokens = append(tokens, out.Token)
					mu.Unlock()
				}
			}
		})
	}
	change()
	done.Store(true)
	wg.Wait()
	return tokens
}

// A user who takes the configured admin's open id, once its admin is gone,
// is not made admin by the next start, whose ASIDE_ADMIN_PASSWORD is not
// hers (before, she was): the start says so, and serves.
func TestTakingTheAdminsOpenIDMakesNoAdmin(t *testing.T) {
	e := withAuth(env{})
	s := start(t, e)
	var mallory user
	s.must(201, "POST", "/api/users", map[string]any{"openId": "second-admin", "password": testPassword, "role": "admin"}, nil)
	s.must(201, "POST", "/api/users", map[string]any{"openId": "mallory", "password": "mallory own password"}, &mallory)
	var admin user
	s.must(200, "GET", "/api/users?openId="+testAdmin, nil, &admin)
	s.must(204, "DELETE", fmt.Sprint("/api/users/", admin.ID), nil, nil)
	asMallory := []string{"Authorization", "Bearer " + s.signIn("mallory", "mallory own password")}
	s.must(200, "PATCH", fmt.Sprint("/api/users/", mallory.ID), map[string]any{"openId": testAdmin}, nil, asMallory...)

	e["ADDR"], e["ASIDE_ADMIN_PASSWORD"] = "", "the deployment's own password"
	again := start(t, e)
	var after user
	again.must(200, "GET", fmt.Sprint("/api/users/", mallory.ID), nil, &after)
	if after.Role != "user" {
		t.Errorf("mallory, who took the open id %q, is %q after a restart; want user", testAdmin, after.Role)
	}
	if again.logs.line("ASIDE_ADMIN_OPEN_ID names a user who is no admin, and ASIDE_ADMIN_PASSWORD is not their password: not promoted") == nil {
		t.Errorf("the start did not say it promoted no one:\n%s", again.logs)
	}
}
