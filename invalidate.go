package aside

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aside-cache/aside/internal/glob"
)

// Delete removes the entries of keys and reports how many there were (a
// key that held only a lease or a tombstone is not counted), in one round
// trip to a pipelining store even when the keys span namespaces. Loads of
// these keys in flight can no longer fill them, and later reads load
// afresh: each key is left a tombstone for LeaseTTL. When the store cannot
// be reached, the error wraps ErrDeferred: the invalidation is kept and
// replayed before the store is used again.
func (c *Cache) Delete(ctx context.Context, keys ...string) (removed int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return 0, err
		}
		full[i] = c.opts.KeyPrefix + k
	}
	c.flights.forget(full...)
	return c.perNamespace(full, func(sc scope, keys []string) (int, error) {
		return c.invalidateIn(ctx, sc, keys)
	})
}

// invalidateIn replaces full keys of one namespace with tombstones (see
// kindTombstone) in one store call, and counts the entries they held.
func (c *Cache) invalidateIn(ctx context.Context, sc scope, full []string) (removed int, err error) {
	sc.c.invalidations.Add(uint64(len(full)))
	removed, err = c.be.invalidate(ctx, sc, full)
	if err != nil {
		c.count(ctx, sc.c, err, "invalidate", full[0])
		return 0, err
	}
	sc.c.deletes.Add(uint64(removed))
	return removed, nil
}

// perNamespace runs op once per namespace of the full keys, together, and
// sums what they removed: each namespace counts its own, and a Redis
// client that pipelines (rueidis) sends the calls in one round trip.
func (c *Cache) perNamespace(full []string, op func(sc scope, keys []string) (int, error)) (removed int, err error) {
	if len(full) == 0 {
		return 0, nil
	}
	groups := make(map[*counters]scopedKeys, 1)
	for _, k := range full {
		sc := c.stats.lookupScope(k[len(c.opts.KeyPrefix):])
		g := groups[sc.c]
		g.sc, g.keys = *sc, append(g.keys, k)
		groups[sc.c] = g
	}
	if len(groups) == 1 {
		for _, g := range groups {
			return op(g.sc, g.keys)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards removed and errs
		errs []error
	)
	for _, g := range groups {
		wg.Go(func() {
			n, err := op(g.sc, g.keys)
			mu.Lock()
			defer mu.Unlock()
			removed += n
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return removed, errors.Join(errs...)
}

// scopedKeys are the full keys of one namespace.
type scopedKeys struct {
	sc   scope
	keys []string
}

// DeletePattern removes every entry under the cache's prefix whose key
// matches pattern (Redis glob syntax, relative to the prefix: "user:*"),
// and reports how many it removed (leases and tombstones go too, not
// counted). It walks the keyspace with SCAN and removes each batch with
// UNLINK, on every master of a cluster, so Redis is never blocked as KEYS
// or one giant DEL would block it; keys outside the prefix are never
// reached. Each round trip is bounded by OpTimeout; ctx bounds the whole:
// a walk it cuts short stops there. On a store error, removed counts what
// was removed before it, and the error wraps ErrDeferred: the whole
// pattern delete is kept and run again in the background, as a failed
// Delete is.
func (c *Cache) DeletePattern(ctx context.Context, pattern string) (removed int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	if err := glob.Validate(pattern); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadPattern, err)
	}
	return c.deleteMatching(ctx, glob.Quote(c.opts.KeyPrefix)+pattern)
}

// Clear removes every key under the cache's prefix, and nothing else: no
// FLUSHDB, so a Redis database shared with a job queue or a rate limiter
// keeps their keys. It reports the entries removed.
func (c *Cache) Clear(ctx context.Context) (removed int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	return c.deleteMatching(ctx, glob.Quote(c.opts.KeyPrefix)+"*")
}

// deleteMatching removes the keys matching a full pattern. A walk the
// store breaks off is kept, as an invalidation is, and run again whole:
// the error wraps ErrDeferred. Until that walk is done, this Cache's store
// calls answer as if the breaker were open (a read from its loader): see
// replayBeforeUse.
func (c *Cache) deleteMatching(ctx context.Context, pattern string) (removed int, err error) {
	c.flights.forgetMatching(pattern)
	c.be.noteWalk(&c.stats.unscopedScope, pattern)
	removed, err = walkKeys(ctx, scopedWalk{c}, pattern)
	c.be.walked(pattern)
	switch {
	case err == nil:
		return removed, nil
	case ctx.Err() != nil:
		return removed, err // the caller's to run again: ctx bounds the whole
	case c.be.keepPattern(&c.stats.unscoped, pattern):
		return removed, fmt.Errorf("%w: %w", ErrDeferred, err)
	}
	return removed, err
}

// scopedWalk is the backend's walk, each batch counted in the namespaces
// of its keys.
type scopedWalk struct{ c *Cache }

func (w scopedWalk) scan(ctx context.Context, cursor, pattern string) ([]string, string, error) {
	keys, next, err := w.c.be.scan(ctx, cursor, pattern)
	if err != nil {
		w.c.count(ctx, &w.c.stats.unscoped, err, "scan", pattern)
	}
	return keys, next, err
}

func (w scopedWalk) remove(ctx context.Context, keys []string) (int, error) {
	return w.c.perNamespace(keys, func(sc scope, keys []string) (int, error) {
		n, err := w.c.be.remove(ctx, keys)
		sc.c.deletes.Add(uint64(n))
		if err != nil {
			w.c.count(ctx, sc.c, err, "delete", keys[0])
		}
		return n, err
	})
}

// Exists reports whether key holds an entry: a value or a negative entry,
// not the lease of a load in progress or the tombstone of an invalidation.
func (c *Cache) Exists(ctx context.Context, key string) (bool, error) {
	_, found, err := c.inspect(ctx, key)
	return found, err
}

// TTL returns the time key has left, NoExpiry for a key without one, or an
// error wrapping ErrNotFound when the key holds no entry.
func (c *Cache) TTL(ctx context.Context, key string) (time.Duration, error) {
	ttl, found, err := c.inspect(ctx, key)
	switch {
	case err != nil:
		return 0, err
	case !found:
		return 0, notFound(key)
	}
	return ttl, nil
}

// inspect finds out whether key holds an entry, and its TTL.
func (c *Cache) inspect(ctx context.Context, key string) (ttl time.Duration, found bool, err error) {
	if c.closed.Load() {
		return 0, false, ErrClosed
	}
	if err := checkKey(key); err != nil {
		return 0, false, err
	}
	full := c.opts.KeyPrefix + key
	ttl, found, err = c.be.ttl(ctx, full)
	if err != nil {
		c.count(ctx, c.stats.lookup(key), err, "inspect", full)
		return 0, false, fmt.Errorf("aside: inspect %q: %w", key, err)
	}
	return ttl, found, nil
}
