package aside

import (
	"bytes"
	"context"
	"time"
)

// A backend is where a Cache keeps its entries. New chooses one, once, by
// the Store it is given:
//
//   - localBackend (local.go), over an in-process store (memstore): entries
//     are kept as values, decoded, and compared by identity; nothing can
//     fail, so there is no codec, no breaker, no timeout, nothing to replay.
//
//   - remoteBackend (remote.go), over any other Store (Redis): entries are
//     bytes in the envelope (entry.go), values encoded by the Codec; every
//     call goes through the circuit breaker and is bounded by OpTimeout;
//     invalidations the store did not take are kept and replayed
//     (replay.go).
//
//   - nearBackend (near.go), a remoteBackend whose entries read are kept
//     in the process too, coherent through the store's tracking pushes
//     (near_coherence.go); reads of namespaces that turn it off go to the
//     remoteBackend under it (Cache.far).
//
// The read (read.go, flight.go, lease.go) knows only this interface, and
// holdings it cannot look into.
type backend interface {
	// find reads what full holds.
	find(ctx context.Context, full string) (held, error)
	// findMany reads what each of fulls holds, in order, as find would,
	// in one round trip where the store allows. An error is the whole
	// read's: nothing it found is returned.
	findMany(ctx context.Context, fulls []string) ([]held, error)
	// remember is told the decoding e (an *entry[T]) that a read made of
	// h, an entry find returned, so that the backend may reuse it.
	remember(full string, h held, e any)
	// reweigh is told that the entry full holds as h has grown: it keeps
	// its encoding now. A backend bounded by bytes weighs it again.
	reweigh(full string, h held)
	// lease takes full for a loader: with over zero, if it holds nothing;
	// otherwise if it still holds over (a tombstone, or an entry of
	// another shape). took reports whether it did; mine is then the
	// lease, and cur otherwise what full holds.
	lease(ctx context.Context, full string, over held) (mine, cur held, took bool, err error)
	// renew gives the lease h holds on full another hold life, if full
	// still holds it, and reports whether it does, and what the key holds
	// then (a lease over a tombstone carries its deadline: it changes).
	renew(ctx context.Context, full string, h held) (now held, renewed bool, err error)
	// holdLife is how long a lease or a claim lives unless its holder
	// renews it, and whether holders must renew: in process, a holder
	// cannot vanish, and a hold lives LeaseTTL.
	holdLife() (life time.Duration, renewed bool)
	// swap writes e for ttl if full still holds old, and returns what full
	// then holds: fills, claims, and the write-backs of failed loads.
	swap(ctx context.Context, full string, old held, e storable, ttl time.Duration) (now held, swapped bool, err error)
	// drop removes full if it still holds old.
	drop(ctx context.Context, full string, old held) error
	// bury writes a tombstone in full if it still holds old: what a load
	// that leased a tombstone gives back when it fills nothing.
	bury(ctx context.Context, full string, old held) error
	// set writes e for ttl, whatever full holds.
	set(ctx context.Context, full string, e storable, ttl time.Duration) error
	// add writes each item whose key holds nothing (a tombstone is
	// something) and reports how many it wrote, and the errors of the
	// items it could not encode (which it left out).
	add(ctx context.Context, items []addItem) (added int, unencoded []error, err error)
	// invalidate replaces the full keys of each namespace in batch with
	// tombstones, in one store call, and reports how many held entries, per
	// namespace. Keys the store does not take are kept for replay, and the
	// error wraps ErrDeferred.
	invalidate(ctx context.Context, batch []scopedKeys) (entries []int, err error)
	// walker is how a pattern delete reaches the store (the breaker's way).
	walker
	// noteWalk is told of a pattern delete (a full glob pattern) about to
	// walk the store, so that a remote backend remembers it (journal.go).
	noteWalk(sc *scope, pattern string)
	// walked is told that a pattern delete walked the store (whatever its
	// outcome), so that a near cache drops what matches it: the keys the
	// walk removed, and those it could not find.
	walked(pattern string)
	// keepPattern keeps a pattern delete the store broke off, to run it
	// again whole, and reports whether it did.
	keepPattern(st *counters, pattern string) bool
	// ttl returns the time full has left, when it holds an entry.
	ttl(ctx context.Context, full string) (left time.Duration, isEntry bool, err error)
	// report adds the backend's state to s: the breaker, what is pending.
	report(s *Stats)
	// ping reports whether the store answers, within OpTimeout.
	ping(ctx context.Context) error
	// close stops the backend's goroutines and closes the store.
	close() error
}

// walker is what a SCAN/UNLINK walk needs of a store (walk.go).
type walker interface {
	// scan returns a batch of the full keys matching pattern from cursor.
	scan(ctx context.Context, cursor, pattern string) (keys []string, next string, err error)
	// remove removes full keys and reports how many held entries.
	remove(ctx context.Context, keys []string) (entries int, err error)
}

// held is what a key holds, as a backend found it: its kind, and what a
// compare-and-set must find there, opaque to the read: the bytes for a
// remote store, the value (a pointer) for a local one. value is also a
// decoding of the key's entry when the backend has one (an *entry[T] of
// some T: the value kept in process, or one remembered), and data its
// bytes when it came as bytes.
type held struct {
	holds holding
	near  bool // answered from the near cache, without the store
	value any
	data  []byte
}

// zero reports whether h holds nothing at all: no lease, no entry.
func (h held) zero() bool { return h.value == nil && h.data == nil }

// same reports whether h and o hold the same: the same bytes, or the same
// value in process.
func (h held) same(o held) bool {
	if h.data != nil || o.data != nil {
		return h.data != nil && o.data != nil && bytes.Equal(h.data, o.data)
	}
	return h.value == o.value
}

// holding is the kind of what a key holds.
type holding uint8

const (
	holdsNothing   holding = iota
	holdsLease             // a loader's lease: it is filling the key
	holdsTombstone         // the mark of a recent invalidation
	holdsEntry             // something else: a value or a negative entry, to decode
)

// storable is an entry a backend can write: kept as it is in process
// (weighed first, for a store bounded by bytes), encoded for a remote
// store.
type storable interface {
	encode(codec Codec) ([]byte, error)
	weigh()
}

// addItem is one entry of a warm-up.
type addItem struct {
	full string
	e    storable
	ttl  time.Duration
}
