package aside

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// An entry carries a logical expiry inside a longer physical one. Until
// freshUntil it is fresh and served; past refreshAfter (or when XFetch
// says so) a hit serves it and refreshes it once, in the background; past
// freshUntil it is stale, served only when the loader fails or is slow
// (fail-safe), and only until staleUntil, when the store drops it.
type meta struct {
	freshUntil   int64  // Unix ms: logical expiry
	staleUntil   int64  // Unix ms: physical expiry (freshUntil when there is no fail-safe)
	refreshAfter int64  // Unix ms: a hit past it refreshes in the background; 0 never
	claimUntil   int64  // Unix ms: a refresh of this entry is under way until then
	loadMicros   uint32 // how long the load that wrote it took: XFetch's Δ
	shape        uint64 // a value's shape fingerprint (see shape.go); 0 for other kinds
}

// entry is a cached entry. An in-process store keeps *entry values, whose
// pointer identity is what a compare-and-set compares; an entry is never
// changed once written: a claim or a write-back is a new entry.
type entry[T any] struct {
	kind  kind
	value T
	meta

	// enc keeps the value's encoding once GetEncoded has made it, for an
	// entry kept decoded in process. The entry is immutable, so the
	// encoding stays true.
	enc *atomic.Pointer[[]byte]
	// size is the bytes the entry and its value hold (weight.go), measured
	// before an in-process store keeps it; 0 until then.
	size int
}

// newValueEntry returns an entry of v.
func newValueEntry[T any](v T, m meta) *entry[T] {
	return &entry[T]{kind: kindValue, value: v, meta: m, enc: new(atomic.Pointer[[]byte])}
}

// with returns a copy of e with meta m.
func (e *entry[T]) with(m meta) *entry[T] {
	return &entry[T]{kind: e.kind, value: e.value, meta: m, enc: e.enc}
}

// encode writes e in an envelope: what a remote store keeps.
func (e *entry[T]) encode(codec Codec) ([]byte, error) { return encodeEntry(codec, e) }

// encoded returns the value's encoding, made once for an entry that keeps
// it (made reports that this call made and kept it). The bytes are shared
// by every caller that gets them this way.
func (e *entry[T]) encoded(codec Codec) ([]byte, bool, error) {
	if e.enc == nil { // a decoding of bytes: the read asks once
		b, err := encodeValue(codec, nil, e.value)
		return b, false, err
	}
	if b := e.enc.Load(); b != nil {
		return *b, false, nil
	}
	made, err := encodeValue(codec, nil, e.value)
	if err != nil {
		return nil, false, err
	}
	made = made[:len(made):len(made)] // a caller's append copies rather than writing into the shared bytes
	e.enc.Store(&made)                // a racing caller may store its own equal bytes: harmless
	return made, true, nil
}

type kind byte

const (
	kindValue    kind = 1
	kindNotFound kind = 2
	// kindLease marks an empty key a loader is filling: its payload is the
	// lease's token. A read sees a miss; only the lease's holder can
	// replace it (CompareAndSet), and an invalidation deletes it.
	kindLease kind = 3
	// kindTombstone marks a key just invalidated. A read sees a miss and a
	// loader may lease it, but an add-if-absent (Warm) finds it present: a
	// warm-up that read its rows before the invalidation cannot write them
	// after it. It lives LeaseTTL.
	kindTombstone kind = 4
	// kindGroup is a group's token (group.go): its payload is the 8-byte
	// token. A read sees it only through its group.
	kindGroup kind = 5
)

// The envelope around every entry kept in bytes (little-endian):
//
//	 0  envelopeMagic
//	 1  envelopeVersion
//	 2  kind
//	 3  0 (reserved)
//	 4  freshUntil, int64 Unix ms
//	12  staleUntil, int64 Unix ms
//	20  refreshAfter, int64 Unix ms
//	28  claimUntil, int64 Unix ms
//	36  loadMicros, uint32
//	40  shape, uint64: the fingerprint of a value's shape
//	48  the payload: the codec's bytes, nothing for a negative entry, or a
//	    lease's 8-byte token
//
// Bytes of another version are a miss: they are dropped and refilled, so
// a rolling upgrade never misreads an old entry.
const (
	envelopeMagic   = 0xA5
	envelopeVersion = 3
	headerLen       = 48
	leaseTokenLen   = 8
	kindOffset      = 2
)

var errCorrupt = errors.New("aside: corrupt entry")

// encodeEntry writes e in an envelope.
func encodeEntry[T any](codec Codec, e *entry[T]) ([]byte, error) {
	b := appendHeader(make([]byte, 0, headerLen+64), e.kind, e.meta)
	if token, ok := any(e.value).(uint64); ok && e.kind == kindGroup {
		return binary.LittleEndian.AppendUint64(b, token), nil
	}
	if e.kind != kindValue {
		return b, nil
	}
	return encodeValue(codec, b, e.value)
}

func appendHeader(b []byte, k kind, m meta) []byte {
	b = append(b, envelopeMagic, envelopeVersion, byte(k), 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.freshUntil))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.staleUntil))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.refreshAfter))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.claimUntil))
	b = binary.LittleEndian.AppendUint32(b, m.loadMicros)
	return binary.LittleEndian.AppendUint64(b, m.shape)
}

// readHeader reads an envelope's header; it never panics on any input.
func readHeader(data []byte) (k kind, m meta, payload []byte, err error) {
	if len(data) < headerLen || data[0] != envelopeMagic {
		return 0, m, nil, fmt.Errorf("%w: not an aside envelope", errCorrupt)
	}
	if data[1] != envelopeVersion {
		return 0, m, nil, fmt.Errorf("%w: envelope version %d, want %d", errCorrupt, data[1], envelopeVersion)
	}
	m = meta{
		freshUntil:   int64(binary.LittleEndian.Uint64(data[4:])),
		staleUntil:   int64(binary.LittleEndian.Uint64(data[12:])),
		refreshAfter: int64(binary.LittleEndian.Uint64(data[20:])),
		claimUntil:   int64(binary.LittleEndian.Uint64(data[28:])),
		loadMicros:   binary.LittleEndian.Uint32(data[36:]),
		shape:        binary.LittleEndian.Uint64(data[40:]),
	}
	payload = data[headerLen:]
	switch k = kind(data[2]); k {
	case kindValue:
	case kindNotFound, kindTombstone:
		if len(payload) != 0 {
			return 0, m, nil, fmt.Errorf("%w: entry of kind %d with a payload", errCorrupt, k)
		}
	case kindLease, kindGroup:
		if len(payload) != leaseTokenLen {
			return 0, m, nil, fmt.Errorf("%w: token of %d bytes", errCorrupt, len(payload))
		}
	default:
		return 0, m, nil, fmt.Errorf("%w: unknown kind %d", errCorrupt, k)
	}
	return k, m, payload, nil
}

// errOtherShape is decodeEntry's answer for a value written in another
// shape than the reader's (see shape.go): not corrupt, but nothing to serve.
var errOtherShape = errors.New("aside: entry of another shape")

// decodeEntry reads an envelope for a reader of shape; a lease decodes to
// an entry of kindLease. A value of another shape gives errOtherShape,
// its payload not decoded. Bytes that are not an envelope of this
// version, or whose payload the codec refuses, give an error wrapping
// errCorrupt.
func decodeEntry[T any](codec Codec, data []byte, shape uint64) (e entry[T], err error) {
	k, m, payload, err := readHeader(data)
	if err != nil {
		return e, err
	}
	e.kind, e.meta = k, m
	switch {
	case (k == kindValue || k == kindNotFound) && m.shape != shape, k == kindGroup:
		return e, errOtherShape // a group's token is nothing a read serves
	case k != kindValue:
		return e, nil
	}
	if e.value, err = decodeValue[T](codec, payload); err != nil {
		return entry[T]{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return e, nil
}

// newLease returns a lease envelope with a random token.
func newLease() []byte { return newLeaseWith(meta{}, rand.Uint64()) }

// newLeaseWith returns a lease envelope with m's times and token. A lease
// over a tombstone (buried: see leaseOver) carries two: its holder's
// deadline (claimUntil) and the end of the tombstone's life it keeps
// (staleUntil).
func newLeaseWith(m meta, token uint64) []byte {
	b := appendHeader(make([]byte, 0, headerLen+leaseTokenLen), kindLease, m)
	return binary.LittleEndian.AppendUint64(b, token)
}

// buriedLease returns the times of a lease over a tombstone, if data is
// one.
func buriedLease(data []byte) (m meta, token uint64, ok bool) {
	k, m, payload, err := readHeader(data)
	if err != nil || k != kindLease || m.staleUntil == 0 {
		return m, 0, false
	}
	return m, binary.LittleEndian.Uint64(payload), true
}

// lapsed reports whether data is a lease over a tombstone whose holder's
// deadline passed at now (Unix ms): its holder is gone, and a loader may
// take the key over it, keeping the tombstone's life.
func lapsed(data []byte, now int64) bool {
	m, _, ok := buriedLease(data)
	return ok && now >= m.claimUntil
}

// tombstone is the envelope of every tombstone: all are alike, so that a
// loader can lease any of them by compare-and-set.
var tombstone = appendHeader(nil, kindTombstone, meta{})

// holdsOf says what bytes a key holds are: a lease, a tombstone, or an
// entry to decode (anything else, even what is not an envelope). It reads
// only the first kindOffset+1 bytes, so that it can judge the heads of
// what a pattern delete removed.
func holdsOf(data []byte) holding {
	if len(data) > kindOffset && data[0] == envelopeMagic {
		switch kind(data[kindOffset]) {
		case kindLease:
			return holdsLease
		case kindTombstone:
			return holdsTombstone
		}
	}
	return holdsEntry
}

// isGroup reports whether data (or its head) is a group's token.
func isGroup(data []byte) bool {
	return len(data) > kindOffset && data[0] == envelopeMagic && kind(data[kindOffset]) == kindGroup
}

// isLease reports whether data is a lease envelope.
func isLease(data []byte) bool {
	return len(data) == headerLen+leaseTokenLen && data[0] == envelopeMagic &&
		data[1] == envelopeVersion && kind(data[2]) == kindLease
}

// state is what an entry is good for at a moment.
type state int

const (
	stateFresh   state = iota // serve it
	stateRefresh              // serve it, and refresh it in the background
	stateStale                // past its logical expiry: serve only if the loader fails
	stateGone                 // past its physical expiry: nothing (clock skew with the store)
)

// state classifies m at now (Unix ms). beta > 0 turns on XFetch
// (Vattani et al., VLDB 2015): an entry is refreshed early with a
// probability that rises as its expiry nears, scaled by how long its load
// took, which spreads the refreshes of a hot key without coordination.
func (m meta) state(now int64, beta float64) state {
	switch {
	case now >= m.staleUntil && now >= m.freshUntil:
		return stateGone
	case now >= m.freshUntil:
		return stateStale
	case m.refreshAfter > 0 && now >= m.refreshAfter:
		return stateRefresh
	case beta > 0 && m.loadMicros > 0 && xfetch(now, m, beta):
		return stateRefresh
	}
	return stateFresh
}

// xfetch is XFetch's test: now - Δ·β·ln(rand) >= expiry.
func xfetch(now int64, m meta, beta float64) bool {
	delta := float64(m.loadMicros) / 1000 // ms
	return float64(now)-delta*beta*math.Log(rand.Float64()) >= float64(m.freshUntil)
}

// plain reports whether m has no logical time apart from its physical
// expiry: no soft TTL, no stale period, no claim.
func (m meta) plain() bool {
	return m.refreshAfter == 0 && m.staleUntil == m.freshUntil && m.claimUntil == 0
}

// claimed reports whether a refresh holds the entry at now.
func (m meta) claimed(now int64) bool { return m.claimUntil > now }

// unixMs is t in Unix milliseconds.
func unixMs(t time.Time) int64 { return t.UnixMilli() }
