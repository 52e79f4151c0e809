package aside

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// warmBatch is how many entries one round trip of a warm-up writes.
const warmBatch = 500

// Warm writes items (id, value) into the namespace ahead of demand, in
// pipelined batches of a few hundred per round trip. It never overwrites an
// entry already present, which may be fresher than the warm-up's source,
// and reports how many entries it wrote. A value that cannot be encoded is
// skipped and reported in err; an unavailable store stops the warm-up.
func (n *Namespace[T]) Warm(ctx context.Context, items iter.Seq2[string, T]) (written int, err error) {
	if n.err != nil {
		return 0, n.err
	}
	if n.c.closed.Load() {
		return 0, ErrClosed
	}
	w := warmer[T]{n: n, batch: make([]Item, 0, warmBatch)}
	for id, v := range items {
		if err := ctx.Err(); err != nil {
			return w.written, fmt.Errorf("aside: warm %s: %w", n.name, err)
		}
		if err := n.check(id); err != nil {
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
	batch   []Item
	written int
	skipped []error // items that could not be encoded
}

func (w *warmer[T]) add(ctx context.Context, id string, v T) error {
	c, full := w.n.c, w.n.c.opts.KeyPrefix+w.n.Key(id)
	now := c.now()
	e := newValueEntry(c, v, w.n.policy.meta(kindValue, now, 0))
	ttl := untilMs(e.staleUntil, unixMs(now))
	if c.local != nil {
		if _, present := c.local.AddOrGetValue(full, e, ttl); !present {
			w.n.st.sets.Add(1)
			w.written++
		}
		return nil
	}
	data, err := encodeEntry(c.opts.Codec, e)
	if err != nil {
		w.n.st.errors.Add(1)
		w.skipped = append(w.skipped, fmt.Errorf("aside: warm %s %q: %w", w.n.name, id, err))
		return nil
	}
	w.batch = append(w.batch, Item{Key: full, Value: data, TTL: ttl})
	if len(w.batch) < warmBatch {
		return nil
	}
	return w.flush(ctx)
}

func (w *warmer[T]) flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	var added int
	err := w.n.c.do(ctx, func(ctx context.Context) (err error) {
		added, err = w.n.c.store.AddMany(ctx, w.batch)
		return err
	})
	w.batch = w.batch[:0]
	w.n.st.sets.Add(uint64(added))
	w.written += added
	if err != nil {
		w.n.c.count(ctx, w.n.st, err, "warm", w.n.prefix)
		return fmt.Errorf("aside: warm %s: %w", w.n.name, err)
	}
	return nil
}
