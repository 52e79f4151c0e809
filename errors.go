package aside

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned by a loader to say that the row it was asked for
// does not exist. The cache keeps that answer as a negative entry for the
// negative TTL, so that later reads of the key return ErrNotFound without
// calling the loader. Test for it with errors.Is.
var ErrNotFound = errors.New("aside: not found")

// ErrUnavailable is returned by calls that need the store (Delete, Exists,
// TTL, Set, Warm, ...) while the circuit breaker keeps it out of use.
// Reads never return it: they fall through to the loader.
var ErrUnavailable = errors.New("aside: store unavailable")

// ErrClosed is returned by calls on a Cache after Close.
var ErrClosed = errors.New("aside: cache closed")

// ErrBadPattern is returned by DeletePattern for a pattern that is empty,
// too long or malformed.
var ErrBadPattern = errors.New("aside: bad pattern")

// ErrDeferred is returned by Invalidate, Delete, DeletePattern and Clear
// when the store could not be reached or failed part way: the
// invalidation is kept and replayed before this Cache uses the store
// again, and by a background retry (at once, then every replayInterval),
// so that recovery never serves the entries it was meant to remove.
// Stats.PendingInvalidations says how many wait.
var ErrDeferred = errors.New("aside: invalidation deferred until the store answers")

// LoadError wraps an error returned by a loader, naming the key it was
// loading. The cache never keeps a LoadError and never retries the loader
// on its own; errors.Is and errors.As see through it to the loader's error.
type LoadError struct {
	Key string // the key relative to the cache's prefix
	Err error
}

func (e *LoadError) Error() string { return fmt.Sprintf("aside: load %q: %v", e.Key, e.Err) }

// Unwrap returns the loader's error.
func (e *LoadError) Unwrap() error { return e.Err }

// notFound is the error a read returns for a key that holds a negative entry.
func notFound(key string) error {
	return fmt.Errorf("aside: %q: %w", key, ErrNotFound)
}

// errEncode marks a value the codec refused.
var errEncode = errors.New("aside: value does not encode")
