// Package marker is the lease and the tombstone as aside keeps them in an
// in-process store. They are not values: a lease says a loader is filling
// an empty key, a tombstone that the key was just invalidated, and each
// must live its time (a lease's life) whatever else the store evicts, or a
// warm-up could write a row read before an invalidation, or two loaders
// could fill one key. So memstore never evicts a Marker for room; each
// lives no longer than aside's LeaseTTL, which bounds how many there are
// by the rate of misses and invalidations.
package marker

// Marker is a lease or a tombstone. Each is a distinct pointer: comparing
// two compares their identity.
type Marker struct{ _ byte }
