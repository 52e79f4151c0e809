package aside

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// MaxBatch bounds the ids of one GetMany or GetManyEncoded. A longer
// batch is refused with an error, not split: each id may cost a lease, a
// fill and a goroutine while it loads, and the caller should see that
// cost before it asks for it.
const MaxBatch = 10_000

// GetMany returns the values of ids that exist: cached ones from the cache,
// the rest from one call of load with the ids it lacks; ids that load
// leaves out are cached as not found.
//
// Each id is read as Get reads it, with one round trip for all of them:
// hits from the near cache first (when the namespace has it), then the
// rest from the store in one call (one MGET on a standalone Redis, one
// per hash slot on a cluster, pipelined). Each id that is missing is then
// leased as Get would lease it (the leases are sent together), and load is
// called once, on a context detached from the caller's and bounded by the
// namespace's LoadTimeout, with the ids this call leads; ids another
// caller or another process is loading are waited for, never loaded
// twice (an id whose other loader is gone is then loaded in a call of its
// own). Each fill is fenced like Get's: an id invalidated while its batch
// loads is not filled with what the batch read before the write.
//
// Ids may repeat; the map holds each once. An id that load leaves out of
// its map, or that is cached as not found, is absent from the answer (and
// cached as not found for the NegativeTTL). Load may return ids it was not
// asked for: they are ignored. When load fails, the ids it should have
// answered are not cached, and each is served fail-safe's stale value
// when the namespace has one (MaxStale), as for Get; the error returned
// then wraps the loader's (as a *LoadError naming the first such id), and
// the map holds every id that could be answered. Soft TTL and early
// refresh apply per id: a refresh runs load with that id alone, in the
// background.
//
// Stats count ids: a hit or a miss each, a load each (of the batch call).
// More than MaxBatch distinct ids, an empty id or a nil load is an error,
// and nothing is read.
func (n *Namespace[T]) GetMany(ctx context.Context, ids []string, load func(ctx context.Context, missing []string) (map[string]T, error)) (map[string]T, error) {
	m, err := n.many(ctx, ids, load)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(m.reads))
	m.answer(ctx, func(i int, a answer[T]) error {
		if a.err == nil {
			out[m.reads[i].id] = a.v
		}
		return a.err
	}, nil)
	return out, m.failure()
}

// GetManyEncoded is GetMany answering with each value's encoding by the
// cache's Codec, as GetEncoded does: an entry that came from the store as
// bytes is answered with its payload as it is, never decoded.
func (n *Namespace[T]) GetManyEncoded(ctx context.Context, ids []string, load func(ctx context.Context, missing []string) (map[string]T, error)) (map[string][]byte, error) {
	m, err := n.many(ctx, ids, load)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m.reads))
	codec := n.c.opts.Codec
	encodedHit := func(i int) bool {
		r, h := &m.reads[i], m.found[i]
		if e, ok := h.value.(*entry[T]); ok && e.shape == r.shape {
			b, ok, err := r.encodedAsIs(e, h) // counted when ok
			if ok && err == nil {
				out[r.id] = b
			}
			if ok {
				m.fail(err)
			}
			return ok
		}
		if h.data == nil || h.holds != holdsEntry {
			return false
		}
		payload, ok := r.freshPayload(h.data)
		if ok {
			r.counted(h)
			out[r.id] = payload
		}
		return ok
	}
	m.answer(ctx, func(i int, a answer[T]) error {
		if a.err != nil {
			return a.err
		}
		b, err := encodeValue(codec, nil, a.v)
		if err == nil {
			out[m.reads[i].id] = b
		}
		return err
	}, encodedHit)
	return out, m.failure()
}

// manyRead is one GetMany: a read per distinct id, what the lookup found
// for each, and the errors of the ids that failed.
type manyRead[T any] struct {
	n     *Namespace[T]
	load  func(ctx context.Context, missing []string) (map[string]T, error)
	reads []read[T]
	found []held
	err   error // the lookup's: every id looks as if the store failed

	mu     sync.Mutex // guards failed and first
	failed int
	first  error
}

// many validates ids and load, makes a read per distinct id, and looks
// them all up in one store call.
func (n *Namespace[T]) many(ctx context.Context, ids []string, load func(context.Context, []string) (map[string]T, error)) (*manyRead[T], error) {
	switch {
	case n.c.closed.Load():
		return nil, ErrClosed
	case load == nil:
		return nil, fmt.Errorf("aside: nil batch loader for %s", n.name)
	}
	m := &manyRead[T]{n: n, load: load, reads: make([]read[T], 0, len(ids))}
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("aside: empty %s id in a batch", n.name)
		}
		if _, dup := seen[id]; dup {
			continue
		}
		if len(seen) == MaxBatch {
			return nil, fmt.Errorf("aside: a batch of more than %d %s ids (MaxBatch): split it", MaxBatch, n.name)
		}
		seen[id] = struct{}{}
		m.reads = append(m.reads, n.read(id, m.loadOne(id)))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.lookup(ctx)
	return m, nil
}

// loadOne is an id's loader outside a batch (a background refresh): the
// batch loader called with that id alone.
func (m *manyRead[T]) loadOne(id string) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		var zero T
		values, err := m.load(ctx, []string{id})
		if err != nil {
			return zero, err
		}
		v, ok := values[id]
		if !ok {
			return zero, ErrNotFound
		}
		return v, nil
	}
}

// lookup reads every id's key in one store call, through the near cache
// when the namespace has it.
func (m *manyRead[T]) lookup(ctx context.Context) {
	fulls := make([]string, len(m.reads))
	for i := range m.reads {
		fulls[i] = m.reads[i].full
	}
	p := &m.n.policy
	if !p.near {
		m.found, m.err = m.n.c.far.findMany(ctx, fulls)
		return
	}
	m.found, m.err = m.n.c.be.findMany(ctx, fulls)
	nearMisses := len(fulls)
	for _, h := range m.found {
		if h.near {
			nearMisses--
		}
	}
	m.n.st.nearMisses.Add(uint64(nearMisses))
}

// answer gives each id's answer to put: a hit from what the lookup found
// (first through fast, when it answers), and the rest from the flights of
// their keys, whose loaders are the batch's slots.
func (m *manyRead[T]) answer(ctx context.Context, put func(i int, a answer[T]) error, fast func(i int) bool) {
	var misses []int
	var looks []look
	for i := range m.reads {
		if fast != nil && m.err == nil && fast(i) {
			continue
		}
		f, a, hit := m.hitAt(ctx, i)
		if hit {
			m.fail(put(i, a))
			continue
		}
		misses, looks = append(misses, i), append(looks, f.is)
	}
	if len(misses) == 0 {
		return
	}
	b := newBatchLoad(ctx, m.n.c, &m.n.policy, m.load)
	for _, i := range misses {
		r := &m.reads[i]
		r.member = b.member(r.id)
		r.load = r.member.slot
	}
	answers := make([]answer[T], len(misses))
	var wg sync.WaitGroup
	for j, i := range misses {
		wg.Go(func() {
			r := &m.reads[i]
			v, err := r.miss(ctx, looks[j])
			r.member.settle()
			answers[j] = answer[T]{v: v, err: err}
		})
	}
	wg.Wait()
	for j, i := range misses {
		m.fail(put(i, answers[j]))
	}
}

// hitAt answers id i from what the lookup found, when it is a hit that
// may be served (starting the refresh of one due for it), and counts it;
// otherwise it says what the lookup found, for the read past the miss.
func (m *manyRead[T]) hitAt(ctx context.Context, i int) (found[T], answer[T], bool) {
	r := &m.reads[i]
	if m.err != nil {
		return r.lookAt(ctx, held{}, m.err), answer[T]{}, false
	}
	h := m.found[i]
	if e, ok := h.value.(*entry[T]); ok && e.shape == r.shape && e.plain() && r.p.earlyBeta == 0 {
		r.counted(h) // the commonest hit, as in read.get
		return found[T]{}, r.answer(e), true
	}
	f := r.open(ctx, h)
	a, ok := r.hit(ctx, f)
	if ok {
		r.counted(h)
	}
	return f, a, ok
}

// fail notes an id's error: not found is an answer (the id is absent),
// anything else a failure GetMany returns.
func (m *manyRead[T]) fail(err error) {
	if err == nil || errors.Is(err, ErrNotFound) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed++
	if m.first == nil {
		m.first = err
	}
}

// failure is GetMany's error: how many ids failed, wrapping the first
// failure.
func (m *manyRead[T]) failure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed == 0 {
		return nil
	}
	return fmt.Errorf("aside: %d of %d %s ids failed: %w", m.failed, len(m.reads), m.n.name, m.first)
}
