package aside

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime/debug"
	"time"
)

// GetOrSet returns the value cached under key, or calls load once, caches
// what it returns for ttl (spread by the cache's jitter) and returns it.
//
// Concurrent misses of one key share one load call: in this process they
// wait for it; in other processes, for its fill (see Options.LeaseTTL). The
// load runs on a context detached from the callers (so the first caller
// leaving does not cancel it for the rest), bounded by Options.LoadTimeout;
// each caller stops waiting when its own ctx ends. A loader error is
// returned wrapped in a *LoadError and is neither cached nor retried. A
// loader's ErrNotFound is cached for the negative TTL, and later reads
// return ErrNotFound without calling load. When the store fails or the
// breaker is open, GetOrSet still answers from load.
//
// The fill is fenced: before loading, the cache takes a lease on the key,
// and it writes the loaded value only while the lease holds. An
// invalidation (Delete, Invalidate, a pattern delete) voids the lease, so a
// load that read the database before a write can never store its older
// value after the write's invalidation.
//
// NamespaceConfig.SoftTTL and Options.EarlyRefresh, MaxStale and
// SoftTimeout add stale-while-revalidate and fail-safe serving; see
// Options.
//
// A value read may be shared by every reader of its key (an in-process
// store keeps values decoded; from Redis, the decode memo reuses a
// decoding while the key's bytes stay the same): do not modify what
// GetOrSet returns, slices, maps and pointers in it included.
//
// The key is relative to Options.KeyPrefix. A panic in load is returned as
// an error, and so is a load that ends its goroutine (runtime.Goexit). A
// value the codec cannot encode is returned but not cached: counted in
// Stats' Errors and logged at warn level, and its lease given up so that
// the next reader does not wait for a fill.
func GetOrSet[T any](ctx context.Context, c *Cache, key string, ttl time.Duration, load func(context.Context) (T, error)) (T, error) {
	if err := checkCall(c, key, ttl, load != nil); err != nil {
		var zero T
		return zero, err
	}
	st, p := keyPolicy[T](c, key, ttl)
	return getOrLoad(ctx, c, st, key, p, load)
}

// GetOrSetEncoded is GetOrSet answering with the value encoded by the
// cache's Codec (for a string or []byte value: its bytes) instead of the
// value: what a handler writes out when the cached encoding is its
// response, such as a JSON API over the JSON Codec. A fresh hit from Redis
// answers with the stored bytes as they came, skipping the decode of the
// value and its encoding again. The in-process store keeps values decoded:
// a fresh hit there is encoded once per entry, and later hits share those
// bytes, so do not modify them. Every other read encodes the value GetOrSet
// would return. Loads, fills, leases, stale serving and errors are
// GetOrSet's.
func GetOrSetEncoded[T any](ctx context.Context, c *Cache, key string, ttl time.Duration, load func(context.Context) (T, error)) ([]byte, error) {
	if err := checkCall(c, key, ttl, load != nil); err != nil {
		return nil, err
	}
	st, p := keyPolicy[T](c, key, ttl)
	return getOrLoadEncoded(ctx, c, st, key, p, load)
}

// keyPolicy returns the counters and the policy of a read of key as a T
// through the key-based functions, with ttl: values carry the shape of T
// under the Version of the namespace whose prefix begins the key.
func keyPolicy[T any](c *Cache, key string, ttl time.Duration) (*counters, fillPolicy) {
	sc := c.stats.lookupScope(key)
	p := c.policy(ttl)
	p.shape = c.shapes.of(reflect.TypeFor[T](), sc.version)
	return sc.c, p
}

// Get returns the value cached under key without loading anything. found is
// false on a miss, for an entry past its TTL, when the store is unavailable
// (a read never fails for that), and for a negative entry, for which err is
// ErrNotFound.
func Get[T any](ctx context.Context, c *Cache, key string) (v T, found bool, err error) {
	if err := checkCall(c, key, time.Second, true); err != nil {
		return v, false, err
	}
	st, p := keyPolicy[T](c, key, time.Second)
	e, _, res := lookup[T](ctx, c, st, c.opts.KeyPrefix+key, p.shape)
	if res != lookupHit || e.state(c.nowMs(), 0) >= stateStale {
		st.misses.Add(1)
		return v, false, nil
	}
	st.hits.Add(1)
	if e.kind == kindNotFound {
		return v, false, notFound(key)
	}
	return e.value, true, nil
}

// Set caches v under key for exactly ttl (no jitter, no stale period),
// replacing what was there. It returns an error wrapping ErrUnavailable
// while the breaker is open.
func Set[T any](ctx context.Context, c *Cache, key string, v T, ttl time.Duration) error {
	if err := checkCall(c, key, ttl, true); err != nil {
		return err
	}
	full := c.opts.KeyPrefix + key
	c.flights.forget(full) // a load in flight read the database before this value
	st, p := keyPolicy[T](c, key, ttl)
	fresh := c.nowMs() + ttl.Milliseconds()
	e := newValueEntry(c, v, meta{freshUntil: fresh, staleUntil: fresh, shape: p.shape})
	return writeEntry(ctx, c, st, full, e, ttl)
}

func checkCall(c *Cache, key string, ttl time.Duration, hasLoader bool) error {
	switch {
	case c == nil:
		return errors.New("aside: nil *Cache")
	case c.closed.Load():
		return ErrClosed
	case key == "":
		return errors.New("aside: empty key")
	case ttl <= 0:
		return fmt.Errorf("aside: ttl %v for %q is not positive", ttl, key)
	case !hasLoader:
		return fmt.Errorf("aside: nil loader for %q", key)
	}
	return nil
}

// answer is what a read returns for an entry.
func answer[T any](key string, e *entry[T]) (T, error) {
	if e.kind == kindNotFound {
		var zero T
		return zero, notFound(key)
	}
	return e.value, nil
}

// getOrLoad is the read path that GetOrSet and Namespace.Get share: key is
// relative to the prefix, st the counters it counts in.
func getOrLoad[T any](ctx context.Context, c *Cache, st *counters, key string, p fillPolicy, load func(context.Context) (T, error)) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err // a caller already gone starts no load
	}
	full := c.opts.KeyPrefix + key
	e, _, res := lookup[T](ctx, c, st, full, p.shape)
	return getOrLoadFrom(ctx, c, st, key, full, p, load, e, res)
}

// getOrLoadFrom goes on from a lookup's result.
func getOrLoadFrom[T any](ctx context.Context, c *Cache, st *counters, key, full string, p fillPolicy, load func(context.Context) (T, error), e entry[T], res lookupResult) (T, error) {
	if v, err, ok := fromHit(ctx, c, st, key, full, p, load, &e, res); ok {
		st.hits.Add(1)
		return v, err
	}
	return getOrLoadSlow(ctx, c, st, key, full, p, load, res)
}

// getOrLoadEncoded is getOrLoad answering with the value's encoding. From a
// remote store, a fresh hit answers with the stored payload as it came,
// never decoded; everything else (a miss, a lease, an entry due for a
// refresh or past its time, a local store) takes the typed path and
// encodes its answer.
func getOrLoadEncoded[T any](ctx context.Context, c *Cache, st *counters, key string, p fillPolicy, load func(context.Context) (T, error)) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	full := c.opts.KeyPrefix + key
	var e entry[T]
	var res lookupResult
	if c.local != nil {
		var ref any
		e, ref, res = lookup[T](ctx, c, st, full, p.shape)
		if kept, ok := ref.(*entry[T]); ok && res == lookupHit && e.kind == kindValue && servedAsIs(e.meta, c, p) {
			st.hits.Add(1)
			return kept.encoded(c.opts.Codec)
		}
	} else {
		data, ok, err := c.storeGet(ctx, full)
		switch {
		case err != nil:
			c.count(ctx, st, err, "read", full)
			res = lookupFailed
		case !ok:
			res = lookupMiss
		default:
			if payload, ok := freshPayload(data, c, p); ok {
				st.hits.Add(1)
				return payload, nil
			}
			e, _, res = decodeOrDrop[T](ctx, c, st, full, data, p.shape)
		}
	}
	v, err := getOrLoadFrom(ctx, c, st, key, full, p, load, e, res)
	if err != nil {
		return nil, err
	}
	return encodeValue(c.opts.Codec, nil, v)
}

// freshPayload returns the payload of an envelope that holds a value
// fromHit would serve as it is.
func freshPayload(data []byte, c *Cache, p fillPolicy) ([]byte, bool) {
	k, m, payload, err := readHeader(data)
	if err != nil || k != kindValue || m.shape != p.shape {
		return nil, false
	}
	return payload, servedAsIs(m, c, p)
}

// servedAsIs reports whether fromHit would serve an entry with m as it
// is: fresh, with no refresh due.
func servedAsIs(m meta, c *Cache, p fillPolicy) bool {
	if m.plain() && p.earlyBeta == 0 {
		return true // as in fromHit: the store's expiry is the entry's
	}
	return m.state(c.nowMs(), p.earlyBeta) == stateFresh
}

// fromHit answers a lookup that found a fresh entry (ok), and starts the
// background refresh of one due for it. The caller counts the hit.
func fromHit[T any](ctx context.Context, c *Cache, st *counters, key, full string, p fillPolicy, load func(context.Context) (T, error), e *entry[T], res lookupResult) (v T, err error, ok bool) {
	if res != lookupHit {
		return v, nil, false
	}
	if e.plain() && p.earlyBeta == 0 {
		// No soft TTL, no stale period: the store's physical expiry is the
		// entry's logical one, so an entry it returns is fresh, and the
		// hit needs no clock.
		v, err = answer(key, e)
		return v, err, true
	}
	now := c.nowMs()
	switch e.state(now, p.earlyBeta) {
	case stateFresh:
	case stateRefresh:
		if !e.claimed(now) {
			startRefresh(ctx, c, st, key, full, p, load, e.freshUntil)
		}
	default:
		return v, nil, false // stale or gone: the flight finds it again, for fail-safe
	}
	v, err = answer(key, e)
	return v, err, true
}

// getOrLoadSlow is the read path past a miss: it joins or starts the
// key's flight, and reads again when it cannot trust the flight's answer.
// Its start is taken here, after the caller began: a later start only
// trusts less.
func getOrLoadSlow[T any](ctx context.Context, c *Cache, st *counters, key, full string, p fillPolicy, load func(context.Context) (T, error), res lookupResult) (T, error) {
	st.misses.Add(1)
	start := time.Now()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			var e entry[T]
			e, _, res = lookup[T](ctx, c, st, full, p.shape)
			if v, err, ok := fromHit(ctx, c, st, key, full, p, load, &e, res); ok {
				return v, err // counted as the miss it began as
			}
		}
		v, err, trusted := await(ctx, c, st, key, full, p, load, res, start, attempt == 0)
		if trusted {
			return v, err
		}
		if err := ctx.Err(); err != nil {
			return v, err
		}
		if attempt == maxRereads {
			// Still nothing to trust: a load of its own, begun after the
			// caller, is. It fills nothing (it holds no lease).
			st.loads.Add(1)
			v, err := callLoader(ctx, load, c)
			if err != nil && !errors.Is(err, ErrNotFound) {
				st.loadErrors.Add(1)
			}
			if err != nil {
				return v, &LoadError{Key: key, Err: err}
			}
			return v, nil
		}
	}
}

// maxRereads bounds the reads again of a caller whose flight's answer it
// could not trust: each starts after the caller, so one is nearly always
// enough; past it the caller loads for itself.
const maxRereads = 3

// await joins or starts the key's flight and waits for its answer.
// trusted is false when the caller joined a flight whose answer predates
// it and may predate an invalidation it must see (see flight.basis): it
// must read again.
func await[T any](ctx context.Context, c *Cache, st *counters, key, full string, p fillPolicy, load func(context.Context) (T, error), res lookupResult, start time.Time, first bool) (v T, err error, trusted bool) {
	var zero T
	f, lead := c.flights.join(full, reflect.TypeFor[T]())
	switch {
	case !lead:
		if first {
			st.coalesced.Add(1)
		}
	case !c.startLoad():
		f.finish(nil, ErrClosed)
		c.flights.land(full, f)
	default:
		fenced := res != lookupFailed // the store answered, so it can lease
		go fly(context.WithoutCancel(ctx), c, st, key, full, p, load, f, fenced, false, 0)
	}

	select {
	case <-f.done:
	case <-ctx.Done():
		return zero, fmt.Errorf("aside: waiting for %q: %w", key, ctx.Err()), true
	}
	if !f.trusted(start) {
		return zero, nil, false
	}
	if f.stale {
		st.staleServed.Add(1)
	}
	if f.err != nil {
		return zero, f.err, true
	}
	if v, ok := f.value.(T); ok {
		return v, nil, true
	}
	return zero, nil, true // a nil interface value: the loader returned T's zero
}

// startRefresh refreshes an entry in the background, at most once at a
// time per key in this process (and, by its claim, across processes),
// while the caller goes on with the value it has.
func startRefresh[T any](ctx context.Context, c *Cache, st *counters, key, full string, p fillPolicy, load func(context.Context) (T, error), sawFresh int64) {
	f, lead := c.flights.join(full, reflect.TypeFor[T]())
	if !lead || !c.startLoad() {
		if lead {
			f.finish(nil, ErrClosed)
			c.flights.land(full, f)
		}
		return
	}
	go fly(context.WithoutCancel(ctx), c, st, key, full, p, load, f, true, true, sawFresh)
}

// loaded is the outcome of one loader call.
type loaded[T any] struct {
	v    T
	err  error
	took time.Duration
}

// fly runs a flight on its own goroutine: it takes the key's lease (or
// its claim, on an entry past its time), calls the loader, fills the key
// while the lease holds, and then hands the result to the callers, so that
// a caller that reads the key after GetOrSet returned finds what it
// returned. With refresh, the flight refreshes an entry that callers are
// being served meanwhile.
//
// Every answer says which callers it is good for (flight.basis): those
// begun before the read it rests on. A stale answer rests on the read that
// found the entry, or on a write-back that proved the entry's claim still
// held; a claim an invalidation voided proves nothing after it was taken.
//
// A flight whose first read failed (the store is down, or the breaker
// open) is not fenced: it takes no lease and fills nothing, so that a
// store that does not answer costs one timeout, not three.
func fly[T any](ctx context.Context, c *Cache, st *counters, key, full string, p fillPolicy, load func(context.Context) (T, error), f *flight, fenced, refresh bool, sawFresh int64) {
	defer c.loads.Done()
	// The flight lands before it answers: a caller that comes after the
	// answer starts afresh rather than take an answer older than itself.
	landed := false
	finish := func(v any, err error) {
		c.flights.land(full, f)
		landed = true
		f.finish(v, err)
	}
	defer func() {
		if !landed {
			c.flights.land(full, f)
		}
	}()

	var h hold[T]
	if fenced {
		l := lead[T](ctx, c, st, full, p, refresh, sawFresh)
		switch {
		case refresh && (l.found || l.h.lease == nil):
			// An answer a refresh cannot give (nothing to refresh, or
			// another refresh under way) sends its joiners back to read
			// again: its basis is the zero time.
			finish(nil, nil)
			return
		case l.found:
			f.basis, f.stale = l.at, l.stale
			v, err := answer(key, &l.e)
			finish(v, err)
			return
		}
		h = l.h
	}
	if c.closing.Err() != nil { // Close came while lead waited on another loader
		release(ctx, c, full, h)
		finish(nil, ErrClosed)
		return
	}
	loadAt := time.Now() // the loader's read of the database begins after this

	r, answered := callWithSoftTimeout(ctx, c, st, key, full, load, f, h, p, refresh, finish)
	st.loads.Add(1)
	st.observeLoad(r.took)
	now := c.now()
	if r.err == nil || errors.Is(r.err, ErrNotFound) {
		e := newValueEntry(c, r.v, p.meta(kindValue, now, r.took))
		var err error
		if r.err != nil {
			e = &entry[T]{kind: kindNotFound, meta: p.meta(kindNotFound, now, r.took)}
			err = &LoadError{Key: key, Err: r.err}
		}
		sent := time.Now()
		filled := fill(ctx, c, st, full, h, e)
		if answered { // once answered, the flight's fields are its callers'
			return
		}
		// A fill that landed proves no invalidation came between the lease
		// and the fill: the answer is good for callers begun before the
		// fill was sent. Otherwise, only for those begun before the load.
		f.basis = loadAt
		if filled {
			f.basis = sent
		}
		finish(r.v, err)
		return
	}

	st.loadErrors.Add(1)
	stale := h.servable(unixMs(now))
	var vouched time.Time
	if stale != nil || refresh {
		// Fail-safe: the stale value stands in, and the loader is not tried
		// again for a throttle period.
		vouched = throttle(ctx, c, st, full, h, unixMs(now), p.throttle, refresh)
	} else {
		release(ctx, c, full, h)
	}
	switch {
	case answered:
	case stale != nil:
		f.stale, f.basis = true, h.at
		if !vouched.IsZero() {
			f.basis = vouched
		}
		v, err := answer(key, stale)
		finish(v, err)
	default:
		finish(nil, &LoadError{Key: key, Err: r.err})
	}
}

// callWithSoftTimeout calls the loader. When a stale value can stand in
// and the policy has a soft timeout, the callers get the stale value once
// the soft timeout passes; the loader goes on, and its value still fills
// the key (answered then reports that the callers have their answer).
func callWithSoftTimeout[T any](ctx context.Context, c *Cache, st *counters, key, full string, load func(context.Context) (T, error), f *flight, h hold[T], p fillPolicy, refresh bool, finish func(any, error)) (r loaded[T], answered bool) {
	results := startLoader(ctx, c, p, load)
	stale := h.servable(c.nowMs())
	if refresh || stale == nil || p.softTimeout <= 0 {
		return <-results, false
	}
	t := time.NewTimer(p.softTimeout)
	defer t.Stop()
	select {
	case r = <-results:
		return r, false
	case <-t.C:
		// The flight lands as it answers: callers that come later start
		// afresh (and find the key claimed, so they wait or serve stale).
		f.stale, f.basis = true, vouch(ctx, c, full, h)
		v, err := answer(key, stale)
		finish(v, err)
		return <-results, true
	}
}

// errGoexit is a load's error when its loader ended its goroutine.
var errGoexit = errors.New("aside: loader called runtime.Goexit")

// startLoader calls load on a goroutine of its own, under ctx (detached
// from the callers) bounded by the policy's load timeout and cancelled by
// Close, and delivers its one outcome. The goroutine is the loader's
// alone, so that a loader that ends it (runtime.Goexit, as t.FailNow does)
// ends its load with errGoexit, never the flight that waits for it.
func startLoader[T any](ctx context.Context, c *Cache, p fillPolicy, load func(context.Context) (T, error)) <-chan loaded[T] {
	out := make(chan loaded[T], 1)
	go func() {
		r := loaded[T]{err: errGoexit}
		defer func() { out <- r }()
		loadCtx, cancel := context.WithTimeout(ctx, p.loadTimeout)
		defer cancel()
		stop := context.AfterFunc(c.closing, cancel)
		defer stop()
		if c.closing.Err() != nil {
			r.err = ErrClosed // Close began: no loader starts on a live context
			return
		}
		start := c.now()
		v, err := callLoader(loadCtx, load, c)
		r = loaded[T]{v: v, err: err, took: c.now().Sub(start)}
	}()
	return out
}

// callLoader calls load, turning a panic into an error: the load runs on a
// goroutine of ours, where a panic would take the whole process down.
func callLoader[T any](ctx context.Context, load func(context.Context) (T, error), c *Cache) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.opts.Logger.Error("aside: loader panicked", "panic", r, "stack", string(debug.Stack()))
			if e, ok := r.(error); ok {
				err = fmt.Errorf("aside: loader panicked: %w", e)
			} else {
				err = fmt.Errorf("aside: loader panicked: %v", r)
			}
		}
	}()
	return load(ctx)
}

// jitterRatio is a random factor in [1-j, 1+j].
func jitterRatio(j float64) float64 {
	if j <= 0 {
		return 1
	}
	return 1 + j*(2*rand.Float64()-1)
}

// jittered spreads ttl uniformly over ±j of it, between a millisecond and
// the longest duration there is.
func jittered(ttl time.Duration, j float64) time.Duration {
	d := float64(ttl) * jitterRatio(j)
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return max(time.Duration(d), time.Millisecond)
}
