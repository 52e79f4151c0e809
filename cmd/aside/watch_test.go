package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// aside stats -watch prints a frame every interval; from the second on,
// each namespace's rates a second since the previous frame, which move
// when the server is read meanwhile.
func TestStatsWatchShowsRates(t *testing.T) {
	base := startServer(t, filepath.Join(t.TempDir(), "aside.db"), "ASIDE_SEED=off") // missing users: misses, then negative hits
	done := make(chan string)
	go func() {
		stdout, _, err := cli(t, "stats", "-url", base, "-watch", "400ms", "-count", "4")
		if err != nil {
			t.Errorf("aside stats -watch: %v", err)
		}
		done <- stdout
	}()
	for i := range 60 { // reads for about 1.2 s, while the frames are taken
		resp, err := http.Get(fmt.Sprintf("%s/api/users/%d", base, i%10+1))
		if err == nil {
			resp.Body.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := <-done
	if n := strings.Count(out, "every 400ms"); n != 4 {
		t.Fatalf("%d frames; want 4:\n%s", n, out)
	}
	moved := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "users" {
			continue
		}
		hits, _ := strconv.ParseFloat(f[2], 64)
		misses, _ := strconv.ParseFloat(f[3], 64)
		moved = moved || hits+misses > 0
	}
	if !moved {
		t.Errorf("no frame shows users read a second:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("frames written to a file hold terminal escapes")
	}
}

// On a terminal each frame redraws the screen; a server that does not
// answer is said so, and watched on.
func TestStatsWatchInPlaceAndUnreachable(t *testing.T) {
	var out bytes.Buffer
	if err := watchStats(context.Background(), &out, "http://127.0.0.1:1", 10*time.Millisecond, 2, true); err != nil {
		t.Fatalf("watchStats = %v; want nil: an unreachable server is watched on", err)
	}
	if n := strings.Count(out.String(), "\x1b[H\x1b[2J"); n != 2 {
		t.Errorf("%d screen redraws; want 2:\n%q", n, out.String())
	}
	if n := strings.Count(out.String(), "no figures:"); n != 2 {
		t.Errorf("%d frames say the server did not answer; want 2:\n%s", n, out.String())
	}
	if _, _, err := cli(t, "stats", "-watch", "1s", "-json"); err == nil {
		t.Error("aside stats -watch -json: no error")
	}
	if _, _, err := cli(t, "stats", "-watch", "-1s"); err == nil {
		t.Error("aside stats -watch -1s: no error")
	}
}

// aside help <command> prints what the command does and its flags, on
// stdout; an unknown command is a usage error.
func TestHelpPrintsACommandsFlags(t *testing.T) {
	stdout, _, err := cli(t, "help", "stats")
	if err != nil {
		t.Fatalf("aside help stats = %v", err)
	}
	for _, want := range []string{"the cache's figures", "-watch", "-count", "-url", "-json"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("aside help stats lacks %q:\n%s", want, stdout)
		}
	}
	for name := range commands {
		if out, _, err := cli(t, "help", name); err != nil || !strings.Contains(out, commands[name].summary) {
			t.Errorf("aside help %s = %v:\n%s", name, err, out)
		}
	}
	if _, stderr, err := cli(t, "help", "frobnicate"); !errors.Is(err, errUsage) || !strings.Contains(stderr, "unknown command") {
		t.Errorf("aside help frobnicate = %v, %q; want a usage error", err, stderr)
	}
}

// A clear says on stderr how it goes while the server works, and the
// keys it deleted when it is done.
func TestClearShowsProgress(t *testing.T) {
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = 5 * time.Millisecond
	base := startServer(t, filepath.Join(t.TempDir(), "aside.db"), "ASIDE_SEED=off")
	stdout, stderr, err := cli(t, "clear", "-url", base, "-pattern", "user:*")
	if err != nil {
		t.Fatalf("aside clear: %v", err)
	}
	if !strings.Contains(stderr, "clearing user:*") || !strings.Contains(stderr, "keys deleted so far") {
		t.Errorf("stderr %q; want progress lines", stderr)
	}
	if !strings.Contains(stdout, "Deleted") {
		t.Errorf("stdout %q; want the keys deleted", stdout)
	}
}

// showProgress writes a line at once and one every interval, in place on
// a terminal only.
func TestShowProgress(t *testing.T) {
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = 10 * time.Millisecond
	var out bytes.Buffer
	n := 0
	stop := showProgress(&out, func() string { n++; return fmt.Sprintf("step %d", n) })
	time.Sleep(55 * time.Millisecond)
	stop()
	stop() // twice is harmless
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "step 1 (") {
		t.Errorf("progress %q; want a line at once and one every 10 ms", out.String())
	}
}
