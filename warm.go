package aside

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
)

// warmBatch is how many entries one round trip of a warm-up writes.
const warmBatch = 500

// Warm writes items (id, value) into the namespace ahead of demand, in
// pipelined batches of a few hundred per round trip. It never overwrites an
// entry already present, which may be fresher than the warm-up's source,
// nor the tombstone of a recent invalidation, and reports how many entries
// it wrote. A value that cannot be encoded is skipped and reported in err;
// an unavailable store stops the warm-up.
func (n *Namespace[T]) Warm(ctx context.Context, items iter.Seq2[string, T]) (written int, err error) {
	if n.c.closed.Load() {
		return 0, ErrClosed
	}
	w := warmer[T]{n: n, batch: make([]addItem, 0, warmBatch)}
	for id, v := range items {
		if err := ctx.Err(); err != nil {
			return w.written, fmt.Errorf("aside: warm %s: %w", n.name, err)
		}
		if err := n.check(id, false); err != nil {
			w.skipped = append(w.skipped, err)
			continue
		}
		if err := w.add(ctx, id, v); err != nil {
			return w.written, err
		}
	}
	if err := w.flush(ctx); err != nil {
		return w.written, err
	}
	return w.written, errors.Join(w.skipped...)
}

// warmer collects a warm-up's entries into batches.
type warmer[T any] struct {
	n       *Namespace[T]
	batch   []addItem
	ids     []string // of the batch's items: their groups
	written int
	skipped []error // items that could not be written
}

func (w *warmer[T]) add(ctx context.Context, id string, v T) error {
	now := w.n.c.now()
	e := newValueEntry(v, w.n.policy.meta(kindValue, now, 0))
	w.batch = append(w.batch, addItem{full: w.n.fullKey(id), e: e, ttl: untilMs(e.staleUntil, unixMs(now))})
	w.ids = append(w.ids, id)
	if len(w.batch) < warmBatch {
		return nil
	}
	return w.flush(ctx)
}

func (w *warmer[T]) flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	if err := w.stamp(ctx); err != nil {
		w.batch, w.ids = w.batch[:0], w.ids[:0]
		w.n.c.count(ctx, w.n.st, err, "warm", w.n.prefix)
		return unavailable(fmt.Errorf("aside: warm %s: %w", w.n.name, err))
	}
	added, unencoded, err := w.n.c.be.add(ctx, w.batch)
	w.ids = w.ids[:0]
	w.batch = w.batch[:0]
	w.n.st.sets.Add(uint64(added))
	w.n.st.errors.Add(uint64(len(unencoded)))
	w.written += added
	for _, e := range unencoded {
		w.skipped = append(w.skipped, fmt.Errorf("aside: warm %s: %w", w.n.name, e))
	}
	if err != nil {
		w.n.c.count(ctx, w.n.st, err, "warm", w.n.prefix)
		return unavailable(fmt.Errorf("aside: warm %s: %w", w.n.name, err))
	}
	return nil
}

// stamp stamps each entry of the batch with the tokens of its id's groups
// (group.go), and leaves out an entry one of whose groups was invalidated
// less than a lease's life ago (it holds the invalidation's tombstone, or a
// token that replaced it since): the rows of a warm-up may have been read
// before that invalidation, as a key's tombstone keeps a warm-up off the
// key.
func (w *warmer[T]) stamp(ctx context.Context) error {
	n := w.n
	if n.policy.groups == nil {
		return nil
	}
	m := &manyRead[T]{n: n, ids: w.ids, groupsOf: make([][]string, len(w.ids))}
	for i, id := range w.ids {
		m.groupsOf[i] = n.c.groupKeys(&n.policy, id)
	}
	groups := m.distinctGroups()
	be := n.c.reader(&n.policy)
	hs, err := be.findMany(ctx, groups)
	if err != nil {
		return err
	}
	unsettled := map[string]bool{}
	now := n.c.nowMs()
	for i, k := range groups {
		_, settled, isToken := groupToken(hs[i])
		if (!isToken && !hs[i].zero()) || now < settled { // a tombstone, or a token that replaced one
			unsettled[k] = true
		}
	}
	if err := m.stampAll(ctx, be, groups, hs); err != nil {
		return err
	}
	kept := w.batch[:0]
	for i, it := range w.batch {
		if slices.ContainsFunc(m.groupsOf[i], func(k string) bool { return unsettled[k] }) {
			continue
		}
		it.e.(*entry[T]).shape = m.shapes[i]
		kept = append(kept, it)
	}
	w.batch = kept
	return nil
}
