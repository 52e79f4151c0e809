package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
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
