package aside

import (
	"math"
	"time"
)

// fillPolicy says how long what a loader returns is kept, and how it may be
// served past that: a namespace's configuration, or the cache's for keys
// under no namespace.
type fillPolicy struct {
	ttl         time.Duration // a value's freshness
	negativeTTL time.Duration // a negative entry's
	jitter      float64       // spread of both, as a fraction
	softTTL     time.Duration // past it, hits refresh in the background; 0 never
	earlyBeta   float64       // XFetch's β; 0 off
	maxStale    time.Duration // fail-safe: how long past its TTL a value may stand in; 0 never
	throttle    time.Duration // fail-safe: how long a stood-in value is served before the loader is tried again
	softTimeout time.Duration // with a stale value at hand, how long to wait for the loader; 0 as long as it takes
	loadTimeout time.Duration // the hard bound of a loader call
	shape       uint64        // the fingerprint of the values' shape (see shape.go)
	near        bool          // entries are kept in the process too (near.go)
}

// defaultPolicy is the cache's policy for keys under no namespace, but
// for the TTL, which each call names.
func defaultPolicy(o Options) fillPolicy {
	return fillPolicy{
		negativeTTL: o.NegativeTTL, jitter: o.Jitter,
		earlyBeta: o.EarlyRefresh, maxStale: o.MaxStale,
		throttle: o.FailSafeThrottle, softTimeout: o.SoftTimeout,
		loadTimeout: o.LoadTimeout,
		near:        o.NearCache.Enabled,
	}
}

// meta is the timing of an entry of kind k filled now by a load that took
// took: its TTL spread by the jitter, a stale period for values with
// fail-safe, and the time a hit starts refreshing it.
func (p fillPolicy) meta(k kind, now time.Time, took time.Duration) meta {
	r := jitterRatio(p.jitter)
	ms := unixMs(now)
	ttl := p.ttl
	if k == kindNotFound {
		ttl = p.negativeTTL
	}
	fresh := ms + max(int64(float64(ttl.Milliseconds())*r), 1)
	m := meta{freshUntil: fresh, staleUntil: fresh, loadMicros: uint32(min(took.Microseconds(), math.MaxUint32)), shape: p.shape}
	if k == kindValue {
		if p.maxStale > 0 {
			m.staleUntil = fresh + p.maxStale.Milliseconds()
		}
		if p.softTTL > 0 {
			m.refreshAfter = ms + max(int64(float64(p.softTTL.Milliseconds())*r), 1)
		}
	}
	return m
}
