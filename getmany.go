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
// namespace's LoadTimeout, with the ids this call leads, in the order
// they were given; ids another
// caller or another process is loading are waited for, never loaded
// twice (an id whose other loader is gone is then loaded in a call of its
// own). Each fill is fenced like Get's: an id invalidated while its batch
// loads is not filled with what the batch read before the write.
//
// Ids may repeat; the map holds each once (stats count each read). An id that load leaves out of
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
// More than MaxBatch ids (a repeat counts: it is read again), an empty id
// or a nil load is an error wrapping ErrInvalid, and nothing is read.
func (n *Namespace[T]) GetMany(ctx context.Context, ids []string, load func(ctx context.Context, missing []string) (map[string]T, error)) (map[string]T, error) {
	m, err := n.many(ctx, ids, load)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(ids))
	m.answer(ctx, func(id string, a answer[T]) error {
		if a.err == nil {
			out[id] = a.v
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
	out := make(map[string][]byte, len(ids))
	codec := n.c.opts.Codec
	m.answer(ctx, func(id string, a answer[T]) error {
		if a.err != nil {
			return a.err
		}
		b, err := encodeValue(codec, nil, a.v)
		if err == nil {
			out[id] = b
		}
		return err
	}, func(i int, r *read[T]) bool { return m.encodedHit(i, r, out) })
	return out, m.failure()
}

// manyRead is one GetMany: the ids, their keys, what the lookup found for
// each, and the errors of the ids that failed.
type manyRead[T any] struct {
	n     *Namespace[T]
	load  func(ctx context.Context, missing []string) (map[string]T, error)
	ids   []string
	fulls []string
	found []held
	err   error // the lookup's: every id looks as if the store failed
	// With groups: each id's group keys, and the shape its groups' tokens
	// stamp (group.go).
	groupsOf [][]string
	shapes   []uint64

	mu     sync.Mutex // guards failed and first
	failed int
	first  error
}

// many validates ids and load, and looks every id up in one store call.
func (n *Namespace[T]) many(ctx context.Context, ids []string, load func(context.Context, []string) (map[string]T, error)) (*manyRead[T], error) {
	switch {
	case n.c.closed.Load():
		return nil, ErrClosed
	case load == nil:
		return nil, invalid("nil batch loader for %s", n.name)
	case len(ids) > MaxBatch:
		return nil, invalid("a batch of %d %s ids is more than MaxBatch (%d): split it", len(ids), n.name, MaxBatch)
	}
	m := &manyRead[T]{n: n, load: load, ids: ids, fulls: make([]string, len(ids))}
	for i, id := range ids {
		if id == "" {
			return nil, invalid("empty %s id in a batch", n.name)
		}
		m.fulls[i] = n.fullKey(id)
	}
	if n.policy.groups != nil {
		m.groupsOf = make([][]string, len(ids))
		for i, id := range ids {
			m.groupsOf[i] = n.c.groupKeys(&n.policy, id)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("aside: a batch of %d %s ids: %w", len(ids), n.name, err)
	}
	m.lookup(ctx)
	return m, nil
}

// lookup reads every id's key, and the tokens of their groups, in one
// store call, through the near cache when the namespace has it.
func (m *manyRead[T]) lookup(ctx context.Context) {
	be := m.n.c.reader(&m.n.policy)
	keys, groups := m.fulls, m.distinctGroups()
	if groups != nil {
		keys = append(append(make([]string, 0, len(m.fulls)+len(groups)), m.fulls...), groups...)
	}
	hs, err := be.findMany(ctx, keys)
	if err != nil {
		m.err = err
		return
	}
	m.found = hs[:len(m.fulls)]
	if m.n.policy.near {
		nearMisses := len(m.fulls)
		for _, h := range m.found {
			if h.near {
				nearMisses--
			}
		}
		m.n.st.nearMisses.Add(uint64(nearMisses))
	}
	if groups != nil {
		m.err = m.stampAll(ctx, be, groups, hs[len(m.fulls):])
	}
}

// distinctGroups are the group keys of every id, each once.
func (m *manyRead[T]) distinctGroups() []string {
	if m.groupsOf == nil {
		return nil
	}
	seen := make(map[string]struct{})
	groups := []string{}
	for _, keys := range m.groupsOf {
		for _, k := range keys {
			if _, ok := seen[k]; !ok {
				seen[k] = struct{}{}
				groups = append(groups, k)
			}
		}
	}
	return groups
}

// stampAll finds the token of each group (found as hs), making those
// that are missing, and stamps each id's shape with its groups' tokens.
func (m *manyRead[T]) stampAll(ctx context.Context, be backend, groups []string, hs []held) error {
	tokens, err := m.n.c.groupTokens(ctx, be, groups, hs, &m.n.policy)
	if err != nil {
		return err
	}
	tokenOf := make(map[string]uint64, len(groups))
	for i, k := range groups {
		tokenOf[k] = tokens[i]
	}
	m.shapes = make([]uint64, len(m.ids))
	mine := make([]uint64, 0, 4)
	for i, keys := range m.groupsOf {
		mine = mine[:0]
		for _, k := range keys {
			mine = append(mine, tokenOf[k])
		}
		m.shapes[i] = stamped(m.n.policy.shape, mine)
	}
	return nil
}

// answer gives each id's answer to put: first the hits on entries served
// as they are (through fast, when it answers, then as Get's commonest
// hit, counted together), then the other hits, and the rest from the
// flights of their keys, whose loaders are the batch's slots. An id given
// twice is read twice: the second read of a miss joins the first's load.
func (m *manyRead[T]) answer(ctx context.Context, put func(id string, a answer[T]) error, fast func(i int, r *read[T]) bool) {
	n := m.n
	// The namespace's read, for the checks that need no id (its groups are
	// not asked of an id no caller gave).
	r := read[T]{c: n.c, st: n.st, p: &n.policy, ttl: n.policy.ttl, shape: n.policy.shape}
	hits, nearHits := 0, 0
	var slow []int
	for i, id := range m.ids {
		if m.err != nil {
			slow = append(slow, i)
			continue
		}
		h := m.found[i]
		r.full, r.shape = m.fulls[i], m.shapeOf(i)
		if fast != nil && fast(i, &r) {
			continue
		}
		e, ok := h.value.(*entry[T])
		if !ok || e.shape != r.shape || !e.plain() || r.p.earlyBeta != 0 {
			slow = append(slow, i)
			continue
		}
		hits++ // the commonest hit, as in read.get
		if h.near {
			nearHits++
		}
		if e.kind == kindValue {
			m.fail(put(id, answer[T]{v: e.value}))
		}
	}
	n.st.hits.Add(uint64(hits))
	n.st.nearHits.Add(uint64(nearHits))
	m.answerSlow(ctx, slow, put)
}

// answerSlow answers the ids that were no plain hit: a hit that may be
// served (starting the refresh of one due for it), or a read past the
// miss, together through one batch load.
func (m *manyRead[T]) answerSlow(ctx context.Context, slow []int, put func(id string, a answer[T]) error) {
	var misses []read[T]
	var looks []look
	for _, i := range slow {
		r := m.n.readKey(m.ids[i], m.fulls[i], m.loadOne(m.ids[i])) // a hit may start a refresh
		if m.shapes != nil {
			r.shape, r.stamped = m.shapes[i], true
		}
		f, a, hit := m.hitAt(ctx, &r, i)
		if hit {
			m.fail(put(r.id, a))
			continue
		}
		misses, looks = append(misses, r), append(looks, f.is)
	}
	if len(misses) == 0 {
		return
	}
	b := newBatchLoad(ctx, m.n.c, &m.n.policy, m.load)
	for i := range misses {
		misses[i].member = b.member(misses[i].id)
		misses[i].load = misses[i].member.slot
	}
	answers := make([]answer[T], len(misses))
	var wg sync.WaitGroup
	for j := range misses {
		wg.Go(func() {
			r := &misses[j]
			v, err := r.miss(ctx, looks[j])
			r.member.settle()
			answers[j] = answer[T]{v: v, err: err}
		})
	}
	wg.Wait()
	for j := range misses {
		m.fail(put(misses[j].id, answers[j]))
	}
}

// shapeOf is the shape id i's entry must have to be served: the
// namespace's, stamped with the id's groups' tokens when it has groups.
func (m *manyRead[T]) shapeOf(i int) uint64 {
	if m.shapes != nil {
		return m.shapes[i]
	}
	return m.n.policy.shape
}

// hitAt answers id i from what the lookup found, when it is a hit that
// may be served (starting the refresh of one due for it), and counts it;
// otherwise it says what the lookup found, for the read past the miss.
func (m *manyRead[T]) hitAt(ctx context.Context, r *read[T], i int) (found[T], answer[T], bool) {
	if m.err != nil {
		return r.lookAt(ctx, held{}, m.err), answer[T]{}, false
	}
	h := m.found[i]
	f := r.open(ctx, h)
	a, ok := r.hit(ctx, f)
	if ok {
		r.counted(h)
	}
	return f, a, ok
}

// encodedHit answers id i with its encoding, when it is a hit served as
// it is: an entry as the store holds it, its payload; one kept decoded in
// process, its encoding, made once.
func (m *manyRead[T]) encodedHit(i int, r *read[T], out map[string][]byte) bool {
	h := m.found[i]
	if h.data != nil && h.holds == holdsEntry {
		payload, ok := r.freshPayload(h.data)
		if ok {
			r.counted(h)
			out[m.ids[i]] = payload
		}
		return ok
	}
	e, ok := h.value.(*entry[T])
	if !ok || e.shape != r.shape {
		return false
	}
	b, ok, err := r.encodedAsIs(e, h) // counted when ok
	if ok && err == nil {
		out[m.ids[i]] = b
	}
	if ok {
		m.fail(err)
	}
	return ok
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
	return fmt.Errorf("aside: %d of %d %s ids failed: %w", m.failed, len(m.ids), m.n.name, m.first)
}
