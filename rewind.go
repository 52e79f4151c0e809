package aside

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Redis can go back in time: restarted from a snapshot (RDB, or an AOF
// that lost its last second), replaced by a replica that had not received
// the last writes (a Sentinel or Cluster failover, a managed endpoint
// moved), or flushed. Entries whose invalidation Redis had taken come
// back, and would be served until their TTL. A remote backend whose store
// is a Lineage watches for it:
//
//   - Every store call begins by comparing the store's count of
//     connections with the count last checked. A new connection may reach
//     other data: before the call goes on, the store's epoch (run id,
//     replication id and flushes of every master) is read, and compared
//     with the last one seen. A call during which the count moved (rueidis
//     may have retried it on a new connection) is checked again once it
//     returns, and treated as failed if the epoch changed: nothing it read
//     is trusted, nothing it wrote counted on.
//   - A loop reads the epoch every rewindCheck, for what no reconnection
//     shows (a flush, a failover behind a connection that stayed up), and
//     at once on a sign of one: a store call that failed (a write to a
//     demoted master), a near cache told that everything changed (a
//     demoted master loading the new master's data pushes that).
//
// An epoch that changed is a rewind: the near cache is dropped, every
// invalidation the journal remembers (journal.go) is made again through
// the replay (replay.go), and for the quarantine every store call is
// refused (reads answer from the loader), so that other processes, which
// find out within rewindCheck, make theirs again before this one reads.
type rewinds struct {
	lineage    Lineage  // nil: the store cannot tell, and nothing is watched
	journal    *journal // what to make again
	quarantine time.Duration
	onRewind   atomic.Pointer[func()] // the near cache's drop

	checked     atomic.Uint64 // the store's Connections() as of the last epoch check
	quarantined atomic.Int64  // mono: until when calls are kept off the store
	found       atomic.Uint64 // rewinds found
	replaying   atomic.Bool   // since a rewind, the journal is being made again: the hold is kept ahead (rewind_keys.go)
	held        atomic.Bool   // the quarantine lasts until the hold has passed too

	kick     chan struct{} // a sign of a rewind (a store error, a flush pushed) wakes the loop
	checking chan struct{} // a token: one epoch check at a time
	epoch    string        // the last epoch seen; the token's holder's
	blind    atomic.Bool   // the store said it cannot tell (logged once)
}

// rewindCheck is how often the epoch is read when no reconnection asks
// for it: a rewind no reconnection shows is found within it.
const rewindCheck = 500 * time.Millisecond

var (
	// errQuarantined refuses a store call during a rewind's quarantine.
	// Like an open breaker's refusal, it sends a read to its loader, and is
	// not the store's failure.
	errQuarantined = fmt.Errorf("%w: the store's data may have gone back in time: its invalidations are being made again", ErrUnavailable)
	// errReconnected is a call's outcome when the store opened a
	// connection during it: what it read may come from other data.
	errReconnected = fmt.Errorf("%w: the store reconnected during the call", ErrUnavailable)
	// errCheckPending is a call's failure when the epoch check it must
	// wait for did not end within its OpTimeout: the store is slow.
	errCheckPending = errors.New("aside: the store's epoch is still being checked")
)

// watchLineage starts watching store, if it is a Lineage.
func (b *remoteBackend) watchLineage(store Store, opts Options) {
	lineage, ok := store.(Lineage)
	if !ok {
		return
	}
	w := &b.rewinds
	w.lineage, w.journal, w.quarantine = lineage, newJournal(opts), opts.Recovery.Quarantine
	w.checking, w.kick = make(chan struct{}, 1), make(chan struct{}, 1)
	b.loops.Add(1)
	go b.rewindLoop()
}

// trust returns the connection count a store call begins with, once every
// connection opened so far has had its data checked; or why the call must
// not be made: a quarantine, a check that failed.
func (b *remoteBackend) trust(ctx context.Context) (uint64, error) {
	return b.checkConnections(ctx, true)
}

// checkedForWrite is trust for a write made past the breaker and the
// quarantine (a replay, an invalidation tried anyway): a write the store
// takes must be made on data whose epoch is known, or a rewind after it
// would be taken for the data it was made on, and the write never made
// again.
func (b *remoteBackend) checkedForWrite(ctx context.Context) (uint64, error) {
	return b.checkConnections(ctx, false)
}

// checkConnections is trust, the quarantine honoured or not.
func (b *remoteBackend) checkConnections(ctx context.Context, quarantine bool) (uint64, error) {
	w := &b.rewinds
	if w.lineage == nil {
		return 0, nil
	}
	for range 3 {
		if quarantine && (mono() < w.quarantined.Load() || w.held.Load()) {
			return 0, errQuarantined
		}
		n := w.lineage.Connections()
		if n == w.checked.Load() {
			return n, nil
		}
		if err := b.checkEpoch(ctx, b.timer.bound(ctx), true); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("%w: the store keeps reconnecting", ErrUnavailable)
}

// trusted is a call's outcome once it returned: err, unless the store
// opened a connection since the call began with count n (rueidis opens
// one to replace a lost one, retrying the call on it, or to spread its
// pipelines) and the data it reaches is no longer what it was: then
// errReconnected, for what the call read may come from the other data. A
// check that fails is the store's failure.
func (b *remoteBackend) trusted(ctx context.Context, n uint64, err error) error {
	w := &b.rewinds
	if err != nil || w.lineage == nil || w.lineage.Connections() == n {
		return err // a failure is no value: nothing to distrust
	}
	before := w.found.Load()
	if err := b.checkEpoch(ctx, b.timer.bound(ctx), true); err != nil {
		return err
	}
	if w.found.Load() != before {
		return errReconnected
	}
	return nil
}

// checkEpoch reads the store's epoch and compares it with the last one
// seen; with connections, it then marks every connection opened before
// the read as checked. It waits for a check already running until wait is
// done.
func (b *remoteBackend) checkEpoch(ctx, wait context.Context, connections bool) error {
	w := &b.rewinds
	select {
	case w.checking <- struct{}{}:
	case <-wait.Done():
		return errCheckPending
	}
	defer func() { <-w.checking }()
	n := w.lineage.Connections()
	if connections && n == w.checked.Load() {
		return nil // checked while this call waited
	}
	epoch, err := b.epochNow(b.timer.bound(ctx))
	if err != nil {
		return fmt.Errorf("aside: check the store's epoch: %w", err)
	}
	b.saw(epoch)
	if connections {
		w.checked.Store(n)
	}
	return nil
}

// saw notes the store's epoch: one other than the last is a rewind. The
// check's token is held.
func (b *remoteBackend) saw(epoch string) {
	w := &b.rewinds
	if epoch == "" {
		if !w.blind.Swap(true) {
			b.log.Warn("aside: the store cannot tell whether its data went back in time (a restart from a snapshot, a failover): recent invalidations will not be made again after one")
		}
		return
	}
	if w.epoch != "" && epoch != w.epoch {
		b.rewound()
	}
	w.epoch = epoch
}

// rewound makes the journal's invalidations pending again, drops the near
// cache, and begins the quarantine: the store's data may have gone back in
// time.
func (b *remoteBackend) rewound() {
	w := &b.rewinds
	w.found.Add(1)
	if w.quarantine > 0 {
		w.quarantined.Store(mono() + int64(w.quarantine))
		w.held.Store(true)
	}
	if drop := w.onRewind.Load(); drop != nil {
		(*drop)()
	}
	keys, patterns := w.journal.recall(time.Now())
	b.pending.restore(keys, patterns)
	w.replaying.Store(len(keys)+len(patterns) > 0)
	b.suspect() // the loop keeps the hold at once
	b.log.Warn("aside: the store's data may have gone back in time (a restart, a failover or a flush): making recent invalidations again",
		"keys", len(keys), "patterns", len(patterns), "quarantine", w.quarantine)
}

// suspect wakes the epoch check at once: something looked like a rewind
// (a store call failed, as writes to a demoted master do; a near cache
// was told that everything changed, as a master that loads another's data
// tells it).
func (b *remoteBackend) suspect() {
	if w := &b.rewinds; w.kick != nil {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// rewindSpacing is the least time between two epoch checks.
const rewindSpacing = 10 * time.Millisecond

// rewindLoop reads the epoch every rewindCheck, and when suspect asks,
// until Close; after a rewind, it tends the rewind's hold every
// rewindBusyCheck (rewind_keys.go).
func (b *remoteBackend) rewindLoop() {
	defer b.loops.Done()
	w := &b.rewinds
	failed := false
	for {
		wait := rewindCheck
		if failed || w.replaying.Load() || w.held.Load() {
			// A check that failed (a connection that died with a restart)
			// is made again soon: the rewind it may hide is found sooner.
			wait = rewindBusyCheck
		}
		select {
		case <-b.closing.Done():
			return
		case <-time.After(wait):
		case <-w.kick:
			select {
			case <-b.closing.Done():
				return
			case <-time.After(rewindSpacing):
			}
		}
		err := b.checkEpoch(b.closing, b.closing, false)
		if failed = err != nil; failed && b.closing.Err() == nil {
			b.log.Debug("aside: the store's epoch could not be read", "err", err)
		}
		b.tendRewind(b.closing)
	}
}
