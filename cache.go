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
	pending pending     // invalidations the store did not take, to replay
	memo    *decodeMemo // the last decoding of hot keys' bytes; nil: none
	shapes  shapes      // the fingerprints of the types read

	closed  atomic.Bool
	closing context.Context // done once Close begins: stops loads in flight
	close   context.CancelFunc

	mu    sync.RWMutex   // orders starting a load against Close
	loads sync.WaitGroup // loads in flight; Close waits for them
	loops sync.WaitGroup // the replay loop
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
	c.pending.max = opts.MaxPendingInvalidations
	c.pending.replaying = make(chan struct{}, 1)
	c.pending.kick = make(chan struct{}, 1)
	c.closing, c.close = context.WithCancel(context.Background())
	if vs, ok := store.(ValueStore); ok {
		c.local = vs
	} else {
		if opts.DecodeMemoBytes > 0 {
			if c.memo, err = newDecodeMemo(opts.DecodeMemoBytes); err != nil {
				return nil, err
			}
		}
		c.breaker = newBreaker(opts.Breaker, opts.Logger)
		c.timer = newOpTimer(opts.OpTimeout)
		c.loops.Add(1)
		go c.replayLoop()
	}
	return c, nil
}

// Close stops the loads in flight (their callers get the loader's context
// error) and the reads waiting on another process's lease (ErrClosed;
// their loaders are not called), waits for them to end, and closes the
// store. Calls after Close return ErrClosed.
func (c *Cache) Close() error {
	c.mu.Lock()
	already := c.closed.Swap(true)
	c.mu.Unlock()
	if already {
		return nil
	}
	c.close()
	c.loops.Wait()
	if n := c.pending.size.Load(); n > 0 {
		c.opts.Logger.Warn("aside: closed with invalidations the store never took", "pending", n)
	}
	done := make(chan struct{})
	go func() { c.loads.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeGrace):
		// A loader that ignores its context cannot be stopped; the store
		// is closed under it, and its fill fails.
		c.opts.Logger.Error("aside: loads still running after Close", "waited", closeGrace)
	}
	return c.store.Close()
}

// closeGrace is how long Close waits for loads to return after it
// cancelled their contexts.
const closeGrace = 10 * time.Second

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

// now reads the cache's clock; nowMs in Unix milliseconds.
func (c *Cache) now() time.Time { return c.opts.Now() }
func (c *Cache) nowMs() int64   { return c.opts.Now().UnixMilli() }

// KeyPrefix returns the prefix in front of every key of the cache.
func (c *Cache) KeyPrefix() string { return c.opts.KeyPrefix }

// Codec returns the codec that encodes the cache's values.
func (c *Cache) Codec() Codec { return c.opts.Codec }

// Delete removes keys and reports how many existed, in one round trip to
// a pipelining store even when the keys span namespaces. Loads of these
// keys in flight can no longer fill them, and later reads load afresh. It
// returns an error wrapping ErrUnavailable while the breaker is open.
func (c *Cache) Delete(ctx context.Context, keys ...string) (removed int, err error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		if k == "" {
			return 0, errors.New("aside: empty key")
		}
		full[i] = c.opts.KeyPrefix + k
	}
	c.flights.forget(full...)
	return c.invalidate(ctx, full)
}

// invalidate replaces full keys with tombstones (see kindTombstone), and
// reports how many held an entry. It makes one store call per namespace,
// so that each counts what it lost; the calls run together, and a Redis
// client that pipelines (rueidis) sends them in one round trip.
func (c *Cache) invalidate(ctx context.Context, full []string) (removed int, err error) {
	return c.perNamespace(full, func(sc scope, keys []string) (int, error) {
		return c.invalidateIn(ctx, sc, keys)
	})
}

// invalidateIn replaces full keys of one namespace with tombstones in one
// store call. When the store does not take them, they are kept for replay
// and the error wraps ErrDeferred.
func (c *Cache) invalidateIn(ctx context.Context, sc scope, full []string) (removed int, err error) {
	st := sc.c
	if c.local != nil {
		for _, k := range full {
			if prior, ok := c.local.ReplaceValue(k, localTombstone, c.opts.LeaseTTL); ok && isLocalEntry(prior) {
				removed++
			}
		}
		st.deletes.Add(uint64(removed))
		return removed, nil
	}
	items := make([]Item, len(full))
	for i, k := range full {
		items[i] = Item{Key: k, Value: tombstone, TTL: c.opts.LeaseTTL}
	}
	var prior [][]byte
	err = c.do(ctx, func(ctx context.Context) (err error) {
		prior, err = c.store.Replace(ctx, items)
		return err
	})
	if err != nil {
		c.count(ctx, st, err, "invalidate", full[0])
		c.pending.add(c, st, sc.prefix, full)
		return 0, fmt.Errorf("%w: %d keys (%q, ...): %w", ErrDeferred, len(full), full[0], err)
	}
	for _, p := range prior {
		if isEntry(p) {
			removed++
		}
	}
	st.deletes.Add(uint64(removed))
	return removed, nil
}

// isLocalEntry reports whether a ValueStore's prior value was an entry,
// not a lease or a tombstone.
func isLocalEntry(v any) bool {
	_, lease := v.(*localLease)
	return !lease
}

// deleteFull removes full keys (UNLINK).
func (c *Cache) deleteFull(ctx context.Context, full []string) (removed int, err error) {
	return c.perNamespace(full, func(sc scope, keys []string) (int, error) {
		return c.deleteIn(ctx, sc.c, keys)
	})
}

// perNamespace runs op once per namespace of the full keys, together, and
// sums what they removed.
func (c *Cache) perNamespace(full []string, op func(sc scope, keys []string) (int, error)) (removed int, err error) {
	if len(full) == 0 {
		return 0, nil
	}
	groups := make(map[scope][]string, 1)
	for _, k := range full {
		sc := c.stats.lookupScope(k[len(c.opts.KeyPrefix):])
		groups[sc] = append(groups[sc], k)
	}
	if len(groups) == 1 {
		for sc, keys := range groups {
			return op(sc, keys)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards removed and errs
		errs []error
	)
	for sc, keys := range groups {
		wg.Go(func() {
			n, err := op(sc, keys)
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

// deleteIn removes full keys of one namespace in one store call.
func (c *Cache) deleteIn(ctx context.Context, st *counters, full []string) (removed int, err error) {
	err = c.do(ctx, func(ctx context.Context) (err error) {
		removed, err = c.store.Delete(ctx, full...)
		return err
	})
	if err != nil {
		c.count(ctx, st, err, "delete", full[0])
		if len(full) == 1 {
			return 0, fmt.Errorf("aside: delete %q: %w", full[0], err)
		}
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
// whole: a walk it cuts short stops there. On a store error, removed counts
// what was removed before it, and the error wraps ErrDeferred: the whole
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
// keeps their keys.
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
	if c.local != nil {
		return c.deleteMatchingWalk(ctx, pattern)
	}
	removed, err = c.deleteMatchingWalk(ctx, pattern)
	switch {
	case err == nil:
		return removed, nil
	case ctx.Err() != nil:
		return removed, err // the caller's to run again: ctx bounds the whole
	}
	c.pending.addPattern(&c.stats.unscoped, pattern)
	return removed, fmt.Errorf("%w: %w", ErrDeferred, err)
}

func (c *Cache) deleteMatchingWalk(ctx context.Context, pattern string) (removed int, err error) {
	cursor := ""
	for {
		var keys []string
		err = c.do(ctx, func(ctx context.Context) (err error) {
			keys, cursor, err = c.store.Scan(ctx, cursor, pattern, scanCount)
			return err
		})
		if err != nil {
			c.count(ctx, &c.stats.unscoped, err, "scan", pattern)
			return removed, fmt.Errorf("aside: delete pattern %q: %w", pattern, err)
		}
		n, err := c.deleteFull(ctx, keys)
		removed += n
		if err != nil {
			return removed, err
		}
		if cursor == "" {
			return removed, nil
		}
	}
}

// Exists reports whether key holds an entry: a value or a negative entry,
// not the lease of a load in progress or the tombstone of an invalidation.
func (c *Cache) Exists(ctx context.Context, key string) (bool, error) {
	_, found, err := c.inspect(ctx, key, false)
	return found, err
}

// TTL returns the time key has left, NoExpiry for a key without one, or an
// error wrapping ErrNotFound when the key holds no entry.
func (c *Cache) TTL(ctx context.Context, key string) (time.Duration, error) {
	ttl, found, err := c.inspect(ctx, key, true)
	switch {
	case err != nil:
		return 0, err
	case !found:
		return 0, notFound(key)
	}
	return ttl, nil
}

// inspect finds out whether key holds an entry and, with withTTL, its TTL.
func (c *Cache) inspect(ctx context.Context, key string, withTTL bool) (ttl time.Duration, found bool, err error) {
	if c.closed.Load() {
		return 0, false, ErrClosed
	}
	full, st := c.opts.KeyPrefix+key, c.stats.lookup(key)
	err = c.do(ctx, func(ctx context.Context) error {
		if c.local != nil {
			v, ok := c.local.GetValue(full)
			found = ok && isLocalEntry(v)
		} else {
			data, ok, err := c.store.Get(ctx, full)
			if err != nil {
				return err
			}
			found = ok && isEntry(data)
		}
		if !found || !withTTL {
			return nil
		}
		var err error
		ttl, found, err = c.store.TTL(ctx, full)
		return err
	})
	if err != nil {
		c.count(ctx, st, err, "inspect", full)
		return 0, false, fmt.Errorf("aside: inspect %q: %w", key, err)
	}
	return ttl, found, nil
}

// Stats returns a snapshot of the cache's figures.
func (c *Cache) Stats() Stats {
	total, byName := c.stats.snapshot()
	s := Stats{Counters: total, Namespaces: byName, Breaker: BreakerNone,
		PendingInvalidations: int(c.pending.size.Load())}
	if c.breaker != nil {
		s.Breaker = c.breaker.state()
		s.BreakerTrips = c.breaker.trips.Load()
	}
	return s
}

// ResetStats sets every counter to zero.
func (c *Cache) ResetStats() { c.stats.reset() }

// do runs one store call under the breaker, bounded by OpTimeout. An
// in-process store needs neither. A caller already gone makes no call.
func (c *Cache) do(ctx context.Context, op func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.breaker == nil {
		return op(ctx)
	}
	call, err := c.breaker.allow()
	if err != nil {
		return err
	}
	if call.probe {
		return c.probe(ctx, call)
	}
	if err = c.replayBeforeUse(ctx); err == nil {
		err = op(c.timer.bound(ctx))
	}
	call.report(ctx, err)
	return err
}

// probeKey is the key the breaker's probe reads (under the prefix); it
// never holds anything.
const probeKey = "\x00probe"

// probe makes the half-open breaker's probe in place of a caller's call:
// the pending invalidations' replay, or a read of a key that holds
// nothing. Whatever the outcome, the caller's call is not made: a read
// answers from the loader; a write is skipped, an invalidation kept.
func (c *Cache) probe(ctx context.Context, call call) error {
	err := c.replayBeforeUse(ctx)
	if err == nil {
		_, _, err = c.store.TTL(c.timer.bound(ctx), c.opts.KeyPrefix+probeKey)
	}
	call.report(ctx, err)
	return fmt.Errorf("%w: circuit breaker half-open, probing", ErrUnavailable)
}

// storeGet is do for the read on the hit path, written out so that a hit
// allocates no closure. The call's context is bounded by OpTimeout (see
// opTimer) and its outcome reported to the breaker.
func (c *Cache) storeGet(ctx context.Context, full string) ([]byte, bool, error) {
	call, err := c.breaker.allow()
	if err != nil {
		return nil, false, err
	}
	if call.probe {
		return nil, false, c.probe(ctx, call)
	}
	if err := c.replayBeforeUse(ctx); err != nil {
		call.report(ctx, err)
		return nil, false, err
	}
	data, found, err := c.store.Get(c.timer.bound(ctx), full)
	call.report(ctx, err)
	return data, found, err
}

// count records a store call's failure in st: a call the breaker kept from
// the store is bypassed; one the caller abandoned is nobody's failure; any
// other is an error, logged at debug level (the caller gets the loader's
// answer or the error itself).
func (c *Cache) count(ctx context.Context, st *counters, err error, op, key string) {
	switch {
	case errors.Is(err, ErrUnavailable):
		st.bypassed.Add(1)
	case ctx.Err() != nil:
	default:
		st.errors.Add(1)
		c.opts.Logger.Debug("aside: store call failed", "op", op, "key", key, "err", err)
	}
}
