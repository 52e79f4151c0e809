package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside/redistest"
)

// The CLI is tested against what it measures: aside-server processes built
// from this checkout, a private redis-server, real sockets.

var serverBinary struct {
	once sync.Once
	path string
	err  error
}

// buildServer builds cmd/aside-server once per test binary.
func buildServer(t *testing.T) string {
	t.Helper()
	serverBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "aside-cli-test-")
		if err != nil {
			serverBinary.err = err
			return
		}
		serverBinary.path = filepath.Join(dir, "aside-server")
		out, err := exec.Command("go", "build", "-o", serverBinary.path, "../aside-server").CombinedOutput()
		if err != nil {
			serverBinary.err = errors.New(string(out))
		}
	})
	if serverBinary.err != nil {
		t.Fatalf("build aside-server: %v", serverBinary.err)
	}
	return serverBinary.path
}

func TestMain(m *testing.M) {
	code := redistest.Main(m)
	if serverBinary.path != "" {
		os.RemoveAll(filepath.Dir(serverBinary.path))
	}
	os.Exit(code)
}

const adminToken = "cli-test-admin-token"

// startServer runs an aside-server process with env added to a SQLite
// database at dbFile and the admin token, and returns its base URL once it
// listens.
func startServer(t *testing.T, dbFile string, env ...string) string {
	t.Helper()
	cmd := exec.Command(buildServer(t))
	// Authorization off: the load generator's writes carry no session.
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "DATABASE_URL=sqlite:"+dbFile, "ASIDE_ADMIN_TOKEN="+adminToken, "ASIDE_AUTH=off")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addr, exited := make(chan string, 1), make(chan string, 1)
	go func() {
		var said []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
			if len(said) < 20 {
				said = append(said, sc.Text())
			}
		}
		exited <- strings.Join(said, "\n")
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case said := <-exited:
		t.Fatalf("aside-server exited before listening:\n%s", said)
		return ""
	case <-time.After(60 * time.Second):
		t.Fatal("aside-server did not listen within 60 s")
		return ""
	}
}

// cli runs the CLI in-process.
func cli(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "ASIDE_ADMIN_TOKEN" {
			return adminToken
		}
		return ""
	}
	err = run(context.Background(), args, getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"frobnicate"}} {
		_, stderr, err := cli(t, args...)
		if !errors.Is(err, errUsage) || !strings.Contains(stderr, "bench") || !strings.Contains(stderr, "report") {
			t.Errorf("aside %v = %v, stderr %q; want usage listing the commands", args, err, stderr)
		}
	}
	if _, _, err := cli(t, "bench", "-concurrency", "x"); err == nil {
		t.Error("aside bench -concurrency x: no error")
	}
	if _, _, err := cli(t, "stats", "extra"); err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("aside stats extra = %v; want unexpected arguments", err)
	}
	if _, _, err := cli(t, "delete", "-keys", "10", "-delete", "20"); err == nil {
		t.Error("aside delete -keys 10 -delete 20: no error")
	}
	if _, _, err := cli(t, "report", "-in", t.TempDir()); err == nil {
		t.Error("aside report on an empty directory: no error")
	}
}

// TestBenchStatsClearReport drives a server with the load generator, reads
// its figures, clears its cache and draws the report, as scenarios.sh does.
func TestBenchStatsClearReport(t *testing.T) {
	base := startServer(t, filepath.Join(t.TempDir(), "aside.db"))
	results := t.TempDir()
	record := filepath.Join(results, "run.json")
	stdout, _, err := cli(t, "bench", "-url", base, "-path", "/api/users/{id}", "-keys", "50", "-zipf", "-writes", "0.1",
		"-concurrency", "4", "-duration", "1s", "-warmup", "200ms", "-quiet", "-group", "test", "-label", "GET user", "-json", record)
	if err != nil {
		t.Fatalf("aside bench: %v", err)
	}
	if !strings.Contains(stdout, "req/s") || !strings.Contains(stdout, "hit rate") {
		t.Errorf("bench printed %q; want throughput and hit rate", stdout)
	}
	var rec benchRecord
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Result == nil || rec.Result.Requests < 100 || rec.Result.Errors != 0 || rec.Result.Writes == 0 {
		t.Fatalf("record %s; want 100+ requests, some writes, no errors", b)
	}
	if rec.Result.P50 <= 0 || rec.Result.P50 > rec.Result.P99 || rec.Cache == nil || rec.Cache.HitRateDuring < 50 {
		t.Errorf("record %s; want ordered percentiles and a hit rate over 50%% on 50 Zipf keys", b)
	}

	stdout, _, err = cli(t, "stats", "-url", base)
	if err != nil || !strings.Contains(stdout, "users") {
		t.Fatalf("aside stats = %v, %q; want the users namespace", err, stdout)
	}
	if _, _, err := cli(t, "clear", "-url", base, "-pattern", "user:*"); err != nil {
		t.Fatalf("aside clear -pattern user:*: %v", err)
	}
	var st cacheStats
	if st, err = fetchStats(context.Background(), base); err != nil || st.Deletes == 0 {
		t.Errorf("after clear: deletes %d, %v; want some", st.Deletes, err)
	}
	var noToken bytes.Buffer
	err = run(context.Background(), []string{"clear", "-url", base}, func(string) string { return "" }, io.Discard, &noToken)
	if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Errorf("aside clear without a token = %v; want UNAUTHORIZED", err)
	}

	chartFile := filepath.Join(t.TempDir(), "latency.png")
	stdout, _, err = cli(t, "report", "-in", results, "-png", chartFile)
	if err != nil || !strings.Contains(stdout, "| GET user |") {
		t.Fatalf("aside report = %v, %q; want a table row for the run", err, stdout)
	}
	f, err := os.Open(chartFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() < 100 || img.Bounds().Dy() < 100 {
		t.Errorf("chart: %v; want a PNG", err)
	}
}

// TestStampedeAcrossProcesses runs the stampede scenario on a small scale:
// two server processes sharing one SQLite file and one Redis load a cold
// key once between them.
func TestStampedeAcrossProcesses(t *testing.T) {
	redis := redistest.Start(t)
	db := filepath.Join(t.TempDir(), "aside.db")
	// A generous Redis timeout: a lease read that times out loads without
	// the lease (availability first), and a loaded CI machine can take
	// 100 ms; this test is of the leases.
	first := startServer(t, db, "REDIS_URL="+redis.URL(), "ASIDE_OP_TIMEOUT=5s")
	second := startServer(t, db, "REDIS_URL="+redis.URL(), "ASIDE_OP_TIMEOUT=5s")
	record := filepath.Join(t.TempDir(), "stampede.json")
	for round := range 2 { // the second round reads a key the first cached: cleared first, cold again
		stdout, _, err := cli(t, "stampede", "-urls", first+","+second, "-path", "/api/users/3", "-pattern", "user:3", "-requests", "200", "-json", record)
		if err != nil {
			t.Fatalf("round %d: aside stampede: %v", round, err)
		}
		var rec stampedeRecord
		b, _ := os.ReadFile(record)
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Loads != 1 || rec.Errors != 0 || rec.Servers != 2 {
			t.Errorf("round %d: %s (%s); want 1 load, 0 errors over 2 servers", round, strings.TrimSpace(stdout), b)
		}
	}
}

func TestDeleteScenario(t *testing.T) {
	stdout, _, err := cli(t, "delete", "-keys", "20000", "-delete", "2000")
	if err != nil {
		t.Fatalf("aside delete: %v", err)
	}
	for _, want := range []string{"DeletePattern (SCAN+UNLINK)  removed 2000 ", "KEYS + DEL                removed 2000 "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("aside delete printed %q; want %q", stdout, want)
		}
	}
}

func TestWarmScenario(t *testing.T) {
	stdout, _, err := cli(t, "warm", "-entries", "1500")
	if err != nil {
		t.Fatalf("aside warm: %v", err)
	}
	// 100 users by id and by open id, 200 jobs; 1,500 entries in batches of 500.
	for _, want := range []string{": 400 entries in ", "1500 entries in ", "3 round trips"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("aside warm printed %q; want %q", stdout, want)
		}
	}
}

// TestProxyDelaysReplies checks the knob of the remote-like database: the
// proxy forwards both ways, and every reply arrives at least -delay later.
func TestProxyDelaysReplies(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"proxy", "-listen", "127.0.0.1:0", "-target", echo.Addr().String(), "-delay", "30ms"}, os.Getenv, io.Discard, logw)
		logw.Close()
	}()
	defer func() { cancel(); <-done }()
	// "proxy 127.0.0.1:port -> target, replies delayed 30ms"
	line, err := bufio.NewReader(logs).ReadString('\n')
	if err != nil {
		t.Fatalf("the proxy said nothing: %v", err)
	}
	go io.Copy(io.Discard, logs)
	fields := strings.Fields(line)
	if len(fields) < 2 {
		t.Fatalf("proxy announced %q; want its address", line)
	}
	conn, err := net.Dial("tcp", fields[1])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 5)
	for i := range 3 {
		start := time.Now()
		if _, err := conn.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); string(buf) != "hello" || took < 30*time.Millisecond {
			t.Errorf("round trip %d: %q after %v; want hello after at least 30ms", i, buf, took)
		}
	}
}
