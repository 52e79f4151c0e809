package aside

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// lookupResult is what a read of the store found out.
type lookupResult int

const (
	lookupMiss      lookupResult = iota // the store answered: nothing there
	lookupTombstone                     // a tombstone: nothing, but a lease must replace it
	lookupLeased                        // a lease: a loader somewhere is filling the empty key
	lookupHit                           // an entry (fresh or not: its meta says)
	lookupFailed                        // the store did not answer, or the breaker kept us away
)

// lookup reads full from the store and returns the entry with ref, the
// form a compare-and-set must find (its bytes, or its pointer in a
// ValueStore). It counts store failures and corrupt entries, not hits or
// misses: its callers decide what a lookup was.
func lookup[T any](ctx context.Context, c *Cache, st *counters, full string, shape uint64) (e entry[T], ref any, res lookupResult) {
	if c.local != nil {
		raw, ok := c.local.GetValue(full)
		if !ok {
			return e, nil, lookupMiss
		}
		if p, ok := raw.(*entry[T]); ok && (p.shape == shape || p.kind != kindValue) { // the hit, before anything rarer
			return *p, p, lookupHit
		}
		return fromLocal[T](ctx, c, st, full, raw, shape)
	}
	data, ok, err := c.storeGet(ctx, full)
	switch {
	case err != nil:
		c.count(ctx, st, err, "read", full)
		return e, nil, lookupFailed
	case !ok:
		return e, nil, lookupMiss
	}
	return decodeOrDrop[T](ctx, c, st, full, data, shape)
}

// fromLocal reads what a ValueStore holds: our entry, a lease, bytes
// written through the byte API, or another type's entry, which is read
// through the codec as it would be from Redis.
func fromLocal[T any](ctx context.Context, c *Cache, st *counters, full string, raw any, shape uint64) (e entry[T], ref any, res lookupResult) {
	switch x := raw.(type) {
	case *entry[T]:
		if x.kind == kindValue && x.shape != shape {
			return e, x, lookupTombstone // another shape: a lease replaces it
		}
		return *x, x, lookupHit
	case *localLease:
		if x == localTombstone {
			return e, x, lookupTombstone
		}
		return e, x, lookupLeased
	case []byte:
		e, _, res = decodeLocalOrDrop[T](ctx, c, st, full, x, raw, shape)
		return e, raw, res
	case reencoder:
		data, err := x.reencode(c.opts.Codec)
		if err != nil {
			data = nil // undecodable as anything: dropped below
		}
		e, _, res = decodeLocalOrDrop[T](ctx, c, st, full, data, raw, shape)
		return e, raw, res
	}
	return decodeLocalOrDrop[T](ctx, c, st, full, nil, raw, shape)
}

// decodeOrDrop decodes an entry, which may be a lease, for a reader of
// shape. An entry that does not decode is counted as an error, deleted,
// and reported as a miss, so that the loader answers. A value of another
// shape is no error: like a tombstone, it is nothing to serve, and a
// loader's lease replaces it.
func decodeOrDrop[T any](ctx context.Context, c *Cache, st *counters, full string, data []byte, shape uint64) (e entry[T], ref any, res lookupResult) {
	return decodeLocalOrDrop[T](ctx, c, st, full, data, nil, shape)
}

// decodeLocalOrDrop is decodeOrDrop of data read from what a ValueStore
// holds (held): the drop removes held, compared as the store compares.
func decodeLocalOrDrop[T any](ctx context.Context, c *Cache, st *counters, full string, data []byte, held any, shape uint64) (e entry[T], ref any, res lookupResult) {
	if e, ok := memoGet[T](c.memo, full, data); ok && e.shape == shape {
		return e, data, lookupHit
	}
	e, err := decodeEntry[T](c.opts.Codec, data, shape)
	switch {
	case errors.Is(err, errOtherShape):
		return entry[T]{}, data, lookupTombstone
	case err == nil && e.kind == kindLease:
		return e, data, lookupLeased
	case err == nil && e.kind == kindTombstone:
		return e, data, lookupTombstone
	case err == nil:
		if held == nil {
			memoPut(c.memo, full, data, e)
		}
		return e, data, lookupHit
	}
	st.errors.Add(1)
	c.opts.Logger.Warn("aside: dropping an entry that does not decode", "key", full, "err", err)
	// Only what was read: a tombstone or lease written since stays.
	if c.local != nil {
		c.local.CompareAndDeleteValue(full, held)
	} else {
		_ = c.do(ctx, func(ctx context.Context) error {
			_, err := c.store.CompareAndDelete(ctx, full, data)
			return err
		})
	}
	return entry[T]{}, nil, lookupMiss
}

// hold is what a load holds on its key: the lease or claim a fill must
// find there (nil: fill nothing), and the entry past its time that
// fail-safe may serve in the load's stead.
type hold[T any] struct {
	lease any       // []byte for a remote store; *localLease or *entry[T] for a local one
	claim bool      // lease is a claim on an existing entry, not a lease on an empty key
	prior *entry[T] // the entry the claim was taken on
	at    time.Time // when the read that found the key free, or prior, began
}

// servable returns the entry fail-safe may serve at now, or nil.
func (h hold[T]) servable(now int64) *entry[T] {
	if h.prior == nil || h.prior.kind != kindValue || h.prior.state(now, 0) == stateGone {
		return nil
	}
	return h.prior
}

// led is what lead found out: an entry to answer with (found; stale when
// fail-safe serves it past its time), or what the load holds. at is when
// the read that found the entry began: its answer is good for callers that
// began before.
type led[T any] struct {
	e     entry[T]
	found bool
	stale bool
	at    time.Time
	h     hold[T]
}

// lead takes the right to load full for this process, across processes:
// one loader per key at a time. On an empty key it takes a lease; on an
// entry past its time it claims the entry. When another loader holds the
// key, it waits for that loader's fill and answers with it; when the lease
// or claim is released or expires meanwhile (its holder failed or died),
// it takes the key itself; when the wait outlasts a lease's life, the
// store fails, or Close comes, it gives up and holds nothing (a load then
// fills nothing). A wait that has a stale value to fall back on lasts no
// longer than the soft timeout.
//
// With refresh (sawFresh: the freshUntil of the entry the refresh is for),
// it claims that entry or gives up at once (found) when another refresh
// holds it or it changed.
func lead[T any](ctx context.Context, c *Cache, st *counters, full string, p fillPolicy, refresh bool, sawFresh int64) led[T] {
	var w *leaseWait
	// seen is the entry past its time that another loader has claimed, as
	// the last look (at seenAt) found it: fail-safe's, if the wait ends
	// without a fill. Anything else found since (a lease, a tombstone,
	// nothing) voids it.
	var seen *entry[T]
	var seenAt time.Time
	for {
		at := time.Now()
		e, ref, res := acquire[T](ctx, c, st, full, p.shape)
		now := c.nowMs()
		switch res {
		case lookupMiss:
			return led[T]{h: hold[T]{lease: ref, at: at}} // ours
		case lookupFailed:
			return led[T]{}
		case lookupHit:
			s := e.state(now, 0)
			switch {
			case refresh && (e.claimed(now) || e.freshUntil != sawFresh):
				return led[T]{e: e, found: true, at: at} // refreshed, or being refreshed
			case !refresh && s <= stateRefresh:
				return led[T]{e: e, found: true, at: at}
			case !e.claimed(now):
				if claimRef, ok := claimEntry(ctx, c, st, full, &e, ref, now); ok {
					prior := e
					return led[T]{h: hold[T]{lease: claimRef, claim: true, prior: &prior, at: at}}
				}
				seen = nil
				continue // the entry changed under us: look again
			}
			seen = nil
			if s == stateStale && e.kind == kindValue {
				prior := e
				seen, seenAt = &prior, at
			}
		default:
			seen = nil
		}
		if refresh {
			return led[T]{e: e, found: true, at: at} // a refresh never waits
		}
		// Another loader holds the key: wait for its fill.
		if w == nil {
			st.leaseWaits.Add(1)
			bound := c.opts.LeaseTTL
			if seen != nil && p.softTimeout > 0 {
				bound = p.softTimeout
			}
			w = newLeaseWait(bound)
		}
		if !w.sleep(c.closing) {
			if seen != nil && seen.state(c.nowMs(), 0) == stateStale && c.closing.Err() == nil {
				return led[T]{e: *seen, found: true, stale: true, at: seenAt} // fail-safe: serve it, let the holder load
			}
			return led[T]{} // waited a lease's life, or Close
		}
	}
}

// acquire tries once to take the lease on an empty key. It reports
// lookupMiss with the lease when it took it; otherwise what the key holds:
// lookupHit with the entry and its ref, lookupLeased when another loader
// holds the lease, lookupFailed when the store failed.
func acquire[T any](ctx context.Context, c *Cache, st *counters, full string, shape uint64) (e entry[T], ref any, res lookupResult) {
	if c.local != nil {
		mine := &localLease{}
		cur, present := c.local.AddOrGetValue(full, mine, c.opts.LeaseTTL)
		if !present {
			return e, mine, lookupMiss
		}
		e, ref, res = fromLocal[T](ctx, c, st, full, cur, shape)
		switch res {
		case lookupTombstone:
			if c.local.CompareAndSetValue(full, ref, mine, c.opts.LeaseTTL) {
				return e, mine, lookupMiss
			}
			res = lookupLeased // raced: look again after a pause
		case lookupMiss: // it held something undecodable, now dropped
			res = lookupLeased
		}
		return e, ref, res
	}
	mine := newLease()
	var cur []byte
	var present bool
	err := c.do(ctx, func(ctx context.Context) (err error) {
		cur, present, err = c.store.AddOrGet(ctx, full, mine, c.opts.LeaseTTL)
		return err
	})
	switch {
	case err != nil:
		c.count(ctx, st, err, "lease", full)
		return e, nil, lookupFailed
	case !present:
		return e, mine, lookupMiss
	}
	e, ref, res = decodeOrDrop[T](ctx, c, st, full, cur, shape)
	switch res {
	case lookupTombstone:
		var swapped bool
		err := c.do(ctx, func(ctx context.Context) (err error) {
			swapped, err = c.store.CompareAndSet(ctx, full, cur, mine, c.opts.LeaseTTL)
			return err
		})
		if err == nil && swapped {
			return e, mine, lookupMiss
		}
		res = lookupLeased // raced, or failed: look again after a pause
	case lookupMiss: // it held something undecodable, now dropped
		res = lookupLeased
	}
	return e, ref, res
}

// claimEntry claims an entry for a reload, keeping its value and its
// physical expiry: the claim is the entry with claimUntil set, written by
// compare-and-set, so that only one loader wins it and an invalidation
// voids it. It returns the claimed entry's ref.
func claimEntry[T any](ctx context.Context, c *Cache, st *counters, full string, e *entry[T], ref any, now int64) (any, bool) {
	until := now + c.opts.LeaseTTL.Milliseconds()
	// The claim lives as long as the entry would, and at least a lease's
	// life: an entry the clock puts past its physical expiry still takes
	// a claim a fill can find.
	physical := max(untilMs(max(e.staleUntil, e.freshUntil), now), c.opts.LeaseTTL)
	if c.local != nil {
		claimed := *e
		claimed.claimUntil = until
		p := &claimed
		return p, c.local.CompareAndSetValue(full, ref, p, physical)
	}
	data, ok := ref.([]byte)
	if !ok {
		return nil, false
	}
	claimed := withClaim(data, until)
	var swapped bool
	err := c.do(ctx, func(ctx context.Context) (err error) {
		swapped, err = c.store.CompareAndSet(ctx, full, data, claimed, physical)
		return err
	})
	if err != nil {
		c.count(ctx, st, err, "claim", full)
		return nil, false
	}
	return claimed, swapped
}

// leaseWait paces the polls of a key another loader holds: from 1 ms,
// doubling up to 50 ms, with jitter, never a hot loop, and for no longer
// than a lease can live.
type leaseWait struct {
	deadline time.Time
	next     time.Duration
}

func newLeaseWait(leaseTTL time.Duration) *leaseWait {
	return &leaseWait{deadline: time.Now().Add(leaseTTL + leaseTTL/10), next: time.Millisecond}
}

// sleep waits for the next poll; it is false when the wait is over.
func (w *leaseWait) sleep(closing context.Context) bool {
	d := time.Until(w.deadline)
	if d <= 0 {
		return false
	}
	pause := min(time.Duration(float64(w.next)*(0.8+0.4*rand.Float64())), d)
	w.next = min(2*w.next, 50*time.Millisecond)
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-closing.Done():
		return false
	}
}

// fill writes a loaded entry if the key still holds what h holds, and
// counts the outcome: a set, a fill rejected (an invalidation or a Set
// came first, or the lease expired), or a write skipped (no lease, or the
// store failed). filled reports the set: proof that no invalidation of the
// key came between the lease and the fill. A value the codec cannot encode
// is counted as an error and logged, and what h holds is given up, so that
// the next reader loads at once rather than wait out the lease.
func fill[T any](ctx context.Context, c *Cache, st *counters, full string, h hold[T], e *entry[T]) (filled bool) {
	if h.lease == nil {
		st.writesSkipped.Add(1)
		return false
	}
	physical := untilMs(max(e.staleUntil, e.freshUntil), c.nowMs())
	swapped, err := compareAndSet(ctx, c, full, h.lease, e, physical)
	switch {
	case errors.Is(err, errEncode):
		st.errors.Add(1)
		c.opts.Logger.Warn("aside: a loaded value does not encode: returned, not cached", "key", full, "err", err)
		release(ctx, c, full, h)
	case err != nil:
		c.count(ctx, st, err, "fill", full)
		st.writesSkipped.Add(1)
	case swapped:
		st.sets.Add(1)
	default:
		st.fillsRejected.Add(1)
	}
	return err == nil && swapped
}

// errEncode marks a value the codec refused.
var errEncode = errors.New("aside: value does not encode")

// compareAndSet replaces lease with e in the store, for ttl.
func compareAndSet[T any](ctx context.Context, c *Cache, full string, lease any, e *entry[T], ttl time.Duration) (bool, error) {
	if c.local != nil {
		return c.local.CompareAndSetValue(full, lease, e, ttl), nil
	}
	old, ok := lease.([]byte)
	if !ok {
		return false, nil
	}
	data, err := encodeEntry(c.opts.Codec, e)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errEncode, err)
	}
	var swapped bool
	err = c.do(ctx, func(ctx context.Context) (err error) {
		swapped, err = c.store.CompareAndSet(ctx, full, old, data, ttl)
		return err
	})
	return swapped, err
}

// throttle is fail-safe's second half: after a failed load, the entry the
// load held is written back unclaimed and fresh for the throttle period
// (never past its physical expiry), so that readers are served it without
// calling the loader again until then. A failed refresh only postpones
// the next refresh by the throttle period.
//
// It returns when the write-back was sent if it landed: proof that no
// invalidation voided the claim before then. Zero when it did not land,
// which proves nothing for later callers (an invalidation may have voided
// the claim at any time since it was taken).
func throttle[T any](ctx context.Context, c *Cache, st *counters, full string, h hold[T], now int64, period time.Duration, refresh bool) (vouched time.Time) {
	if !h.claim || h.prior == nil {
		release(ctx, c, full, h)
		return time.Time{}
	}
	back := *h.prior
	back.claimUntil = 0
	if refresh {
		back.refreshAfter = now + period.Milliseconds()
	} else {
		back.freshUntil = min(now+period.Milliseconds(), back.staleUntil)
		back.refreshAfter = 0
	}
	physical := untilMs(max(back.staleUntil, back.freshUntil), now)
	sent := time.Now()
	swapped, err := compareAndSet(ctx, c, full, h.lease, &back, physical)
	if err != nil {
		c.count(ctx, st, err, "throttle", full)
	}
	if !swapped {
		return time.Time{}
	}
	return sent
}

// vouch answers, for fail-safe's answer given while the load still runs
// (the soft timeout), which callers it is good for: those begun before a
// read that finds the key still under h's claim, or, when an invalidation
// voided the claim, those begun before the claim was taken.
func vouch[T any](ctx context.Context, c *Cache, full string, h hold[T]) time.Time {
	at := time.Now()
	if c.local != nil {
		if cur, ok := c.local.GetValue(full); ok && cur == h.lease {
			return at
		}
		return h.at
	}
	claim, _ := h.lease.([]byte)
	data, found, err := c.storeGet(ctx, full)
	if err == nil && found && bytes.Equal(data, claim) {
		return at
	}
	return h.at
}

// release gives up what a failed load held, if it still holds, so that the
// next reader can take the key at once instead of when the lease expires:
// a lease is deleted; a claim is taken back off the entry.
func release[T any](ctx context.Context, c *Cache, full string, h hold[T]) {
	switch l := h.lease.(type) {
	case nil:
	case *localLease:
		c.local.CompareAndDeleteValue(full, l)
	case *entry[T]:
		back := *h.prior
		back.claimUntil = 0
		c.local.CompareAndSetValue(full, l, &back, untilMs(max(back.staleUntil, back.freshUntil), c.nowMs()))
	case []byte:
		if h.claim {
			back := *h.prior
			back.claimUntil = 0
			_, _ = compareAndSet(ctx, c, full, l, &back, untilMs(max(back.staleUntil, back.freshUntil), c.nowMs()))
			return
		}
		_ = c.do(ctx, func(ctx context.Context) error {
			_, err := c.store.CompareAndDelete(ctx, full, l)
			return err
		})
	}
}

// writeEntry writes an entry unconditionally (Set) and counts the outcome.
func writeEntry[T any](ctx context.Context, c *Cache, st *counters, full string, e *entry[T], ttl time.Duration) error {
	if c.local != nil {
		c.local.SetValue(full, e, ttl)
		st.sets.Add(1)
		return nil
	}
	data, err := encodeEntry(c.opts.Codec, e)
	if err != nil {
		st.errors.Add(1)
		return err
	}
	err = c.do(ctx, func(ctx context.Context) error { return c.store.Set(ctx, full, data, ttl) })
	if err != nil {
		c.count(ctx, st, err, "write", full)
		st.writesSkipped.Add(1)
		return err
	}
	st.sets.Add(1)
	return nil
}

// untilMs is the duration from now to ms (Unix ms), at least a millisecond:
// the physical TTL a rewrite of an entry keeps.
func untilMs(ms, now int64) time.Duration {
	d := ms - now
	if d >= math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return max(time.Duration(d)*time.Millisecond, time.Millisecond)
}
