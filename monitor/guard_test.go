package monitor

import (
	"bytes"
	"encoding/json"
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
// testToken, logging into the buffer it returns. Call it inside the
// bubble: the cache closes when the test ends.
func newGuarded(t *testing.T) (h http.Handler, logs *syncBuffer) {
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
	return New(c, Options{AdminToken: testToken, Logger: slog.New(slog.NewJSONHandler(logs, nil))}), logs
}

// clearWith calls monitoring.cacheClear with token and returns the status
// and how long the answer took.
func clearWith(h http.Handler, token string) (int, time.Duration) {
	r := httptest.NewRequest("POST", "/trpc/monitoring.cacheClear", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(w, r)
	return w.Code, time.Since(start)
}

// Wrong admin tokens are answered at most one per failureInterval across
// the process, each logged with the remote address and without the token;
// none waits more than maxFailureWait, and the right token, sent in the
// middle of a flood of wrong ones, is answered at once. Time is synctest's.
func TestWrongAdminTokensAreSlowedAndLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, logs := newGuarded(t)
		const guesses = 100
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var waits []time.Duration
		for i := range guesses {
			wg.Go(func() {
				status, took := clearWith(h, testToken[:len(testToken)-1]+string(rune('a'+i%26)))
				if status != 401 {
					t.Errorf("a wrong token answered %d; want 401", status)
				}
				mu.Lock()
				waits = append(waits, took)
				mu.Unlock()
			})
		}
		synctest.Wait() // every guess is in, waiting its turn
		if status, took := clearWith(h, testToken); status != 200 || took != 0 {
			t.Errorf("the right token during a flood: %d after %v; want 200 at once", status, took)
		}
		wg.Wait()
		slowest, served := time.Duration(0), 0
		for _, w := range waits {
			slowest = max(slowest, w)
			if w < maxFailureWait {
				served++
			}
		}
		if slowest > maxFailureWait {
			t.Errorf("a wrong token waited %v; want at most %v", slowest, maxFailureWait)
		}
		if limit := int(maxFailureWait / failureInterval); served > limit {
			t.Errorf("%d wrong tokens answered within %v; want at most %d", served, maxFailureWait, limit)
		}
		if elapsed := time.Since(start); elapsed < maxFailureWait {
			t.Errorf("%d wrong tokens answered in %v; want them spread over at least %v", guesses, elapsed, maxFailureWait)
		}
		checkFailureLogs(t, logs.String(), guesses)
	})
}

// checkFailureLogs wants one warning per wrong token, with the remote
// address, and the token nowhere.
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
		if l["level"] != "WARN" || l["remote"] != "192.0.2.1:1234" {
			t.Errorf("failure log %s; want a warning with the remote address", line)
		}
	}
	if n != want {
		t.Errorf("%d failures logged; want %d", n, want)
	}
}

// One wrong token, alone, is answered after failureInterval: a person who
// mistyped waits a moment, a script that guesses waits for every guess.
func TestALoneWrongTokenWaitsOneInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := newGuarded(t)
		for range 3 {
			if status, took := clearWith(h, "wrong-but-long-enough-token"); status != 401 || took != failureInterval {
				t.Errorf("a lone wrong token: %d after %v; want 401 after %v", status, took, failureInterval)
			}
		}
	})
}
