package aside

import (
	"context"
	"errors"
	"reflect"
	"time"
)

// read is one read of one key: what each of its steps needs travels in
// it. A hit is look, then hit; a miss goes on to miss, which joins or
// starts the key's flight (flight.go), whose leader takes the key's lease
// (lease.go) and calls the loader (load.go).
type read[T any] struct {
	c     *Cache
	st    *counters
	key   string // relative to the cache's prefix, as errors name it
	id    string // a namespace's read: the id, as the caller gave it
	full  string
	p     *fillPolicy   // the namespace's or the cache's: shared, never modified
	ttl   time.Duration // the TTL of what the read fills: the namespace's, or the call's
	shape uint64        // the shape of T under the policy's Version (shape.go)
	load  func(context.Context) (T, error)
	// member is the read's id in a GetMany's batch load (batchload.go),
	// told when the read will not call its loader for now; nil otherwise.
	member *batchMember[T]
	// groups are the full keys of the groups of the read's id (group.go),
	// whose tokens the read's first find stamps into shape (stamped).
	groups  []string
	stamped bool
}

// keyRead is a read through the key-based functions, with the call's ttl:
// the key's namespace (if one's prefix begins it) counts it and lends it
// its policy, or else the cache does. Values carry the shape of T under
// the namespace's Version.
func keyRead[T any](c *Cache, key string, ttl time.Duration, load func(context.Context) (T, error)) read[T] {
	sc := c.stats.lookupScope(key)
	r := read[T]{c: c, st: sc.c, key: key, full: c.opts.KeyPrefix + key, p: sc.policy, ttl: ttl, load: load}
	switch typ := reflect.TypeFor[T](); {
	case sc.policy == nil:
		r.p, r.shape = &c.defaults, c.shapes.of(typ, "")
	case typeID(typ) == sc.typ:
		r.shape = sc.policy.shape
	default:
		r.shape = c.shapes.of(typ, sc.version)
	}
	if sc.policy != nil && sc.policy.groups != nil {
		// The key's id, as its namespace's groups know it; a hashed id
		// (longer than MaxIDLen) cannot be read back, and has none here.
		if id, ok := unescapeID(key[len(sc.prefix):]); ok {
			r.groups = c.groupKeys(sc.policy, id)
		}
	}
	return r
}

// meta is the timing of an entry of kind k this read fills now, after a
// load that took took.
func (r *read[T]) meta(k kind, now time.Time, took time.Duration) meta {
	p := *r.p
	p.ttl, p.shape = r.ttl, r.shape
	return p.meta(k, now, took)
}

// look is what a read found in the key, for a reader of T.
type look int

const (
	lookEmpty  look = iota // nothing: a lease may be added
	lookVoid               // a tombstone, or an entry of another shape: nothing to serve; a lease replaces it
	lookLeased             // a lease: a loader somewhere is filling the key
	lookHit                // an entry (fresh or not: its meta says)
	lookFailed             // the store did not answer, or the breaker kept us away
)

// found is a look at the key and what it found.
type found[T any] struct {
	is look
	e  *entry[T] // for lookHit; shared: never modified
	h  held      // what the backend found
	// buried: for a lease just taken (lookEmpty), that it replaced a
	// tombstone, whose mark the key must keep (see hold.buried).
	buried bool
}

// answer is what a read returns.
type answer[T any] struct {
	v   T
	err error
}

// get answers the read: from a fresh entry, or through the key's flight.
func (r *read[T]) get(ctx context.Context) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, waitError(r.key, err) // a caller already gone starts no load
	}
	h, err := r.find(ctx)
	if e, ok := h.value.(*entry[T]); ok && err == nil && e.shape == r.shape && e.plain() && r.p.earlyBeta == 0 {
		// The commonest hit, written out: an entry kept decoded, of the
		// read's shape, whose expiry is the store's (see hit).
		r.counted(h)
		a := r.answer(e)
		return a.v, a.err
	}
	f := r.lookAt(ctx, h, err)
	if a, ok := r.hit(ctx, f); ok {
		r.counted(h)
		return a.v, a.err
	}
	return r.miss(ctx, f.is)
}

// getEncoded is get answering with the value's encoding by the cache's
// Codec. A fresh entry that came as bytes answers with its payload as it
// is, never decoded; one kept decoded, with its encoding, made once.
// Everything else takes the typed path and encodes its answer.
func (r *read[T]) getEncoded(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, waitError(r.key, err)
	}
	h, err := r.find(ctx)
	if err == nil && h.data != nil && h.holds == holdsEntry {
		if payload, ok := r.freshPayload(h.data); ok {
			r.counted(h)
			return payload, nil
		}
	}
	if e, ok := h.value.(*entry[T]); ok && err == nil && e.shape == r.shape {
		if b, ok, err := r.encodedAsIs(e, h); ok {
			return b, err
		}
	}
	f := r.lookAt(ctx, h, err)
	if f.is == lookHit {
		if b, ok, err := r.encodedAsIs(f.e, f.h); ok {
			return b, err
		}
	}
	var v T
	if a, ok := r.hit(ctx, f); ok {
		r.counted(h)
		v, err = a.v, a.err
	} else {
		v, err = r.miss(ctx, f.is)
	}
	if err != nil {
		return nil, err
	}
	return encodeValue(r.c.opts.Codec, nil, v)
}

// encodedAsIs answers with the encoding of e, a value kept decoded that
// hit would serve as it is (ok), made once and kept beside it.
func (r *read[T]) encodedAsIs(e *entry[T], h held) (b []byte, ok bool, err error) {
	if e.kind != kindValue || !r.servedAsIs(&e.meta) {
		return nil, false, nil
	}
	r.counted(h)
	b, made, err := e.encoded(r.c.opts.Codec)
	if made {
		r.c.be.reweigh(r.full, h) // the entry now keeps its encoding too
	}
	return b, true, err
}

// freshPayload returns the payload of an envelope that holds a value of
// the read's shape that hit would serve as it is.
func (r *read[T]) freshPayload(data []byte) ([]byte, bool) {
	k, m, payload, err := readHeader(data)
	if err != nil || k != kindValue || m.shape != r.shape {
		return nil, false
	}
	return payload, r.servedAsIs(&m)
}

// servedAsIs reports whether hit would serve an entry with m as it is:
// fresh, with no refresh due.
func (r *read[T]) servedAsIs(m *meta) bool {
	if m.plain() && r.p.earlyBeta == 0 {
		return true // as in hit: the store's expiry is the entry's
	}
	return m.state(r.c.nowMs(), r.p.earlyBeta) == stateFresh
}

// look reads the key and says what it holds for this read.
func (r *read[T]) look(ctx context.Context) found[T] {
	h, err := r.find(ctx)
	return r.lookAt(ctx, h, err)
}

// find reads the key where the read's policy says: through the near
// cache, or from the store alone. A read through the near cache that asked
// the store counts as a near miss.
func (r *read[T]) find(ctx context.Context) (held, error) {
	if r.groups != nil && !r.stamped {
		return r.findStamped(ctx)
	}
	if !r.p.near {
		return r.c.far.find(ctx, r.full)
	}
	h, err := r.c.be.find(ctx, r.full)
	if !h.near {
		r.st.nearMisses.Add(1)
	}
	return h, err
}

// findStamped reads the key and the tokens of its groups in one store
// call, and stamps the read's shape with the tokens: what it serves and
// what it fills are of those tokens (group.go). Made before the load, so
// that a fill carries tokens read before the database was.
func (r *read[T]) findStamped(ctx context.Context) (held, error) {
	keys := append(make([]string, 0, 1+len(r.groups)), r.full)
	hs, err := r.c.reader(r.p).findMany(ctx, append(keys, r.groups...))
	if err != nil {
		return held{}, err
	}
	if r.p.near && !hs[0].near {
		r.st.nearMisses.Add(1)
	}
	if err := r.stampWith(ctx, hs[1:]); err != nil {
		return held{}, err
	}
	return hs[0], nil
}

// stampForWrite is stamp for a write (Set), counting a failure as the
// write's.
func (r *read[T]) stampForWrite(ctx context.Context) error {
	err := r.stamp(ctx)
	if err != nil {
		r.c.count(ctx, r.st, err, "write", r.full)
		r.st.writesSkipped.Add(1)
	}
	return unavailable(err)
}

// stamp stamps the read's shape with the tokens of its groups, for a
// write that does not read the key (Set).
func (r *read[T]) stamp(ctx context.Context) error {
	if r.groups == nil || r.stamped {
		return nil
	}
	hs, err := r.c.reader(r.p).findMany(ctx, r.groups)
	if err != nil {
		return err
	}
	return r.stampWith(ctx, hs)
}

// stampWith stamps the read's shape with the tokens its groups' keys hold
// (hs), making those that hold none.
func (r *read[T]) stampWith(ctx context.Context, hs []held) error {
	tokens, err := r.c.groupTokens(ctx, r.c.reader(r.p), r.groups, hs, r.p)
	if err != nil {
		return err
	}
	r.shape, r.stamped = stamped(r.shape, tokens), true
	return nil
}

// counted counts a hit answered with h.
func (r *read[T]) counted(h held) {
	r.st.hits.Add(1)
	if h.near {
		r.st.nearHits.Add(1)
	}
}

// lookAt says what h, the backend's answer to find (or err), is for this
// read.
func (r *read[T]) lookAt(ctx context.Context, h held, err error) found[T] {
	if err != nil {
		r.c.count(ctx, r.st, err, "read", r.full)
		return found[T]{is: lookFailed}
	}
	return r.open(ctx, h)
}

// open says what h, a key's holding, is for this read, decoding it when
// the backend has no decoding of it as a T.
func (r *read[T]) open(ctx context.Context, h held) found[T] {
	switch h.holds {
	case holdsNothing:
		return found[T]{is: lookEmpty}
	case holdsLease:
		if lapsed(h.data, r.c.nowMs()) { // over a tombstone, its holder gone: take the key over it
			return found[T]{is: lookVoid, h: h}
		}
		return found[T]{is: lookLeased, h: h}
	case holdsTombstone:
		return found[T]{is: lookVoid, h: h}
	}
	if e, ok := h.value.(*entry[T]); ok { // the hit, before anything rarer
		if e.shape != r.shape {
			return found[T]{is: lookVoid, h: h}
		}
		return found[T]{is: lookHit, e: e, h: h}
	}
	return r.decode(ctx, h)
}

// decode reads an entry that came as bytes, or as another type's value
// kept in process (read through the codec, as it would be from Redis).
// An entry of another shape is void; one that does not decode is counted
// as an error and dropped (only what was read: a tombstone or lease
// written since stays), and the read finds the key empty.
func (r *read[T]) decode(ctx context.Context, h held) found[T] {
	data := h.data
	if other, ok := h.value.(storable); ok && data == nil {
		data, _ = other.encode(r.c.opts.Codec) // undecodable as anything: dropped below
	}
	e, err := decodeEntry[T](r.c.opts.Codec, data, r.shape)
	switch {
	case errors.Is(err, errOtherShape):
		return found[T]{is: lookVoid, h: h}
	case err != nil:
		r.st.errors.Add(1)
		r.c.opts.Logger.Warn("aside: dropping an entry that does not decode", "key", r.full, "err", err)
		if err := r.c.be.drop(ctx, r.full, h); err != nil {
			r.c.count(ctx, r.st, err, "drop", r.full)
		}
		return found[T]{is: lookEmpty}
	case e.kind == kindLease:
		return found[T]{is: lookLeased, h: h}
	case e.kind == kindTombstone:
		return found[T]{is: lookVoid, h: h}
	}
	if h.data != nil {
		r.c.be.remember(r.full, h, &e)
	}
	return found[T]{is: lookHit, e: &e, h: h}
}

// hit answers from f when it found an entry that may be served, and
// starts the background refresh of one due for it. The caller counts the
// hit.
func (r *read[T]) hit(ctx context.Context, f found[T]) (answer[T], bool) {
	if f.is != lookHit {
		return answer[T]{}, false
	}
	e := f.e
	if e.plain() && r.p.earlyBeta == 0 {
		// No soft TTL, no stale period: the store's physical expiry is the
		// entry's logical one, so an entry it returns is fresh, and the
		// hit needs no clock.
		return r.answer(e), true
	}
	now := r.c.nowMs()
	switch e.state(now, r.p.earlyBeta) {
	case stateFresh:
	case stateRefresh:
		if !e.claimed(now) {
			r.refresh(ctx, e.freshUntil)
		}
	default:
		return answer[T]{}, false // stale or gone: the flight finds it again, for fail-safe
	}
	return r.answer(e), true
}

// answer is what a read returns for an entry.
func (r *read[T]) answer(e *entry[T]) answer[T] {
	if e.kind == kindNotFound {
		return answer[T]{err: negative(r.key)}
	}
	return answer[T]{v: e.value}
}

// miss is the read past a miss: it joins or starts the key's flight, and
// reads again when it cannot trust the flight's answer. Its start is
// taken here, after the caller began: a later start only trusts less.
func (r *read[T]) miss(ctx context.Context, is look) (T, error) {
	r.st.misses.Add(1)
	start := time.Now()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			f := r.look(ctx)
			if a, ok := r.hit(ctx, f); ok {
				return a.v, a.err // counted as the miss it began as
			}
			is = f.is
		}
		a, trusted := r.await(ctx, is, start, attempt == 0)
		if trusted {
			return a.v, a.err
		}
		if err := ctx.Err(); err != nil {
			return a.v, waitError(r.key, err)
		}
		if attempt == maxRereads {
			return r.loadAlone(ctx)
		}
	}
}

// maxRereads bounds the reads again of a caller whose flight's answer it
// could not trust: each starts after the caller, so one is nearly always
// enough; past it the caller loads for itself.
const maxRereads = 3

// loadAlone is the last resort of a read with nothing to trust: a load of
// its own, begun after the caller, on the caller's goroutine. It fills
// nothing (it holds no lease).
func (r *read[T]) loadAlone(ctx context.Context) (T, error) {
	r.st.loads.Add(1)
	v, err := callLoader(ctx, r.load, r.c)
	switch {
	case err == nil:
		return v, nil
	case ctx.Err() != nil:
		return v, waitError(r.key, ctx.Err()) // the caller's context, not the loader's failure
	case !errors.Is(err, ErrNotFound):
		r.st.loadErrors.Add(1)
	}
	return v, &LoadError{Key: r.key, Err: err}
}

// await joins or starts the key's flight and waits for its answer, which
// it trusts only when the answer rests on a read begun after the caller
// (see flight.basis); otherwise the caller must read again. is says what
// the caller's look found: a flight started after a failed look is not
// fenced, so that a store that does not answer costs one timeout, not
// three.
func (r *read[T]) await(ctx context.Context, is look, start time.Time, first bool) (answer[T], bool) {
	f, lead := r.c.flights.join(r.full, reflect.TypeFor[T](), r.shape)
	switch {
	case !lead:
		r.member.settle() // another caller's load answers it
		if first {
			r.st.coalesced.Add(1)
		}
	case !r.c.startLoad():
		r.c.flights.land(r.full, f)
		f.finish(outcome{err: ErrClosed})
	default:
		fr := &flightRun[T]{read: *r, f: f}
		go fr.fly(context.WithoutCancel(ctx), is != lookFailed)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return answer[T]{err: waitError(r.key, ctx.Err())}, true
	}
	if !f.trusted(start) {
		return answer[T]{}, false
	}
	if f.stale {
		r.st.staleServed.Add(1)
	}
	if f.err != nil {
		return answer[T]{err: f.err}, true
	}
	v, _ := f.value.(T) // a nil interface value: the loader returned T's zero
	return answer[T]{v: v}, true
}

// refresh refreshes an entry in the background, at most once at a time
// per key in this process (and, by its claim, across processes), while
// the caller goes on with the value it has. sawFresh is the freshUntil of
// the entry the refresh is for.
func (r *read[T]) refresh(ctx context.Context, sawFresh int64) {
	f, lead := r.c.flights.join(r.full, reflect.TypeFor[T](), r.shape)
	switch {
	case !lead:
	case !r.c.startLoad():
		r.c.flights.land(r.full, f)
		f.finish(outcome{err: ErrClosed})
	default:
		fr := &flightRun[T]{read: *r, f: f, refresh: true, sawFresh: sawFresh}
		go fr.fly(context.WithoutCancel(ctx), true)
	}
}

// getIfPresent answers from the cache alone: found is false on a miss, for
// an entry past its TTL, when the store is unavailable, and for a negative
// entry, for which err is a *LoadError wrapping ErrNotFound.
func (r *read[T]) getIfPresent(ctx context.Context) (v T, found bool, err error) {
	f := r.look(ctx)
	if f.is != lookHit || f.e.state(r.c.nowMs(), 0) >= stateStale {
		r.st.misses.Add(1)
		return v, false, nil
	}
	r.counted(f.h)
	a := r.answer(f.e)
	return a.v, a.err == nil, a.err
}

// set writes v for exactly m's times, whatever the key holds: a load in
// flight read the database before this value, so it is detached.
func (r *read[T]) set(ctx context.Context, v T, m meta, ttl time.Duration) error {
	r.c.flights.forget(r.full)
	err := r.c.be.set(ctx, r.full, newValueEntry(v, m), ttl)
	switch {
	case errors.Is(err, errEncode):
		r.st.errors.Add(1)
		return err
	case err != nil:
		r.c.count(ctx, r.st, err, "write", r.full)
		r.st.writesSkipped.Add(1)
		return unavailable(err)
	}
	r.st.sets.Add(1)
	return nil
}
