package aside

import (
	"context"
	"iter"
	"strconv"
	"time"
)

// ID is an integer type that ids can be: an IDNamespace's key is its
// decimal form.
type ID interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// IDNamespace is a Namespace whose ids are integers (database keys, most
// often), so that a read by id needs no strconv at every call: the same
// entries as the Namespace with the ids in decimal, at the same cost (the
// key is made in one allocation, as a string id's is). It is safe for
// concurrent use.
type IDNamespace[K ID, T any] struct {
	ns   *Namespace[T]
	base string // the cache's prefix and the namespace's: what an id's digits follow
}

// NewIDNamespace returns the namespace cfg describes, with ids of type K.
// It shares its entries, its figures and its configuration's rules with
// NewNamespace[T] of the same cfg.
func NewIDNamespace[K ID, T any](c *Cache, cfg NamespaceConfig) (*IDNamespace[K, T], error) {
	ns, err := NewNamespace[T](c, cfg)
	if err != nil {
		return nil, err
	}
	return &IDNamespace[K, T]{ns: ns, base: c.opts.KeyPrefix + ns.prefix}, nil
}

// Namespace returns the namespace of the same entries, with string ids.
func (n *IDNamespace[K, T]) Namespace() *Namespace[T] { return n.ns }

// Name returns the namespace's name.
func (n *IDNamespace[K, T]) Name() string { return n.ns.name }

// TTL returns the TTL of the namespace's values.
func (n *IDNamespace[K, T]) TTL() time.Duration { return n.ns.policy.ttl }

// Key returns the key of id, relative to the cache's prefix.
func (n *IDNamespace[K, T]) Key(id K) string { return n.ns.prefix + decimal(id) }

// Get is Namespace.Get of id.
func (n *IDNamespace[K, T]) Get(ctx context.Context, id K, load func(context.Context) (T, error)) (T, error) {
	if err := n.check(load == nil); err != nil {
		var zero T
		return zero, err
	}
	r := n.read(id, load)
	return r.get(ctx)
}

// GetEncoded is Namespace.GetEncoded of id.
func (n *IDNamespace[K, T]) GetEncoded(ctx context.Context, id K, load func(context.Context) (T, error)) ([]byte, error) {
	if err := n.check(load == nil); err != nil {
		return nil, err
	}
	r := n.read(id, load)
	return r.getEncoded(ctx)
}

// GetIfPresent is Namespace.GetIfPresent of id.
func (n *IDNamespace[K, T]) GetIfPresent(ctx context.Context, id K) (v T, found bool, err error) {
	if err := n.check(false); err != nil {
		return v, false, err
	}
	r := n.read(id, nil)
	return r.getIfPresent(ctx)
}

// GetMany is Namespace.GetMany of ids.
func (n *IDNamespace[K, T]) GetMany(ctx context.Context, ids []K, load func(ctx context.Context, missing []K) (map[K]T, error)) (map[K]T, error) {
	got, err := n.ns.GetMany(ctx, decimals(ids), n.stringLoad(load))
	return byID(ids, got), err
}

// GetManyEncoded is Namespace.GetManyEncoded of ids.
func (n *IDNamespace[K, T]) GetManyEncoded(ctx context.Context, ids []K, load func(ctx context.Context, missing []K) (map[K]T, error)) (map[K][]byte, error) {
	got, err := n.ns.GetManyEncoded(ctx, decimals(ids), n.stringLoad(load))
	return byID(ids, got), err
}

// Set is Namespace.Set of id.
func (n *IDNamespace[K, T]) Set(ctx context.Context, id K, v T) error {
	return n.ns.Set(ctx, decimal(id), v)
}

// Invalidate is Namespace.Invalidate of ids.
func (n *IDNamespace[K, T]) Invalidate(ctx context.Context, ids ...K) error {
	return n.ns.Invalidate(ctx, decimals(ids)...)
}

// IDs names the entries of ids, for Cache.Invalidate.
func (n *IDNamespace[K, T]) IDs(ids ...K) Invalidation { return n.ns.IDs(decimals(ids)...) }

// Warm is Namespace.Warm of items.
func (n *IDNamespace[K, T]) Warm(ctx context.Context, items iter.Seq2[K, T]) (int, error) {
	return n.ns.Warm(ctx, func(yield func(string, T) bool) {
		for id, v := range items {
			if !yield(decimal(id), v) {
				return
			}
		}
	})
}

func (n *IDNamespace[K, T]) check(nilLoader bool) error {
	switch {
	case n.ns.c.closed.Load():
		return ErrClosed
	case nilLoader:
		return invalid("nil loader for %s", n.ns.name)
	}
	return nil
}

// read is the read of id: its key made in one allocation, the id its tail
// (digits need no escaping).
func (n *IDNamespace[K, T]) read(id K, load func(context.Context) (T, error)) read[T] {
	var buf [80]byte
	full := string(appendDecimal(append(buf[:0], n.base...), id))
	return n.ns.readKey(full[len(n.base):], full, load)
}

// stringLoad is load for the string ids of the namespace.
func (n *IDNamespace[K, T]) stringLoad(load func(context.Context, []K) (map[K]T, error)) func(context.Context, []string) (map[string]T, error) {
	if load == nil {
		return nil
	}
	return func(ctx context.Context, missing []string) (map[string]T, error) {
		ids := make([]K, 0, len(missing))
		for _, s := range missing {
			id, err := parseDecimal[K](s)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		got, err := load(ctx, ids)
		out := make(map[string]T, len(got))
		for id, v := range got {
			out[decimal(id)] = v
		}
		return out, err
	}
}

// byID is got, a map by decimal id, by the ids it has.
func byID[K ID, V any](ids []K, got map[string]V) map[K]V {
	out := make(map[K]V, len(got))
	for _, id := range ids {
		if v, ok := got[decimal(id)]; ok {
			out[id] = v
		}
	}
	return out
}

func decimals[K ID](ids []K) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = decimal(id)
	}
	return out
}

func decimal[K ID](id K) string { return string(appendDecimal(nil, id)) }

// appendDecimal appends id in decimal: a negative value of a signed type
// with its sign.
func appendDecimal[K ID](b []byte, id K) []byte {
	if id < 0 || K(0)-1 < 0 { // a signed type (or a negative value): as an int64
		return strconv.AppendInt(b, int64(id), 10)
	}
	return strconv.AppendUint(b, uint64(id), 10)
}

// parseDecimal reads an id the namespace wrote.
func parseDecimal[K ID](s string) (K, error) {
	if K(0)-1 < 0 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || int64(K(n)) != n {
			return 0, invalid("id %q is no %T", s, K(0))
		}
		return K(n), nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || uint64(K(n)) != n {
		return 0, invalid("id %q is no %T", s, K(0))
	}
	return K(n), nil
}
