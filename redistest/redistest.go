// Package redistest starts private redis-server processes on free loopback
// ports for tests, so that a test may kill, pause, restart or flush its
// server, and never points at a Redis other tests (or people) use. It
// never touches a server it did not start. aside's own tests use it; so
// can a service's:
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
//
//	func TestProducts(t *testing.T) {
//		srv := redistest.Start(t)                 // a redis-server of the test's own, stopped at its end
//		store, _ := redisstore.New(redisstore.Options{URL: srv.URL()})
//		...
//	}
//
// Shared gives the tests of a package one server to share (under keys of
// their own); StartCluster a small cluster; StartReplica, StartSentinel,
// Failover, NewProxy (a connection that can be cut) and the Server's
// Pause, Kill, Restart, Snapshot and RestartFromSnapshot the failures a
// cache must survive.
//
// Without a redis-server binary, Start skips the test, or fails it when the
// CI environment variable is set: CI must never pass by skipping.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server process of the test's own.
type Server struct {
	Addr string // 127.0.0.1:port

	port   int
	dir    string
	extra  []string
	prefix []string // arguments before the common ones: a Sentinel's config file

	mu  sync.Mutex // guards cmd
	cmd *exec.Cmd
}

// Start starts a standalone redis-server for the test and stops it when the
// test ends. extra are more redis-server arguments ("--maxmemory", "1mb").
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	requireBinary(tb)
	s, err := New(tb.TempDir(), extra...)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

func requireBinary(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redistest: redis-server not found and CI is set: %v", err)
		}
		tb.Skipf("redistest: redis-server not found: %v", err)
	}
}

// New starts a redis-server keeping its files in dir. The caller stops it.
func New(dir string, extra ...string) (*Server, error) {
	return launch(dir, nil, extra, false)
}

// launch starts a server on a free port with its files in dir, prefix and
// extra around the common arguments; with bus, port+10000 must be free
// too, for a cluster node's bus. A free port can be taken between our
// probe and the start, so it tries a few.
func launch(dir string, prefix, extra []string, bus bool) (*Server, error) {
	var err error
	for range 5 {
		s := &Server{dir: dir, extra: extra, prefix: prefix}
		if s.port, err = freePort(bus); err != nil {
			return nil, err
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// freePort finds a loopback port nobody listens on; with bus, port+10000
// must be free too (a cluster node's bus port).
func freePort(bus bool) (int, error) {
	for range 100 {
		port := 20000 + rand.IntN(25000)
		if !portFree(port) || (bus && !portFree(port+10000)) {
			continue
		}
		return port, nil
	}
	return 0, errors.New("no free port found")
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func (s *Server) start() error {
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--protected-mode", "no",
		"--logfile", "redis-" + strconv.Itoa(s.port) + ".log",
	}
	args = append(append(append([]string{}, s.prefix...), args...), s.extra...)
	cmd := exec.Command("redis-server", args...)
	// The server dies with the test binary, even when the binary is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on port %d exited: %v (see %s)", s.port, err, s.logPath())
		default:
		}
		// A server with a password answers NOAUTH: it is up all the same.
		// Whoever answers must be our process, not one that took the port
		// between our probe and our start.
		if reply, err := Do(s.Addr, "PING"); (reply == "PONG" || (err != nil && strings.HasPrefix(err.Error(), "NOAUTH"))) && s.answersAs(cmd.Process.Pid) {
			s.mu.Lock()
			s.cmd = cmd
			s.mu.Unlock()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	return fmt.Errorf("redis-server on port %d did not answer PING within 10s", s.port)
}

// answersAs reports whether the server at s.Addr is process pid. A server
// with a password cannot be asked; the NOAUTH answer must do.
func (s *Server) answersAs(pid int) bool {
	info, err := Do(s.Addr, "INFO", "server")
	if err != nil {
		return strings.HasPrefix(err.Error(), "NOAUTH")
	}
	return strings.Contains(info, "process_id:"+strconv.Itoa(pid)+"\r\n")
}

func (s *Server) logPath() string {
	return s.dir + "/redis-" + strconv.Itoa(s.port) + ".log"
}

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

func (s *Server) signal(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("redistest: server is not running")
	}
	return s.cmd.Process.Signal(sig)
}

// Pause stops the server with SIGSTOP: connections stay open and nothing
// answers, as with a Redis stuck in a long command or a frozen host.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

// Kill kills the server with SIGKILL and waits until its port is closed.
func (s *Server) Kill() error {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGCONT) // a paused server must die too
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	for range 1000 {
		if portFree(s.port) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("redistest: port %d still taken after kill", s.port)
}

// Restart kills the server and starts an empty one on the same port.
func (s *Server) Restart() error {
	if err := s.Kill(); err != nil {
		return err
	}
	return s.start()
}

// Snapshot makes the server write its data to disk now (SAVE): what a
// restart then loads, as a Redis with RDB persistence would.
func (s *Server) Snapshot() error {
	_, err := Do(s.Addr, "SAVE")
	return err
}

// RestartFromSnapshot kills the server (-9: nothing written since the last
// Snapshot is saved) and starts it again on the same port, from that
// snapshot.
func (s *Server) RestartFromSnapshot() error {
	if err := s.Kill(); err != nil {
		return err
	}
	return s.start()
}

// RestartEmpty kills the server and starts it again on the same port with
// no data, whatever it had saved.
func (s *Server) RestartEmpty() error {
	if err := s.Kill(); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.dir, "dump.rdb")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return s.start()
}

// StartReplica starts a server that replicates the master at addr
// (host:port: a Proxy in between lets a test cut the link), with extra
// arguments ("--masteruser", ...), and waits until it has the master's
// data.
func StartReplica(tb testing.TB, addr string, extra ...string) *Server {
	tb.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("redistest: replica of %q: %v", addr, err)
	}
	r := Start(tb, append([]string{"--replicaof", host, port}, extra...)...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := Do(r.Addr, "INFO", "replication")
		if strings.Contains(info, "master_link_status:up") {
			return r
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: replica %s never linked to %s: %q", r.Addr, addr, info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Promote makes a replica a master of its own (REPLICAOF NO ONE), with
// what it has received, as a failover does.
func (s *Server) Promote() error {
	_, err := Do(s.Addr, "REPLICAOF", "NO", "ONE")
	return err
}

// Stop kills the server; it is what Start registers for cleanup.
func (s *Server) Stop() { _ = s.Kill() }

// Do sends one command to addr on a new connection and returns its reply
// as text: a status, an integer, a bulk string, or an array of bulk
// strings joined by spaces. An error reply is an error. It serves setup and checks, not load.
func Do(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("redistest: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		return readBulk(r, line)
	case '*': // an array of bulk strings, joined by spaces
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			part, err := readBulk(r, strings.TrimRight(line, "\r\n"))
			if err != nil {
				return "", err
			}
			parts = append(parts, part)
		}
		return strings.Join(parts, " "), nil
	}
	return "", fmt.Errorf("redistest: unsupported reply %q", line)
}

// readBulk reads the bulk string whose header line ($n) is line.
func readBulk(r *bufio.Reader, line string) (string, error) {
	if !strings.HasPrefix(line, "$") {
		return "", fmt.Errorf("redistest: unsupported reply %q", line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return "", err
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
