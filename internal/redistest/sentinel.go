package redistest

import (
	"fmt"
	"os"
	"path/filepath"
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
	s, err := launch(dir, []string{conf, "--sentinel"}, nil, false)
	if err != nil {
		tb.Fatalf("redistest: start sentinel: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}
