package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside/platform/sqldb/sqldbtest"
)

// The password of every URL below. A parser that stumbles on one of its
// delimiters quotes a piece of it, which leaks looks for; a piece that
// ends up read as a host name is no valid one (~), so that the resolver
// refuses it without asking a name server.
const (
	pieceA   = "Zq7k"
	pieceB   = "Wx9v"
	pieceC   = "Pm4j"
	pieceD   = "Hn2c"
	password = pieceA + "~@" + pieceB + "~/" + pieceC + "~#" + pieceD + "~"
)

// leaks returns the pieces of the password that text shows.
func leaks(text string) []string {
	var shown []string
	for _, p := range []string{pieceA, pieceB, pieceC, pieceD} {
		if strings.Contains(text, p) {
			shown = append(shown, p)
		}
	}
	return shown
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A URL that holds a password, malformed in every way a parser quotes a
// piece of it, never shows the password, or a piece of it, in run's error
// or its logs.
func TestMalformedURLsNeverShowTheirPassword(t *testing.T) {
	dead := deadAddr(t)
	userinfo := url.UserPassword("app", password).String() // written as it should be
	for name, e := range map[string]env{
		"redis, raw":             {"REDIS_URL": "redis://app:" + password + "@" + dead + "/0"},
		"redis, space":           {"REDIS_URL": "redis://:" + pieceA + " " + pieceB + "@" + dead + "/0"},
		"redis, slash":           {"REDIS_URL": "redis://app:" + pieceA + "/" + pieceB + "@" + dead + "/0"},
		"redis, bad escape":      {"REDIS_URL": "redis://app:" + pieceA + "%zz" + pieceB + "@" + dead + "/0"},
		"redis, bad db":          {"REDIS_URL": "redis://" + userinfo + "@" + dead + "/x"},
		"redis, bad port":        {"REDIS_URL": "redis://" + userinfo + "@127.0.0.1:x/0"},
		"redis, password alone":  {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "x", "REDIS_PASSWORD": password},
		"postgres, raw":          {"DATABASE_URL": "postgres://app:" + password + "@" + dead + "/db"},
		"postgres, at sign":      {"DATABASE_URL": "postgres://app:" + pieceA + "@" + pieceB + "@" + dead + "/db"},
		"postgres, slash":        {"DATABASE_URL": "postgres://app:" + pieceA + "/" + pieceB + "@" + dead + "/db"},
		"postgres, space":        {"DATABASE_URL": "postgres://app:" + pieceA + " " + pieceB + "@" + dead + "/db"},
		"postgres, bad escape":   {"DATABASE_URL": "postgres://app:" + pieceA + "%zz" + pieceB + "@" + dead + "/db"},
		"postgres, parameter":    {"DATABASE_URL": "postgres://app@" + dead + "/db?sslmode=bogus&password=" + url.QueryEscape(password)},
		"postgres, dead":         {"DATABASE_URL": "postgres://" + userinfo + "@" + dead + "/db?connect_timeout=2"},
		"sqlite, parameter":      {"DATABASE_URL": "sqlite:/tmp/a.db?password=" + url.QueryEscape(password)},
		"unknown scheme":         {"DATABASE_URL": "mysql://app:" + password + "@" + dead + "/db"},
		"admin token, too short": {"ASIDE_ADMIN_TOKEN": pieceA + pieceB},
	} {
		t.Run(name, func(t *testing.T) {
			e["ADDR"] = "127.0.0.1:0"
			e["ASIDE_SEED"] = "off"
			if e["DATABASE_URL"] == "" {
				e["DATABASE_URL"] = "sqlite:" + t.TempDir() + "/aside.db"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			logs := &stopOnListen{stop: cancel} // a URL the parser misreads may start the server
			err := run(ctx, nil, func(k string) string { return e[k] }, logs, logs)
			if err == nil {
				err = errors.New("")
			}
			if shown := leaks(err.Error() + logs.String()); shown != nil {
				t.Errorf("run's error or logs show %q of the password:\n%v\n%s", shown, err, logs)
			}
		})
	}
}

// A server whose Redis URL and database URL hold passwords, with Redis
// gone, never shows them in its logs, at every level, while it serves and
// stops.
func TestAServersLogsNeverShowItsPasswords(t *testing.T) {
	db, err := url.Parse(sqldbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	db.User = url.UserPassword(db.User.Username(), password) // trust authentication ignores it
	s := start(t, env{
		"DATABASE_URL":      db.String(),
		"REDIS_URL":         "redis://" + url.UserPassword("app", password).String() + "@" + deadAddr(t) + "/0",
		"ASIDE_ADMIN_TOKEN": pieceA + pieceB + pieceC + pieceD,
		"ASIDE_LOG_LEVEL":   "debug",
		"ASIDE_ACCESS_LOG":  "1",
	})
	s.must(201, "POST", "/api/users", map[string]any{"openId": "secrets", "password": testPassword}, nil)
	s.must(404, "GET", "/api/users/424242", nil, nil)
	s.call("GET", "/readyz", nil)
	s.call("POST", "/trpc/monitoring.cacheClear", nil, "Authorization", "Bearer "+pieceA+pieceB+pieceC)
	s.stop()
	if err := <-s.done; err != nil {
		t.Errorf("run = %v", err)
	}
	s.done <- nil // for the cleanup
	if shown := leaks(s.logs.String()); shown != nil {
		t.Errorf("the logs show %q of the password:\n%s", shown, s.logs)
	}
	if !strings.Contains(s.logs.String(), "redis") || s.logs.line("listening") == nil {
		t.Errorf("the logs lack the server's start:\n%s", s.logs)
	}
}

// stopOnListen collects a server's logs and stops it once it listens.
type stopOnListen struct {
	mu   sync.Mutex
	text bytes.Buffer
	stop context.CancelFunc
}

func (w *stopOnListen) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte(`"msg":"listening"`)) {
		w.stop()
	}
	return w.text.Write(p)
}

func (w *stopOnListen) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.text.String()
}
