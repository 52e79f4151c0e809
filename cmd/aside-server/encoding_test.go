package main

import (
	"fmt"
	"strings"
	"testing"
)

// Text that is not Unicode, in any string of any JSON body (raw bytes that
// are no UTF-8, or an escaped half of a surrogate pair), is a 400 on both
// databases, and no error in the logs: SQLite stored it, PostgreSQL failed
// with a 500 and an error line per request. A whole pair is text.
func TestInvalidUnicodeIsABadRequestOnEveryDatabase(t *testing.T) {
	forEachConfig(t, func(t *testing.T, s *server) {
		var u user
		s.must(201, "POST", "/api/users", map[string]any{"openId": "utf8", "password": testPassword}, &u)
		var j job
		s.must(201, "POST", "/api/jobs", fmt.Sprintf(`{"userId": %d, "type": "x", "input": {"k": "\ud83d\ude00 \u00e9"}}`, u.ID), &j)
		userPath, jobPath := fmt.Sprintf("/api/users/%d", u.ID), fmt.Sprintf("/api/jobs/%d", j.ID)
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/api/users", "{\"openId\": \"bad\xff\"}"},
			{"PATCH", userPath, "{\"name\": \"\xc3\"}"},
			{"POST", "/api/jobs", fmt.Sprintf("{\"userId\": %d, \"type\": \"x\", \"input\": {\"k\": \"\xff\"}}", u.ID)},
			{"POST", "/api/jobs", fmt.Sprintf("{\"userId\": %d, \"type\": \"x\", \"input\": {\"k\xfe\": 1}}", u.ID)},
			{"POST", "/api/jobs", fmt.Sprintf(`{"userId": %d, "type": "x", "input": {"k": "\ud800"}}`, u.ID)},
			{"POST", "/api/jobs", fmt.Sprintf(`{"userId": %d, "type": "x", "input": ["\\", "\udc00\ud800"]}`, u.ID)},
			{"PATCH", jobPath, "{\"error\": \"\xed\xa0\x80\"}"},
			{"PUT", jobPath + "/result", "{\"result\": {\"rows\": \"\xf0\x9f\"}}"},
			{"PUT", jobPath + "/result", `{"result": ["\uDBFF"]}`},
			{"POST", "/api/sessions", "{\"openId\": \"utf8\xff\"}"},
		} {
			if status, body := s.call(c.method, c.path, c.body); status != 400 || !strings.Contains(string(body), `"BAD_REQUEST"`) {
				t.Errorf("%s %s %q = %d %s; want 400 BAD_REQUEST", c.method, c.path, c.body, status, body)
			}
		}
		s.must(200, "GET", jobPath, nil, &j)
		if j.Status != "queued" || string(j.Input) != `{"k":"\ud83d\ude00 \u00e9"}` {
			t.Errorf("job after the refused writes = %+v; want it as created", j)
		}
		for _, l := range s.logs.all() {
			if l["level"] == "ERROR" {
				t.Errorf("error logged: %v", l)
			}
		}
	})
}
