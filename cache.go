package aside

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aside-cache/aside/internal/valuestore"
)

// Cache is a cache-aside layer over a Store. It is safe for concurrent use.
//
// Reads go through GetOrSet and Namespace.Get; writes through Set,
// Namespace.Set and Namespace.Warm; invalidation through Delete,
// DeletePattern, Clear and Namespace.Invalidate. Every key is relative to
// Options.KeyPrefix.
type Cache struct {
	be       backend // where entries live: chosen once, in New (backend.go)
	far      backend // be, or under a near cache the remote store: what reads that keep nothing in the process use
	opts     Options
	flights  flightGroup
	stats    statsRegistry
	shapes   shapes     // the fingerprints of the types read
	defaults fillPolicy // for keys under no namespace

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
	c := &Cache{opts: opts, defaults: defaultPolicy(opts)}
	c.stats.unscopedScope.c = &c.stats.unscoped
	c.closing, c.close = context.WithCancel(context.Background())
	if values, ok := store.(valuestore.Store); ok {
		if opts.NearCache.Enabled {
			return nil, errors.New("aside: a near cache needs a remote store: an in-process store is near already")
		}
		c.be = &localBackend{store: store, values: values, leaseTTL: opts.LeaseTTL}
		c.far = c.be
		return c, nil
	}
	tracker, tracks := store.(Tracker)
	if opts.NearCache.Enabled && !tracks {
		return nil, fmt.Errorf("aside: a near cache needs a store that tracks changes (a Tracker), and %T does not", store)
	}
	remote, err := newRemoteBackend(store, opts, c.closing)
	if err != nil {
		c.close()
		return nil, err
	}
	remote.scopeOf = func(full string) *scope { return c.stats.lookupScope(full[len(opts.KeyPrefix):]) }
	c.be, c.far = remote, remote
	if opts.NearCache.Enabled {
		if c.be, err = newNearBackend(remote, tracker, opts); err != nil {
			c.close()
			remote.close()
			return nil, err
		}
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
	done := make(chan struct{})
	go func() { c.loads.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeGrace):
		// A loader that ignores its context cannot be stopped; the store
		// is closed under it, and its fill fails.
		c.opts.Logger.Error("aside: loads still running after Close", "waited", closeGrace)
	}
	return c.be.close()
}

// closeGrace is how long Close waits for loads to return after it
// cancelled their contexts.
const closeGrace = 10 * time.Second

// reader is the backend reads under policy p go through: the near cache's
// when p keeps entries in the process, the remote store's otherwise.
func (c *Cache) reader(p *fillPolicy) backend {
	if p.near {
		return c.be
	}
	return c.far
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

// now reads the cache's clock; nowMs in Unix milliseconds.
func (c *Cache) now() time.Time { return c.opts.Now() }
func (c *Cache) nowMs() int64   { return c.opts.Now().UnixMilli() }

// KeyPrefix returns the prefix in front of every key of the cache.
func (c *Cache) KeyPrefix() string { return c.opts.KeyPrefix }

// Codec returns the codec that encodes the cache's values.
func (c *Cache) Codec() Codec { return c.opts.Codec }

// Stats returns a snapshot of the cache's figures.
func (c *Cache) Stats() Stats {
	total, byName := c.stats.snapshot()
	s := Stats{Counters: total, Namespaces: byName}
	c.be.report(&s)
	return s
}

// ResetStats sets every counter to zero.
func (c *Cache) ResetStats() { c.stats.reset() }

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

// A Pinger is a Store that can say whether it answers: Cache.Ping asks it.
// redisstore.Store is one.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Ping reports whether the store answers, within OpTimeout: nil for the
// in-process store, an error wrapping ErrUnavailable otherwise. It is for
// readiness probes: the cache serves reads from the loader while the store
// does not answer, so a failed Ping is a degraded cache, not a failed
// service.
func (c *Cache) Ping(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.be.ping(ctx)
}
