package redistest

import (
	"os"
	"sync"
	"testing"
)

// shared is the one server a test package's tests may share.
var shared struct {
	once sync.Once
	s    *Server
	dir  string
	err  error
}

// Shared returns a redis-server shared by the tests of the package,
// starting it on first use. Tests that share it must keep to keys of their
// own and never flush, pause or kill it; Start gives a server to abuse.
// The package's TestMain must return through Main, which stops it.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	requireBinary(tb)
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "redistest-"); shared.err == nil {
			shared.s, shared.err = New(shared.dir)
		}
	})
	if shared.err != nil {
		tb.Fatalf("redistest: shared server: %v", shared.err)
	}
	return shared.s
}

// Main runs the package's tests and then stops the shared server:
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if shared.s != nil {
		shared.s.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return code
}
