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
	return c.invalidate(ctx, c.byNamespace(full))
}

// invalidate replaces full keys with tombstones (see kindTombstone) in one
// store call, each counted in its namespace, and reports the entries they
// held. Loads in flight for those keys in this process are detached first.
func (c *Cache) invalidate(ctx context.Context, batch []scopedKeys) (removed int, err error) {
	if len(batch) == 0 {
		return 0, nil
	}
	for _, g := range batch {
		c.flights.forget(g.keys...)
		g.sc.c.invalidations.Add(uint64(len(g.keys)))
	}
	entries, err := c.be.invalidate(ctx, batch)
	if err != nil {
		for _, g := range batch {
			c.count(ctx, g.sc.c, err, "invalidate", g.keys[0])
		}
		return 0, err
	}
	for i, g := range batch {
		g.sc.c.deletes.Add(uint64(entries[i]))
		removed += entries[i]
	}
	return removed, nil
}

// byNamespace groups full keys by the namespace each is under.
func (c *Cache) byNamespace(full []string) []scopedKeys {
	var batch []scopedKeys
	at := make(map[*counters]int, 1)
	for _, k := range full {
		sc := c.stats.lookupScope(k[len(c.opts.KeyPrefix):])
		i, ok := at[sc.c]
		if !ok {
			i = len(batch)
			at[sc.c] = i
			batch = append(batch, scopedKeys{sc: *sc})
		}
		batch[i].keys = append(batch[i].keys, k)
	}
	return batch
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
		return removed, fmt.Errorf("%w: %v", ErrDeferred, err)
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
		return 0, false, unavailable(fmt.Errorf("aside: inspect %q: %w", key, err))
	}
	return ttl, found, nil
}

// Invalidation names entries that writes made old, for Cache.Invalidate:
// ids of one namespace (Namespace.IDs) or whole groups (Groups).
type Invalidation struct {
	c     *Cache // the namespace's cache; nil for groups
	sc    scope
	key   func(id string) string // an id's key, relative to the cache's prefix; nil for groups
	names []string               // ids, or group names
}

// IDs names the entries of ids, for Cache.Invalidate.
func (n *Namespace[T]) IDs(ids ...string) Invalidation {
	return Invalidation{c: n.c, sc: n.scope(), key: n.Key, names: ids}
}

// Groups names groups (see NamespaceConfig.Groups), for Cache.Invalidate.
func Groups(names ...string) Invalidation { return Invalidation{names: names} }

// Invalidate removes, in one store call, what writes made old: the ids of
// several namespaces and whole groups together, as a change of a product
// makes old its entry and the lists of its old and new category. Call it
// once the writes committed. As Namespace.Invalidate does for each: loads
// in flight can no longer fill these entries, and no read that begins
// after it returns gets one of them (a group's, whichever its key) from
// before it. When the store cannot be reached, the error wraps
// ErrDeferred: the invalidation is kept and replayed before the store is
// used again. An empty id or group name, or ids of another cache's
// namespace, is an error, and nothing is invalidated.
func (c *Cache) Invalidate(ctx context.Context, what ...Invalidation) error {
	if c.closed.Load() {
		return ErrClosed
	}
	batch := make([]scopedKeys, 0, len(what))
	for _, inv := range what {
		g, err := c.resolve(inv)
		if err != nil {
			return err
		}
		if len(g.keys) > 0 {
			batch = append(batch, g)
		}
	}
	_, err := c.invalidate(ctx, batch)
	return err
}

// resolve turns an Invalidation into full keys and their namespace.
func (c *Cache) resolve(inv Invalidation) (scopedKeys, error) {
	if inv.key != nil && inv.c != c {
		return scopedKeys{}, invalid("Invalidate of %s ids: the namespace is another cache's", inv.sc.name)
	}
	g := scopedKeys{sc: inv.sc, keys: make([]string, len(inv.names))}
	if inv.key == nil {
		g.sc = c.stats.unscopedScope // a group's token counts as no namespace's entry
	}
	for i, name := range inv.names {
		switch {
		case name == "" && inv.key == nil:
			return scopedKeys{}, invalid("Invalidate of an empty group name")
		case name == "":
			return scopedKeys{}, invalid("Invalidate of an empty %s id", inv.sc.name)
		case inv.key == nil:
			g.keys[i] = c.groupKey(name)
		default:
			g.keys[i] = c.opts.KeyPrefix + inv.key(name)
		}
	}
	return g, nil
}
