package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// StartSentinel starts a Redis Sentinel that monitors master under the name
// masterSet, and stops it when the test ends.
func StartSentinel(tb testing.TB, masterSet string, master *Server) *Server {
	tb.Helper()
	requireBinary(tb)
	dir := tb.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n", masterSet, master.port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	var err error
	for range 5 {
		s := &Server{dir: dir, prefix: []string{conf, "--sentinel"}}
		if s.port, err = freePort(false); err != nil {
			break
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if err = s.start(); err == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("redistest: start sentinel: %v", err)
	return nil
}
