package aside

import (
	"encoding/binary"
	"time"
)

// Entry describes what a key holds in a remote store, read from its bytes
// by InspectEntry: for an operator looking at a key with redis-cli (the
// aside CLI's inspect command prints it).
type Entry struct {
	// Kind is "value", "not found" (a negative entry), "lease" (a load in
	// progress), "tombstone" (a recent invalidation) or "group" (a
	// group's token).
	Kind string
	// FreshUntil is the value's logical expiry; StaleUntil the end of
	// its stale period (fail-safe), when the store drops it.
	FreshUntil, StaleUntil time.Time
	// RefreshAfter is when a hit starts refreshing it (soft TTL); zero
	// when never.
	RefreshAfter time.Time
	// ClaimUntil is, for a value, until when a refresh holds it; for a
	// lease over a tombstone, its holder's deadline.
	ClaimUntil time.Time
	// Load is how long the load that wrote it took.
	Load time.Duration
	// Shape is the fingerprint of the value's type and namespace Version
	// (and groups' tokens) it was written under.
	Shape uint64
	// Payload is the value's encoding by the cache's Codec (JSON by
	// default); for a lease or a group, its token.
	Payload []byte
}

var kindNames = map[kind]string{kindValue: "value", kindNotFound: "not found", kindLease: "lease", kindTombstone: "tombstone", kindGroup: "group"}

// InspectEntry reads the bytes a key of a remote store holds. Bytes aside
// did not write (or an older release's) are an error wrapping ErrInvalid.
func InspectEntry(data []byte) (Entry, error) {
	k, m, payload, err := readHeader(data)
	if err != nil {
		return Entry{}, invalid("%v", err)
	}
	e := Entry{Kind: kindNames[k], FreshUntil: msTime(m.freshUntil), StaleUntil: msTime(m.staleUntil),
		RefreshAfter: msTime(m.refreshAfter), ClaimUntil: msTime(m.claimUntil),
		Load: time.Duration(m.loadMicros) * time.Microsecond, Shape: m.shape, Payload: payload}
	if k == kindGroup || k == kindLease {
		e.Payload = binary.BigEndian.AppendUint64(nil, binary.LittleEndian.Uint64(payload))
	}
	return e, nil
}

// msTime is a Unix ms time, zero for 0.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
