package main

import (
	"encoding/json"
	"flag"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// screenshot, when set, is where TestDashboardInChromium also writes its
// screenshot (go test -run Dashboard -args -screenshot=$PWD/shot.png).
var screenshot = flag.String("screenshot", "", "also write the dashboard's screenshot to this file")

// chromium is Debian's browser, which the test drives; playwright-core
// downloads none.
const chromium = "/usr/bin/chromium"

// needBrowser returns node, or skips (fails with CI set) when Node.js,
// playwright-core or Chromium is missing: make test installs them
// (scripts/services.sh).
func needBrowser(t *testing.T, dir string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "playwright-core"))
	}
	if err == nil {
		_, err = os.Stat(chromium)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Node.js, playwright-core or Chromium missing and CI is set (make test installs them): %v", err)
		}
		t.Skipf("Node.js, playwright-core or Chromium missing (make test installs them): %v", err)
	}
	return node
}

// clearShown is what the dashboard showed after a clear.
type clearShown struct {
	Kind, Text string
	Deleted    *string
}

// TestDashboardInChromium opens the dashboard in a real browser: every
// namespace is shown, the users' hit rate moves to 50% once 20 users are
// read twice, a clear without the token is refused on the page and one
// with it shows the keys deleted; the page makes no request to another
// origin, logs no error (no CSP violation), keeps the token out of every
// URL and of the browser's storage, and fits a phone's width.
func TestDashboardInChromium(t *testing.T) {
	dir := filepath.Join("testdata", "dashboard")
	node := needBrowser(t, dir)
	const token = "dashboard-admin-token-0123456789"
	s := start(t, env{"ASIDE_ADMIN_TOKEN": token})
	for i := range 20 { // users 1 to 20, which the page's script reads
		s.must(201, "POST", "/api/users", map[string]any{"openId": "browser-" + strconv.Itoa(i), "password": testPassword}, nil)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")

	cmd := exec.Command(node, "check.mjs", "check", s.base, token, shot)
	cmd.Dir = dir
	began := time.Now()
	raw, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node check.mjs: %v\n%s", err, stderr)
	}
	t.Logf("the browser's checks took %v", time.Since(began).Round(time.Millisecond))
	var got struct {
		Namespaces                   []string
		HitRateBefore, HitRateAfter  string
		Chart                        string
		Refused, Cleared, ClearedAll clearShown
		Requests, Problems           []string
		Storage                      int
		PhoneOverflow                float64
		PhoneFont                    float64
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}

	var stats struct{ Namespaces map[string]any }
	s.must(200, "GET", "/stats", nil, &stats)
	for name := range stats.Namespaces {
		if !slices.Contains(got.Namespaces, name) {
			t.Errorf("the page shows namespaces %q; %q is missing", got.Namespaces, name)
		}
	}
	if len(got.Namespaces) != len(stats.Namespaces)+1 || got.Namespaces[0] != "" {
		t.Errorf("the page shows %q; want the total first, then the %d namespaces", got.Namespaces, len(stats.Namespaces))
	}
	if got.HitRateBefore == got.HitRateAfter || got.HitRateAfter != "50.0%" {
		t.Errorf("the users' hit rate went from %q to %q; want 50.0%% after 20 misses and 20 hits", got.HitRateBefore, got.HitRateAfter)
	}
	if !strings.HasPrefix(got.Chart, "M") {
		t.Errorf("the users' chart is %q; want a line", got.Chart)
	}

	if !strings.Contains(got.Refused.Kind, "refused") || !strings.Contains(got.Refused.Text, "UNAUTHORIZED") ||
		!strings.Contains(got.Refused.Text, "missing admin token") || got.Refused.Deleted != nil {
		t.Errorf("a clear without the token showed %+v; want a refusal, UNAUTHORIZED", got.Refused)
	}
	if got.Cleared.Deleted == nil || !strings.Contains(got.Cleared.Kind, "ok") || !strings.Contains(got.Cleared.Text, "Deleted") {
		t.Fatalf("a clear with the token showed %+v; want the keys deleted", got.Cleared)
	}
	if n, _ := strconv.Atoi(*got.Cleared.Deleted); n != 20 || !strings.Contains(got.Cleared.Text, "Deleted 20 keys") {
		t.Errorf("clearing user:* showed %+v; want the 20 users read deleted", got.Cleared)
	}
	if !strings.Contains(got.ClearedAll.Kind, "ok") || !strings.Contains(got.ClearedAll.Text, "Cleared") {
		t.Errorf("clearing everything showed %+v", got.ClearedAll)
	}

	for _, u := range got.Requests {
		if !strings.HasPrefix(u, s.base+"/") {
			t.Errorf("the page requested %s, outside %s", u, s.base)
		}
		if strings.Contains(u, token) {
			t.Errorf("the token went into a URL: %s", u)
		}
	}
	if len(got.Requests) < 5 {
		t.Errorf("the page made %d requests: %q; want the page, its files and the figures", len(got.Requests), got.Requests)
	}
	for _, p := range got.Problems {
		if strings.Contains(p, "status of 401") {
			continue // the refused clear, which Chromium logs as a failed load
		}
		t.Errorf("the browser reported: %s", p)
	}
	if got.Storage != 0 {
		t.Errorf("the page keeps %d items in the browser's storage; want none", got.Storage)
	}
	if got.PhoneOverflow > 0 || got.PhoneFont < 12 {
		t.Errorf("on a phone (390 px) the page overflows by %v px, with figures in %v px; want no overflow, 12 px or more", got.PhoneOverflow, got.PhoneFont)
	}
	checkScreenshot(t, shot)

	// Without ASIDE_ADMIN_TOKEN the form is disabled, saying how to enable it.
	off := start(t, env{})
	cmd = exec.Command(node, "check.mjs", "disabled", off.base)
	cmd.Dir = dir
	if raw, err = cmd.Output(); err != nil {
		t.Fatalf("node check.mjs disabled: %v", err)
	}
	var form struct {
		Reason  string
		Enabled int
	}
	if err := json.Unmarshal(raw, &form); err != nil || form.Enabled != 0 || !strings.Contains(form.Reason, "ASIDE_ADMIN_TOKEN") {
		t.Errorf("the clear form of a server without a token: %s (%v); want every field disabled and the reason", raw, err)
	}
}

// checkScreenshot checks that the browser drew a page, and copies it to
// -screenshot when set.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != 1280 || img.Bounds().Dy() < 900 {
		t.Fatalf("screenshot: %v, %v; want a PNG 1280 px wide", err, img.Bounds())
	}
	if *screenshot != "" {
		b, _ := os.ReadFile(path)
		if err := os.WriteFile(*screenshot, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The server answers / with the dashboard under its security headers,
// /stats with the figures; with the cache off, the page says so and the
// figures are a 404 that tells why.
func TestDashboardRoutes(t *testing.T) {
	s := start(t, env{})
	for path, want := range map[string]string{"/": "text/html", "/dashboard/app.js": "text/javascript", "/stats": "application/json"} {
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || !strings.HasPrefix(h.Get("Content-Type"), want) || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("GET %s = %d %q, nosniff %q, CSP %q", path, resp.StatusCode, h.Get("Content-Type"), h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"))
		}
	}
	s.expectError(405, "METHOD_NOT_SUPPORTED", "POST", "/", "{}")
	s.expectError(404, "NOT_FOUND", "GET", "/nothing", nil)

	off := start(t, env{"ASIDE_CACHE": "off"})
	off.must(200, "GET", "/", nil, nil)
	off.expectError(404, "NOT_FOUND", "GET", "/stats", nil)
	if _, body := off.call("GET", "/dashboard/series", nil); !strings.Contains(string(body), "ASIDE_CACHE=off") {
		t.Errorf("GET /dashboard/series with the cache off = %s; want the reason", body)
	}
}
