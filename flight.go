package aside

import (
	"context"
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

// flight is one load in progress. Its outcome is written once, before
// done is closed, and read only after.
type flight struct {
	typ   reflect.Type // what the load returns: callers of another type load apart
	shape uint64       // what the load fills: callers of another shape (other groups' tokens) load apart
	done  chan struct{}
	outcome
}

// outcome is a flight's answer to its callers.
type outcome struct {
	value any // a T on success
	err   error

	// What the answer can be trusted for. It comes from a read (of the
	// store, or of the database by the loader) that began at basis; a
	// caller that began before basis may take it; a caller that began
	// after reads again, for another process's invalidation may have
	// returned between basis and its start (one in this process detaches
	// the flight). A not-found answer and fail-safe's stale answer are
	// values too; a failure is no value, and good for every caller.
	basis time.Time
	stale bool // fail-safe's answer: each caller it serves counts as stale served
}

// join returns the flight loading key as typ, to fill it in shape,
// starting one if there is none; lead is true for the caller that started
// it, who must run the load, finish the flight and then land it. A caller
// whose read found other tokens of the key's groups (another shape) does
// not join: the load may have read the database before the group's
// invalidation.
func (g *flightGroup) join(key string, typ reflect.Type, shape uint64) (f *flight, lead bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.flights[key] {
		if f.typ == typ && f.shape == shape {
			return f, false
		}
	}
	if g.flights == nil {
		g.flights = make(map[string][]*flight)
	}
	f = &flight{typ: typ, shape: shape, done: make(chan struct{})}
	g.flights[key] = append(g.flights[key], f)
	return f, true
}

// finish hands the flight's outcome to its callers.
func (f *flight) finish(o outcome) {
	f.outcome = o
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

// flightRun is a flight's load, on a goroutine of its own, under a
// context detached from the callers: the read that started it, and what
// the load holds on the key. The state of the load travels here, in the
// receiver of its steps.
type flightRun[T any] struct {
	read[T]
	f        *flight
	refresh  bool  // the load refreshes an entry callers are served meanwhile
	sawFresh int64 // for a refresh: the freshUntil of the entry it is for
	h        hold[T]
	answered bool // the callers have their answer (the soft timeout's stale value)
	landed   bool
}

// fly runs the flight: it takes the key's lease (or its claim, on an entry
// past its time), calls the loader, fills the key while the lease holds,
// and then answers the callers, so that a caller that reads the key after
// the read returned finds what it returned.
//
// Every answer says which callers it is good for (outcome.basis): those
// begun before the read it rests on. A stale answer rests on the read
// that found the entry, or on a write-back that proved the entry's claim
// still held; a claim an invalidation voided proves nothing after it was
// taken.
//
// Without fenced (the caller's look failed: the store is down, or the
// breaker open) it takes no lease and fills nothing.
func (fr *flightRun[T]) fly(ctx context.Context, fenced bool) {
	defer fr.c.loads.Done()
	defer fr.landIfNot()
	if fenced {
		l := fr.lead(ctx)
		switch {
		case fr.refresh && (l.found || l.h.held.zero()):
			// An answer a refresh cannot give (nothing to refresh, or
			// another refresh under way) sends its joiners back to read
			// again: its basis is the zero time.
			fr.finish(outcome{})
			return
		case l.found:
			fr.finish(fr.outcomeOf(l.e).at(l.at, l.stale))
			return
		}
		fr.h = l.h
	}
	if fr.c.closing.Err() != nil { // Close came while lead waited on another loader
		fr.release(ctx)
		fr.finish(outcome{err: ErrClosed})
		return
	}
	loadAt := time.Now() // the loader's read of the database begins after this
	res := fr.loadWithSoftTimeout(ctx)
	fr.st.loads.Add(1)
	fr.st.observeLoad(res.took)
	if res.err == nil || errors.Is(res.err, ErrNotFound) {
		fr.loaded(ctx, res, loadAt)
		return
	}
	fr.failed(ctx, res)
}

// loaded fills the key with what the loader returned (a value, or a
// negative entry for ErrNotFound) and answers the callers.
func (fr *flightRun[T]) loaded(ctx context.Context, res loaded[T], loadAt time.Time) {
	now := fr.c.now()
	e := newValueEntry(res.v, fr.meta(kindValue, now, res.took))
	var err error
	if res.err != nil {
		e = &entry[T]{kind: kindNotFound, meta: fr.meta(kindNotFound, now, res.took)}
		err = &LoadError{Key: fr.key, Err: res.err}
	}
	sent := time.Now()
	filled := fr.fill(ctx, e)
	if fr.answered { // once answered, the flight's outcome is its callers'
		return
	}
	// A fill that landed proves no invalidation came between the lease and
	// the fill: the answer is good for callers begun before the fill was
	// sent. Otherwise, only for those begun before the load.
	basis := loadAt
	if filled {
		basis = sent
	}
	fr.finish(outcome{value: res.v, err: err, basis: basis})
}

// failed answers a failed load: with fail-safe's stale value when the
// load held one, which is then written back for the throttle period, or
// with the loader's error.
func (fr *flightRun[T]) failed(ctx context.Context, res loaded[T]) {
	fr.st.loadErrors.Add(1)
	now := fr.c.nowMs()
	stale := fr.h.servable(now, fr.p)
	var vouched time.Time
	if stale != nil || fr.refresh {
		vouched = fr.throttle(ctx, now)
	} else {
		fr.release(ctx)
	}
	switch {
	case fr.answered:
	case stale != nil:
		basis := fr.h.at // the claim may have been voided at any time since
		if !vouched.IsZero() {
			basis = vouched
		}
		fr.finish(fr.outcomeOf(stale).at(basis, true))
	default:
		fr.finish(outcome{err: &LoadError{Key: fr.key, Err: res.err}})
	}
}

// outcomeOf is the answer an entry gives.
func (fr *flightRun[T]) outcomeOf(e *entry[T]) outcome {
	a := fr.answer(e)
	if a.err != nil {
		return outcome{err: a.err}
	}
	return outcome{value: a.v}
}

// at dates an outcome: good for callers begun before basis.
func (o outcome) at(basis time.Time, stale bool) outcome {
	o.basis, o.stale = basis, stale
	return o
}

// finish lands the flight, then answers: a caller that comes after the
// answer starts afresh rather than take an answer older than itself.
func (fr *flightRun[T]) finish(o outcome) {
	fr.c.flights.land(fr.full, fr.f)
	fr.landed = true
	fr.f.finish(o)
}

func (fr *flightRun[T]) landIfNot() {
	if !fr.landed {
		fr.c.flights.land(fr.full, fr.f)
	}
}
