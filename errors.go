package aside

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned by a loader to say that the row it was asked for
// does not exist. The cache keeps that answer as a negative entry for the
// negative TTL, so that later reads of the key return it without calling
// the loader. A read returns it as a *LoadError wrapping ErrNotFound,
// whether the loader said it now or a negative entry remembers it: test
// for it with errors.Is.
var ErrNotFound = errors.New("aside: not found")

// ErrUnavailable is returned by the calls that cannot do without the
// store (Set, Warm, Exists, TTL, Ping) when it fails or the circuit
// breaker keeps it out of use. Reads never return it: they fall through
// to the loader. Invalidations never return it either: they are deferred
// (ErrDeferred).
var ErrUnavailable = errors.New("aside: store unavailable")

// ErrClosed is returned by calls on a Cache after Close.
var ErrClosed = errors.New("aside: cache closed")

// ErrInvalid is wrapped by the error of a call whose arguments are wrong:
// an empty id or key, a key longer than MaxKeyLen, a nil loader, a TTL
// that is not positive, a batch over MaxBatch, ids of another cache's
// namespace, a value the codec cannot encode. Nothing was read or
// written.
var ErrInvalid = errors.New("aside: invalid argument")

// ErrBadPattern is returned by DeletePattern for a pattern that is empty,
// too long or malformed.
var ErrBadPattern = errors.New("aside: bad pattern")

// ErrDeferred is returned by Invalidate, Delete, DeletePattern and Clear
// when the store could not take the invalidation (it failed, it did not
// answer in time, the breaker kept it away, the caller's context ended
// first): the invalidation is kept and replayed before this Cache uses
// the store again, and by a background retry (at once, then every 50 ms),
// so that recovery never serves the entries it was meant to remove. The
// write it follows stands: treat it as a success, and perhaps log it.
// Stats.PendingInvalidations says how many wait. It never wraps
// ErrUnavailable.
var ErrDeferred = errors.New("aside: invalidation deferred until the store answers")

// ErrLoadTimeout is wrapped by the *LoadError of a load that ran past its
// LoadTimeout (the loader's context ended; the loader's own error is
// wrapped too).
var ErrLoadTimeout = errors.New("aside: load timed out")

// LoadError wraps an error returned by a loader, naming the key it was
// loading: a loader's failure, a timeout (ErrLoadTimeout), or ErrNotFound,
// told by the loader or by the negative entry it left. The cache never
// keeps a LoadError and never retries the loader on its own; errors.Is
// and errors.As see through it to the loader's error. A read whose caller
// gave up (its context ended) returns the context's error instead, never
// a LoadError.
type LoadError struct {
	Key string // the key relative to the cache's prefix
	Err error
}

func (e *LoadError) Error() string { return fmt.Sprintf("aside: load %q: %v", e.Key, e.Err) }

// Unwrap returns the loader's error.
func (e *LoadError) Unwrap() error { return e.Err }

// notFound is the error of a call on a key that holds no entry (TTL).
func notFound(key string) error {
	return fmt.Errorf("aside: %q: %w", key, ErrNotFound)
}

// negative is a read's answer for a key whose negative entry remembers the
// loader's ErrNotFound: the shape of the loader's answer.
func negative(key string) error { return &LoadError{Key: key, Err: ErrNotFound} }

// invalid is an error wrapping ErrInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// unavailable is err, wrapping ErrUnavailable: what a call that needs the
// store returns when the store failed it.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// errEncode marks a value the codec refused: a caller's error.
var errEncode = fmt.Errorf("%w: value does not encode", ErrInvalid)
