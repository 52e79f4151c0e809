package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Every answer carries X-Content-Type-Options: nosniff (a browser must not
// read a JSON error as HTML); every answer of /api/ and /trpc/, which carry
// users, sessions' tokens and the cache's figures, Cache-Control: no-store,
// errors included.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	s := start(t, env{"ASIDE_ADMIN_TOKEN": "test-admin-token"})
	var u user
	s.must(201, "POST", "/api/users", map[string]any{"openId": "headers", "password": testPassword}, &u)
	for _, c := range []struct {
		method, path, body string
		private            bool
	}{
		{"POST", "/api/users", `{"openId":"headers-2","password":"correct horse battery staple"}`, true},
		{"POST", "/api/users", `{`, true},
		{"GET", "/api/users/1", "", true},
		{"GET", "/api/users/424242", "", true},
		{"GET", "/api/users?openId=headers", "", true},
		{"PUT", "/api/users/1", "", true},
		{"POST", "/api/sessions", `{"openId":"headers"}`, true},
		{"GET", "/api/session", "", true},
		{"GET", "/trpc/monitoring.cacheStats", "", true},
		{"POST", "/trpc/monitoring.cacheClear", "", true},
		{"GET", "/trpc/" + strings.Repeat("x,", 20) + "x?batch=1", "", true},
		{"GET", "/healthz", "", false},
		{"GET", "/readyz", "", false},
		{"GET", "/metrics", "", false},
		{"GET", "/nothing", "", false},
	} {
		req, _ := http.NewRequest(c.method, s.base+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q; want nosniff", c.method, c.path, resp.StatusCode, got)
		}
		if got := resp.Header.Get("Cache-Control"); c.private && got != "no-store" {
			t.Errorf("%s %s (%d): Cache-Control %q; want no-store", c.method, c.path, resp.StatusCode, got)
		}
	}
}

// An access-log line is bounded whatever the request: a path of up to 60
// KB (under the 64 KiB the server reads), of control characters that JSON
// writes sixfold or not, with a header of 30 KB, makes a line of under 1
// KiB; so does the answer that echoes the path.
func TestAccessLogLinesAreBounded(t *testing.T) {
	s := start(t, env{"ASIDE_ACCESS_LOG": "1", "ASIDE_LOG_LEVEL": "debug"})
	long := strings.Repeat("%01%C3%A9/", 5<<10)
	for _, path := range []string{"/api/users/" + long, "/" + strings.Repeat("a", 60<<10)} {
		if status, body := s.call("GET", path, nil); status != 404 || len(body) > 1<<10 {
			t.Errorf("GET of a %d-byte path = %d with %d bytes; want a 404 of under 1 KiB", len(path), status, len(body))
		}
	}
	s.call("POST", "/api/users/"+strings.Repeat("9", 30<<10), nil, "X-Big", strings.Repeat("b", 30<<10), "User-Agent", strings.Repeat("u", 1<<10))
	s.must(200, "GET", "/healthz", nil, nil)
	waitFor(t, 5e9, func() bool { return strings.Count(s.logs.String(), `"msg":"request"`) >= 4 })
	for line := range strings.Lines(s.logs.String()) {
		if len(line) > 1<<10 {
			t.Errorf("a log line of %d bytes: %.200s...", len(line), line)
		}
	}
}
