package aside

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// Groups: a namespace's entries can belong to groups (NamespaceConfig.
// Groups, from the id: "the lists of user 42"), and invalidating a group
// makes every entry of it old at once, in one write whatever its size, in
// every process, on a cluster too.
//
// A group is a key of its own, under groupPrefix, that holds a token: a
// random 64-bit number. A read of an id reads the tokens of the id's
// groups with the id's key, in the same store call (from memory with the
// near cache), and mixes them into the shape it serves and fills
// (shape.go): an entry filled under other tokens is of another shape,
// nothing to serve, and its key is leased and filled again like any
// other. Invalidating a group replaces its token with a tombstone, as the
// invalidation of a key does: deferred and replayed when the store does not
// answer, remembered for rewinds, dropped from every near cache. The next
// read that finds no token makes a new one before it loads.
//
// Fenced like a key: a fill carries the tokens its read found before the
// load began, so a load that read the database before a write whose
// invalidation then replaced a token fills an entry no later read serves.
// Tokens are never reused, so a group key that expires, is evicted or is
// flushed turns its entries into misses, never older entries into hits.
const groupPrefix = "\x00group:"

// groupKey is the full key of the group name.
func (c *Cache) groupKey(name string) string {
	return c.opts.KeyPrefix + groupPrefix + escapeID(name)
}

// groupKeys are the full keys of the groups of id under p, nil when p has
// no groups.
func (c *Cache) groupKeys(p *fillPolicy, id string) []string {
	if p.groups == nil {
		return nil
	}
	names := p.groups.of(id)
	keys := make([]string, len(names))
	for i, name := range names {
		keys[i] = c.groupKey(name)
	}
	return keys
}

// newGroupEntry is a group's token, kept for life. A warm-up keeps off
// the group until settled (Unix ms): a token that replaced the tombstone
// of an invalidation less than a lease's life ago, as the tombstone would
// have, for rows read before the invalidation may still be warmed.
func newGroupEntry(token uint64, now time.Time, life time.Duration, settled int64) *entry[uint64] {
	until := unixMs(now) + life.Milliseconds()
	return &entry[uint64]{kind: kindGroup, value: token,
		meta: meta{freshUntil: until, staleUntil: until, claimUntil: settled}}
}

// groupToken returns the token h holds, and until when a warm-up keeps
// off it (Unix ms), if h is a group's.
func groupToken(h held) (token uint64, settled int64, ok bool) {
	if e, isEntry := h.value.(*entry[uint64]); isEntry && e.kind == kindGroup {
		return e.value, e.claimUntil, true
	}
	if h.data == nil {
		return 0, 0, false
	}
	k, m, payload, err := readHeader(h.data)
	if err != nil || k != kindGroup {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(payload), m.claimUntil, true
}

// stamped is shape with the tokens of an id's groups mixed in
// (splitmix64's finalizer after each): the same in every process.
func stamped(shape uint64, tokens []uint64) uint64 {
	for _, t := range tokens {
		z := shape ^ t + 0x9e3779b97f4a7c15
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		shape = z ^ z>>31
	}
	return shape
}

// groupTokens returns the token of each group key, as found (hs), making
// one where a key holds none: nothing, or the tombstone of the group's
// invalidation. A made token is the one the key then holds (a race lost
// reads the winner's).
func (c *Cache) groupTokens(ctx context.Context, be backend, keys []string, hs []held, p *fillPolicy) ([]uint64, error) {
	tokens := make([]uint64, len(keys))
	for i, k := range keys {
		t, _, ok := groupToken(hs[i])
		if !ok {
			var err error
			if t, err = c.makeToken(ctx, be, k, hs[i], p); err != nil {
				return nil, err
			}
		}
		tokens[i] = t
	}
	return tokens, nil
}

// makeToken writes a new token in the group key full, which held h (not
// a token), and returns the token the key then holds. A key the others
// keep writing to is given one unconditionally, after three tries: any
// new token is safe (reads that find it load afresh), only racing ones
// cost loads.
func (c *Cache) makeToken(ctx context.Context, be backend, full string, h held, p *fillPolicy) (uint64, error) {
	now := c.now()
	settled := unixMs(now) + c.opts.LeaseTTL.Milliseconds() // for a token over an invalidation
	for range 3 {
		token := rand.Uint64()
		var wrote bool
		var err error
		if h.zero() {
			e := newGroupEntry(token, now, p.groupLife, 0) // no invalidation within a lease's life: settled
			var added int
			added, _, err = be.add(ctx, []addItem{{full: full, e: e, ttl: p.groupLife}})
			wrote = added == 1
		} else {
			_, wrote, err = be.swap(ctx, full, h, newGroupEntry(token, now, p.groupLife, settled), p.groupLife)
		}
		switch {
		case err != nil:
			return 0, err
		case wrote:
			return token, nil
		}
		if h, err = be.find(ctx, full); err != nil {
			return 0, err
		}
		if t, _, ok := groupToken(h); ok {
			return t, nil
		}
	}
	token := rand.Uint64()
	return token, be.set(ctx, full, newGroupEntry(token, now, p.groupLife, settled), p.groupLife)
}
