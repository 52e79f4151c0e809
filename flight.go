package aside

import (
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/aside-cache/aside/internal/glob"
)

// flightGroup lets concurrent misses of one key in one process share a
// single load. Unlike singleflight, the load does not run on the caller's
// goroutine: it runs on its own, under a context detached from every
// caller, so the first caller leaving cannot cancel it for the others, and
// each caller can stop waiting on its own context.
//
// An invalidation forgets the flights of its keys: a caller that arrives
// after the invalidation starts a new load rather than joining one that
// may have read the database before the write.
type flightGroup struct {
	mu      sync.Mutex
	flights map[string][]*flight // loads in progress by full key, one per type; guarded by mu
}

// flight is one load in progress. Its result fields are written once,
// before done is closed, and read only after.
type flight struct {
	typ   reflect.Type // what the load returns: callers of another type load apart
	done  chan struct{}
	value any // a T on success
	err   error

	// What the answer can be trusted for. It comes from a read (of the
	// store, or of the database by the loader) that began at basis; a
	// caller that began before basis may take it; a caller that began
	// after reads again, for another process's invalidation may have
	// returned between basis and its start (one in this process detaches
	// the flight). A not-found answer and fail-safe's stale answer are
	// values too.
	basis time.Time
	stale bool // fail-safe's answer: each caller it serves counts as stale served
}

// join returns the flight loading key as typ, starting one if there is
// none; lead is true for the caller that started it, who must run the
// load, finish the flight and then land it.
func (g *flightGroup) join(key string, typ reflect.Type) (f *flight, lead bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.flights[key] {
		if f.typ == typ {
			return f, false
		}
	}
	if g.flights == nil {
		g.flights = make(map[string][]*flight)
	}
	f = &flight{typ: typ, done: make(chan struct{})}
	g.flights[key] = append(g.flights[key], f)
	return f, true
}

// finish hands the flight's result to its callers.
func (f *flight) finish(value any, err error) {
	f.value, f.err = value, err
	close(f.done)
}

// trusted reports whether a caller that began at start may take the
// flight's answer (see basis).
func (f *flight) trusted(start time.Time) bool {
	if f.err != nil && !errors.Is(f.err, ErrNotFound) {
		return true // a failure, not a value: it cannot be stale
	}
	return start.Before(f.basis)
}

// land ends the flight for key: later misses start a new one.
func (g *flightGroup) land(key string, f *flight) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fs := g.flights[key]
	for i, x := range fs {
		if x == f {
			fs = append(fs[:i], fs[i+1:]...)
			break
		}
	}
	if len(fs) == 0 {
		delete(g.flights, key)
	} else {
		g.flights[key] = fs
	}
}

// forget detaches the flights of keys, so that later misses start new
// loads; the forgotten flights still answer the callers they have.
func (g *flightGroup) forget(keys ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		delete(g.flights, k)
	}
}

// forgetMatching detaches the flights of the keys that match pattern.
func (g *flightGroup) forgetMatching(pattern string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.flights {
		if glob.Match(pattern, k) {
			delete(g.flights, k)
		}
	}
}
