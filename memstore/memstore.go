// Package memstore is an aside.Store in the process's memory, built on
// otter (W-TinyLFU eviction, per-entry expiry). It is aside's embedded
// default: no Redis to run, entries private to one process.
//
// A Cache over it keeps decoded values (through the value methods, which
// are for aside's use), so a cache hit costs a map lookup and no decoding. A value is shared by every reader of its
// key: do not modify what the cache returns (slices, maps and pointers in
// it included).
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/glob"
	"github.com/aside-cache/aside/internal/valuestore"
)

// DefaultMaxBytes bounds a Store made from the zero Options.
const DefaultMaxBytes = 64 << 20

// Options configures a Store. The zero value is bounded: DefaultMaxBytes.
type Options struct {
	// MaxBytes bounds the memory the entries hold. Past it, the entries
	// least likely to be used again are evicted. Each entry weighs its key,
	// about 100 bytes of bookkeeping, and what it holds: its bytes, or a
	// Cache's decoded value walked through (strings, slices, maps and
	// pointers) with the encoding kept beside it. The leases and
	// tombstones of a Cache weigh nothing and are never evicted: each lives
	// a lease's life. So does an entry while a Cache reloads it (a soft
	// TTL's or an early refresh's reload): it weighs nothing until the
	// reload ends, a lease's life at most, and the memory can pass
	// MaxBytes by the entries being reloaded at once. Default 64 MiB.
	MaxBytes int64
}

// entryOverhead is what an entry costs beyond its key and value: otter's
// node, its item and the map slot, measured at about 100 bytes.
const entryOverhead = 100

// weigher is a value that knows the bytes it holds: a Cache's entry. One
// that weighs nothing (an entry being reloaded under its claim) must stay
// whatever the room, as leases and tombstones do.
type weigher interface{ Weight() int }

// weight is what an entry of the store weighs (see Options.MaxBytes).
func weight(key string, it item) uint32 {
	n := len(key) + entryOverhead
	switch v := it.v.(type) {
	case *valuestore.Marker:
		return 0 // never evicted for room
	case []byte:
		n += len(v)
	case weigher:
		w := v.Weight()
		if w == 0 {
			return 0 // never evicted for room
		}
		n += w
	default:
		n += 64
	}
	return uint32(min(n, math.MaxUint32))
}

// Store is an aside.Store in memory, which a Cache uses through its value
// methods. It is safe for concurrent use.
type Store struct {
	entries *otter.Cache[string, item]
	marks   *otter.Cache[string, time.Duration] // keys invalidated lately, for the ttl held
	closed  atomic.Bool
}

// item is one entry: bytes written by Set, or a value written by SetValue.
type item struct {
	v   any
	ttl time.Duration
}

var (
	_ aside.Store      = (*Store)(nil)
	_ valuestore.Store = (*Store)(nil)
)

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("memstore: closed")

// New returns a Store.
func New(opts Options) (*Store, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("memstore: MaxBytes %d is negative", opts.MaxBytes)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	entries, err := otter.New(&otter.Options[string, item]{
		MaximumWeight: uint64(opts.MaxBytes),
		// Leases and tombstones weigh nothing, and otter never evicts an
		// entry of no weight for room: they live their time whatever the
		// churn of values (see package valuestore).
		Weigher: weight,
		// Each entry lives the TTL it was written with; a read changes
		// nothing, and otter then does no work for expiry on a read.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, item]) time.Duration { return e.Value.ttl }),
	})
	if err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	marks, err := otter.New(&otter.Options[string, time.Duration]{
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, time.Duration]) time.Duration { return e.Value }),
	})
	if err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	return &Store{entries: entries, marks: marks}, nil
}

// MarkInvalidated remembers for ttl that key was invalidated.
func (s *Store) MarkInvalidated(key string, ttl time.Duration) {
	if ttl > 0 && !s.closed.Load() {
		s.marks.Set(key, ttl)
	}
}

// Invalidated reports whether key was marked invalidated within its ttl.
func (s *Store) Invalidated(key string) bool {
	_, ok := s.marks.GetIfPresent(key)
	return ok
}

// errNotBytes is returned by Get for an entry that SetValue wrote.
var errNotBytes = errors.New("memstore: entry holds a decoded value, not bytes")

// Get returns the bytes under key.
func (s *Store) Get(_ context.Context, key string) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, ErrClosed
	}
	it, ok := s.entries.GetIfPresent(key)
	if !ok {
		return nil, false, nil
	}
	b, ok := it.v.([]byte)
	if !ok {
		return nil, false, fmt.Errorf("%w: %q", errNotBytes, key)
	}
	return b, true, nil
}

// Set stores a copy of value under key for ttl.
func (s *Store) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.check(ttl); err != nil {
		return err
	}
	s.entries.Set(key, item{v: append([]byte(nil), value...), ttl: ttl})
	return nil
}

// AddMany stores each item whose key holds nothing.
func (s *Store) AddMany(_ context.Context, items []aside.Item) (added int, err error) {
	for _, it := range items {
		if err := s.check(it.TTL); err != nil {
			return added, err
		}
		if _, ok := s.entries.SetIfAbsent(it.Key, item{v: append([]byte(nil), it.Value...), ttl: it.TTL}); ok {
			added++
		}
	}
	return added, nil
}

func (s *Store) check(ttl time.Duration) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if ttl <= 0 {
		return fmt.Errorf("memstore: ttl %v is not positive", ttl)
	}
	return nil
}

// Delete removes keys and returns the first head bytes each held: nil for
// nothing, and an empty slice for a value the value methods wrote.
func (s *Store) Delete(_ context.Context, head int, keys ...string) ([][]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	prior := make([][]byte, len(keys))
	for i, k := range keys {
		v, found := s.DeleteValue(k)
		if !found {
			continue
		}
		b, ok := v.([]byte)
		if !ok {
			prior[i] = []byte{}
			continue
		}
		prior[i] = b[:min(len(b), max(head, 0)):min(len(b), max(head, 0))]
	}
	return prior, nil
}

// DeleteValue removes key and returns what it held.
func (s *Store) DeleteValue(key string) (prior any, found bool) {
	it, found := s.entries.Invalidate(key)
	return it.v, found
}

// Scan returns every key that matches pattern in one batch: walking a map
// in memory blocks no one, so there is nothing to gain from many.
func (s *Store) Scan(ctx context.Context, cursor, pattern string, _ int) (keys []string, next string, err error) {
	if s.closed.Load() {
		return nil, "", ErrClosed
	}
	if cursor != "" {
		return nil, "", fmt.Errorf("memstore: unknown scan cursor %q", cursor)
	}
	seen := 0
	for k := range s.entries.Keys() {
		if seen++; seen%4096 == 0 && ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		if glob.Match(pattern, k) {
			keys = append(keys, k)
		}
	}
	return keys, "", nil
}

// TTL returns the time key has left.
func (s *Store) TTL(_ context.Context, key string) (time.Duration, bool, error) {
	if s.closed.Load() {
		return 0, false, ErrClosed
	}
	e, ok := s.entries.GetEntryQuietly(key)
	switch {
	case !ok:
		return 0, false, nil
	case e.ExpiresAtNano == math.MaxInt64:
		return aside.NoExpiry, true, nil
	}
	return e.ExpiresAfter(), true, nil
}

// GetValue returns what key holds: a value from SetValue, or bytes from Set.
func (s *Store) GetValue(key string) (any, bool) {
	it, ok := s.entries.GetIfPresent(key)
	return it.v, ok
}

// SetValue stores v under key for ttl.
func (s *Store) SetValue(key string, v any, ttl time.Duration) {
	if ttl > 0 && !s.closed.Load() {
		s.entries.Set(key, item{v: v, ttl: ttl})
	}
}

// AddOrGetValue stores v under key for ttl if the key holds nothing, or
// returns what it holds.
func (s *Store) AddOrGetValue(key string, v any, ttl time.Duration) (current any, found bool) {
	if ttl <= 0 || s.closed.Load() {
		return nil, false
	}
	s.entries.Compute(key, func(old item, ok bool) (item, otter.ComputeOp) {
		if ok {
			current, found = old.v, true
			return old, otter.CancelOp
		}
		return item{v: v, ttl: ttl}, otter.WriteOp
	})
	return current, found
}

// CompareAndSetValue stores v under key for ttl if the key holds old.
func (s *Store) CompareAndSetValue(key string, old, v any, ttl time.Duration) (swapped bool) {
	if ttl <= 0 || s.closed.Load() {
		return false
	}
	s.entries.Compute(key, func(cur item, ok bool) (item, otter.ComputeOp) {
		if !ok || !same(cur.v, old) {
			return cur, otter.CancelOp
		}
		swapped = true
		return item{v: v, ttl: ttl}, otter.WriteOp
	})
	return swapped
}

// CompareAndDeleteValue removes key if it holds old.
func (s *Store) CompareAndDeleteValue(key string, old any) (deleted bool) {
	if s.closed.Load() {
		return false
	}
	s.entries.Compute(key, func(cur item, ok bool) (item, otter.ComputeOp) {
		if !ok || !same(cur.v, old) {
			return cur, otter.CancelOp
		}
		deleted = true
		return cur, otter.InvalidateOp
	})
	return deleted
}

// ReplaceValue stores v under key for ttl and returns what key held.
func (s *Store) ReplaceValue(key string, v any, ttl time.Duration) (prior any, found bool) {
	if ttl <= 0 || s.closed.Load() {
		return nil, false
	}
	s.entries.Compute(key, func(old item, ok bool) (item, otter.ComputeOp) {
		prior, found = old.v, ok
		return item{v: v, ttl: ttl}, otter.WriteOp
	})
	return prior, found
}

// Replace stores a copy of each item and returns the bytes each key held.
func (s *Store) Replace(_ context.Context, items []aside.Item) ([][]byte, error) {
	prior := make([][]byte, len(items))
	for i, it := range items {
		if err := s.check(it.TTL); err != nil {
			return prior, err
		}
		old, found := s.ReplaceValue(it.Key, append([]byte(nil), it.Value...), it.TTL)
		if !found {
			continue
		}
		b, ok := old.([]byte)
		if !ok {
			return prior, fmt.Errorf("%w: %q", errNotBytes, it.Key)
		}
		prior[i] = b
	}
	return prior, nil
}

// CompareAndDelete removes key if it holds exactly old.
func (s *Store) CompareAndDelete(_ context.Context, key string, old []byte) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	return s.CompareAndDeleteValue(key, old), nil
}

// same reports whether a and b are equal: bytes by content, values of a
// comparable type with ==, anything else never (== would panic).
func same(a, b any) bool {
	if x, ok := a.([]byte); ok {
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	ta := reflect.TypeOf(a)
	if ta == nil || ta != reflect.TypeOf(b) || !ta.Comparable() {
		return false
	}
	return a == b
}

// AddOrGet stores a copy of value under key for ttl if the key holds
// nothing, or returns the bytes it holds.
func (s *Store) AddOrGet(_ context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	if err := s.check(ttl); err != nil {
		return nil, false, err
	}
	cur, found := s.AddOrGetValue(key, append([]byte(nil), value...), ttl)
	if !found {
		return nil, false, nil
	}
	b, ok := cur.([]byte)
	if !ok {
		return nil, true, fmt.Errorf("%w: %q", errNotBytes, key)
	}
	return b, true, nil
}

// CompareAndSet stores a copy of value under key for ttl if the key holds
// exactly old.
func (s *Store) CompareAndSet(_ context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := s.check(ttl); err != nil {
		return false, err
	}
	return s.CompareAndSetValue(key, old, append([]byte(nil), value...), ttl), nil
}

// Len returns the number of entries, expired ones not yet removed included.
func (s *Store) Len() int { return s.entries.EstimatedSize() }

// Bytes returns what the entries weigh (see Options.MaxBytes): entries
// being reloaded, leases and tombstones count nothing.
func (s *Store) Bytes() int64 { return int64(s.entries.WeightedSize()) }

// Close empties the store and stops its maintenance goroutine.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.entries.InvalidateAll()
	s.entries.StopAllGoroutines()
	s.marks.InvalidateAll()
	s.marks.StopAllGoroutines()
	return nil
}
