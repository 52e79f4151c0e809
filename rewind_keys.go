package aside

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// The rewind defence (rewind.go) keeps two keys of its own in the store,
// under the cache's prefix; pattern deletes and Clear leave them alone.
//
// epochMark holds a random token. A flush of the cache's database
// (FLUSHALL, FLUSHDB, a SWAPDB) takes it with everything else, and the
// epoch check, which reads it with the store's epoch, finds it gone: a
// flush is found whatever the server's statistics say (a CONFIG RESETSTAT
// resets the flush counts), and a flush of another database is not taken
// for one of this.
//
// rewindHold holds a time (Unix ms). A process that found a rewind keeps
// it at least rewindHoldAhead in the future while it makes its journal's
// invalidations again, however long that takes (a journal of 100,000 keys,
// a pattern delete's walk); a process that found a rewind lifts its
// quarantine only once that time has passed. So no process reads the
// store's older data before every process that found the rewind made its
// invalidations hold again. Clocks that differ between processes shift the
// hold by the difference.
const (
	epochMarkKey    = "\x00epoch"
	rewindHoldKey   = "\x00rewinding"
	epochMarkLife   = 30 * 24 * time.Hour // renewed at every check
	rewindHoldAhead = time.Second
	rewindHoldLife  = 10 * time.Second
	rewindBusyCheck = 100 * time.Millisecond // the loop's pace while a rewind is being dealt with
)

// reservedKey reports whether full is one of the defence's keys, which
// pattern deletes must leave alone (a Clear would read as a flush).
func reservedKey(full string) bool {
	return strings.HasSuffix(full, epochMarkKey) || strings.HasSuffix(full, rewindHoldKey)
}

// epochNow is the store's epoch with the cache's mark in it, "" when the
// store cannot tell.
func (b *remoteBackend) epochNow(ctx context.Context) (string, error) {
	epoch, err := b.rewinds.lineage.Epoch(ctx)
	if err != nil || epoch == "" {
		return epoch, err
	}
	return epoch + " mark " + b.epochMark(ctx), nil
}

// epochMark returns the mark's token, writing one when the key holds none,
// and renews the mark's life. A mark that cannot be read or written (a
// replica refuses writes) is "?": the epoch then still says what the
// store's part of it says.
func (b *remoteBackend) epochMark(ctx context.Context) string {
	full := b.keyPrefix + epochMarkKey
	cur, found, err := b.store.Get(ctx, full)
	if err != nil {
		return "?"
	}
	if token, _, ok := groupToken(held{data: cur}); found && ok {
		b.store.CompareAndSet(ctx, full, cur, cur, epochMarkLife) // renewed; a replica refuses, harmlessly
		return strconv.FormatUint(token, 16)
	}
	mine := newGroupEntry(rand.Uint64(), time.Now(), epochMarkLife, 0)
	data, _ := mine.encode(b.codec)
	if found { // not a mark: replaced, and read as a flush
		_, err = b.store.Replace(ctx, []Item{{Key: full, Value: data, TTL: epochMarkLife}})
	} else if cur, found, err = b.store.AddOrGet(ctx, full, data, epochMarkLife); found {
		if token, _, ok := groupToken(held{data: cur}); ok && err == nil {
			return strconv.FormatUint(token, 16) // another process's, written meanwhile
		}
	}
	if err != nil {
		return "?"
	}
	return strconv.FormatUint(mine.value, 16)
}

// tendRewind is the loop's part after a rewind: while this process makes
// its journal hold again, it keeps the hold ahead; once its quarantine
// time has passed, it lifts the quarantine if the hold has passed too.
func (b *remoteBackend) tendRewind(ctx context.Context) {
	w := &b.rewinds
	if w.replaying.Load() {
		if b.pending.size.Load() == 0 {
			w.replaying.Store(false)
		} else if err := b.keepHold(b.timer.bound(ctx)); err != nil {
			b.log.Debug("aside: the rewind's hold could not be kept", "err", err)
		}
	}
	if !w.held.Load() || mono() < w.quarantined.Load() {
		return
	}
	// A store that refuses writes (a replica the address now reaches: a
	// demoted master, an endpoint moved before its promotion) serves data
	// whose invalidations nobody can make again: it stays out of use until
	// it takes writes.
	err := b.store.Set(b.timer.bound(ctx), b.keyPrefix+probeKey, tombstone, time.Millisecond)
	if err != nil {
		return // still held: reads answer from their loaders
	}
	until, err := b.readHold(b.timer.bound(ctx))
	if err != nil {
		return
	}
	if left := time.Until(time.UnixMilli(until)); left > 0 {
		w.quarantined.Store(mono() + int64(min(left, rewindHoldAhead)))
		return
	}
	w.held.Store(false)
}

// keepHold moves the hold to rewindHoldAhead from now, unless it is
// further already.
func (b *remoteBackend) keepHold(ctx context.Context) error {
	full := b.keyPrefix + rewindHoldKey
	until := uint64(time.Now().Add(rewindHoldAhead).UnixMilli())
	mine, _ := newGroupEntry(until, time.Now(), rewindHoldLife, 0).encode(b.codec)
	for range 3 {
		cur, present, err := b.store.AddOrGet(ctx, full, mine, rewindHoldLife)
		if err != nil || !present {
			return err
		}
		if t, _, ok := groupToken(held{data: cur}); ok && t >= until {
			return nil
		}
		if swapped, err := b.store.CompareAndSet(ctx, full, cur, mine, rewindHoldLife); err != nil || swapped {
			return err
		}
	}
	return nil
}

// readHold is the hold's time (Unix ms), 0 when there is none.
func (b *remoteBackend) readHold(ctx context.Context) (int64, error) {
	data, found, err := b.store.Get(ctx, b.keyPrefix+rewindHoldKey)
	if err != nil || !found {
		return 0, err
	}
	until, _, _ := groupToken(held{data: data})
	return int64(until), nil
}
