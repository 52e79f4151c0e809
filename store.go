package aside

import (
	"context"
	"time"
)

// Store is where a Cache keeps its entries: Redis (package redisstore) or
// the process's memory (package memstore). Keys reaching a Store are full
// keys, prefix included; values are opaque bytes. A Store must be safe for
// concurrent use. Package storetest checks an implementation.
//
// A Cache over memstore keeps entries as values, decoded, through methods
// of memstore's that are not part of this interface; over any other
// Store, as bytes in an envelope, through this interface alone.
//
// A Store reports failures as errors and never panics; the Cache decides
// what a failure means (a read falls through to the loader).
type Store interface {
	// Get returns the value under key; found is false when there is none.
	// The caller must not modify the returned slice.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Set stores value under key for ttl, replacing what was there.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// AddMany stores each item whose key holds nothing, leaving present
	// keys untouched, in as few round trips as the store allows (one for
	// Redis), and reports how many it stored.
	AddMany(ctx context.Context, items []Item) (added int, err error)
	// AddOrGet stores value under key for ttl if the key holds nothing,
	// reporting found=false; otherwise it leaves the key as it is and
	// returns what it holds. One atomic step: the Cache takes a fill's
	// lease with it.
	AddOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) (current []byte, found bool, err error)
	// CompareAndSet stores value under key for ttl if the key holds
	// exactly old, and reports whether it did. One atomic step: the Cache
	// fills through it, so that a fill whose lease an invalidation voided
	// writes nothing.
	CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (swapped bool, err error)
	// CompareAndDelete removes key if it holds exactly old, and reports
	// whether it did: a failed load gives its lease up with it.
	CompareAndDelete(ctx context.Context, key string, old []byte) (deleted bool, err error)
	// Replace stores each item unconditionally and returns what each key
	// held before (nil for nothing), in as few round trips as the store
	// allows (one for Redis). The Cache invalidates with it: it replaces
	// entries with short-lived tombstones.
	Replace(ctx context.Context, items []Item) (prior [][]byte, err error)
	// Delete removes keys and returns, for each, the first head bytes of
	// what it held, or nil for a key that held nothing: enough for the
	// Cache to tell the entries it removed from its leases and tombstones
	// without moving whole values.
	Delete(ctx context.Context, head int, keys ...string) (prior [][]byte, err error)
	// Scan returns a batch of keys that match the Redis glob pattern, from
	// cursor ("" to start), and the cursor of the next batch ("" when the
	// walk is over). Like Redis's SCAN, it never blocks the store, count is
	// a hint, a key present for the whole walk is returned at least once,
	// and on a cluster the walk covers every master. The Cache validates
	// the pattern and confines it to its prefix before calling.
	Scan(ctx context.Context, cursor, pattern string, count int) (keys []string, next string, err error)
	// TTL returns the time key has left; NoExpiry when it never expires;
	// found is false when the key holds nothing.
	TTL(ctx context.Context, key string) (ttl time.Duration, found bool, err error)
	// Close releases the store's connections and goroutines.
	Close() error
}

// Item is one entry for [Store.AddMany].
type Item struct {
	Key   string
	Value []byte
	TTL   time.Duration
}

// NoExpiry is the TTL of a key that never expires.
const NoExpiry time.Duration = -1

// A MultiGetter is a Store that reads many keys in one round trip:
// [Namespace.GetMany] reads through it. A Store that is not one is read a
// key at a time, concurrently (a pipelining client sends those reads
// together).
type MultiGetter interface {
	// GetMulti returns the value under each key, in order, nil for a key
	// that holds nothing. The caller must not modify the returned slices.
	GetMulti(ctx context.Context, keys []string) (values [][]byte, err error)
}
