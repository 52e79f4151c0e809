package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside/platform/sqldb/sqldbtest"
	"github.com/aside-cache/aside/redistest"
)

// runMainEnv, set to 1 in the environment, makes the test binary run the
// server's main instead of the tests: a test that needs a process of its
// own (to signal it) starts this binary so.
const runMainEnv = "ASIDE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(redistest.Main(m))
}

// server is an aside-server started by run, on a free port, for one test.
// Tests of what the API does run with authorization off; those of who may
// do it turn it on (withAuth), and their requests then act as the admin
// (testAdmin, signed in at start) unless they name another Authorization.
type server struct {
	t     *testing.T
	env   env // the configuration it was started with
	base  string
	logs  *logBuffer
	done  chan error
	stop  context.CancelFunc
	admin string // the admin's session token
}

// The tests' admin and the password of every user the tests make.
const (
	testAdmin    = "test-admin"
	testPassword = "correct horse battery staple"
)

// logBuffer collects the server's JSON log lines.
type logBuffer struct {
	mu    sync.Mutex
	text  bytes.Buffer // every byte written
	lines []map[string]any
	addr  chan string
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.text.Write(p)
	b.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		b.mu.Lock()
		b.lines = append(b.lines, line)
		b.mu.Unlock()
		if line["msg"] == "listening" {
			b.addr <- line["addr"].(string)
		}
	}
	return len(p), nil
}

// String returns every line written.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.text.String()
}

// all returns the log lines written so far.
func (b *logBuffer) all() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.lines...)
}

// has reports whether a log line with msg was written.
func (b *logBuffer) has(msg string) bool { return b.line(msg) != nil }

// line returns the first log line with msg, or nil.
func (b *logBuffer) line(msg string) map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// env is a test's configuration; every test gets its own database file or
// database, and ASIDE_SEED off unless it asks.
type env map[string]string

func start(t *testing.T, e env) *server {
	t.Helper()
	if e["ADDR"] == "" {
		e["ADDR"] = "127.0.0.1:0"
	}
	if e["DATABASE_URL"] == "" {
		e["DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "aside.db")
	}
	if _, ok := e["ASIDE_SEED"]; !ok {
		e["ASIDE_SEED"] = "off"
	}
	if _, ok := e["ASIDE_AUTH"]; !ok {
		e["ASIDE_AUTH"] = "off"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{t: t, env: e, logs: &logBuffer{addr: make(chan string, 1)}, done: make(chan error, 1), stop: cancel}
	go func() { s.done <- run(ctx, nil, func(k string) string { return e[k] }, io.Discard, s.logs) }()
	select {
	case addr := <-s.logs.addr:
		s.base = "http://" + addr
	case err := <-s.done:
		cancel()
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(3 * time.Minute): // seeding 10,000 jobs under -race takes 30-45 s alone, more beside other packages
		cancel()
		t.Fatal("the server did not start within 3 minutes")
	}
	t.Cleanup(func() {
		s.stop()
		if err := <-s.done; err != nil {
			t.Errorf("run after shutdown = %v; want nil", err)
		}
	})
	if e["ASIDE_ADMIN_OPEN_ID"] == testAdmin && e["ASIDE_ADMIN_PASSWORD"] == testPassword {
		s.admin = s.signIn(testAdmin, testPassword)
	}
	return s
}

// withAuth turns authorization on in e, with the tests' admin.
func withAuth(e env) env {
	e["ASIDE_AUTH"], e["ASIDE_ADMIN_OPEN_ID"], e["ASIDE_ADMIN_PASSWORD"] = "on", testAdmin, testPassword
	return e
}

// signIn returns a session token of the user.
func (s *server) signIn(openID, password string) string {
	s.t.Helper()
	var out struct{ Token string }
	s.must(201, "POST", "/api/sessions", map[string]string{"openId": openID, "password": password}, &out, "Authorization", "")
	return out.Token
}

// stores are the configurations every end-to-end test runs on: the
// defaults (SQLite and memstore), and PostgreSQL with Redis.
func stores(t *testing.T) map[string]func(t *testing.T) env {
	return map[string]func(t *testing.T) env{
		"sqlite+memstore": func(t *testing.T) env { return env{} },
		"postgres+redis": func(t *testing.T) env {
			return env{"DATABASE_URL": sqldbtest.NewDatabase(t), "REDIS_URL": redistest.Shared(t).URL(), "ASIDE_KEY_PREFIX": uniquePrefix(t)}
		},
	}
}

func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("e2e%d:", time.Now().UnixNano())
}

func forEachConfig(t *testing.T, fn func(t *testing.T, s *server)) {
	for name, e := range stores(t) {
		t.Run(name, func(t *testing.T) { fn(t, start(t, e(t))) })
	}
}

// call makes a request and returns the status and body; a request that
// gets no answer is an error of the test and status 0.
func (s *server) call(method, path string, body any, header ...string) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		s.t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.admin != "" {
		req.Header.Set("Authorization", "Bearer "+s.admin)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Errorf("%s %s: %v", method, path, err) // not Fatal: call runs on tests' goroutines too
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// must makes a request that must answer want, decoding the body into out.
func (s *server) must(want int, method, path string, body, out any, header ...string) {
	s.t.Helper()
	status, raw := s.call(method, path, body, header...)
	if status != want {
		s.t.Fatalf("%s %s = %d %s; want %d", method, path, status, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

type user struct {
	ID           int64      `json:"id"`
	OpenID       string     `json:"openId"`
	Name         string     `json:"name"`
	Email        string     `json:"email"`
	Role         string     `json:"role"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	LastSignedIn *time.Time `json:"lastSignedIn"`
}

type job struct {
	ID          int64           `json:"id"`
	UserID      int64           `json:"userId"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Input       json.RawMessage `json:"input"`
	Progress    int             `json:"progress"`
	Error       *string         `json:"error"`
	CompletedAt *time.Time      `json:"completedAt"`
}

type result struct {
	JobID  int64           `json:"jobId"`
	Result json.RawMessage `json:"result"`
}

type apiError struct {
	Error struct{ Code, Message string } `json:"error"`
}

// expectError checks a REST error: its status and its code.
func (s *server) expectError(status int, code, method, path string, body any, header ...string) {
	s.t.Helper()
	var e apiError
	s.must(status, method, path, body, &e, header...)
	if e.Error.Code != code || e.Error.Message == "" {
		s.t.Errorf("%s %s error = %+v; want code %s with a message", method, path, e.Error, code)
	}
}
