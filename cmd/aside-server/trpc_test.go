package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aside-cache/aside/redistest"
)

// trpcError is tRPC's error envelope.
type trpcError struct {
	Error struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
		Data    struct {
			Code       string `json:"code"`
			HTTPStatus int    `json:"httpStatus"`
			Path       string `json:"path"`
		} `json:"data"`
	} `json:"error"`
}

type clearResult struct {
	Success bool   `json:"success"`
	Deleted int    `json:"deleted"`
	Message string `json:"message"`
}

// trpcFails checks a tRPC error: its status, its codes and that it has a
// message, which it returns.
func (s *server) trpcFails(status, rpcCode int, code, method, path string, body any, header ...string) string {
	s.t.Helper()
	var e trpcError
	s.must(status, method, path, body, &e, header...)
	if e.Error.Code != rpcCode || e.Error.Data.Code != code || e.Error.Data.HTTPStatus != status || e.Error.Message == "" {
		s.t.Errorf("%s %s = %+v; want %s (%d, HTTP %d) with a message", method, path, e.Error, code, rpcCode, status)
	}
	return e.Error.Message
}

func TestMonitoringMutationsNeedTheAdminToken(t *testing.T) {
	// Without a token configured, both mutations are off, and say how to
	// turn them on.
	open := start(t, env{})
	for _, call := range []struct {
		path string
		body any
	}{
		{"/trpc/monitoring.cacheClear", nil},
		{"/trpc/monitoring.cacheClearPattern", `{"pattern":"user:*"}`},
	} {
		if msg := open.trpcFails(403, -32003, "FORBIDDEN", "POST", call.path, call.body); !strings.Contains(msg, "ASIDE_ADMIN_TOKEN") {
			t.Errorf("POST %s without a token configured says %q; want it to name ASIDE_ADMIN_TOKEN", call.path, msg)
		}
	}

	s := start(t, env{"ASIDE_ADMIN_TOKEN": "s3cret-admin-token"})
	auth := []string{"Authorization", "Bearer s3cret-admin-token"}
	var u user
	s.must(201, "POST", "/api/users", map[string]any{"openId": "kept-cached", "password": testPassword}, &u)
	userPath := fmt.Sprintf("/api/users/%d", u.ID)
	s.must(200, "GET", userPath, nil, nil) // cached from here on
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret-admin-token"}, {"Authorization", "Bearer "}, {"Authorization", "Basic s3cret-admin-token"}} {
		s.trpcFails(401, -32001, "UNAUTHORIZED", "POST", "/trpc/monitoring.cacheClear", nil, h...)
		s.trpcFails(401, -32001, "UNAUTHORIZED", "POST", "/trpc/monitoring.cacheClearPattern", `{"pattern":"user:*"}`, h...)
	}
	// An oversize body, though it is JSON that would clear everything
	// (blanks after {"pattern":"*"}), is refused whole, with the token.
	oversize := `{"pattern":"*"}` + strings.Repeat(" ", 100<<10)
	s.trpcFails(413, -32013, "PAYLOAD_TOO_LARGE", "POST", "/trpc/monitoring.cacheClearPattern", oversize, auth...)
	s.trpcFails(413, -32013, "PAYLOAD_TOO_LARGE", "POST", "/trpc/monitoring.cacheClear", oversize, auth...)
	before := s.stats().Namespaces["users"].Hits
	s.must(200, "GET", userPath, nil, nil)
	if hits := s.stats().Namespaces["users"].Hits - before; hits != 1 {
		t.Errorf("after the refused mutations, a read of the cached user made %d hits; want 1 (nothing cleared)", hits)
	}

	var out struct{ Result struct{ Data clearResult } }
	s.must(200, "POST", "/trpc/monitoring.cacheClear", nil, &out, "Authorization", "bearer s3cret-admin-token") // the scheme is case-insensitive
	if !out.Result.Data.Success || out.Result.Data.Message == "" {
		t.Errorf("cacheClear with the token = %+v; want success", out.Result.Data)
	}
}

// The monitoring procedures through tRPC's batching, against Redis, with
// keys of another application beside the cache's.
func TestMonitoringProcedures(t *testing.T) {
	srv := redistest.Start(t)
	s := start(t, env{"REDIS_URL": srv.URL(), "ASIDE_ADMIN_TOKEN": "test-admin-token"})
	auth := []string{"Authorization", "Bearer test-admin-token"}
	for _, k := range []string{"queue:job:1", "ratelimit:1.2.3.4", "asidex:1"} {
		redistest.Do(srv.Addr, "SET", k, "theirs")
	}
	var u user
	for i := range 3 {
		s.must(201, "POST", "/api/users", map[string]any{"openId": fmt.Sprint("m", i), "password": testPassword}, &u)
		s.must(200, "GET", fmt.Sprintf("/api/users/%d", u.ID), nil, nil)
		s.must(200, "GET", fmt.Sprintf("/api/users/%d/jobs", u.ID), nil, nil)
	}

	// A batch of two queries over GET, as httpBatchLink sends them.
	status, raw := s.call("GET", "/trpc/monitoring.cacheStats,monitoring.cacheStats?batch=1&input="+url.QueryEscape(`{}`), nil)
	var batch []struct{ Result struct{ Data cacheStats } }
	if err := json.Unmarshal(raw, &batch); status != 200 || err != nil || len(batch) != 2 || batch[0].Result.Data.Sets == 0 {
		t.Fatalf("batched cacheStats = %d %s", status, raw)
	}

	// Patterns that try to leave the prefix reach nothing outside it, and
	// nothing of the cache's that they do not match.
	cacheKeys := func() string {
		v, _ := redistest.Do(srv.Addr, "EVAL", "return #redis.call('KEYS', ARGV[1])", "0", "aside:*")
		return v
	}
	before := cacheKeys()
	var out struct{ Result struct{ Data clearResult } }
	for _, escape := range []string{"../*", "\\*", "queue:*", "*queue*", "ratelimit:*"} {
		s.must(200, "POST", "/trpc/monitoring.cacheClearPattern", map[string]string{"pattern": escape}, &out, auth...)
		if out.Result.Data.Deleted != 0 {
			t.Errorf("pattern %q deleted %d keys; want none", escape, out.Result.Data.Deleted)
		}
	}
	if after := cacheKeys(); after != before || before == "0" {
		t.Errorf("the cache's keys went from %s to %s under patterns that match none of them", before, after)
	}
	if keys, _ := redistest.Do(srv.Addr, "DBSIZE"); keys == "3" {
		t.Fatal("the cache holds no keys: the test proves nothing")
	}

	// A batch of both mutations over POST: clear users, then everything.
	status, raw = s.call("POST", "/trpc/monitoring.cacheClearPattern,monitoring.cacheClear?batch=1",
		`{"0":{"pattern":"user:*"}}`, auth...)
	var results []struct{ Result struct{ Data clearResult } }
	if err := json.Unmarshal(raw, &results); status != 200 || err != nil || len(results) != 2 {
		t.Fatalf("batched mutations = %d %s", status, raw)
	}
	// The 3 users' entries; not the tombstones their creation left on
	// their open ids, which go too but are no entries.
	if r := results[0].Result.Data; !r.Success || r.Deleted != 3 {
		t.Errorf("cacheClearPattern(user:*) = %+v; want 3 entries deleted", r)
	}
	if n, _ := redistest.Do(srv.Addr, "EVAL", "return #redis.call('KEYS', ARGV[1])", "0", "aside:user:*"); n != "0" {
		t.Errorf("%s user keys left after cacheClearPattern(user:*)", n)
	}
	if r := results[1].Result.Data; !r.Success || r.Deleted < 3 {
		t.Errorf("cacheClear = %+v; want the job-list keys deleted", r)
	}
	// Left: the other application's 3 keys, and the cache's epoch mark,
	// which a Clear leaves (it would read as a flush: docs/CONSISTENCY.md,
	// section 9).
	if keys, _ := redistest.Do(srv.Addr, "EVAL", "return #redis.call('KEYS', ARGV[1])", "0", "aside:*"); keys != "1" {
		t.Errorf("cache keys left in Redis = %s; want the epoch mark alone", keys)
	}
	if keys, _ := redistest.Do(srv.Addr, "DBSIZE"); keys != "4" {
		t.Errorf("keys left in Redis = %s; want the other application's 3 and the epoch mark", keys)
	}

	// Patterns: empty, too long, malformed, or trying to leave the prefix.
	for _, body := range []string{`{}`, `{"pattern":""}`, `{"pattern":"` + strings.Repeat("*", 300) + `"}`,
		`{"pattern":"user:[a"}`, `{"pattern":"x\\"}`, `{"pattern":5}`, `{"pattern":"*","extra":1}`, `"user:*"`} {
		s.trpcFails(400, -32600, "BAD_REQUEST", "POST", "/trpc/monitoring.cacheClearPattern", body, auth...)
	}

	// The wire format's own errors.
	s.trpcFails(405, -32005, "METHOD_NOT_SUPPORTED", "POST", "/trpc/monitoring.cacheStats", nil)
	s.trpcFails(405, -32005, "METHOD_NOT_SUPPORTED", "GET", "/trpc/monitoring.cacheClear", nil, auth...)
	s.trpcFails(404, -32004, "NOT_FOUND", "GET", "/trpc/monitoring.nothing", nil)
	s.trpcFails(400, -32700, "PARSE_ERROR", "POST", "/trpc/monitoring.cacheClearPattern", `{"pattern":`, auth...)
	s.trpcFails(400, -32600, "BAD_REQUEST", "GET", "/trpc/monitoring.cacheStats,monitoring.cacheStats", nil)
	s.trpcFails(400, -32600, "BAD_REQUEST", "GET", "/trpc/monitoring.cacheStats", nil, "trpc-accept", "application/jsonl")

	// A batch whose calls end differently answers 207, each in its place.
	status, raw = s.call("GET", "/trpc/monitoring.cacheStats,monitoring.nothing?batch=1", nil)
	var mixed []json.RawMessage
	if err := json.Unmarshal(raw, &mixed); status != 207 || err != nil || len(mixed) != 2 ||
		!strings.Contains(string(mixed[0]), `"result"`) || !strings.Contains(string(mixed[1]), `"NOT_FOUND"`) {
		t.Errorf("mixed batch = %d %s; want 207 with a result then an error", status, raw)
	}
}

// A cache that fails is no request's failure: with Redis dead the server
// answers from the database, reports the state, and clears say so.
func TestRedisDownAtStartAndAfter(t *testing.T) {
	srv := redistest.Start(t)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	s := start(t, env{"REDIS_URL": srv.URL(), "ASIDE_ADMIN_TOKEN": "test-admin-token"})
	var u user
	s.must(201, "POST", "/api/users", map[string]any{"openId": "down", "password": testPassword}, &u)
	for range 10 {
		s.must(200, "GET", fmt.Sprintf("/api/users/%d", u.ID), nil, nil)
	}
	var ready struct {
		Status string
		Cache  struct{ Store, Breaker, Ping string }
	}
	s.must(200, "GET", "/readyz", nil, &ready)
	if ready.Status != "ready" || ready.Cache.Store != "redis" || ready.Cache.Ping == "ok" {
		t.Errorf("/readyz with Redis down = %+v; want ready, with the cache's trouble reported", ready)
	}
	var out struct{ Result struct{ Data clearResult } }
	s.must(200, "POST", "/trpc/monitoring.cacheClear", nil, &out, "Authorization", "Bearer test-admin-token")
	if out.Result.Data.Success {
		t.Errorf("cacheClear with Redis down = %+v; success must not be true when the work failed", out.Result.Data)
	}
}
