package aside

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// remoteBackend keeps entries in a Store of bytes (Redis): each entry is
// an envelope (entry.go), and a compare-and-set compares bytes. Every
// call goes through do: the circuit breaker first, then the replay of any
// invalidation the store did not take, then the call, bounded by
// OpTimeout. A Redis hit whose bytes are those last read for its key
// reuses their decoding (memo).
type remoteBackend struct {
	store     Store
	codec     Codec
	breaker   *breaker
	timer     *opTimer    // bounds each call by OpTimeout
	memo      *decodeMemo // nil: none
	pending   pending     // invalidations the store did not take, to replay
	rewinds   rewinds     // whether the store's data went back in time (rewind.go)
	answering atomic.Bool // the store took the last call made past the breaker
	scopeOf   func(full string) *scope
	log       *slog.Logger
	keyPrefix string
	leaseTTL  time.Duration    // the longest a hold lasts; how long tombstones live
	holder    time.Duration    // a hold's life unless renewed (HolderTimeout)
	now       func() time.Time // the cache's clock: a lease's deadline is by it

	closing context.Context // done once Close begins: stops the replay loop
	loops   sync.WaitGroup  // the replay loop
}

func newRemoteBackend(store Store, opts Options, closing context.Context) (*remoteBackend, error) {
	b := &remoteBackend{
		store: store, codec: opts.Codec, log: opts.Logger, keyPrefix: opts.KeyPrefix, leaseTTL: opts.LeaseTTL, holder: opts.HolderTimeout, now: opts.Now,
		breaker: newBreaker(opts.Breaker, opts.Logger), timer: newOpTimer(opts.OpTimeout), closing: closing,
	}
	b.pending.init(opts.MaxPendingInvalidations)
	b.answering.Store(true)
	if opts.DecodeMemoBytes > 0 {
		var err error
		if b.memo, err = newDecodeMemo(opts.DecodeMemoBytes); err != nil {
			return nil, err
		}
	}
	b.loops.Add(1)
	go b.replayLoop()
	b.watchLineage(store, opts)
	return b, nil
}

// do runs one store call under the breaker, bounded by OpTimeout. A
// caller already gone makes no call.
func (b *remoteBackend) do(ctx context.Context, op func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	call, err := b.breaker.allow()
	if err != nil {
		return err
	}
	if call.probe {
		return b.probe(ctx, call)
	}
	n, err := b.beforeUse(ctx)
	if err == nil {
		if err = op(b.timer.bound(ctx)); err != nil && ctx.Err() == nil {
			b.suspect()
		}
		err = b.trusted(ctx, n, err)
	}
	call.report(ctx, err)
	return err
}

// beforeUse is what every store call waits for: the check of the store's
// data after a new connection (rewind.go), then the replay of what is
// pending (replay.go). It returns the store's connection count, for
// trusted.
func (b *remoteBackend) beforeUse(ctx context.Context) (uint64, error) {
	n, err := b.trust(ctx)
	if err == nil {
		err = b.replayBeforeUse(ctx)
	}
	return n, err
}

// probeKey is the key the breaker's probe reads (under the prefix); it
// never holds anything.
const probeKey = "\x00probe"

// probe makes the half-open breaker's probe in place of a caller's call:
// the pending invalidations' replay, or a read of a key that holds
// nothing. Whatever the outcome, the caller's call is not made: a read
// answers from the loader; a write is skipped, an invalidation kept.
func (b *remoteBackend) probe(ctx context.Context, call call) error {
	n, err := b.beforeUse(ctx)
	if err == nil {
		_, _, err = b.store.TTL(b.timer.bound(ctx), b.keyPrefix+probeKey)
		err = b.trusted(ctx, n, err)
	}
	call.report(ctx, err)
	return fmt.Errorf("%w: circuit breaker half-open, probing", ErrUnavailable)
}

// find is do for the read on the hit path, written out so that a hit
// allocates no closure.
func (b *remoteBackend) find(ctx context.Context, full string) (held, error) {
	if err := ctx.Err(); err != nil {
		return held{}, err
	}
	call, err := b.breaker.allow()
	if err != nil {
		return held{}, err
	}
	if call.probe {
		return held{}, b.probe(ctx, call)
	}
	n, err := b.beforeUse(ctx)
	if err != nil {
		call.report(ctx, err)
		return held{}, err
	}
	data, found, err := b.store.Get(b.timer.bound(ctx), full)
	if err != nil && ctx.Err() == nil {
		b.suspect()
	}
	err = b.trusted(ctx, n, err)
	call.report(ctx, err)
	if err != nil || !found {
		return held{}, err
	}
	h := held{holds: holdsOf(data), data: data}
	if h.holds == holdsEntry {
		h.value = b.memo.get(full, data)
	}
	return h, nil
}

// findMany is find of many keys in one store call: one MGET (per slot
// on a cluster) when the store is a MultiGetter.
func (b *remoteBackend) findMany(ctx context.Context, fulls []string) ([]held, error) {
	var values [][]byte
	err := b.do(ctx, func(ctx context.Context) (err error) {
		values, err = getMulti(ctx, b.store, fulls)
		return err
	})
	if err != nil {
		return nil, err
	}
	hs := make([]held, len(fulls))
	for i, data := range values {
		if data == nil {
			continue
		}
		hs[i] = held{holds: holdsOf(data), data: data}
		if hs[i].holds == holdsEntry {
			hs[i].value = b.memo.get(fulls[i], data)
		}
	}
	return hs, nil
}

// getMulti reads keys through the store's GetMulti, or a Get per key,
// concurrently, for a store that has none.
func getMulti(ctx context.Context, store Store, keys []string) ([][]byte, error) {
	if mg, ok := store.(MultiGetter); ok {
		values, err := mg.GetMulti(ctx, keys)
		if err == nil && len(values) != len(keys) {
			err = fmt.Errorf("aside: %T.GetMulti returned %d values for %d keys", store, len(values), len(keys))
		}
		return values, err
	}
	values := make([][]byte, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { values[i], _, errs[i] = store.Get(ctx, k) })
	}
	wg.Wait()
	return values, errors.Join(errs...)
}

func (b *remoteBackend) remember(full string, h held, e any) { b.memo.put(full, h.data, e) }

func (b *remoteBackend) reweigh(string, held) {}

func (b *remoteBackend) lease(ctx context.Context, full string, over held) (mine, cur held, took bool, err error) {
	if !over.zero() {
		lease, ttl := b.leaseOver(over)
		err = b.do(ctx, func(ctx context.Context) (err error) {
			took, err = b.store.CompareAndSet(ctx, full, over.data, lease, ttl)
			return err
		})
		if err != nil || took {
			return held{holds: holdsLease, data: lease}, held{}, took, err
		}
		cur, err = b.find(ctx, full)
		return held{}, cur, false, err
	}
	lease := newLease()
	var data []byte
	var present bool
	err = b.do(ctx, func(ctx context.Context) (err error) {
		data, present, err = b.store.AddOrGet(ctx, full, lease, b.holder)
		return err
	})
	if err != nil || !present {
		return held{holds: holdsLease, data: lease}, held{}, err == nil, err
	}
	return held{}, held{holds: holdsOf(data), data: data}, false, nil
}

// leaseOver is the lease to take over what a key holds, and its life. A
// lease lives a hold life unless its holder renews it (renew.go), but one
// over a tombstone, or over such a lease whose holder is gone, keeps the
// tombstone's life in the store, so that a holder that dies leaves no
// empty key for a warm-up of rows read before the invalidation: readers
// judge its holder gone by the deadline it carries.
func (b *remoteBackend) leaseOver(over held) ([]byte, time.Duration) {
	now := unixMs(b.now())
	m := meta{claimUntil: now + b.holder.Milliseconds()}
	switch old, _, buried := buriedLease(over.data); {
	case over.holds == holdsTombstone:
		m.staleUntil = now + b.leaseTTL.Milliseconds()
	case buried:
		m.staleUntil = old.staleUntil
	default:
		return newLease(), b.holder
	}
	return newLeaseWith(m, rand.Uint64()), max(untilMs(m.staleUntil, now), b.holder)
}

// renew rewrites the lease as it is for another hold life; a lease over a
// tombstone with its deadline moved on, for the rest of the tombstone's.
func (b *remoteBackend) renew(ctx context.Context, full string, h held) (now held, renewed bool, err error) {
	next, ttl := h.data, b.holder
	if m, token, buried := buriedLease(h.data); buried {
		at := unixMs(b.now())
		m.claimUntil = at + b.holder.Milliseconds()
		next, ttl = newLeaseWith(m, token), max(untilMs(m.staleUntil, at), b.holder)
	}
	err = b.do(ctx, func(ctx context.Context) (err error) {
		renewed, err = b.store.CompareAndSet(ctx, full, h.data, next, ttl)
		return err
	})
	return held{holds: holdsLease, data: next}, renewed, err
}

func (b *remoteBackend) holdLife() (time.Duration, bool) { return b.holder, b.holder < b.leaseTTL }

func (b *remoteBackend) swap(ctx context.Context, full string, old held, e storable, ttl time.Duration) (held, bool, error) {
	data, err := e.encode(b.codec)
	if err != nil {
		return held{}, false, fmt.Errorf("%w: %w", errEncode, err)
	}
	var swapped bool
	err = b.do(ctx, func(ctx context.Context) (err error) {
		swapped, err = b.store.CompareAndSet(ctx, full, old.data, data, ttl)
		return err
	})
	return held{holds: holdsEntry, data: data}, swapped, err
}

func (b *remoteBackend) drop(ctx context.Context, full string, old held) error {
	return b.do(ctx, func(ctx context.Context) error {
		_, err := b.store.CompareAndDelete(ctx, full, old.data)
		return err
	})
}

func (b *remoteBackend) bury(ctx context.Context, full string, old held) error {
	return b.do(ctx, func(ctx context.Context) error {
		_, err := b.store.CompareAndSet(ctx, full, old.data, tombstone, b.leaseTTL)
		return err
	})
}

func (b *remoteBackend) set(ctx context.Context, full string, e storable, ttl time.Duration) error {
	data, err := e.encode(b.codec)
	if err != nil {
		return fmt.Errorf("%w: %w", errEncode, err)
	}
	// A rewind would bring back what this replaces: remembered as an
	// invalidation is.
	b.rewinds.journal.keys(b.scopeOf(full), []string{full}, time.Now())
	return b.do(ctx, func(ctx context.Context) error { return b.store.Set(ctx, full, data, ttl) })
}

// add encodes the items and writes them in one call; an item that does
// not encode is left out, its error returned in unencoded.
func (b *remoteBackend) add(ctx context.Context, items []addItem) (added int, unencoded []error, err error) {
	batch := make([]Item, 0, len(items))
	for _, it := range items {
		data, err := it.e.encode(b.codec)
		if err != nil {
			unencoded = append(unencoded, fmt.Errorf("%w: %q: %w", errEncode, it.full, err))
			continue
		}
		batch = append(batch, Item{Key: it.full, Value: data, TTL: it.ttl})
	}
	if len(batch) == 0 {
		return 0, unencoded, nil
	}
	err = b.do(ctx, func(ctx context.Context) (err error) {
		added, err = b.store.AddMany(ctx, batch)
		return err
	})
	return added, unencoded, err
}

func (b *remoteBackend) invalidate(ctx context.Context, batch []scopedKeys) ([]int, error) {
	var items []Item
	now := time.Now()
	for i := range batch {
		b.rewinds.journal.keys(&batch[i].sc, batch[i].keys, now)
		for _, k := range batch[i].keys {
			items = append(items, Item{Key: k, Value: tombstone, TTL: b.leaseTTL})
		}
	}
	var prior [][]byte
	err := b.do(ctx, func(ctx context.Context) (err error) {
		prior, err = b.store.Replace(ctx, items)
		return err
	})
	if err != nil && b.mayTryAnyway(ctx, err) {
		prior, err = b.tryAnyway(ctx, items, err)
	}
	if err != nil {
		for _, g := range batch {
			b.pending.add(b, g.sc, g.keys)
		}
		return nil, fmt.Errorf("%w: %d keys (%q, ...): %v", ErrDeferred, len(items), items[0].Key, err)
	}
	entries := make([]int, len(batch))
	for i, g := range batch {
		entries[i] = countEntries(prior[:len(g.keys)])
		prior = prior[len(g.keys):]
	}
	return entries, nil
}

// mayTryAnyway reports whether an invalidation the backend refused with
// err is to be sent to the store all the same. A tombstone is always safe
// to write, and one deferred leaves other processes reading the entry
// until the replay; so an invalidation kept away by this process's caution
// (a quarantine, a walk, the hold after a probe, an open breaker on a
// store that answered the last call made past it) is tried. An open
// breaker on a store that failed it is not: every write would wait out
// OpTimeout on a store that is down.
func (b *remoteBackend) mayTryAnyway(ctx context.Context, err error) bool {
	return errors.Is(err, ErrUnavailable) && ctx.Err() == nil && b.answering.Load()
}

// tryAnyway writes the tombstones past the breaker, and returns the
// refusal (with the store's error) if the store fails them too.
func (b *remoteBackend) tryAnyway(ctx context.Context, items []Item, refusal error) ([][]byte, error) {
	prior, err := b.replace(ctx, items)
	b.answered(ctx, err)
	if err != nil {
		return nil, fmt.Errorf("%w (tried anyway: %w)", refusal, err)
	}
	return prior, nil
}

// replace writes items past the breaker and the quarantine, on data whose
// epoch is known (checkedForWrite), bounded by OpTimeout.
func (b *remoteBackend) replace(ctx context.Context, items []Item) ([][]byte, error) {
	n, err := b.checkedForWrite(ctx)
	if err != nil {
		return nil, err
	}
	prior, err := b.store.Replace(b.timer.bound(ctx), items)
	return prior, b.trusted(ctx, n, err)
}

// answered notes the outcome of a call made past the breaker (a replay,
// an invalidation tried anyway); one the caller cut short tells nothing.
func (b *remoteBackend) answered(ctx context.Context, err error) {
	if ctx.Err() == nil {
		b.answering.Store(err == nil)
	}
}

// countEntries counts what were entries among the prior values (or their
// heads) of keys: values and negative entries, not leases, tombstones or
// groups' tokens.
func countEntries(prior [][]byte) (n int) {
	for _, p := range prior {
		if p != nil && holdsOf(p) == holdsEntry && !isGroup(p) {
			n++
		}
	}
	return n
}

func (b *remoteBackend) scan(ctx context.Context, cursor, pattern string) (keys []string, next string, err error) {
	err = b.do(ctx, func(ctx context.Context) (err error) {
		keys, next, err = b.store.Scan(ctx, cursor, pattern, scanCount)
		return err
	})
	return keys, next, err
}

func (b *remoteBackend) remove(ctx context.Context, keys []string) (entries int, err error) {
	err = b.do(ctx, func(ctx context.Context) error {
		prior, err := b.store.Delete(ctx, kindOffset+1, keys...)
		entries = countEntries(prior)
		return err
	})
	return entries, err
}

func (b *remoteBackend) noteWalk(sc *scope, pattern string) {
	b.rewinds.journal.pattern(sc, pattern, time.Now())
}

func (b *remoteBackend) walked(string) {}

func (b *remoteBackend) keepPattern(st *counters, pattern string) bool {
	b.pending.addPattern(st, pattern)
	return true
}

func (b *remoteBackend) ttl(ctx context.Context, full string) (left time.Duration, isEntry bool, err error) {
	err = b.do(ctx, func(ctx context.Context) error {
		data, found, err := b.store.Get(ctx, full)
		if err != nil || !found || holdsOf(data) != holdsEntry {
			return err
		}
		left, isEntry, err = b.store.TTL(ctx, full)
		return err
	})
	return left, isEntry, err
}

func (b *remoteBackend) report(s *Stats) {
	s.Breaker, s.BreakerTrips = b.breaker.state(), b.breaker.trips.Load()
	s.PendingInvalidations = int(b.pending.size.Load())
	s.Rewinds = b.rewinds.found.Load()
	s.RememberedInvalidations = b.rewinds.journal.size()
}

// ping asks the store directly, past the breaker (a readiness probe
// wants the store's state, not the breaker's), bounded by OpTimeout.
func (b *remoteBackend) ping(ctx context.Context) error {
	ctx = b.timer.bound(ctx)
	var err error
	if p, ok := b.store.(Pinger); ok {
		err = p.Ping(ctx)
	} else {
		_, _, err = b.store.Get(ctx, b.keyPrefix+probeKey)
	}
	return unavailable(err)
}

func (b *remoteBackend) close() error {
	b.loops.Wait()
	if n := b.pending.size.Load(); n > 0 {
		b.log.Warn("aside: closed with invalidations the store never took", "pending", n)
	}
	return b.store.Close()
}

// direct is the remote store without the breaker: the replay's way, which
// is itself a probe.
type direct struct{ b *remoteBackend }

func (d direct) scan(ctx context.Context, cursor, pattern string) ([]string, string, error) {
	return d.b.store.Scan(d.b.timer.bound(ctx), cursor, pattern, scanCount)
}

func (d direct) remove(ctx context.Context, keys []string) (int, error) {
	n, err := d.b.checkedForWrite(ctx)
	if err != nil {
		return 0, err
	}
	prior, err := d.b.store.Delete(d.b.timer.bound(ctx), kindOffset+1, keys...)
	return countEntries(prior), d.b.trusted(ctx, n, err)
}
