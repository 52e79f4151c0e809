package aside

import (
	"context"
	"time"

	"github.com/aside-cache/aside/internal/valuestore"
)

// localBackend keeps entries in an in-process store as values: an entry
// is the *entry[T] itself, so a hit costs no decoding, and a
// compare-and-set compares pointers. Leases and tombstones are
// valuestore.Markers, which the store never evicts for room. Nothing here
// can fail but a closed store.
type localBackend struct {
	store    Store            // for Scan, TTL and Close
	values   valuestore.Store // the same store's value face
	leaseTTL time.Duration    // how long markers live
}

// localTombstone is the tombstone of every key: all are one pointer, so
// that a loader can lease any of them by compare-and-set.
var localTombstone = &valuestore.Marker{}

func (b *localBackend) find(_ context.Context, full string) (held, error) {
	v, ok := b.values.GetValue(full)
	if !ok {
		return held{}, nil
	}
	return b.classify(v), nil
}

func (b *localBackend) findMany(ctx context.Context, fulls []string) ([]held, error) {
	hs := make([]held, len(fulls))
	for i, full := range fulls {
		hs[i], _ = b.find(ctx, full)
	}
	return hs, nil
}

// classify says what a value the store holds is.
func (b *localBackend) classify(v any) held {
	h := held{holds: holdsEntry, value: v}
	switch x := v.(type) {
	case *valuestore.Marker:
		h.holds = holdsLease
		if x == localTombstone {
			h.holds = holdsTombstone
		}
	case []byte: // written through the byte API
		h.data, h.holds = x, holdsOf(x)
	}
	return h
}

func (b *localBackend) remember(string, held, any) {}

func (b *localBackend) lease(_ context.Context, full string, over held) (held, held, bool, error) {
	mine := &valuestore.Marker{}
	if !over.zero() {
		if b.values.CompareAndSetValue(full, over.value, mine, b.leaseTTL) {
			return held{holds: holdsLease, value: mine}, held{}, true, nil
		}
		cur, _ := b.find(context.Background(), full)
		return held{}, cur, false, nil
	}
	cur, present := b.values.AddOrGetValue(full, mine, b.leaseTTL)
	if !present {
		return held{holds: holdsLease, value: mine}, held{}, true, nil
	}
	return held{}, b.classify(cur), false, nil
}

func (b *localBackend) noteWalk(*scope, string) {}

func (b *localBackend) walked(string) {}

func (b *localBackend) renew(_ context.Context, _ string, h held) (held, bool, error) {
	return h, true, nil
}

func (b *localBackend) holdLife() (time.Duration, bool) { return b.leaseTTL, false }

func (b *localBackend) swap(_ context.Context, full string, old held, e storable, ttl time.Duration) (held, bool, error) {
	e.weigh()
	return held{holds: holdsEntry, value: e}, b.values.CompareAndSetValue(full, old.value, e, ttl), nil
}

func (b *localBackend) drop(_ context.Context, full string, old held) error {
	b.values.CompareAndDeleteValue(full, old.value)
	return nil
}

func (b *localBackend) bury(_ context.Context, full string, old held) error {
	b.values.CompareAndSetValue(full, old.value, localTombstone, b.leaseTTL)
	return nil
}

func (b *localBackend) set(_ context.Context, full string, e storable, ttl time.Duration) error {
	e.weigh()
	b.values.SetValue(full, e, ttl)
	return nil
}

// reweigh writes the entry back in place, with the time it has left, for
// the store to weigh it again.
func (b *localBackend) reweigh(full string, h held) {
	if left, found, err := b.store.TTL(context.Background(), full); err == nil && found && left > 0 {
		b.values.CompareAndSetValue(full, h.value, h.value, left)
	}
}

func (b *localBackend) add(_ context.Context, items []addItem) (added int, unencoded []error, err error) {
	for _, it := range items {
		if b.values.Invalidated(it.full) {
			continue // its tombstone may be gone (see valuestore.Store.Invalidated)
		}
		it.e.weigh()
		if _, present := b.values.AddOrGetValue(it.full, it.e, it.ttl); !present {
			added++
		}
	}
	return added, nil, nil
}

func (b *localBackend) invalidate(_ context.Context, batch []scopedKeys) (entries []int, err error) {
	entries = make([]int, len(batch))
	for i, g := range batch {
		for _, k := range g.keys {
			b.values.MarkInvalidated(k, b.leaseTTL)
			if prior, ok := b.values.ReplaceValue(k, localTombstone, b.leaseTTL); ok && b.isEntry(prior) {
				entries[i]++
			}
		}
	}
	return entries, nil
}

func (b *localBackend) scan(ctx context.Context, cursor, pattern string) ([]string, string, error) {
	return b.store.Scan(ctx, cursor, pattern, scanCount)
}

func (b *localBackend) remove(_ context.Context, keys []string) (entries int, err error) {
	for _, k := range keys {
		if prior, ok := b.values.DeleteValue(k); ok && b.isEntry(prior) {
			entries++
		}
	}
	return entries, nil
}

// isEntry reports whether a value the store held was an entry, not a
// marker or a group's token.
func (b *localBackend) isEntry(v any) bool {
	switch x := v.(type) {
	case []byte:
		return holdsOf(x) == holdsEntry && !isGroup(x)
	case *valuestore.Marker:
		return false
	case *entry[uint64]:
		return x.kind != kindGroup
	}
	return true
}

func (b *localBackend) keepPattern(*counters, string) bool { return false }

func (b *localBackend) ttl(ctx context.Context, full string) (time.Duration, bool, error) {
	v, ok := b.values.GetValue(full)
	if !ok || !b.isEntry(v) {
		return 0, false, nil
	}
	left, found, err := b.store.TTL(ctx, full)
	return left, found, err
}

func (b *localBackend) report(s *Stats) { s.Breaker = BreakerNone }

func (b *localBackend) ping(context.Context) error { return nil }

func (b *localBackend) close() error { return b.store.Close() }
