package aside

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"
)

// hold is what a load holds on its key: the lease or claim a fill must
// find there (zero: fill nothing), and the entry past its time that
// fail-safe may serve in the load's stead.
type hold[T any] struct {
	held  held      // the lease, or the claimed entry
	claim bool      // a claim on an existing entry, not a lease on an empty key
	prior *entry[T] // the entry the claim was taken on, as it was
	at    time.Time // when the read that found the key free, or prior, began
	// buried: the lease replaced a tombstone, which the key must keep for
	// a lease's life: a fill keeps the key at least that long, and a load
	// that fills nothing puts a tombstone back.
	buried bool
}

// servable returns the entry fail-safe may serve at now in the load's
// stead, or nil: the claimed entry while it is fresh (a refresh), or past
// its time when the policy has fail-safe (maxStale).
func (h hold[T]) servable(now int64, p *fillPolicy) *entry[T] {
	if h.prior == nil || h.prior.kind != kindValue {
		return nil
	}
	switch h.prior.state(now, 0) {
	case stateGone:
		return nil
	case stateStale:
		if p.maxStale <= 0 {
			return nil
		}
	}
	return h.prior
}

// led is what lead found out: an entry to answer with (found; stale when
// fail-safe serves it past its time), or what the load holds. at is when
// the read that found the entry began: its answer is good for callers that
// began before.
type led[T any] struct {
	e     *entry[T]
	found bool
	stale bool
	at    time.Time
	h     hold[T]
}

// lead takes the right to load the key for this process, across
// processes: one loader per key at a time. On an empty key it takes a
// lease; on an entry past its time it claims the entry. When another
// loader holds the key, it waits for that loader's fill and answers with
// it; when the lease or claim is released or expires meanwhile (its holder
// failed or died), it takes the key itself; when the wait outlasts a
// lease's life, the store fails, or Close comes, it gives up and holds
// nothing (the load then fills nothing). A wait that has a stale value to
// fall back on lasts no longer than the soft timeout.
//
// A refresh claims the entry it is for, or gives up at once (found) when
// another refresh holds it or it changed.
func (fr *flightRun[T]) lead(ctx context.Context) led[T] {
	var wt waiting[T]
	for {
		at := time.Now()
		l, next := fr.decide(ctx, fr.acquire(ctx), at, &wt)
		switch {
		case next == done:
			return l
		case next == again:
			continue // the entry changed under us: look again
		case fr.refresh:
			return led[T]{found: true, at: at} // a refresh never waits
		}
		fr.member.settle() // another loader holds the key: a batch load goes on without it
		if !fr.wait(&wt) {
			return fr.gaveUp(wt)
		}
	}
}

// waiting is lead's state between looks: the pacing of its polls, and
// seen, the entry past its time that another loader has claimed, as the
// last look (at seenAt) found it: fail-safe's, if the wait ends without a
// fill. Anything else found since (a lease, a tombstone, nothing) voids it.
type waiting[T any] struct {
	w      *leaseWait
	seen   *entry[T]
	seenAt time.Time
}

// verdict is what lead does after a look.
type verdict int

const (
	done  verdict = iota // it has its answer, or the key
	wait                 // another loader holds the key
	again                // look again at once
)

// decide reads one look (f, begun at at): the key taken, an entry to
// answer with, an entry past its time to claim, or another loader's hold.
func (fr *flightRun[T]) decide(ctx context.Context, f found[T], at time.Time, wt *waiting[T]) (led[T], verdict) {
	wt.seen = nil
	switch f.is {
	case lookEmpty: // taken: f.h holds our lease
		return led[T]{h: hold[T]{held: f.h, at: at, buried: f.buried}}, done
	case lookFailed:
		return led[T]{}, done
	case lookHit:
	default:
		return led[T]{}, wait
	}
	now := fr.c.nowMs()
	e, s := f.e, f.e.state(now, 0)
	switch {
	case fr.refresh && (e.claimed(now) || e.freshUntil != fr.sawFresh):
		return led[T]{e: e, found: true, at: at}, done // refreshed, or being refreshed
	case !fr.refresh && s <= stateRefresh:
		return led[T]{e: e, found: true, at: at}, done
	case !e.claimed(now):
		if h, ok := fr.claim(ctx, f, now); ok {
			h.at = at
			return led[T]{h: h}, done
		}
		return led[T]{}, again
	}
	if s == stateStale && e.kind == kindValue {
		wt.seen, wt.seenAt = e, at
	}
	return led[T]{}, wait
}

// wait sleeps until the next look; it is false when the wait is over: it
// outlasted a lease's life (or the soft timeout, with a stale value to
// serve), or Close came.
func (fr *flightRun[T]) wait(wt *waiting[T]) bool {
	if wt.w == nil {
		fr.st.leaseWaits.Add(1)
		bound := fr.c.opts.LeaseTTL
		if wt.seen != nil && fr.p.softTimeout > 0 {
			bound = fr.p.softTimeout
		}
		wt.w = newLeaseWait(bound)
	}
	return wt.w.sleep(fr.c.closing)
}

// gaveUp is lead's answer when its wait is over: fail-safe's stale value
// when the last look saw one, or nothing held.
func (fr *flightRun[T]) gaveUp(wt waiting[T]) led[T] {
	if wt.seen != nil && wt.seen.state(fr.c.nowMs(), 0) == stateStale && fr.p.maxStale > 0 && fr.c.closing.Err() == nil {
		return led[T]{e: wt.seen, found: true, stale: true, at: wt.seenAt} // serve it, let the holder load
	}
	return led[T]{} // waited a lease's life, or Close
}

// acquire tries once to take the lease on the key. It reports lookEmpty
// with the lease (in the found's h) when it took it; otherwise what
// the key holds: an entry, another loader's lease (also said of a key it
// lost a race for, or that held something undecodable, now dropped: look
// again after a pause), or a failure.
func (fr *flightRun[T]) acquire(ctx context.Context) found[T] {
	var over held
	for range 2 {
		mine, cur, took, err := fr.c.be.lease(ctx, fr.full, over)
		switch {
		case err != nil:
			fr.c.count(ctx, fr.st, err, "lease", fr.full)
			return found[T]{is: lookFailed}
		case took: // over a tombstone (or a lease over one), the lease must keep its mark
			_, _, overBuried := buriedLease(over.data)
			return found[T]{is: lookEmpty, h: mine, buried: over.holds == holdsTombstone || overBuried}
		}
		f := fr.open(ctx, cur)
		switch f.is {
		case lookVoid: // a tombstone, or another shape: lease over it
			over = f.h
			continue
		case lookEmpty:
			f.is = lookLeased
		}
		return f
	}
	return found[T]{is: lookLeased} // raced twice: look again after a pause
}

// claim claims an entry for a reload, keeping its value and its physical
// expiry: the claim is the entry with claimUntil set, written by
// compare-and-set, so that only one loader wins it and an invalidation
// voids it.
func (fr *flightRun[T]) claim(ctx context.Context, f found[T], now int64) (hold[T], bool) {
	m := f.e.meta
	life, _ := fr.c.be.holdLife()
	m.claimUntil = now + life.Milliseconds()
	// The claim lives as long as the entry would, and at least a lease's
	// life: an entry the clock puts past its physical expiry still takes
	// a claim a fill can find.
	physical := max(untilMs(max(m.staleUntil, m.freshUntil), now), fr.c.opts.LeaseTTL)
	claimed, swapped, err := fr.c.be.swap(ctx, fr.full, f.h, f.e.with(m), physical)
	if err != nil {
		fr.c.count(ctx, fr.st, err, "claim", fr.full)
		return hold[T]{}, false
	}
	return hold[T]{held: claimed, claim: true, prior: f.e}, swapped
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

// fill writes a loaded entry if the key still holds what the load holds,
// and counts the outcome: a set, a fill rejected (an invalidation or a Set
// came first, or the lease expired), or a write skipped (no lease, or the
// store failed). filled reports the set: proof that no invalidation of the
// key came between the lease and the fill. A value the codec cannot encode
// is counted as an error and logged, and the key given up, so that the
// next reader loads at once rather than wait out the lease.
func (fr *flightRun[T]) fill(ctx context.Context, e *entry[T]) (filled bool) {
	if fr.h.held.zero() {
		fr.st.writesSkipped.Add(1)
		return false
	}
	now := fr.c.nowMs()
	if fr.h.buried {
		// The tombstone this fill replaces would have lived up to a lease's
		// life: the entry keeps the key as long (past its time, it is
		// stale, which only fail-safe serves), so that a warm-up of rows
		// read before the invalidation still finds the key taken.
		e.staleUntil = max(e.staleUntil, now+fr.c.opts.LeaseTTL.Milliseconds())
	}
	physical := untilMs(max(e.staleUntil, e.freshUntil), now)
	_, swapped, err := fr.c.be.swap(ctx, fr.full, fr.h.held, e, physical)
	switch {
	case errors.Is(err, errEncode):
		fr.st.errors.Add(1)
		fr.c.opts.Logger.Warn("aside: a loaded value does not encode: returned, not cached", "key", fr.full, "err", err)
		fr.release(ctx)
	case err != nil:
		fr.c.count(ctx, fr.st, err, "fill", fr.full)
		fr.st.writesSkipped.Add(1)
	case swapped:
		fr.st.sets.Add(1)
	default:
		fr.st.fillsRejected.Add(1)
	}
	return err == nil && swapped
}

// throttle is fail-safe's second half: after a failed load, the entry the
// load claimed is written back unclaimed and fresh for the throttle period
// (never past its physical expiry), so that readers are served it without
// calling the loader again until then. A failed refresh only postpones
// the next refresh by the throttle period.
//
// It returns when the write-back was sent if it landed: proof that no
// invalidation voided the claim before then. Zero when it did not land,
// which proves nothing for later callers (an invalidation may have voided
// the claim at any time since it was taken).
func (fr *flightRun[T]) throttle(ctx context.Context, now int64) (vouched time.Time) {
	h := fr.h
	if !h.claim {
		fr.release(ctx)
		return time.Time{}
	}
	m := h.prior.meta
	m.claimUntil = 0
	if fr.refresh {
		m.refreshAfter = now + fr.p.throttle.Milliseconds()
	} else {
		m.freshUntil = min(now+fr.p.throttle.Milliseconds(), m.staleUntil)
		m.refreshAfter = 0
	}
	sent := time.Now()
	_, swapped, err := fr.c.be.swap(ctx, fr.full, h.held, h.prior.with(m), untilMs(max(m.staleUntil, m.freshUntil), now))
	if err != nil {
		fr.c.count(ctx, fr.st, err, "throttle", fr.full)
	}
	if !swapped {
		return time.Time{}
	}
	return sent
}

// release gives up what a failed load held, if it still holds, so that the
// next reader can take the key at once instead of when the lease expires:
// a lease is deleted; a claim is taken back off the entry.
func (fr *flightRun[T]) release(ctx context.Context) {
	h := fr.h
	var err error
	switch {
	case h.held.zero():
	case h.buried:
		err = fr.c.be.bury(ctx, fr.full, h.held)
	case h.claim:
		m := h.prior.meta
		m.claimUntil = 0
		_, _, err = fr.c.be.swap(ctx, fr.full, h.held, h.prior.with(m), untilMs(max(m.staleUntil, m.freshUntil), fr.c.nowMs()))
	default:
		err = fr.c.be.drop(ctx, fr.full, h.held)
	}
	if err != nil {
		fr.c.count(ctx, fr.st, err, "release", fr.full)
	}
}

// vouch answers, for fail-safe's answer given while the load still runs
// (the soft timeout), which callers it is good for: those begun before a
// read that finds the key still under the load's claim, or, when an
// invalidation voided the claim, those begun before the claim was taken.
func (fr *flightRun[T]) vouch(ctx context.Context) time.Time {
	at := time.Now()
	if h, err := fr.c.far.find(ctx, fr.full); err == nil && h.same(fr.h.held) { // the store's, not the near cache's
		return at
	}
	return fr.h.at
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
