package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
	s, err := launch(dir, []string{conf, "--sentinel"}, nil, false)
	if err != nil {
		tb.Fatalf("redistest: start sentinel: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Failover makes the Sentinel s fail masterSet over to a replica (SENTINEL
// FAILOVER), and waits until it names a master other than from.
func Failover(tb testing.TB, s *Server, masterSet string, from *Server) {
	tb.Helper()
	// A Sentinel promotes only a replica it has read INFO from, which it
	// does some time after it learns of it from the master.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := Do(s.Addr, "SENTINEL", "FAILOVER", masterSet)
		if err == nil {
			break
		}
		if !strings.HasPrefix(err.Error(), "NOGOODSLAVE") || time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel failover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		addr, err := Do(s.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterSet)
		if err == nil && addr != "" && !strings.HasSuffix(addr, " "+strconv.Itoa(from.port)) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: the sentinel still names %q, %v as master 20 s after the failover", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
