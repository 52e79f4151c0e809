package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	p := startProcess(t)
	cmd, exited, logs := p.cmd, p.exited, p.logs
	defer slowBody(t, p.addr).Close()

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

// process is the server run by main in a process of its own (this test
// binary), so that a test may signal it.
type process struct {
	cmd    *exec.Cmd
	exited chan error
	addr   string
	logs   *logBuffer
}

func startProcess(t *testing.T) *process {
	t.Helper()
	p := &process{exited: make(chan error, 1), logs: &logBuffer{addr: make(chan string, 1)}}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = []string{runMainEnv + "=1", "ADDR=127.0.0.1:0", "ASIDE_SEED=off", "ASIDE_AUTH=off",
		"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "aside.db")}
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case p.addr = <-p.logs.addr:
	case err := <-p.exited:
		t.Fatalf("the server exited before listening: %v", err)
	case <-time.After(3 * time.Minute): // seeding 10,000 jobs under -race takes 30-45 s alone, more beside other packages
		t.Fatal("the server did not start within 3 minutes")
	}
	return p
}

// slowBody starts a request whose body never arrives in full. The server
// answers 100 Continue when the handler reads the body: from then on the
// request is in flight, and a shutdown waits for it.
func slowBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/users HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", addr)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if status, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
		t.Fatalf("the request got %q, %v; want 100 Continue", status, err)
	}
	fmt.Fprint(conn, "{") // and never the rest
	return conn
}

// idleConn opens a connection that makes one request and then idles, kept
// alive.
func idleConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: %v, %v", resp, err)
	}
	resp.Body.Close()
	return conn
}

// One SIGTERM with clients that hold connections (a body that never
// arrives in full, a kept-alive connection idling, a connection that sent
// nothing) ends the server well within its 10 s grace, with exit status 0:
// it was a graceful shutdown, not a failure.
func TestASlowClientDoesNotHoldTheShutdown(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	p := startProcess(t)
	defer slowBody(t, p.addr).Close()
	defer idleConn(t, p.addr).Close()
	silent, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		if err != nil {
			t.Errorf("after SIGTERM the server ended with %v; want exit status 0", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the shutdown took %v; want the slow clients cut off within 5 s", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server still runs 20 s after SIGTERM")
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
