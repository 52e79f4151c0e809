// Package valuestore is the face an in-process store shows aside: values
// kept as they are, no bytes, no codec, compared by identity. memstore
// implements it; aside's New recognises it and keeps entries through it.
// It is internal so that it is no promise to other stores.
package valuestore

import "time"

// Store keeps values in process. Its calls cannot fail: the Cache puts no
// circuit breaker or timeout around them. A value is compared with == (a
// pointer by identity); bytes written through the byte API by content.
type Store interface {
	// GetValue returns the value under key. It may be bytes written by
	// the byte API, which the Cache then decodes.
	GetValue(key string) (v any, found bool)
	// SetValue stores v under key for ttl, replacing what was there.
	SetValue(key string, v any, ttl time.Duration)
	// AddOrGetValue stores v under key for ttl if the key holds nothing,
	// or returns what it holds.
	AddOrGetValue(key string, v any, ttl time.Duration) (current any, found bool)
	// CompareAndSetValue stores v under key for ttl if the key holds old.
	CompareAndSetValue(key string, old, v any, ttl time.Duration) bool
	// CompareAndDeleteValue removes key if it holds old.
	CompareAndDeleteValue(key string, old any) bool
	// ReplaceValue stores v under key for ttl and returns what key held.
	ReplaceValue(key string, v any, ttl time.Duration) (prior any, found bool)
	// DeleteValue removes key and returns what it held.
	DeleteValue(key string) (prior any, found bool)
	// MarkInvalidated remembers for ttl that key was invalidated, and
	// Invalidated reports it. The tombstone an invalidation leaves is the
	// mark a warm-up must find, but an entry that replaced it can be
	// evicted (the store is bounded) or expire sooner, and a warm-up of
	// rows read before the invalidation must still not write them. The
	// marks live apart from the values, never evicted for room: each lives
	// ttl (a lease's life), which bounds how many there are by the rate of
	// invalidations.
	MarkInvalidated(key string, ttl time.Duration)
	Invalidated(key string) bool
}

// Marker is a lease or a tombstone as aside keeps them in a Store. They
// are not values: a lease says a loader is filling an empty key, a
// tombstone that the key was just invalidated, and each must live its time
// (a lease's life) whatever else the store evicts, or a warm-up could
// write a row read before an invalidation, or two loaders could fill one
// key. So a Store never evicts a Marker for room; each lives no longer
// than aside's LeaseTTL, which bounds how many there are by the rate of
// misses and invalidations. Each is a distinct pointer: comparing two
// compares their identity.
type Marker struct{ _ byte }
