package aside

import (
	"context"
	"slices"
	"sync"
	"time"
)

// batchLoad turns the loader calls of the flights one GetMany leads into
// calls of its batch loader, one for all the ids it leads.
//
// Each id GetMany found missing is read as Get reads it (read.miss): it
// joins or starts the key's flight, whose leader takes the key's lease
// and calls the id's loader, its slot here. A batch call is made once
// every id has either called its slot or settled without calling it: it
// joined a load already in flight (another caller's), found the key
// filled, or began to wait on another process's lease. So the ids this
// caller leads are loaded together, and the ids others load are waited
// for, never loaded twice. An id that calls its slot after its batch was
// sent (its lease wait ended with the holder gone, or its answer could not
// be trusted and it read again) is loaded in a call of its own.
type batchLoad[T any] struct {
	load    func(ctx context.Context, missing []string) (map[string]T, error)
	c       *Cache
	timeout time.Duration   // the namespace's LoadTimeout: each call's bound
	ctx     context.Context // the GetMany's, detached from its cancellation

	mu        sync.Mutex // guards undecided, cur and each member's decided
	undecided int        // members that have neither called nor settled
	cur       *batchCall[T]
}

// batchMember is one id's part in a batchLoad.
type batchMember[T any] struct {
	b       *batchLoad[T]
	id      string
	order   int  // the id's place in the GetMany: a call lists its ids in this order
	decided bool // called its slot or settled; b.mu guards it
}

// batchCall is one call of the batch loader, and its outcome once done
// is closed.
type batchCall[T any] struct {
	members []*batchMember[T]
	ids     []string // the members' ids, in their order, once sent
	done    chan struct{}
	values  map[string]T
	err     error
}

func newBatchLoad[T any](ctx context.Context, c *Cache, p *fillPolicy, load func(context.Context, []string) (map[string]T, error)) *batchLoad[T] {
	return &batchLoad[T]{load: load, c: c, timeout: p.loadTimeout, ctx: context.WithoutCancel(ctx)}
}

// member adds id to the batch: undecided until it calls its slot or
// settles.
func (b *batchLoad[T]) member(id string) *batchMember[T] {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.undecided++
	return &batchMember[T]{b: b, id: id, order: b.undecided}
}

// slot is the id's loader: it joins the batch call under way (or the
// next), and returns what the call returned for the id; an id the call
// left out is ErrNotFound.
func (m *batchMember[T]) slot(ctx context.Context) (T, error) {
	call := m.b.enqueue(m)
	var zero T
	select {
	case <-call.done:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	if call.err != nil {
		return zero, call.err
	}
	v, ok := call.values[m.id]
	if !ok {
		return zero, ErrNotFound
	}
	return v, nil
}

// enqueue puts m's id in the call being gathered, and sends it once no
// member is undecided. A member that decided before (it settled, or its
// id was loaded once already) is loaded alone, at once.
func (b *batchLoad[T]) enqueue(m *batchMember[T]) *batchCall[T] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m.decided {
		call := &batchCall[T]{members: []*batchMember[T]{m}, done: make(chan struct{})}
		go b.send(call)
		return call
	}
	if b.cur == nil {
		b.cur = &batchCall[T]{done: make(chan struct{})}
	}
	call := b.cur
	call.members = append(call.members, m)
	b.decide(m)
	return call
}

// settle says that m's id will not call its slot for now: it is answered,
// or waits on another loader.
func (m *batchMember[T]) settle() {
	if m == nil {
		return
	}
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	if !m.decided {
		m.b.decide(m)
	}
}

// decide marks m decided, and sends the call gathered once none is
// undecided; b.mu is held.
func (b *batchLoad[T]) decide(m *batchMember[T]) {
	m.decided = true
	b.undecided--
	if b.undecided == 0 && b.cur != nil {
		go b.send(b.cur)
		b.cur = nil
	}
}

// send calls the batch loader for call's ids, as a flight calls a loader:
// on a goroutine of its own, detached from the callers, bounded by the
// namespace's LoadTimeout and cancelled by Close, a panic an error.
func (b *batchLoad[T]) send(call *batchCall[T]) {
	slices.SortFunc(call.members, func(x, y *batchMember[T]) int { return x.order - y.order })
	call.ids = make([]string, len(call.members))
	for i, m := range call.members {
		call.ids[i] = m.id
	}
	load := func(ctx context.Context) (map[string]T, error) { return b.load(ctx, call.ids) }
	res := <-startLoader(b.ctx, b.c, b.timeout, load)
	call.values, call.err = res.v, res.err
	close(call.done)
}
