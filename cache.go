package aside

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aside-cache/aside/internal/glob"
)

// Cache is a cache-aside layer over a Store. It is safe for concurrent use.
//
// Reads go through GetOrSet, Get and Namespace.Get; writes through Set and
// Namespace.Warm; invalidation through Delete, DeletePattern, Clear and
// Namespace.Invalidate. Every key is relative to Options.KeyPrefix.
type Cache struct {
	store   Store
	local   ValueStore // the store's in-process face, or nil for a remote store
	opts    Options
	breaker *breaker // nil for an in-process store, which cannot fail
	timer   *opTimer // bounds each call to a remote store
	flights flightGroup
	stats   statsRegistry

	closed  atomic.Bool
	closing context.Context // done once Close begins: stops loads in flight
	close   context.CancelFunc

	mu    sync.RWMutex   // orders starting a load against Close
	loads sync.WaitGroup // loads in flight; Close waits for them
}

// New returns a Cache over store. The Cache owns the store from then on:
// Close closes it.
func New(store Store, opts Options) (*Cache, error) {
	if store == nil {
		return nil, errors.New("aside: nil Store")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cache{store: store, opts: opts}
	c.closing, c.close = context.WithCancel(context.Background())
	if vs, ok := store.(ValueStore); ok {
		c.local = vs
	} else {
		c.breaker = newBreaker(opts.Breaker, opts.Logger)
		c.timer = newOpTimer(opts.OpTimeout)
	}
	return c, nil
}

// Close stops the loads in flight (their callers get the loader's context
// error), waits for them to end, and closes the store. Calls after Close
// return ErrClosed.
func (c *Cache) Close() error {
	c.mu.Lock()
	already := c.closed.Swap(true)
	c.mu.Unlock()
	if already {
		return nil
	}
	c.close()
	c.loads.Wait()
	return c.store.Close()
}

// startLoad registers a load about to start; it is false once Close began.
func (c *Cache) startLoad() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed.Load() {
		return false
	}
	c.loads.Add(1)
	return true
}

// KeyPrefix returns the prefix in front of every key of the cache.
func (c *Cache) KeyPrefix() string { return c.opts.KeyPrefix }

// Delete removes keys and reports how many existed. It returns an error
// wrapping ErrUnavailable while the breaker is open.
func (c *Cache) Delete(ctx context.Context, keys ...string) (removed int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	if len(keys) == 0 {
		return 0, nil
	}
	// One store call per namespace, so that each counts what it lost;
	// nearly every call names keys of one namespace only.
	groups := make(map[*counters][]string, 1)
	for _, k := range keys {
		if k == "" {
			return 0, errors.New("aside: empty key")
		}
		st := c.stats.lookup(k)
		groups[st] = append(groups[st], c.opts.KeyPrefix+k)
	}
	for st, full := range groups {
		n, err := c.deleteFull(ctx, st, full)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// deleteFull removes full keys in one store call and counts them in st.
func (c *Cache) deleteFull(ctx context.Context, st *counters, full []string) (removed int, err error) {
	err = c.do(ctx, func(ctx context.Context) (err error) {
		removed, err = c.store.Delete(ctx, full...)
		return err
	})
	switch {
	case err != nil && len(full) == 1:
		return 0, fmt.Errorf("aside: delete %q: %w", full[0], err)
	case err != nil:
		return 0, fmt.Errorf("aside: delete %d keys (%q, ...): %w", len(full), full[0], err)
	}
	st.deletes.Add(uint64(removed))
	return removed, nil
}

// scanCount is the COUNT hint of each SCAN of a pattern delete.
const scanCount = 1000

// DeletePattern removes every key under the cache's prefix that matches
// pattern (Redis glob syntax, relative to the prefix: "user:*"), and
// reports how many it removed. It walks the keyspace with SCAN and removes
// each batch with UNLINK, on every master of a cluster, so Redis is never
// blocked as KEYS or one giant DEL would block it; keys outside the prefix
// are never reached. Each round trip is bounded by OpTimeout; ctx bounds the
// whole. On an error, removed counts what was removed before it.
func (c *Cache) DeletePattern(ctx context.Context, pattern string) (removed int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	if err := glob.Validate(pattern); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadPattern, err)
	}
	return c.deleteMatching(ctx, c.stats.lookup(glob.LiteralPrefix(pattern)), glob.Quote(c.opts.KeyPrefix)+pattern)
}

// Clear removes every key under the cache's prefix, and nothing else: no
// FLUSHDB, so a Redis database shared with a job queue or a rate limiter
// keeps their keys.
func (c *Cache) Clear(ctx context.Context) (removed int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	return c.deleteMatching(ctx, &c.stats.unscoped, glob.Quote(c.opts.KeyPrefix)+"*")
}

func (c *Cache) deleteMatching(ctx context.Context, st *counters, full string) (removed int, err error) {
	cursor := ""
	for {
		var keys []string
		err = c.do(ctx, func(ctx context.Context) (err error) {
			keys, cursor, err = c.store.Scan(ctx, cursor, full, scanCount)
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("aside: delete pattern %q: %w", full, err)
		}
		if len(keys) > 0 {
			n, err := c.deleteFull(ctx, st, keys)
			removed += n
			if err != nil {
				return removed, err
			}
		}
		if cursor == "" {
			return removed, nil
		}
	}
}

// Exists reports whether key holds an entry (a negative one included).
func (c *Cache) Exists(ctx context.Context, key string) (found bool, err error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	err = c.do(ctx, func(ctx context.Context) (err error) {
		found, err = c.store.Exists(ctx, c.opts.KeyPrefix+key)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("aside: exists %q: %w", key, err)
	}
	return found, nil
}

// TTL returns the time key has left, NoExpiry for a key without one, or an
// error wrapping ErrNotFound when the key holds nothing.
func (c *Cache) TTL(ctx context.Context, key string) (ttl time.Duration, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	var found bool
	err = c.do(ctx, func(ctx context.Context) (err error) {
		ttl, found, err = c.store.TTL(ctx, c.opts.KeyPrefix+key)
		return err
	})
	switch {
	case err != nil:
		return 0, fmt.Errorf("aside: ttl %q: %w", key, err)
	case !found:
		return 0, notFound(key)
	}
	return ttl, nil
}

// Stats returns a snapshot of the cache's figures.
func (c *Cache) Stats() Stats {
	total, byName := c.stats.snapshot()
	s := Stats{Counters: total, Namespaces: byName, Breaker: BreakerNone}
	if c.breaker != nil {
		s.Breaker = c.breaker.state()
		s.BreakerTrips = c.breaker.trips.Load()
	}
	return s
}

// ResetStats sets every counter to zero.
func (c *Cache) ResetStats() { c.stats.reset() }

// do runs one store call under the breaker, bounded by OpTimeout. An
// in-process store needs neither.
func (c *Cache) do(ctx context.Context, op func(context.Context) error) error {
	if c.breaker == nil {
		return op(ctx)
	}
	call, err := c.breaker.allow()
	if err != nil {
		return err
	}
	err = op(c.timer.bound(ctx))
	call.report(ctx, err)
	return err
}

// storeGet is do for the read on the hit path, written out so that a hit
// allocates no closure. The call's context is bounded by OpTimeout (see
// opTimer) and its outcome reported to the breaker.
func (c *Cache) storeGet(ctx context.Context, full string) ([]byte, bool, error) {
	call, err := c.breaker.allow()
	if err != nil {
		return nil, false, err
	}
	data, found, err := c.store.Get(c.timer.bound(ctx), full)
	call.report(ctx, err)
	return data, found, err
}
