package aside

import (
	"context"
	"time"
)

// A lease or a claim in a remote store lives a hold life (HolderTimeout,
// 1 s by default), not LeaseTTL: its holder renews it every third of that
// while its load runs, so that readers in other processes wait on a live
// holder as long as its load takes (up to LeaseTTL), and on one that is
// gone about a hold life. Gone covers three cases alike, which a liveness
// key per process (rueidisaside's) tells apart only for the first: a
// process killed mid-load; a lease Redis took from a call the client had
// given up on (a stall past OpTimeout: the process lives, and no load of
// its holds the lease); and a lease a snapshot or a lagging replica
// brought back.
//
// The renewals run on the flight's goroutine, between its waits for the
// loader, so that what the load holds (fr.h) has one owner.

// renewals is the schedule of a load's renewals: a tick every third of a
// hold life, until LeaseTTL after the hold was taken; a nil channel when
// what the load holds needs none.
type renewals struct {
	ticker *time.Ticker
	until  time.Time
	off    bool // the hold was lost, or its time is up: no more renewals
}

// renewals starts the schedule of fr's hold.
func (fr *flightRun[T]) renewals() *renewals {
	life, renewed := fr.c.be.holdLife()
	if !renewed || fr.h.held.zero() {
		return &renewals{off: true}
	}
	return &renewals{ticker: time.NewTicker(life / 3), until: time.Now().Add(fr.c.opts.LeaseTTL)}
}

// tick is the channel of the next renewal.
func (r *renewals) tick() <-chan time.Time {
	if r.off {
		return nil
	}
	return r.ticker.C
}

func (r *renewals) stop() {
	if r.ticker != nil {
		r.ticker.Stop()
	}
}

// renew gives what the load holds another hold life, if it still holds it
// and LeaseTTL has not passed since it was taken. A hold found lost (an
// invalidation voided it) is not renewed again; a renewal the store did
// not answer is tried again at the next tick.
func (fr *flightRun[T]) renew(ctx context.Context, r *renewals) {
	if time.Now().After(r.until) {
		r.off = true // the load took too long: its hold runs out, it fills nothing
		return
	}
	var still bool
	var err error
	if fr.h.claim {
		still, err = fr.renewClaim(ctx)
	} else {
		var now held
		if now, still, err = fr.c.be.renew(ctx, fr.full, fr.h.held); still {
			fr.h.held = now
		}
	}
	switch {
	case err != nil:
		fr.c.count(ctx, fr.st, err, "renew", fr.full)
	case !still:
		r.off = true
	}
}

// renewClaim rewrites the claimed entry with its claim moved on by a hold
// life, if the key still holds the claim, and holds the rewrite from then.
func (fr *flightRun[T]) renewClaim(ctx context.Context) (bool, error) {
	life, _ := fr.c.be.holdLife()
	now := fr.c.nowMs()
	m := fr.h.prior.meta
	m.claimUntil = now + life.Milliseconds()
	physical := max(untilMs(max(m.staleUntil, m.freshUntil), now), fr.c.opts.LeaseTTL)
	claimed, swapped, err := fr.c.be.swap(ctx, fr.full, fr.h.held, fr.h.prior.with(m), physical)
	if swapped {
		fr.h.held = claimed
	}
	return swapped, err
}
