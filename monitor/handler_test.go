package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/monitor"
)

const adminToken = "a-right-admin-token-0123456789"

// newHandler returns the Handler of a memstore cache with one user read
// twice (a miss, then a hit), closed when the test ends.
func newHandler(t *testing.T, opts monitor.Options) (*monitor.Handler, *aside.Cache) {
	t.Helper()
	c := newMemCache(t)
	users, err := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		users.Get(context.Background(), "1", func(context.Context) (string, error) { return "ada", nil })
	}
	h := monitor.NewHandler(c, opts)
	t.Cleanup(func() { h.Close() })
	return h, c
}

// send sends a request to h and returns the recorder.
func send(h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The Handler answers at any prefix, behind http.StripPrefix or not: the
// page and its assets under the page's own security headers, the plain
// JSON stats, the dashboard's figures and the tRPC procedures, the
// mutations included.
func TestHandlerAnswersAtAnyPrefix(t *testing.T) {
	h, c := newHandler(t, monitor.Options{AdminToken: adminToken})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/ops/cache/", h)
	mux.Handle("/stripped/", http.StripPrefix("/stripped", h))
	for _, p := range []string{"/", "/ops/cache/", "/stripped/"} {
		t.Run(p, func(t *testing.T) {
			page := send(mux, "GET", p, "")
			if page.Code != 200 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") ||
				!strings.Contains(page.Body.String(), `src="dashboard/app.js"`) {
				t.Fatalf("GET %s = %d %q", p, page.Code, page.Header().Get("Content-Type"))
			}
			csp := page.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			for _, asset := range []string{"dashboard/app.js", "dashboard/app.css", "dashboard/icon.svg"} {
				if w := send(mux, "GET", p+asset, ""); w.Code != 200 || w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Body.Len() == 0 {
					t.Errorf("GET %s%s = %d, nosniff %q", p, asset, w.Code, w.Header().Get("X-Content-Type-Options"))
				}
			}
			var st aside.Stats
			w := send(mux, "GET", p+"stats", "")
			if err := json.Unmarshal(w.Body.Bytes(), &st); w.Code != 200 || err != nil || st.Namespaces["users"].Misses != 1 {
				t.Errorf("GET %sstats = %d %s (%v); want the Stats, users with 1 miss", p, w.Code, w.Body, err)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("GET %sstats Cache-Control %q; want no-store", p, w.Header().Get("Cache-Control"))
			}
			var v struct {
				KeyPrefix  string
				Mutations  struct{ Enabled bool }
				Namespaces []struct{ Name string }
			}
			w = send(mux, "GET", p+"dashboard/series", "")
			if err := json.Unmarshal(w.Body.Bytes(), &v); w.Code != 200 || err != nil || v.KeyPrefix != c.KeyPrefix() ||
				!v.Mutations.Enabled || len(v.Namespaces) != 2 || v.Namespaces[0].Name != "users" {
				t.Errorf("GET %sdashboard/series = %d %.300s (%v)", p, w.Code, w.Body, err)
			}
			w = send(mux, "GET", p+"trpc/monitoring.cacheStats", "")
			if w.Code != 200 || !strings.Contains(w.Body.String(), `"hitRateFormatted":"50.00%"`) {
				t.Errorf("GET %strpc/monitoring.cacheStats = %d %.200s", p, w.Code, w.Body)
			}
			w = send(mux, "POST", p+"trpc/monitoring.cacheClearPattern", `{"pattern":"user:*"}`, "Authorization", "Bearer "+adminToken)
			if w.Code != 200 || !strings.Contains(w.Body.String(), `"success":true`) {
				t.Errorf("POST %strpc/monitoring.cacheClearPattern = %d %s", p, w.Code, w.Body)
			}
		})
	}
}

// What the Handler does not serve gets a JSON 404, and what it serves
// only for reading a JSON 405 naming the methods it takes.
func TestHandlerRefusesOtherPathsAndMethods(t *testing.T) {
	h, _ := newHandler(t, monitor.Options{})
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nothing", 404},
		{"GET", "/dashboard/nothing.js", 404},
		{"GET", "/dashboard/index.html", 404}, // the page is served at the prefix only
		{"POST", "/", 405},
		{"DELETE", "/stats", 405},
		{"PUT", "/dashboard/series", 405},
	} {
		w := send(h, c.method, c.path, "")
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); w.Code != c.status || err != nil || e.Error.Message == "" {
			t.Errorf("%s %s = %d %s; want %d with a JSON error", c.method, c.path, w.Code, w.Body, c.status)
		}
		if c.status == 405 && w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q; want GET, HEAD", c.method, c.path, w.Header().Get("Allow"))
		}
	}
}

// The assets carry an ETag of their content: a browser that has them
// gets 304 and no body.
func TestAssetsRevalidate(t *testing.T) {
	h, _ := newHandler(t, monitor.Options{})
	first := send(h, "GET", "/dashboard/app.js", "")
	etag := first.Header().Get("ETag")
	if first.Code != 200 || etag == "" || !strings.HasPrefix(first.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET app.js = %d, ETag %q, %q", first.Code, etag, first.Header().Get("Content-Type"))
	}
	if again := send(h, "GET", "/dashboard/app.js", "", "If-None-Match", etag); again.Code != 304 || again.Body.Len() != 0 {
		t.Errorf("GET app.js with its ETag = %d with %d bytes; want 304", again.Code, again.Body.Len())
	}
}

// The page loads nothing from elsewhere: its files name no other site,
// and no inline script or style (which the page's CSP would block).
func TestDashboardLoadsNothingFromElsewhere(t *testing.T) {
	h, _ := newHandler(t, monitor.Options{})
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for _, path := range []string{"/", "/dashboard/app.js", "/dashboard/app.css", "/dashboard/icon.svg"} {
		body := send(h, "GET", path, "").Body.String()
		body = strings.ReplaceAll(body, "http://www.w3.org/2000/svg", "") // a namespace name, never fetched
		if m := external.FindString(body); m != "" {
			t.Errorf("%s names %q", path, m)
		}
		if path == "/" && (strings.Contains(body, "<script>") || strings.Contains(body, "style=")) {
			t.Errorf("the page holds inline script or style, which its CSP blocks")
		}
	}
}

// A Handler registered for GET only leaves the clears to the mux's 405:
// it says so in its log, once, and on the dashboard, which shows the
// forms disabled with the reason.
func TestAGETOnlyMountIsReported(t *testing.T) {
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	h, _ := newHandler(t, monitor.Options{AdminToken: adminToken, Logger: logger})
	mux := http.NewServeMux()
	mux.Handle("GET /cache/", h)
	if w := send(mux, "POST", "/cache/trpc/monitoring.cacheClear", "{}", "Authorization", "Bearer "+adminToken); w.Code != 405 {
		t.Fatalf("POST through a GET-only pattern = %d; want the mux's 405", w.Code)
	}
	for range 2 {
		send(mux, "GET", "/cache/trpc/monitoring.cacheStats", "")
	}
	var v struct {
		Mutations struct {
			Enabled bool
			Reason  string
		}
	}
	json.Unmarshal(send(mux, "GET", "/cache/dashboard/series", "").Body.Bytes(), &v)
	if v.Mutations.Enabled || !strings.Contains(v.Mutations.Reason, `"GET /cache/"`) {
		t.Errorf("mutations %+v; want disabled, naming the pattern", v.Mutations)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "lets no POST through"); n != 1 {
		t.Errorf("the warning was logged %d times; want once:\n%s", n, logs)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Without an admin token the dashboard says how to enable the clears.
func TestDashboardSaysWhenMutationsAreDisabled(t *testing.T) {
	h, _ := newHandler(t, monitor.Options{})
	var v struct {
		Mutations struct {
			Enabled bool
			Reason  string
		}
	}
	json.Unmarshal(send(h, "GET", "/dashboard/series", "").Body.Bytes(), &v)
	if v.Mutations.Enabled || !strings.Contains(v.Mutations.Reason, "ASIDE_ADMIN_TOKEN") {
		t.Errorf("mutations %+v; want disabled, naming ASIDE_ADMIN_TOKEN", v.Mutations)
	}
}

// A server without a cache serves the page, which says why there is
// nothing to show; every figure and procedure answers NOT_FOUND with it.
func TestDisabledHandler(t *testing.T) {
	h := monitor.Disabled("the cache is off")
	if w := send(h, "GET", "/", ""); w.Code != 200 {
		t.Errorf("GET / = %d; want the page", w.Code)
	}
	for _, path := range []string{"/stats", "/dashboard/series"} {
		if w := send(h, "GET", path, ""); w.Code != 404 || !strings.Contains(w.Body.String(), "the cache is off") {
			t.Errorf("GET %s = %d %s; want 404 with the message", path, w.Code, w.Body)
		}
	}
	w := send(h, "GET", "/trpc/monitoring.cacheStats", "")
	if w.Code != 404 || !strings.Contains(w.Body.String(), `"code":"NOT_FOUND"`) || !strings.Contains(w.Body.String(), "the cache is off") {
		t.Errorf("GET /trpc/monitoring.cacheStats = %d %s; want a tRPC NOT_FOUND", w.Code, w.Body)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

// NewStatsHandler answers the Stats as plain JSON, wherever it is mounted,
// and refuses to be written to.
func TestStatsHandler(t *testing.T) {
	_, c := newHandler(t, monitor.Options{})
	h := monitor.NewStatsHandler(c)
	var st aside.Stats
	w := send(h, "GET", "/anywhere/cache.json", "")
	if err := json.Unmarshal(w.Body.Bytes(), &st); w.Code != 200 || err != nil || st.Hits != 1 || st.Misses != 1 || st.HitRate != 50 {
		t.Errorf("GET = %d %s (%v); want 1 hit, 1 miss, 50%%", w.Code, w.Body, err)
	}
	if w := send(h, "POST", "/anywhere/cache.json", "{}"); w.Code != 405 {
		t.Errorf("POST = %d; want 405", w.Code)
	}
}

// The tRPC handler alone, registered for GET only, says so in its log.
func TestNewReportsAGETOnlyMount(t *testing.T) {
	var logs bytes.Buffer
	h := monitor.New(newMemCache(t), monitor.Options{AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mux := http.NewServeMux()
	mux.Handle("GET /trpc/", h)
	if w := send(mux, "GET", "/trpc/monitoring.cacheStats", ""); w.Code != 200 {
		t.Fatalf("GET = %d", w.Code)
	}
	if !strings.Contains(logs.String(), `registered as \"GET /trpc/\"`) {
		t.Errorf("log %q; want the GET-only pattern named", logs.String())
	}
	logs.Reset()
	mux = http.NewServeMux()
	mux.Handle("/trpc/", monitor.New(newMemCache(t), monitor.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	send(mux, "GET", "/trpc/monitoring.cacheStats", "")
	if logs.Len() != 0 {
		t.Errorf("a method-less mount logged %q", logs.String())
	}
}
