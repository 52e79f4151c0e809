package aside

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Counters are the figures of one namespace, or of the whole cache.
type Counters struct {
	Hits    uint64 `json:"hits"`    // reads answered by the cache, negative entries included
	Misses  uint64 `json:"misses"`  // reads the cache could not answer
	Sets    uint64 `json:"sets"`    // entries written
	Deletes uint64 `json:"deletes"` // keys actually removed
	Errors  uint64 `json:"errors"`  // store failures and undecodable entries (not misses)

	Loads         uint64 `json:"loads"`         // loader calls
	LoadErrors    uint64 `json:"loadErrors"`    // loader calls that failed (ErrNotFound is not a failure)
	Coalesced     uint64 `json:"coalesced"`     // misses that waited for another caller's load
	Bypassed      uint64 `json:"bypassed"`      // store calls skipped because the breaker was open
	WritesSkipped uint64 `json:"writesSkipped"` // fills not written: no lease (another loader's, or the store failed)
	FillsRejected uint64 `json:"fillsRejected"` // fills refused because an invalidation or a write voided their lease
	LeaseWaits    uint64 `json:"leaseWaits"`    // loads that waited for another process's loader instead of loading
	StaleServed   uint64 `json:"staleServed"`   // reads answered with a value past its TTL because the loader failed or was slow

	// Invalidations counts the keys invalidated (Namespace.Invalidate,
	// Cache.Delete), deferred ones included: each voids the loads of its key
	// in flight and leaves a tombstone, whether or not an entry was there.
	Invalidations uint64 `json:"invalidations"`

	InvalidationsReplayed uint64 `json:"invalidationsReplayed"` // invalidations the store took late, after an outage

	NearHits   uint64 `json:"nearHits"`   // hits answered from the near cache, without the store (among Hits)
	NearMisses uint64 `json:"nearMisses"` // reads of near-cached keys that asked the store

	// HitRate is Hits / (Hits + Misses) * 100, or 0 before any read.
	HitRate float64 `json:"hitRate"`

	// LoadTime is the distribution of loader call durations.
	LoadTime Histogram `json:"loadTime"`
}

// loadTimeBounds are the upper bounds, in seconds, of the buckets of
// Counters.LoadTime: from 100 µs (a primary-key lookup on loopback) to 10 s.
var loadTimeBounds = [loadBuckets]float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// LoadTimeBounds returns the upper bounds, in seconds, of the buckets of
// Counters.LoadTime: from 100 µs (a primary-key lookup on loopback) to
// 10 s, then +Inf.
func LoadTimeBounds() [16]float64 { return loadTimeBounds }

const loadBuckets = 16

// Histogram is a distribution of durations in the Prometheus style, over
// the bounds of its kind (LoadTimeBounds, NearLagBounds).
type Histogram struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum"` // seconds
	// Buckets[i] counts the durations up to the i-th bound, cumulatively.
	Buckets [loadBuckets]uint64 `json:"buckets"`
}

// Stats is a snapshot of a Cache's figures: totals, each namespace's, and
// the state of the circuit breaker.
type Stats struct {
	Counters
	// Namespaces holds each namespace's figures by name. Calls through
	// the key-based functions count for the namespace whose prefix begins
	// the key (the longest, if several do); keys under no namespace count
	// only in the totals.
	Namespaces map[string]Counters `json:"namespaces"`
	// Breaker is the circuit breaker's state.
	Breaker BreakerState `json:"breaker"`
	// BreakerTrips counts the times the breaker opened.
	BreakerTrips uint64 `json:"breakerTrips"`
	// PendingInvalidations is how many invalidations (keys, and pattern
	// deletes) wait for the store to take them: see ErrDeferred. Zero
	// whenever the store has taken every invalidation made.
	PendingInvalidations int `json:"pendingInvalidations"`
	// Rewinds counts the times the store's data was found to have maybe
	// gone back in time (a restart, a failover, a flush): see
	// RecoveryOptions.
	Rewinds uint64 `json:"rewinds"`
	// RememberedInvalidations is how many recent invalidations the Cache
	// would make again after a rewind.
	RememberedInvalidations int `json:"rememberedInvalidations"`
	// Near is the near cache's state, nil when it is off.
	Near *NearStats `json:"near,omitempty"`
}

// NearStats is the state of the near cache (Options.NearCache).
type NearStats struct {
	Entries int   `json:"entries"` // entries kept in the process
	Bytes   int64 `json:"bytes"`   // what they weigh
	// Serving is whether the store's pushes were confirmed within MaxLag:
	// only then are entries served from memory.
	Serving  bool   `json:"serving"`
	Received uint64 `json:"received"` // keys the store told changed
	Flushes  uint64 `json:"flushes"`  // times everything was dropped: a flush of the store, a connection lost or replaced
	// Lag is how long the store took to tell this process of its own
	// writes, from just before each was sent (see NearLagBounds).
	Lag Histogram `json:"lag"`
}

// counters is the live, lock-free form of Counters. Each is padded to its
// own cache lines so that namespaces hit from different cores do not share.
type counters struct {
	hits, misses, sets, deletes, errors                   atomic.Uint64
	loads, loadErrors, coalesced, bypassed, writesSkipped atomic.Uint64
	fillsRejected, leaseWaits, staleServed                atomic.Uint64
	invalidationsReplayed, nearHits, nearMisses           atomic.Uint64
	invalidations                                         atomic.Uint64

	// The load-time histogram: written once per load, off the hit path.
	loadNanos   atomic.Uint64
	loadBuckets [loadBuckets + 1]atomic.Uint64 // not cumulative; the last is +Inf
}

// observeLoad records one loader call's duration.
func (c *counters) observeLoad(d time.Duration) {
	c.loadNanos.Add(uint64(max(d, 0)))
	i, _ := slices.BinarySearch(loadTimeBounds[:], d.Seconds())
	c.loadBuckets[i].Add(1)
}

func (c *counters) snapshot() Counters {
	s := Counters{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Sets: c.sets.Load(),
		Deletes: c.deletes.Load(), Errors: c.errors.Load(),
		Loads: c.loads.Load(), LoadErrors: c.loadErrors.Load(),
		Coalesced: c.coalesced.Load(), Bypassed: c.bypassed.Load(),
		WritesSkipped: c.writesSkipped.Load(), FillsRejected: c.fillsRejected.Load(),
		LeaseWaits: c.leaseWaits.Load(), StaleServed: c.staleServed.Load(),
		Invalidations:         c.invalidations.Load(),
		InvalidationsReplayed: c.invalidationsReplayed.Load(),
		NearHits:              c.nearHits.Load(), NearMisses: c.nearMisses.Load(),
	}
	s.HitRate = hitRate(s.Hits, s.Misses)
	s.LoadTime.Sum = time.Duration(c.loadNanos.Load()).Seconds()
	var cumulative uint64
	for i := range s.LoadTime.Buckets {
		cumulative += c.loadBuckets[i].Load()
		s.LoadTime.Buckets[i] = cumulative
	}
	// The count is the buckets' sum, +Inf included, read in this same pass:
	// no bucket can then exceed it, whatever loads end meanwhile.
	s.LoadTime.Count = cumulative + c.loadBuckets[loadBuckets].Load()
	return s
}

func (c *counters) reset() {
	for _, a := range []*atomic.Uint64{&c.hits, &c.misses, &c.sets, &c.deletes, &c.errors,
		&c.loads, &c.loadErrors, &c.coalesced, &c.bypassed, &c.writesSkipped,
		&c.fillsRejected, &c.leaseWaits, &c.staleServed, &c.invalidations, &c.invalidationsReplayed, &c.nearHits, &c.nearMisses, &c.loadNanos} {
		a.Store(0)
	}
	for i := range c.loadBuckets {
		c.loadBuckets[i].Store(0)
	}
}

func hitRate(hits, misses uint64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+misses) * 100
}

func (s *Counters) add(o Counters) {
	s.Hits += o.Hits
	s.Misses += o.Misses
	s.Sets += o.Sets
	s.Deletes += o.Deletes
	s.Errors += o.Errors
	s.Loads += o.Loads
	s.LoadErrors += o.LoadErrors
	s.Coalesced += o.Coalesced
	s.Bypassed += o.Bypassed
	s.WritesSkipped += o.WritesSkipped
	s.FillsRejected += o.FillsRejected
	s.LeaseWaits += o.LeaseWaits
	s.StaleServed += o.StaleServed
	s.Invalidations += o.Invalidations
	s.InvalidationsReplayed += o.InvalidationsReplayed
	s.NearHits += o.NearHits
	s.NearMisses += o.NearMisses
	s.HitRate = hitRate(s.Hits, s.Misses)
	s.LoadTime.Count += o.LoadTime.Count
	s.LoadTime.Sum += o.LoadTime.Sum
	for i := range s.LoadTime.Buckets {
		s.LoadTime.Buckets[i] += o.LoadTime.Buckets[i]
	}
}

// scope ties a key prefix to the namespace that owns it: its counters,
// its policy and the type of its values, so that a key read through the
// key-based functions is the namespace's entry whichever door it came
// through. The scope of keys under no namespace has prefix "" and no
// policy.
type scope struct {
	name, prefix, version string
	c                     *counters
	policy                *fillPolicy    // nil for keys under no namespace
	typ                   unsafe.Pointer // the namespace's T (typeID): its shape is policy.shape
}

// statsRegistry finds the namespace of a key. Lookups read an immutable
// slice through an atomic pointer, so the hit path takes no lock;
// registration copies the slice under mu.
type statsRegistry struct {
	unscoped      counters // keys under no namespace
	unscopedScope scope    // their scope: unscoped, no policy

	mu     sync.Mutex           // guards byName and writes of scopes
	byName map[string]*counters // one set of counters per namespace name
	scopes atomic.Pointer[[]scope]
}

// register returns the counters of the namespace sc describes, creating
// them, and routes keys under its prefix to it. It refuses a namespace
// that would share a name, a prefix or keys with another: their counters,
// policies and pending invalidations would mix. The same namespace made
// again gets the same counters.
func (r *statsRegistry) register(sc scope) (*counters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var scopes []scope
	if p := r.scopes.Load(); p != nil {
		scopes = slices.Clone(*p)
	}
	for _, o := range scopes {
		if o.name == sc.name && o.prefix == sc.prefix && o.typ == sc.typ && o.policy.same(sc.policy) {
			return o.c, nil // the same namespace made again
		}
		if err := conflict(sc, o); err != nil {
			return nil, err
		}
	}
	if r.byName == nil {
		r.byName = make(map[string]*counters)
	}
	sc.c = new(counters)
	r.byName[sc.name] = sc.c
	scopes = append(scopes, sc)
	// Longest prefix first, so that "job:result:" wins over "job:".
	slices.SortStableFunc(scopes, func(a, b scope) int { return len(b.prefix) - len(a.prefix) })
	r.scopes.Store(&scopes)
	return sc.c, nil
}

// conflict explains why namespaces a and b cannot live in one cache, or
// returns nil. Two prefixes share keys when one begins the other and what
// follows could be written by an id: ids escape ':' (and glob syntax), so
// "user:openid:" is apart from "user:", while "user:o" is not.
func conflict(a, b scope) error {
	switch {
	case a.name == b.name:
		return fmt.Errorf("aside: namespace %q exists with another prefix (%q), type or configuration", a.name, b.prefix)
	case a.prefix == b.prefix:
		return fmt.Errorf("aside: namespace %q: prefix %q is namespace %q's", a.name, a.prefix, b.name)
	}
	short, long := a, b
	if len(long.prefix) < len(short.prefix) {
		short, long = long, short
	}
	if strings.HasPrefix(long.prefix, short.prefix) && !separates(long.prefix[len(short.prefix):]) {
		return fmt.Errorf("aside: namespaces %q (prefix %q) and %q (prefix %q) would share keys: the longer prefix must continue the shorter with a ':'",
			a.name, a.prefix, b.name, b.prefix)
	}
	return nil
}

// separates reports whether s holds a byte that no escaped id holds.
func separates(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' && needsEscape(s[i]) {
			return true
		}
	}
	return false
}

// lookup returns the counters for a key relative to the cache's prefix.
func (r *statsRegistry) lookup(key string) *counters { return r.lookupScope(key).c }

// lookupScope returns the namespace scope of a key relative to the cache's
// prefix: the one with the longest prefix that begins it, or the scope of
// keys under no namespace (prefix ""). The scope is shared: do not modify
// it.
func (r *statsRegistry) lookupScope(key string) *scope {
	if p := r.scopes.Load(); p != nil {
		for i := range *p {
			if strings.HasPrefix(key, (*p)[i].prefix) {
				return &(*p)[i]
			}
		}
	}
	return &r.unscopedScope
}

func (r *statsRegistry) snapshot() (total Counters, byName map[string]Counters) {
	r.mu.Lock()
	defer r.mu.Unlock()
	total = r.unscoped.snapshot()
	byName = make(map[string]Counters, len(r.byName))
	for name, c := range r.byName {
		s := c.snapshot()
		byName[name] = s
		total.add(s)
	}
	return total, byName
}

func (r *statsRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unscoped.reset()
	for _, c := range r.byName {
		c.reset()
	}
}
