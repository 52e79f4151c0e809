package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

const testToken = "a-right-admin-token-0123456789"

// syncBuffer is a log sink that goroutines share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newGuarded returns the /trpc/ handler of a cache on memstore with
// testToken and the allowed origins, logging into the buffer it returns.
// Call it inside the bubble: the cache closes when the test ends.
func newGuarded(t *testing.T, allowedOrigins ...string) (h http.Handler, logs *syncBuffer) {
	t.Helper()
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := aside.New(store, aside.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	logs = &syncBuffer{}
	return New(c, Options{AdminToken: testToken, AllowedOrigins: allowedOrigins, Logger: slog.New(slog.NewJSONHandler(logs, nil))}), logs
}

// clearFrom calls monitoring.cacheClear from the client at remote with
// token, and returns the status and how long the answer took.
func clearFrom(h http.Handler, remote, token string) (int, time.Duration) {
	r := httptest.NewRequest("POST", "/trpc/monitoring.cacheClear", nil)
	r.RemoteAddr = remote
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(w, r)
	return w.Code, time.Since(start)
}

const (
	attacker = "192.0.2.1:1234" // httptest's own remote address
	admin    = "198.51.100.7:5555"
)

// A flood of wrong admin tokens from one client is checked at most one
// per guessInterval: 100 at once get 1 + maxGuessWait/guessInterval
// answers of 401, each logged with the remote address and without the
// token, and the rest a 429 at once, unchecked; none waits past
// maxGuessWait and a wrong answer's interval. The right token from
// another client, sent in the middle of the flood, is answered at once;
// from the flooding client it is not checked either. Before, every guess
// was checked at once and only its answer delayed, which told a client
// that did not wait for it as much: about 9,200 checks a second. Time is
// synctest's.
func TestAFloodOfWrongTokensIsCheckedTenASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, logs := newGuarded(t)
		const guesses = 100
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for i := range guesses {
			wg.Go(func() {
				status, took := clearFrom(h, attacker, testToken[:len(testToken)-1]+string(rune('a'+i%26)))
				if took > maxGuessWait+guessInterval {
					t.Errorf("a wrong token waited %v; want at most %v", took, maxGuessWait+guessInterval)
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			})
		}
		synctest.Wait() // every guess is in: checked, queued or refused
		if status, took := clearFrom(h, admin, testToken); status != 200 || took != 0 {
			t.Errorf("the right token from another client during a flood: %d after %v; want 200 at once", status, took)
		}
		if status, _ := clearFrom(h, attacker, testToken); status != 429 {
			t.Errorf("the right token from the flooding client while its queue is full: %d; want 429, unchecked", status)
		}
		wg.Wait()
		checked := 1 + int(maxGuessWait/guessInterval)
		if statuses[401] != checked || statuses[429] != guesses-checked {
			t.Errorf("%d wrong tokens at once answered %v; want %d checked (401) and the rest 429", guesses, statuses, checked)
		}
		checkFailureLogs(t, logs.String(), checked)
	})
}

// checkFailureLogs wants one warning per wrong token checked, with the
// remote address, and the token nowhere.
func checkFailureLogs(t *testing.T, logs string, want int) {
	t.Helper()
	if strings.Contains(logs, testToken[:16]) {
		t.Errorf("the logs hold the admin token:\n%s", logs)
	}
	n := 0
	for line := range strings.Lines(logs) {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["msg"] != "monitor: wrong admin token" {
			continue
		}
		n++
		if l["level"] != "WARN" || l["remote"] != attacker {
			t.Errorf("failure log %s; want a warning with the remote address", line)
		}
	}
	if n != want {
		t.Errorf("%d failures logged; want %d", n, want)
	}
}

// One client guessing one token after another is checked once per
// guessInterval: each wrong token is answered after guessInterval. An
// admin who mistyped then sends the right one and is let in after the
// same moment at most.
func TestTokensOneAfterAnotherAreCheckedTenASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := newGuarded(t)
		start := time.Now()
		for range 30 {
			if status, took := clearFrom(h, attacker, "wrong-but-long-enough-token"); status != 401 || took != guessInterval {
				t.Fatalf("a wrong token: %d after %v; want 401 after %v", status, took, guessInterval)
			}
		}
		if elapsed := time.Since(start); elapsed < 30*guessInterval {
			t.Errorf("30 wrong tokens one after another answered in %v; want at least %v", elapsed, 30*guessInterval)
		}
		if status, took := clearFrom(h, attacker, testToken); status != 200 || took > guessInterval {
			t.Errorf("the right token after wrong ones: %d after %v; want 200 within %v", status, took, guessInterval)
		}
	})
}

// Past maxSuspects clients with wrong tokens, every client is a suspect
// until the oldest suspect's time is over: the table is bounded, and
// filling it buys no free checks.
func TestAFullTableOfSuspectsGatesEveryone(t *testing.T) {
	var g guessGate
	now := time.Now()
	for i := range maxSuspects {
		g.remember(fmt.Sprint("client-", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	later := now.Add(time.Minute)
	g.remember("one more", later)
	if len(g.suspects) > maxSuspects {
		t.Errorf("%d suspects kept; want at most %d", len(g.suspects), maxSuspects)
	}
	if !g.suspect("a client never seen", later) {
		t.Error("a new client while the table is full: not a suspect; want one")
	}
	if g.suspect("a client never seen", now.Add(suspectFor+time.Second)) {
		t.Error("a new client once the oldest suspect's time is over: a suspect; want none")
	}
}

// Clients are told apart by IP address, IPv6 addresses by their /64.
func TestClientsAreAddressesOrTheirSlash64(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.1:1234":             "192.0.2.1",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:9":   "2001:db8:1:2::/64",
		"not an address":             "not an address",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got := clientOf(r); got != want {
			t.Errorf("clientOf(%q) = %q; want %q", remote, got, want)
		}
	}
}

// The mutations refuse what a page on another site could make a browser
// send, the right token notwithstanding: another site's Origin (403) and a
// body that is not application/json (415); the server's own host, an
// allowed origin and a request with no Origin pass. Before, a text/plain
// POST from http://evil.example cleared the cache.
func TestMutationsRefuseOtherSitesPages(t *testing.T) {
	h, _ := newGuarded(t, "https://app.example.com")
	for _, c := range []struct {
		origin, contentType, body string
		want                      int
	}{
		{"http://evil.example", "application/json", `{"pattern":"x*"}`, 403},
		{"null", "", "", 403},
		{"http://example.com.evil.example", "", "", 403},
		{"", "text/plain", `{"pattern":"x*"}`, 415},
		{"", "application/x-www-form-urlencoded", `{"pattern":"x*"}`, 415},
		{"", "application/json", `{"pattern":"x*"}`, 200},
		{"http://example.com", "application/json; charset=utf-8", `{"pattern":"x*"}`, 200},
		{"https://app.example.com", "application/json", `{"pattern":"x*"}`, 200},
	} {
		r := httptest.NewRequest("POST", "/trpc/monitoring.cacheClearPattern", strings.NewReader(c.body))
		r.Host = "example.com"
		r.Header.Set("Authorization", "Bearer "+testToken)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.contentType != "" {
			r.Header.Set("Content-Type", c.contentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("Origin %q, Content-Type %q: %d %s; want %d", c.origin, c.contentType, w.Code, w.Body, c.want)
		}
	}
}
