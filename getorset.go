package aside

import (
	"context"
	"time"
)

// The key-based functions: the door for keys of your own making. A key
// under a namespace's prefix is that namespace's entry whichever door it
// comes through: these functions count it in the namespace's figures and
// serve and fill it by the namespace's policy (negative TTL, jitter,
// fail-safe, soft TTL, load timeout, Version), with the call's own TTL.

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
	r := keyRead(c, key, ttl, load)
	return r.get(ctx)
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
	r := keyRead(c, key, ttl, load)
	return r.getEncoded(ctx)
}

// GetIfPresent returns the value cached under key without loading
// anything. found is false on a miss, for an entry past its TTL, when the
// store is unavailable (a read never fails for that), and for a negative
// entry, for which err is a *LoadError wrapping ErrNotFound.
func GetIfPresent[T any](ctx context.Context, c *Cache, key string) (v T, found bool, err error) {
	if err := checkCall(c, key, time.Second, true); err != nil {
		return v, false, err
	}
	r := keyRead[T](c, key, time.Second, nil)
	return r.getIfPresent(ctx)
}

// Set caches v under key for exactly ttl (no jitter, no stale period),
// replacing what was there; a load of the key in flight in this process
// no longer fills it. It returns an error wrapping ErrUnavailable when the
// store fails it or the breaker is open.
func Set[T any](ctx context.Context, c *Cache, key string, v T, ttl time.Duration) error {
	if err := checkCall(c, key, ttl, true); err != nil {
		return err
	}
	r := keyRead[T](c, key, ttl, nil)
	if err := r.stampForWrite(ctx); err != nil {
		return err
	}
	fresh := c.nowMs() + ttl.Milliseconds()
	return r.set(ctx, v, meta{freshUntil: fresh, staleUntil: fresh, shape: r.shape}, ttl)
}

func checkCall(c *Cache, key string, ttl time.Duration, hasLoader bool) error {
	switch {
	case c == nil:
		return invalid("nil *Cache")
	case c.closed.Load():
		return ErrClosed
	case checkKey(key) != nil:
		return checkKey(key)
	case ttl <= 0:
		return invalid("ttl %v for %q is not positive", ttl, key)
	case !hasLoader:
		return invalid("nil loader for %q", key)
	}
	return nil
}
