package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A second SIGTERM during a graceful shutdown ends the process at once,
// instead of after the shutdown's 10 s deadline. The server runs as a
// process of its own (this test binary, running main), held in its
// shutdown by a request whose body never arrives in full.
func TestSecondSignalEndsTheShutdown(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	logs := &logBuffer{addr: make(chan string, 1)}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{runMainEnv + "=1", "ADDR=127.0.0.1:0", "ASIDE_SEED=off", "ASIDE_AUTH=off",
		"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "aside.db")}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	var addr string
	select {
	case addr = <-logs.addr:
	case err := <-exited:
		t.Fatalf("the server exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start within 60 s")
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server answers 100 Continue when the handler reads the body: from
	// then on the request is in flight, and the shutdown waits for it.
	fmt.Fprintf(conn, "POST /api/users HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", addr)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if status, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
		t.Fatalf("the request got %q, %v; want 100 Continue", status, err)
	}
	fmt.Fprint(conn, "{") // and never the rest

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return logs.has("shutting down") })
	// The shutdown has begun; the signal handler is released just after
	// (by a goroutine), so the second signal is sent until it lands.
	deadline := time.After(5 * time.Second)
	for {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			var exit *exec.ExitError
			ws, ok := syscall.WaitStatus(0), errors.As(err, &exit)
			if ok {
				ws, ok = exit.Sys().(syscall.WaitStatus)
			}
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Errorf("after a second SIGTERM the server ended with %v; want killed by SIGTERM", err)
			}
			exited <- err // for the cleanup
			return
		case <-deadline:
			t.Fatal("the server still runs 5 s after a second SIGTERM")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
