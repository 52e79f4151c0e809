package aside

import (
	"math"
	"reflect"
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
	groups      *grouping     // the groups of an id's entry (group.go); nil: none
	groupLife   time.Duration // how long a group's token is kept: the longest life of an entry
}

// grouping names the groups of an id (NamespaceConfig.Groups).
type grouping struct{ of func(id string) []string }

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

// same reports whether p and o are one configuration: equal, with groups
// of the same function (closures of one function count as the same).
func (p *fillPolicy) same(o *fillPolicy) bool {
	a, b := *p, *o
	a.groups, b.groups = nil, nil
	return a == b && (p.groups == nil) == (o.groups == nil) &&
		(p.groups == nil || reflect.ValueOf(p.groups.of).Pointer() == reflect.ValueOf(o.groups.of).Pointer())
}

// entryLife is the longest an entry of p can live: its TTL spread by the
// jitter, its stale period, and a lease's life that a fill over a
// tombstone keeps its key; saturated, never overflowing.
func (p *fillPolicy) entryLife(leaseTTL time.Duration) time.Duration {
	ttl := float64(max(p.ttl, p.negativeTTL)) * (1 + max(p.jitter, 0))
	if ttl >= math.MaxInt64 {
		return math.MaxInt64
	}
	return addSaturated(addSaturated(time.Duration(ttl), p.maxStale), leaseTTL)
}

// addSaturated is a+b for durations that are not negative, at most the
// longest duration there is.
func addSaturated(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
