package aside

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/aside-cache/aside/internal/glob"
)

// nearBackend is a remote store (Redis) with the entries read from it kept
// in the process too, decoded: the near cache. Its find answers from
// memory while coherence lets it serve, and asks the store otherwise,
// keeping what the store held when coherence lets it keep it: a value or
// a negative entry, never a lease or a tombstone. Every write of this
// process drops its keys once the store took it, before it returns; the
// store's pushes drop the keys other processes change.
type nearBackend struct {
	*remoteBackend
	items    *otter.Cache[string, *nearItem]
	co       *coherence
	tracking Tracking
	now      func() time.Time // the cache's clock: entries' times are by it
	logged   atomic.Int64     // when unconfirmed last logged (UnixNano)

	received atomic.Uint64 // keys the store told changed
	flushes  atomic.Uint64 // times everything was dropped
	lag      lagSampler    // this process's writes: acknowledged → told back

	stop  context.CancelFunc
	loops sync.WaitGroup
}

// nearItem is an entry kept in the near cache: its bytes as the store
// held them, and the decoding a read made of them (an *entry[T]), once one
// did. An item is never changed once kept: a decoding lent later replaces
// it with a copy.
type nearItem struct {
	data  []byte
	entry any
	until int64 // the end of the entry's life (mono): not served from then
}

// nearOverhead is what an item costs beyond its key, bytes and decoding:
// otter's node and the item's header.
const nearOverhead = 120

func newNearBackend(remote *remoteBackend, tracker Tracker, opts Options) (*nearBackend, error) {
	n := &nearBackend{remoteBackend: remote, co: newCoherence(opts.NearCache.MaxLag), now: opts.Now}
	var err error
	n.items, err = otter.New(&otter.Options[string, *nearItem]{
		MaximumWeight: uint64(opts.NearCache.MaxBytes),
		Weigher: func(key string, it *nearItem) uint32 {
			w := len(key) + len(it.data) + nearOverhead
			if e, ok := it.entry.(interface{ Weight() int }); ok {
				w += e.Weight()
			}
			return uint32(min(w, 1<<31))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("aside: near cache: %w", err)
	}
	if n.tracking, err = tracker.Track(opts.KeyPrefix, n.told); err != nil {
		return nil, fmt.Errorf("aside: near cache: %w", err)
	}
	// A rewind (rewind.go) may have brought back what memory dropped, or
	// what it keeps may be gone: dropped, and once more before it serves.
	drop := func() {
		n.co.lost.Store(true)
		n.co.flush(n.dropAll)
	}
	remote.rewinds.onRewind.Store(&drop)
	ctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		n.co.confirmLoop(ctx, n.tracking, n.dropAll, n.unconfirmed)
	}()
	return n, nil
}

// find answers from memory what it may, and asks the store the rest.
func (n *nearBackend) find(ctx context.Context, full string) (held, error) {
	if now := mono(); n.co.serving(now) && n.breaker.healthy.Load() {
		if it, ok := n.items.GetIfPresent(full); ok && now < it.until {
			return held{holds: holdsEntry, data: it.data, value: it.entry, near: true}, nil
		}
	}
	m := n.co.note(full)
	h, err := n.remoteBackend.find(ctx, full)
	if err == nil && h.holds == holdsEntry {
		n.keep(full, h, m)
	}
	return h, err
}

// findMany answers from memory what it may, and asks the store the
// rest in one call.
func (n *nearBackend) findMany(ctx context.Context, fulls []string) ([]held, error) {
	hs := make([]held, len(fulls))
	rest := make([]int, 0, len(fulls))
	now := mono()
	serving := n.co.serving(now) && n.breaker.healthy.Load()
	for i, full := range fulls {
		if serving {
			if it, ok := n.items.GetIfPresent(full); ok && now < it.until {
				hs[i] = held{holds: holdsEntry, data: it.data, value: it.entry, near: true}
				continue
			}
		}
		rest = append(rest, i)
	}
	if len(rest) == 0 {
		return hs, nil
	}
	keys, marks := make([]string, len(rest)), make([]mark, len(rest))
	for j, i := range rest {
		keys[j], marks[j] = fulls[i], n.co.note(fulls[i])
	}
	far, err := n.remoteBackend.findMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	for j, i := range rest {
		hs[i] = far[j]
		if far[j].holds == holdsEntry {
			n.keep(keys[j], far[j], marks[j])
		}
	}
	return hs, nil
}

// keep keeps what a read found, its decoding if it has one, for the
// entry's life.
func (n *nearBackend) keep(full string, h held, m mark) {
	life := time.Duration(lifeMs(h.data, n.now().UnixMilli())) * time.Millisecond
	if life <= 0 {
		return
	}
	// Kept with its life, not expired by the cache: an item past it is
	// not served, and is replaced by the next read's, or evicted for room.
	it := &nearItem{data: h.data, entry: h.value, until: mono() + int64(life)}
	n.co.keepIf(m, func() { n.items.Set(full, it) })
}

// remember lends the decoding a read made to the item kept of the same
// bytes, if it is still there.
func (n *nearBackend) remember(full string, h held, e any) {
	if w, ok := e.(interface{ weigh() }); ok {
		w.weigh() // before anyone else sees e
	}
	n.remoteBackend.remember(full, h, e)
	n.items.ComputeIfPresent(full, func(it *nearItem) (*nearItem, otter.ComputeOp) {
		if it.entry != nil || !sameBytes(it.data, h.data) {
			return it, otter.CancelOp
		}
		lent := *it
		lent.entry = e
		return &lent, otter.WriteOp
	})
}

// sameBytes reports whether a and b are the same slice, not only equal:
// an item is the decoding of exactly the read that found it.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// dropAll empties the near cache (under coherence's flush).
func (n *nearBackend) dropAll() {
	n.items.InvalidateAll()
	n.flushes.Add(1)
}

// forget drops keys this process changed in the store: once the store
// took the change, before the call returns.
func (n *nearBackend) forget(keys ...string) {
	for _, k := range keys {
		n.co.changed(k, func() { n.items.Invalidate(k) })
	}
}

// walked drops from memory every key a pattern delete matches: the walk
// removed from the store only the keys it found there, and memory may
// hold others that the store lost before (a DEL, another process's
// delete) and whose push has not come. No read noted before the drop
// keeps what it found (the epoch moves).
func (n *nearBackend) walked(pattern string) {
	n.co.flush(func() {
		var matching []string
		for k := range n.items.Keys() {
			if glob.Match(pattern, k) {
				matching = append(matching, k)
			}
		}
		for _, k := range matching {
			n.items.Invalidate(k)
		}
	})
}

// told is the store's push: keys others (or this process) changed, nil
// for anything.
func (n *nearBackend) told(keys []string) {
	if keys == nil {
		n.co.lost.Store(true)
		n.co.flush(n.dropAll)
		n.suspect() // a flush, or a master that loads another's data
		return
	}
	now := time.Now()
	for _, k := range keys {
		n.co.changed(k, func() { n.items.Invalidate(k) })
		n.lag.told(k, now)
	}
	n.received.Add(uint64(len(keys)))
}

// unconfirmed logs a Confirm that failed, at most once a second.
func (n *nearBackend) unconfirmed(err error) {
	now := time.Now().UnixNano()
	if last := n.logged.Load(); now-last >= int64(time.Second) && n.logged.CompareAndSwap(last, now) {
		n.log.Warn("aside: near cache unconfirmed: reads go to the store", "err", err)
	}
}

func (n *nearBackend) lease(ctx context.Context, full string, over held) (mine, cur held, took bool, err error) {
	mine, cur, took, err = n.remoteBackend.lease(ctx, full, over)
	if took || err != nil {
		n.forget(full)
	}
	return mine, cur, took, err
}

func (n *nearBackend) swap(ctx context.Context, full string, old held, e storable, ttl time.Duration) (held, bool, error) {
	now, swapped, err := n.remoteBackend.swap(ctx, full, old, e, ttl)
	if swapped || err != nil {
		n.forget(full)
	}
	return now, swapped, err
}

func (n *nearBackend) drop(ctx context.Context, full string, old held) error {
	defer n.forget(full)
	return n.remoteBackend.drop(ctx, full, old)
}

func (n *nearBackend) bury(ctx context.Context, full string, old held) error {
	defer n.forget(full)
	return n.remoteBackend.bury(ctx, full, old)
}

func (n *nearBackend) set(ctx context.Context, full string, e storable, ttl time.Duration) error {
	defer n.forget(full)
	n.lag.wrote(full, time.Now())
	return n.remoteBackend.set(ctx, full, e, ttl)
}

func (n *nearBackend) add(ctx context.Context, items []addItem) (int, []error, error) {
	defer func() {
		for _, it := range items {
			n.forget(it.full)
		}
	}()
	return n.remoteBackend.add(ctx, items)
}

func (n *nearBackend) invalidate(ctx context.Context, batch []scopedKeys) ([]int, error) {
	defer func() {
		for _, g := range batch {
			n.forget(g.keys...)
		}
	}()
	n.lag.wrote(batch[0].keys[0], time.Now())
	return n.remoteBackend.invalidate(ctx, batch)
}

func (n *nearBackend) remove(ctx context.Context, keys []string) (int, error) {
	defer n.forget(keys...)
	return n.remoteBackend.remove(ctx, keys)
}

func (n *nearBackend) report(s *Stats) {
	n.remoteBackend.report(s)
	s.Near = &NearStats{
		Entries: n.items.EstimatedSize(), Bytes: int64(n.items.WeightedSize()),
		Serving: n.co.serving(mono()), Received: n.received.Load(), Flushes: n.flushes.Load(),
		Lag: n.lag.snapshot(),
	}
}

func (n *nearBackend) close() error {
	n.stop()
	n.loops.Wait()
	n.tracking.Close()
	n.items.InvalidateAll()
	return n.remoteBackend.close()
}

// lifeMs is what is left, in ms by now, of the life of the entry in data:
// until its physical expiry (its stale period's end, or its freshness's).
func lifeMs(data []byte, nowMs int64) int64 {
	_, m, _, err := readHeader(data)
	if err != nil {
		return 0
	}
	return max(m.staleUntil, m.freshUntil) - nowMs
}
