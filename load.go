package aside

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime/debug"
	"time"
)

// fillPolicy says how long what a loader returns is kept.
type fillPolicy struct {
	ttl         time.Duration // for a value
	negativeTTL time.Duration // for ErrNotFound
	jitter      float64       // spread of both, as a fraction
}

// GetOrSet returns the value cached under key, or calls load once, caches
// what it returns for ttl (spread by the cache's jitter) and returns it.
//
// Concurrent misses of one key in this process share one load call, which
// runs on a context detached from the callers (so the first caller leaving
// does not cancel it for the rest) and bounded by Options.LoadTimeout; each
// caller stops waiting when its own ctx ends. A loader error is returned
// wrapped in a *LoadError and is neither cached nor retried. A loader's
// ErrNotFound is cached for the negative TTL, and later reads return
// ErrNotFound without calling load. When the store fails or the breaker is
// open, GetOrSet still answers from load.
//
// The fill is fenced: before loading, the cache takes a lease on the key,
// and it writes the loaded value only while the lease holds. An
// invalidation (Delete, Invalidate, a pattern delete) voids the lease, so a
// load that read the database before a write can never store its older
// value after the write's invalidation.
//
// The key is relative to Options.KeyPrefix. A panic in load is returned as
// an error.
func GetOrSet[T any](ctx context.Context, c *Cache, key string, ttl time.Duration, load func(context.Context) (T, error)) (T, error) {
	if err := checkCall(c, key, ttl, load != nil); err != nil {
		var zero T
		return zero, err
	}
	p := fillPolicy{ttl: ttl, negativeTTL: c.opts.NegativeTTL, jitter: c.opts.Jitter}
	return getOrLoad(ctx, c, c.stats.lookup(key), key, p, load)
}

// Get returns the value cached under key without loading anything. found is
// false on a miss, when the store is unavailable (a read never fails for
// that), and for a negative entry, for which err is ErrNotFound.
func Get[T any](ctx context.Context, c *Cache, key string) (v T, found bool, err error) {
	if err := checkCall(c, key, time.Second, true); err != nil {
		return v, false, err
	}
	st := c.stats.lookup(key)
	v, k, res := lookup[T](ctx, c, st, c.opts.KeyPrefix+key)
	switch {
	case res != lookupHit:
		st.misses.Add(1)
		return v, false, nil
	case k == kindNotFound:
		st.hits.Add(1)
		return v, false, notFound(key)
	}
	st.hits.Add(1)
	return v, true, nil
}

// Set caches v under key for exactly ttl (no jitter), replacing what was
// there. It returns an error wrapping ErrUnavailable while the breaker is open.
func Set[T any](ctx context.Context, c *Cache, key string, v T, ttl time.Duration) error {
	if err := checkCall(c, key, ttl, true); err != nil {
		return err
	}
	full := c.opts.KeyPrefix + key
	c.flights.forget(full) // a load in flight read the database before this value
	return writeEntry(ctx, c, c.stats.lookup(key), full, localEntry[T]{kind: kindValue, value: v}, ttl)
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

// getOrLoad is the read path that GetOrSet and Namespace.Get share: key is
// relative to the prefix, st the counters it counts in.
func getOrLoad[T any](ctx context.Context, c *Cache, st *counters, key string, p fillPolicy, load func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err // a caller already gone starts no load
	}
	full := c.opts.KeyPrefix + key
	v, k, res := lookup[T](ctx, c, st, full)
	if res == lookupHit {
		st.hits.Add(1)
		if k == kindNotFound {
			return v, notFound(key)
		}
		return v, nil
	}
	st.misses.Add(1)

	f, lead := c.flights.join(full, reflect.TypeFor[T]())
	switch {
	case !lead:
		st.coalesced.Add(1)
	case !c.startLoad():
		f.finish(nil, ErrClosed)
		c.flights.land(full, f)
	default:
		fenced := res != lookupFailed // the store answered, so it can lease
		go fly(context.WithoutCancel(ctx), c, st, key, full, p, load, f, fenced)
	}

	select {
	case <-f.done:
	case <-ctx.Done():
		return zero, fmt.Errorf("aside: waiting for %q: %w", key, ctx.Err())
	}
	if f.err != nil {
		return zero, f.err
	}
	if v, ok := f.value.(T); ok {
		return v, nil
	}
	return zero, nil // a nil interface value: the loader returned T's zero
}

// fly runs a flight on its own goroutine: it takes the key's lease (which
// also finds a value a flight that landed between our miss and our join
// stored), calls the loader, fills the key while the lease holds, and then
// hands the result to the callers: a caller that reads the key after
// GetOrSet returned finds what it returned.
//
// A flight whose first read failed (the store is down, or the breaker
// open) is not fenced: it takes no lease and fills nothing, so that a
// store that does not answer costs one timeout, not three.
func fly[T any](ctx context.Context, c *Cache, st *counters, key, full string, p fillPolicy, load func(context.Context) (T, error), f *flight, fenced bool) {
	defer c.loads.Done()
	defer c.flights.land(full, f)

	var lease any // what a fill must find in the key; nil: do not fill
	if fenced {
		v, k, l, found := lead[T](ctx, c, st, full)
		if found {
			if k == kindNotFound {
				f.finish(nil, notFound(key))
			} else {
				f.finish(v, nil)
			}
			return
		}
		lease = l
	}

	loadCtx, cancel := context.WithTimeout(ctx, c.opts.LoadTimeout)
	defer cancel()
	stop := context.AfterFunc(c.closing, cancel)
	defer stop()

	st.loads.Add(1)
	start := time.Now()
	v, err := callLoader(loadCtx, load, c)
	st.observeLoad(time.Since(start))
	switch {
	case err == nil:
		fill(ctx, c, st, full, lease, localEntry[T]{kind: kindValue, value: v}, jittered(p.ttl, p.jitter))
		f.finish(v, nil)
	case errors.Is(err, ErrNotFound):
		fill(ctx, c, st, full, lease, localEntry[T]{kind: kindNotFound}, jittered(p.negativeTTL, p.jitter))
		f.finish(nil, &LoadError{Key: key, Err: err})
	default:
		st.loadErrors.Add(1)
		release(ctx, c, full, lease)
		f.finish(nil, &LoadError{Key: key, Err: err})
	}
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

// lookupResult is what a read of the store found out.
type lookupResult int

const (
	lookupMiss   lookupResult = iota // the store answered: nothing there
	lookupLeased                     // a lease: a loader somewhere is filling the key
	lookupHit                        // a value or a negative entry
	lookupFailed                     // the store did not answer, or the breaker kept us away
)

// lookup reads full from the store. It counts store failures and corrupt
// entries, not hits or misses: its callers decide what a lookup was.
func lookup[T any](ctx context.Context, c *Cache, st *counters, full string) (v T, k kind, res lookupResult) {
	if c.local != nil {
		raw, ok := c.local.GetValue(full)
		if !ok {
			return v, 0, lookupMiss
		}
		if e, ok := raw.(localEntry[T]); ok { // the hit, before anything rarer
			return e.value, e.kind, lookupHit
		}
		return fromLocal[T](ctx, c, st, full, raw)
	}
	data, ok, err := c.storeGet(ctx, full)
	switch {
	case err != nil:
		c.count(ctx, st, err, "read", full)
		return v, 0, lookupFailed
	case !ok:
		return v, 0, lookupMiss
	}
	return decodeOrDrop[T](ctx, c, st, full, data)
}

// fromLocal reads what a ValueStore holds: our entry, a lease (a miss),
// bytes written through the byte API, or another type's entry, which is
// read through the codec as it would be from Redis.
func fromLocal[T any](ctx context.Context, c *Cache, st *counters, full string, raw any) (v T, k kind, res lookupResult) {
	switch e := raw.(type) {
	case localEntry[T]:
		return e.value, e.kind, lookupHit
	case *localLease:
		return v, 0, lookupLeased
	case []byte:
		return decodeOrDrop[T](ctx, c, st, full, e)
	case reencoder:
		data, err := e.reencode(c.opts.Codec)
		if err != nil {
			data = nil // undecodable as anything: dropped below
		}
		return decodeOrDrop[T](ctx, c, st, full, data)
	}
	return decodeOrDrop[T](ctx, c, st, full, nil)
}

// decodeOrDrop decodes an entry, which may be a lease. An entry that does not
// decode is counted as an error, deleted, and reported as a miss, so that
// the loader answers.
func decodeOrDrop[T any](ctx context.Context, c *Cache, st *counters, full string, data []byte) (v T, k kind, res lookupResult) {
	v, k, err := decodeEntry[T](c.opts.Codec, data)
	switch {
	case err == nil && k == kindLease:
		return v, 0, lookupLeased
	case err == nil:
		return v, k, lookupHit
	}
	st.errors.Add(1)
	c.opts.Logger.Warn("aside: dropping an entry that does not decode", "key", full, "err", err)
	_ = c.do(ctx, func(ctx context.Context) error {
		_, err := c.store.Delete(ctx, full)
		return err
	})
	return v, 0, lookupMiss
}

// lead takes the lease on full for this process's load, across processes:
// one loader per key at a time. When another loader holds the lease, it
// waits for that loader's fill and answers with it; when the lease is
// released or expires meanwhile (its holder failed or died), it takes the
// lease itself; when the wait outlasts a lease's life, or the store
// fails, it gives up and loads without a lease (and fills nothing). found
// is true when the key turned out to hold a value or a negative entry.
func lead[T any](ctx context.Context, c *Cache, st *counters, full string) (v T, k kind, lease any, found bool) {
	var w *leaseWait
	for {
		v, k, lease, res := acquire[T](ctx, c, st, full)
		switch res {
		case lookupHit:
			return v, k, nil, true
		case lookupMiss:
			return v, 0, lease, false // ours
		case lookupFailed:
			return v, 0, nil, false
		}
		if w == nil {
			st.leaseWaits.Add(1)
			w = newLeaseWait(c.opts.LeaseTTL)
		}
		for {
			if !w.sleep(c.closing) {
				return v, 0, nil, false // waited a lease's life, or Close
			}
			v, k, res = lookup[T](ctx, c, st, full)
			if res != lookupLeased {
				break
			}
		}
		switch res {
		case lookupHit:
			return v, k, nil, true
		case lookupFailed:
			return v, 0, nil, false
		}
		// The key is empty: the holder failed, or its lease expired. Take it.
	}
}

// leaseWait paces the polls of a key whose lease another loader holds:
// from 1 ms, doubling up to 50 ms, with jitter, never a hot loop, and for
// no longer than a lease can live.
type leaseWait struct {
	deadline time.Time
	next     time.Duration
}

func newLeaseWait(leaseTTL time.Duration) *leaseWait {
	return &leaseWait{deadline: time.Now().Add(leaseTTL + leaseTTL/10), next: time.Millisecond}
}

// sleep waits for the next poll; it is false when the wait is over.
func (w *leaseWait) sleep(closing context.Context) bool {
	d := time.Until(w.deadline)
	if d <= 0 {
		return false
	}
	pause := min(time.Duration(float64(w.next)*(0.8+0.4*rand.Float64())), d)
	w.next = min(2*w.next, 50*time.Millisecond)
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-closing.Done():
		return false
	}
}

// acquire tries once to take the lease on full. It reports lookupMiss with
// the lease when it took it, lookupHit with the value when the key holds
// one after all (a fill landed since our miss), lookupLeased when another
// loader holds the lease, and lookupFailed when the store failed.
func acquire[T any](ctx context.Context, c *Cache, st *counters, full string) (v T, k kind, lease any, res lookupResult) {
	if c.local != nil {
		mine := &localLease{}
		cur, present := c.local.AddOrGetValue(full, mine, c.opts.LeaseTTL)
		if !present {
			return v, 0, mine, lookupMiss
		}
		v, k, res := fromLocal[T](ctx, c, st, full, cur)
		if res == lookupMiss { // it held something undecodable, now dropped
			res = lookupLeased
		}
		return v, k, nil, res
	}
	mine := newLease()
	var cur []byte
	var present bool
	err := c.do(ctx, func(ctx context.Context) (err error) {
		cur, present, err = c.store.AddOrGet(ctx, full, mine, c.opts.LeaseTTL)
		return err
	})
	switch {
	case err != nil:
		c.count(ctx, st, err, "lease", full)
		return v, 0, nil, lookupFailed
	case !present:
		return v, 0, mine, lookupMiss
	}
	v, k, res = decodeOrDrop[T](ctx, c, st, full, cur)
	if res == lookupMiss { // it held something undecodable, now dropped
		res = lookupLeased
	}
	return v, k, nil, res
}

// fill writes a loaded entry if the key still holds our lease, and counts
// the outcome: a set, a fill rejected (an invalidation or a Set came first,
// or the lease expired), or a write skipped (no lease, or the store failed).
func fill[T any](ctx context.Context, c *Cache, st *counters, full string, lease any, e localEntry[T], ttl time.Duration) {
	if lease == nil {
		st.writesSkipped.Add(1)
		return
	}
	var swapped bool
	if c.local != nil {
		swapped = c.local.CompareAndSetValue(full, lease, e, ttl)
	} else {
		data, err := e.reencode(c.opts.Codec)
		if err != nil {
			st.errors.Add(1)
			st.writesSkipped.Add(1)
			release(ctx, c, full, lease)
			return
		}
		err = c.do(ctx, func(ctx context.Context) (err error) {
			swapped, err = c.store.CompareAndSet(ctx, full, lease.([]byte), data, ttl)
			return err
		})
		if err != nil {
			c.count(ctx, st, err, "fill", full)
			st.writesSkipped.Add(1)
			return
		}
	}
	if swapped {
		st.sets.Add(1)
	} else {
		st.fillsRejected.Add(1)
	}
}

// release gives up a lease after a failed load, if it still holds, so
// that the next reader can take the key at once instead of when the lease
// expires.
func release(ctx context.Context, c *Cache, full string, lease any) {
	switch l := lease.(type) {
	case *localLease:
		c.local.CompareAndDeleteValue(full, l)
	case []byte:
		_ = c.do(ctx, func(ctx context.Context) error {
			_, err := c.store.CompareAndDelete(ctx, full, l)
			return err
		})
	}
}

// writeEntry writes an entry unconditionally (Set) and counts the outcome.
func writeEntry[T any](ctx context.Context, c *Cache, st *counters, full string, e localEntry[T], ttl time.Duration) error {
	if c.local != nil {
		c.local.SetValue(full, e, ttl)
		st.sets.Add(1)
		return nil
	}
	data, err := e.reencode(c.opts.Codec)
	if err != nil {
		st.errors.Add(1)
		return err
	}
	err = c.do(ctx, func(ctx context.Context) error { return c.store.Set(ctx, full, data, ttl) })
	if err != nil {
		c.count(ctx, st, err, "write", full)
		st.writesSkipped.Add(1)
		return fmt.Errorf("aside: set %q: %w", full, err)
	}
	st.sets.Add(1)
	return nil
}

// jittered spreads ttl uniformly over ±j of it, never below a millisecond.
func jittered(ttl time.Duration, j float64) time.Duration {
	if j <= 0 {
		return ttl
	}
	d := time.Duration(float64(ttl) * (1 + j*(2*rand.Float64()-1)))
	return max(d, time.Millisecond)
}
