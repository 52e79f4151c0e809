package aside

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
	v, k, ok := lookup[T](ctx, c, st, c.opts.KeyPrefix+key)
	switch {
	case !ok:
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
	st := c.stats.lookup(key)
	return writeEntry(ctx, c, st, c.opts.KeyPrefix+key, localEntry[T]{kind: kindValue, value: v}, ttl)
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
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err // a caller already gone starts no load
	}
	full := c.opts.KeyPrefix + key
	if v, k, ok := lookup[T](ctx, c, st, full); ok {
		st.hits.Add(1)
		if k == kindNotFound {
			return v, notFound(key)
		}
		return v, nil
	}
	st.misses.Add(1)

	f, lead := c.flights.join(full)
	switch {
	case !lead:
		st.coalesced.Add(1)
	case !c.startLoad():
		f.err = ErrClosed
		c.flights.land(full, f)
	default:
		go func() {
			defer c.loads.Done()
			defer c.flights.land(full, f)
			f.value, f.err = loadAndFill(context.WithoutCancel(ctx), c, st, key, full, p, load)
		}()
	}

	var zero T
	select {
	case <-f.done:
	case <-ctx.Done():
		return zero, fmt.Errorf("aside: waiting for %q: %w", key, ctx.Err())
	}
	if f.err != nil {
		return zero, f.err
	}
	v, ok := f.value.(T)
	if !ok {
		return zero, fmt.Errorf("aside: %q was being loaded as %T, not as %T", key, f.value, zero)
	}
	return v, nil
}

// loadAndFill runs in the flight's own goroutine: it checks the store once
// more (a flight that landed between our miss and our join may have filled
// the key), calls the loader, and stores what it returns.
func loadAndFill[T any](ctx context.Context, c *Cache, st *counters, key, full string, p fillPolicy, load func(context.Context) (T, error)) (any, error) {
	if v, k, ok := lookup[T](ctx, c, st, full); ok {
		if k == kindNotFound {
			return nil, notFound(key)
		}
		return v, nil
	}

	loadCtx, cancel := context.WithTimeout(ctx, c.opts.LoadTimeout)
	defer cancel()
	stop := context.AfterFunc(c.closing, cancel)
	defer stop()

	st.loads.Add(1)
	start := time.Now()
	v, err := callLoader(loadCtx, load)
	st.observeLoad(time.Since(start))
	switch {
	case err == nil:
		_ = writeEntry(ctx, c, st, full, localEntry[T]{kind: kindValue, value: v}, jittered(p.ttl, p.jitter))
		return v, nil
	case errors.Is(err, ErrNotFound):
		_ = writeEntry(ctx, c, st, full, localEntry[T]{kind: kindNotFound}, jittered(p.negativeTTL, p.jitter))
	default:
		st.loadErrors.Add(1)
	}
	return nil, &LoadError{Key: key, Err: err}
}

// callLoader calls load, turning a panic into an error: the load runs on a
// goroutine of ours, where a panic would take the whole process down.
func callLoader[T any](ctx context.Context, load func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("aside: loader panicked: %v", r)
		}
	}()
	return load(ctx)
}

// lookup reads full from the store. It counts store failures and corrupt
// entries, not hits or misses: its callers decide what a lookup was.
func lookup[T any](ctx context.Context, c *Cache, st *counters, full string) (v T, k kind, found bool) {
	if c.local != nil {
		raw, ok := c.local.GetValue(full)
		if !ok {
			return v, 0, false
		}
		if e, ok := raw.(localEntry[T]); ok {
			return e.value, e.kind, true
		}
		data, _ := raw.([]byte) // written through the byte API; else another type's entry
		return decodeOrDrop[T](ctx, c, st, full, data)
	}

	data, ok, err := c.storeGet(ctx, full)
	switch {
	case errors.Is(err, ErrUnavailable):
		st.bypassed.Add(1)
		return v, 0, false
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		return v, 0, false // the caller left: not the store's failure
	case err != nil:
		st.errors.Add(1)
		c.opts.Logger.Debug("aside: store read failed, answering from the loader", "key", full, "err", err)
		return v, 0, false
	case !ok:
		return v, 0, false
	}
	return decodeOrDrop[T](ctx, c, st, full, data)
}

// decodeOrDrop decodes an entry; one that does not decode is counted as an
// error, deleted, and reported as a miss, so that the loader answers.
func decodeOrDrop[T any](ctx context.Context, c *Cache, st *counters, full string, data []byte) (v T, k kind, found bool) {
	v, k, err := decodeEntry[T](c.opts.Codec, data)
	if err == nil {
		return v, k, true
	}
	st.errors.Add(1)
	c.opts.Logger.Warn("aside: dropping an entry that does not decode", "key", full, "err", err)
	_ = c.do(ctx, func(ctx context.Context) error {
		_, err := c.store.Delete(ctx, full)
		return err
	})
	return v, 0, false
}

// writeEntry writes an entry and counts the outcome: a set, a write skipped
// while the store is unavailable, or an error.
func writeEntry[T any](ctx context.Context, c *Cache, st *counters, full string, e localEntry[T], ttl time.Duration) error {
	if c.local != nil {
		c.local.SetValue(full, e, ttl)
		st.sets.Add(1)
		return nil
	}
	data := notFoundEnvelope
	if e.kind == kindValue {
		var err error
		if data, err = encodeValue(c.opts.Codec, e.value); err != nil {
			st.errors.Add(1)
			return err
		}
	}
	err := c.do(ctx, func(ctx context.Context) error { return c.store.Set(ctx, full, data, ttl) })
	switch {
	case errors.Is(err, ErrUnavailable):
		st.writesSkipped.Add(1)
		st.bypassed.Add(1)
	case err != nil:
		st.writesSkipped.Add(1)
		st.errors.Add(1)
		c.opts.Logger.Debug("aside: store write failed", "key", full, "err", err)
	default:
		st.sets.Add(1)
	}
	return err
}

// jittered spreads ttl uniformly over ±j of it, never below a millisecond.
func jittered(ttl time.Duration, j float64) time.Duration {
	if j <= 0 {
		return ttl
	}
	d := time.Duration(float64(ttl) * (1 + j*(2*rand.Float64()-1)))
	return max(d, time.Millisecond)
}
