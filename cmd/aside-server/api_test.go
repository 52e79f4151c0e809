package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/platform"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// After any write, the next read on every endpoint shows it. Each read
// runs twice before the write, so that the second is a cache hit: the test
// checks invalidation, not just misses.
func TestWritesShowOnEveryEndpoint(t *testing.T) {
	forEachConfig(t, func(t *testing.T, s *server) {
		// Asked for before they exist, user 1 and its jobs are cached as missing.
		s.expectError(404, "NOT_FOUND", "GET", "/api/users/1", nil)
		s.expectError(404, "NOT_FOUND", "GET", "/api/users/1/jobs", nil)
		s.expectError(404, "NOT_FOUND", "GET", "/api/users?openId=oid-a", nil)
		var u user
		s.must(201, "POST", "/api/users", map[string]any{"openId": "oid-a", "name": "Ada", "email": "ada@example.com", "password": testPassword}, &u)
		if u.ID != 1 || u.Role != "user" || u.Name != "Ada" {
			t.Fatalf("created user = %+v; want user 1", u)
		}
		s.must(200, "GET", "/api/users/1", nil, nil)
		s.must(200, "GET", "/api/users/1/jobs", nil, nil)
		s.must(200, "GET", "/api/users?openId=oid-a", nil, nil)
		userPath, byOpenID := fmt.Sprintf("/api/users/%d", u.ID), "/api/users?openId=oid-a"
		readTwice := func(path string, out any) {
			t.Helper()
			s.must(200, "GET", path, nil, nil)
			s.must(200, "GET", path, nil, out)
		}

		// User fields, by id and by open id.
		readTwice(userPath, &u)
		readTwice(byOpenID, &u)
		s.must(200, "PATCH", userPath, map[string]any{"name": "Ada Lovelace"}, nil)
		for _, p := range []string{userPath, byOpenID} {
			var got user
			s.must(200, "GET", p, nil, &got)
			if got.Name != "Ada Lovelace" {
				t.Errorf("GET %s after PATCH name = %q; want Ada Lovelace", p, got.Name)
			}
		}
		// A new open id: the old one is gone, the new one (looked up, and
		// cached as missing, before) is found.
		s.expectError(404, "NOT_FOUND", "GET", "/api/users?openId=oid-b", nil)
		s.must(200, "PATCH", userPath, map[string]any{"openId": "oid-b"}, nil)
		s.expectError(404, "NOT_FOUND", "GET", byOpenID, nil)
		s.must(200, "GET", "/api/users?openId=oid-b", nil, &u)

		// Jobs and the owner's list.
		listPath := userPath + "/jobs?limit=10"
		var list []job
		readTwice(listPath, &list)
		if len(list) != 0 {
			t.Fatalf("jobs of a new user = %d; want none", len(list))
		}
		s.expectError(404, "NOT_FOUND", "GET", "/api/jobs/1", nil) // cached as missing
		var j job
		s.must(201, "POST", "/api/jobs", map[string]any{"userId": u.ID, "type": "export", "input": map[string]int{"rows": 3}}, &j)
		jobPath := fmt.Sprintf("/api/jobs/%d", j.ID)
		s.must(200, "GET", jobPath, nil, &j)
		s.must(200, "GET", listPath, nil, &list)
		if len(list) != 1 || list[0].ID != j.ID || j.Status != "queued" {
			t.Fatalf("after POST job: job %+v, list %+v; want the queued job in the list", j, list)
		}
		readTwice(jobPath, &j)
		readTwice(listPath, &list)
		s.must(200, "PATCH", jobPath, map[string]any{"status": "running", "progress": 40}, nil)
		s.must(200, "GET", jobPath, nil, &j)
		s.must(200, "GET", listPath, nil, &list)
		if j.Status != "running" || j.Progress != 40 || list[0].Status != "running" {
			t.Errorf("after PATCH running 40: job %s %d, list %s; want running everywhere", j.Status, j.Progress, list[0].Status)
		}

		// The result: missing (and cached so), then stored.
		resultPath := jobPath + "/result"
		s.expectError(404, "NOT_FOUND", "GET", resultPath, nil)
		s.expectError(404, "NOT_FOUND", "GET", resultPath, nil)
		var res result
		s.must(201, "PUT", resultPath, map[string]any{"result": map[string]int{"rowsOut": 2}}, &res)
		s.must(200, "GET", resultPath, nil, &res)
		s.must(200, "GET", jobPath, nil, &j)
		s.must(200, "GET", listPath, nil, &list)
		if res.JobID != j.ID || !strings.Contains(string(res.Result), "rowsOut") || j.Status != "completed" ||
			j.Progress != 100 || j.CompletedAt == nil || list[0].Status != "completed" {
			t.Errorf("after PUT result: result %+v, job %+v, list[0] %s; want it everywhere", res, j, list[0].Status)
		}
		s.expectError(409, "CONFLICT", "PUT", resultPath, map[string]any{"result": 1})

		// Sessions: signing in shows on the user, by id and by open id (both
		// read, so cached, before); a change of the user shows on its
		// session; signing out ends it.
		byOpenIDb := "/api/users?openId=oid-b"
		readTwice(userPath, &u)
		readTwice(byOpenIDb, &u)
		var sess struct {
			Token     string
			ExpiresAt time.Time
		}
		s.must(201, "POST", "/api/sessions", map[string]string{"openId": "oid-b", "password": testPassword}, &sess)
		signedIn := sess.ExpiresAt.Add(-platform.SessionTTL)
		for _, p := range []string{userPath, byOpenIDb} {
			var got user
			s.must(200, "GET", p, nil, &got)
			if got.LastSignedIn == nil || !got.LastSignedIn.Equal(signedIn) {
				t.Errorf("GET %s after sign-in: lastSignedIn = %v; want %v", p, got.LastSignedIn, signedIn)
			}
		}
		auth := []string{"Authorization", "Bearer " + sess.Token}
		var me user
		s.must(200, "GET", "/api/session", nil, &me, auth...)
		s.must(200, "GET", "/api/session", nil, &me, auth...)
		if me.ID != u.ID {
			t.Errorf("session user = %d; want %d", me.ID, u.ID)
		}
		s.must(200, "PATCH", userPath, map[string]any{"name": "Augusta Ada King"}, nil)
		s.must(200, "GET", "/api/session", nil, &me, auth...)
		if me.Name != "Augusta Ada King" {
			t.Errorf("GET /api/session after PATCH name = %q; want Augusta Ada King", me.Name)
		}
		s.must(204, "DELETE", "/api/session", nil, nil, auth...)
		s.expectError(401, "UNAUTHORIZED", "GET", "/api/session", nil, auth...)

		// Deleting the user takes everything of it, from every endpoint,
		// its session (read twice, so cached) included.
		s.must(201, "POST", "/api/sessions", map[string]string{"openId": "oid-b", "password": testPassword}, &sess)
		auth = []string{"Authorization", "Bearer " + sess.Token}
		s.must(200, "GET", "/api/session", nil, nil, auth...)
		s.must(200, "GET", "/api/session", nil, nil, auth...)
		s.must(204, "DELETE", userPath, nil, nil)
		for _, gone := range []struct {
			path   string
			status int
			code   string
			header []string
		}{
			{userPath, 404, "NOT_FOUND", nil},
			{byOpenIDb, 404, "NOT_FOUND", nil},
			{jobPath, 404, "NOT_FOUND", nil},
			{resultPath, 404, "NOT_FOUND", nil},
			{listPath, 404, "NOT_FOUND", nil},
			{"/api/session", 401, "UNAUTHORIZED", auth},
		} {
			s.expectError(gone.status, gone.code, "GET", gone.path, nil, gone.header...)
		}
	})
}

type cacheStats struct {
	Hits, Misses, Sets, Deletes, Errors uint64
	HitRate                             float64
	HitRateFormatted                    string
	Breaker                             string
	Namespaces                          map[string]struct{ Hits, Misses uint64 }
}

func (s *server) stats() cacheStats {
	s.t.Helper()
	var out struct {
		Result struct{ Data cacheStats } `json:"result"`
	}
	s.must(200, "GET", "/trpc/monitoring.cacheStats", nil, &out)
	return out.Result.Data
}

// Ten reads of one thing are one miss and nine hits of its namespace, a
// job list's included: the generation read beside a list counts in the
// totals only.
func TestRepeatedReadsRaiseHits(t *testing.T) {
	forEachConfig(t, func(t *testing.T, s *server) {
		var u user
		s.must(201, "POST", "/api/users", map[string]any{"openId": "hits", "password": testPassword}, &u)
		s.must(201, "POST", "/api/jobs", map[string]any{"userId": u.ID, "type": "export"}, nil)
		for _, c := range []struct{ namespace, path string }{
			{"users", fmt.Sprintf("/api/users/%d", u.ID)},
			{"job_lists", fmt.Sprintf("/api/users/%d/jobs", u.ID)},
		} {
			before := s.stats()
			for range 10 {
				s.must(200, "GET", c.path, nil, nil)
			}
			after := s.stats()
			hits := after.Namespaces[c.namespace].Hits - before.Namespaces[c.namespace].Hits
			misses := after.Namespaces[c.namespace].Misses - before.Namespaces[c.namespace].Misses
			if hits != 9 || misses != 1 {
				t.Errorf("10 reads of %s made %d hits and %d misses of %s; want 9 and 1 (one miss fills)", c.path, hits, misses, c.namespace)
			}
			if after.HitRateFormatted != fmt.Sprintf("%.2f%%", after.HitRate) || after.Breaker == "" {
				t.Errorf("cacheStats = %+v; want hitRateFormatted and the breaker state", after)
			}
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	forEachConfig(t, testBadInputChangesNothing)
}

func testBadInputChangesNothing(t *testing.T, s *server) {
	var u user
	s.must(201, "POST", "/api/users", map[string]any{"openId": "keep", "name": "Kept", "password": testPassword}, &u)
	var j job
	s.must(201, "POST", "/api/jobs", map[string]any{"userId": u.ID, "type": "export"}, &j)
	userPath, jobPath := fmt.Sprintf("/api/users/%d", u.ID), fmt.Sprintf("/api/jobs/%d", j.ID)

	// Malformed ids, on every route that takes one, with bodies that would
	// be accepted for a good id: "1.5" or "01" read as 1 would change
	// user 1 or its job.
	for _, id := range []string{"0", "-1", "abc", "1.5", "01", "007", "99999999999999999999", "1e3", "%20", "+1"} {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/users/" + id, nil},
			{"PATCH", "/api/users/" + id, map[string]string{"name": "x"}},
			{"DELETE", "/api/users/" + id, nil},
			{"GET", "/api/users/" + id + "/jobs", nil},
			{"GET", "/api/jobs/" + id, nil},
			{"PATCH", "/api/jobs/" + id, map[string]any{"status": "running", "progress": 50}},
			{"GET", "/api/jobs/" + id + "/result", nil},
			{"PUT", "/api/jobs/" + id + "/result", map[string]any{"result": 1}},
		} {
			s.expectError(400, "BAD_REQUEST", c.method, c.path, c.body)
		}
	}
	s.expectError(404, "NOT_FOUND", "GET", "/api/users/987654", nil)
	for _, body := range []string{`{`, `[]`, `{"name": 5}`, `{"nmae": "typo"}`, `{"name": "a"} {"name": "b"}`, ``, `{"role": "root"}`, `{"email": "not an address"}`, `{}`} {
		s.expectError(400, "BAD_REQUEST", "PATCH", userPath, body)
	}
	s.expectError(400, "BAD_REQUEST", "POST", "/api/users", `{"name": "no open id"}`)
	s.expectError(409, "CONFLICT", "POST", "/api/users", map[string]string{"openId": "keep", "password": testPassword})
	s.expectError(413, "PAYLOAD_TOO_LARGE", "POST", "/api/users", `{"openId": "big", "name": "`+strings.Repeat("x", 300<<10)+`"}`)
	s.expectError(413, "PAYLOAD_TOO_LARGE", "PATCH", userPath, `{"name": "`+strings.Repeat("x", 300<<10)+`"}`)
	s.expectError(400, "BAD_REQUEST", "POST", "/api/jobs", map[string]any{"userId": u.ID, "type": "x", "input": "not an object", "extra": 1})
	s.expectError(404, "NOT_FOUND", "POST", "/api/jobs", map[string]any{"userId": 424242, "type": "x"})
	s.expectError(400, "BAD_REQUEST", "PATCH", jobPath, map[string]any{"progress": 101})
	s.expectError(400, "BAD_REQUEST", "PATCH", jobPath, map[string]any{"status": "done"})
	for _, limit := range []string{"0", "101", "abc", "-5", "", "1.5"} {
		s.expectError(400, "BAD_REQUEST", "GET", userPath+"/jobs?limit="+url.QueryEscape(limit), nil)
	}
	s.expectError(400, "BAD_REQUEST", "GET", "/api/users", nil)
	// A result must be there, and be something: null would complete the
	// job with nothing to show.
	for _, body := range []string{`{"result": }`, `{"result": null}`, `{"result":null}`, `{}`, `{"result": {"a": 1}, "extra": 1}`} {
		s.expectError(400, "BAD_REQUEST", "PUT", jobPath+"/result", body)
	}
	s.expectError(401, "UNAUTHORIZED", "GET", "/api/session", nil)
	s.expectError(401, "UNAUTHORIZED", "GET", "/api/session", nil, "Authorization", "Bearer not-a-token")
	s.expectError(401, "UNAUTHORIZED", "GET", "/api/session", nil, "Authorization", "Bearer "+strings.Repeat("A", 43))
	s.expectError(401, "UNAUTHORIZED", "DELETE", "/api/session", nil, "Authorization", "Basic x")
	s.expectError(401, "UNAUTHORIZED", "POST", "/api/sessions", map[string]string{"openId": "nobody", "password": testPassword})
	s.expectError(405, "METHOD_NOT_ALLOWED", "DELETE", "/api/jobs/1", nil)
	s.expectError(404, "NOT_FOUND", "GET", "/api/nothing", nil)

	// Nothing changed.
	var after user
	s.must(200, "GET", userPath, nil, &after)
	var afterJob job
	s.must(200, "GET", jobPath, nil, &afterJob)
	if after != u || afterJob.Status != "queued" || afterJob.Progress != 0 || afterJob.CompletedAt != nil {
		t.Errorf("after the bad requests: user %+v (want %+v), job %s %d", after, u, afterJob.Status, afterJob.Progress)
	}
	s.expectError(404, "NOT_FOUND", "GET", jobPath+"/result", nil)
	var list []job
	s.must(200, "GET", userPath+"/jobs", nil, &list)
	if len(list) != 1 {
		t.Errorf("the user has %d jobs after the bad requests; want 1", len(list))
	}
}

func TestHealthReadyAndMetrics(t *testing.T) {
	forEachConfig(t, func(t *testing.T, s *server) {
		// The in-process store has no breaker and nothing to ping.
		wantStore, wantBreaker, wantPing := "memstore", "none", ""
		if s.env["REDIS_URL"] != "" {
			wantStore, wantBreaker, wantPing = "redis", "closed", "ok"
		}
		s.must(200, "GET", "/healthz", nil, nil)
		var ready struct {
			Status, Database string
			Cache            struct{ Store, Breaker, Ping string }
		}
		s.must(200, "GET", "/readyz", nil, &ready)
		if ready.Status != "ready" || ready.Database != "ok" || ready.Cache.Store != wantStore ||
			ready.Cache.Breaker != wantBreaker || ready.Cache.Ping != wantPing {
			t.Errorf("/readyz = %+v; want ready, database ok, cache %s, breaker %s, ping %q", ready, wantStore, wantBreaker, wantPing)
		}
		var u user
		s.must(201, "POST", "/api/users", map[string]any{"openId": "m", "password": testPassword}, &u)
		s.must(200, "GET", fmt.Sprintf("/api/users/%d", u.ID), nil, nil)
		s.must(200, "GET", fmt.Sprintf("/api/users/%d", u.ID), nil, nil)
		status, body := s.call("GET", "/metrics", nil)
		if status != 200 {
			t.Fatalf("/metrics = %d", status)
		}
		for _, want := range []string{
			`aside_cache_hits_total{namespace="users"} 1`,
			`aside_cache_misses_total{namespace="users"} 1`,
			`aside_cache_hit_ratio{namespace="users"} 0.5`,
			`aside_cache_load_duration_seconds_count{namespace="users"} 1`,
			`aside_cache_breaker_state{state="` + wantBreaker + `"} 1`,
			`aside_cache_stale_served_total{namespace="users"} 0`,
			`aside_cache_lease_waits_total{namespace="users"} 0`,
			`aside_cache_fills_rejected_total{namespace="users"} 0`,
			`aside_cache_invalidations_replayed_total{namespace="users"} 0`,
			`aside_http_requests_total{code="200",route="GET /api/users/{id}"} 2`,
			`aside_http_request_duration_seconds_bucket{route="GET /api/users/{id}"`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// The start-up log names the address, the database and the cache store,
// Redis's address included, and no password.
func TestStartupLogNamesTheStores(t *testing.T) {
	forEachConfig(t, func(t *testing.T, s *server) {
		l := s.logs.line("listening")
		raw, _ := json.Marshal(l)
		wantCache := "memstore"
		if redisURL := s.env["REDIS_URL"]; redisURL != "" {
			wantCache = "redis"
			if want := strings.TrimSuffix(strings.TrimPrefix(redisURL, "redis://"), "/0"); l["redis"] != want {
				t.Errorf("start-up log redis = %v; want %s", l["redis"], want)
			}
		}
		if l["cache"] != wantCache || l["addr"] != strings.TrimPrefix(s.base, "http://") {
			t.Errorf("start-up log = %s; want the address and cache %s", raw, wantCache)
		}
		dbURL, err := url.Parse(s.env["DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		if pw, ok := dbURL.User.Password(); ok && strings.Contains(string(raw), ":"+pw+"@") {
			t.Errorf("start-up log = %s; it shows the database password", raw)
		}
		if db, _ := l["database"].(string); !strings.HasPrefix(db, strings.SplitN(s.env["DATABASE_URL"], ":", 2)[0]) {
			t.Errorf("start-up log database = %q; want it named after %s", db, s.env["DATABASE_URL"])
		}
	})
}

func TestDemoDataOnFirstStart(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 jobs")
	}
	s := start(t, env{"ASIDE_SEED": "auto"})
	if !s.logs.has("demo data: filled an empty database") || !s.logs.has(clearedLog) {
		t.Error("the server did not log its demo data and the clear of the cache after it")
	}
	// The warm-up's figures: the database holds more than it reads.
	w := s.logs.line("warm-up done")
	for field, want := range map[string]int{"users": platform.WarmUsers, "usersByOpenId": platform.WarmUsers, "jobs": platform.WarmJobs} {
		if got, _ := w[field].(float64); got != float64(want) {
			t.Errorf("warm-up log %s = %v; want %d (log line %v)", field, w[field], want, w)
		}
	}
	if took, err := time.ParseDuration(fmt.Sprint(w["took"])); err != nil || took <= 0 {
		t.Errorf("warm-up log took = %v (%v); want a duration", w["took"], err)
	}
	var u user
	s.must(200, "GET", "/api/users/1000", nil, &u)
	s.must(200, "GET", "/api/jobs/10000", nil, nil)
	var list []job
	s.must(200, "GET", "/api/users/1/jobs", nil, &list)
	if st := s.stats(); st.Sets < 400 {
		t.Errorf("sets after the warm-up = %d; want the 100 users (twice) and 200 jobs", st.Sets)
	}
	if _, err := http.Get(s.base + "/api/users/1"); err != nil {
		t.Fatal(err)
	}
}

// clearedLog is what the server logs when it cleared the cache after
// filling an empty database.
const clearedLog = "demo data: cleared the cache of entries from an earlier database"

// Redis may hold entries, under the same prefix, of a database since
// deleted. A server that fills a new database clears them before its
// warm-up, which would otherwise leave them in place and serve them.
func TestSeedingClearsEntriesOfAnEarlierDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds the demo data")
	}
	ctx := context.Background()
	redis, prefix := redistest.Shared(t), uniquePrefix(t)
	store, err := redisstore.New(redisstore.Options{Addrs: []string{redis.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	earlier, err := aside.New(store, aside.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer earlier.Close()
	stale := platform.User{ID: 1, OpenID: "demo-000001", Name: "Stale, of an earlier database", Role: platform.RoleUser}
	if err := aside.Set(ctx, earlier, aside.Key(platform.UsersNS.Prefix, "1"), stale, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := redistest.Do(redis.Addr, "SET", prefix+"leftover", "x"); err != nil {
		t.Fatal(err)
	}

	s := start(t, env{"ASIDE_SEED": "auto", "REDIS_URL": redis.URL(), "ASIDE_KEY_PREFIX": prefix})
	if l := s.logs.line(clearedLog); l == nil || l["removed"] == nil || l["removed"].(float64) < 2 {
		t.Errorf("the clear after seeding logged %v; want at least the 2 keys of the earlier database removed", l)
	}
	if n, err := redistest.Do(redis.Addr, "EXISTS", prefix+"leftover"); n != "0" || err != nil {
		t.Errorf("EXISTS %sleftover after the start = %s, %v; want 0", prefix, n, err)
	}
	var u user
	s.must(200, "GET", "/api/users/1", nil, &u)
	if u.Name == stale.Name {
		t.Errorf("GET /api/users/1 = %+v; the entry of the earlier database was served", u)
	}
}

// Input one database would take and the other refuse gets a 400 on both:
// NUL characters (PostgreSQL cannot store them), and an open id longer
// than any stored one (it would fill the cache with negative entries).
func TestInputBothDatabasesRefuse(t *testing.T) {
	forEachConfig(t, func(t *testing.T, s *server) {
		var u user
		s.must(201, "POST", "/api/users", map[string]any{"openId": "nul", "password": testPassword}, &u)
		s.expectError(400, "BAD_REQUEST", "POST", "/api/users", map[string]any{"openId": "a\x00b", "password": testPassword})
		s.expectError(400, "BAD_REQUEST", "PATCH", fmt.Sprintf("/api/users/%d", u.ID), map[string]any{"name": "x\x00"})
		s.expectError(400, "BAD_REQUEST", "POST", "/api/jobs", `{"userId": `+fmt.Sprint(u.ID)+`, "type": "x", "input": {"k": "\u0000"}}`)
		var j job
		s.must(201, "POST", "/api/jobs", `{"userId": `+fmt.Sprint(u.ID)+`, "type": "x", "input": {"k": "\\u0000 is text", "b": 1,  "a": 2}}`, &j)
		// Compacted by the JSON encoder, but in the order sent: JSONB would
		// have sorted the keys on PostgreSQL only.
		if string(j.Input) != `{"k":"\\u0000 is text","b":1,"a":2}` {
			t.Errorf("job input came back as %s; want the keys as sent, on both databases", j.Input)
		}
		s.expectError(400, "BAD_REQUEST", "PUT", fmt.Sprintf("/api/jobs/%d/result", j.ID), `{"result": ["\u0000"]}`)
		s.expectError(400, "BAD_REQUEST", "GET", "/api/users?openId="+strings.Repeat("x", 300), nil)
	})
}

// With the cache off, the API reads the database and /trpc/ answers in
// tRPC's error envelope.
func TestCacheOff(t *testing.T) {
	s := start(t, env{"ASIDE_CACHE": "off"})
	var u user
	s.must(201, "POST", "/api/users", map[string]any{"openId": "off", "password": testPassword}, &u)
	s.must(200, "PATCH", fmt.Sprintf("/api/users/%d", u.ID), map[string]any{"name": "renamed"}, nil)
	s.must(200, "GET", fmt.Sprintf("/api/users/%d", u.ID), nil, &u)
	if u.Name != "renamed" {
		t.Errorf("uncached read = %+v", u)
	}
	s.trpcFails(404, -32004, "NOT_FOUND", "GET", "/trpc/monitoring.cacheStats", nil)
	var ready struct{ Cache struct{ Store string } }
	s.must(200, "GET", "/readyz", nil, &ready)
	if ready.Cache.Store != "none" {
		t.Errorf("/readyz cache store = %q; want none", ready.Cache.Store)
	}
}
