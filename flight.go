package aside

import "sync"

// flightGroup lets concurrent misses of one key in one process share a
// single load. Unlike singleflight, the load does not run on the caller's
// goroutine: it runs on its own, under a context detached from every
// caller, so the first caller leaving cannot cancel it for the others, and
// each caller can stop waiting on its own context.
type flightGroup struct {
	mu      sync.Mutex
	flights map[string]*flight // loads in progress, by full key; guarded by mu
}

// flight is one load in progress. Its result fields are written once,
// before done is closed, and read only after.
type flight struct {
	done  chan struct{}
	value any // a T on success
	err   error
}

// join returns the flight loading key, starting one if there is none; lead
// is true for the caller that started it, who must run the load and then
// call land.
func (g *flightGroup) join(key string) (f *flight, lead bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.flights[key]; ok {
		return f, false
	}
	if g.flights == nil {
		g.flights = make(map[string]*flight)
	}
	f = &flight{done: make(chan struct{})}
	g.flights[key] = f
	return f, true
}

// land ends the flight for key: later misses start a new one, and the
// waiters of this one wake up to its result.
func (g *flightGroup) land(key string, f *flight) {
	g.mu.Lock()
	delete(g.flights, key)
	g.mu.Unlock()
	close(f.done)
}
