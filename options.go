package aside

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Options configures a Cache. The zero value gives the documented defaults.
type Options struct {
	// KeyPrefix is put in front of every key, so that Clear and pattern
	// deletes can never reach another application's keys in the same Redis
	// database. Give each service its own ("products:"): two services
	// under one prefix share their keys, and one's Clear empties the
	// other's cache. Default "aside:".
	KeyPrefix string
	// OpTimeout bounds each call to the store (a GET, a SET, one batch of
	// a warm-up): at most a minute. Default 100ms.
	OpTimeout time.Duration
	// LoadTimeout bounds a loader call. The load runs on a context detached
	// from its callers, so this is what stops a loader that never returns,
	// and what a caller without a deadline of its own waits at most. At
	// most LeaseTTL: a longer load would fill nothing. Namespaces may set
	// their own. Default 5s.
	LoadTimeout time.Duration
	// LeaseTTL is the longest a load holds the lease on its key (see
	// GetOrSet): a load that takes longer fills nothing, and readers in
	// other processes wait for a live holder this long at most. Tombstones
	// live this long too. At most an hour. Default 10s.
	LeaseTTL time.Duration
	// HolderTimeout is how long a lease (or a refresh's claim) lives in a
	// remote store unless its holder renews it: a holder renews every
	// third of it while its load runs, up to LeaseTTL. So a holder that is
	// gone (its process killed, a call that timed out after Redis took its
	// lease, a lease a snapshot brought back) keeps readers in other
	// processes waiting no longer than about this, while a live holder's
	// slow load is still waited for. In process (memstore) a holder cannot
	// vanish, and leases live LeaseTTL. Below 3 OpTimeouts, a slow store
	// can let a live holder's lease expire: another process then loads
	// too (a second load, never a wrong value). At most LeaseTTL. Default
	// 1s (LeaseTTL when that is shorter).
	HolderTimeout time.Duration
	// NegativeTTL is how long GetOrSet keeps a loader's ErrNotFound.
	// Namespaces set their own. Default 30s.
	NegativeTTL time.Duration
	// Jitter spreads the TTL of each fill uniformly over ±Jitter of it, so
	// that entries written together do not expire together. Default 0.1
	// (±10%); a negative value turns jitter off.
	Jitter float64
	// EarlyRefresh turns on probabilistic early refresh (XFetch, Vattani et
	// al., VLDB 2015) with this β: a hit refreshes its entry in the
	// background with a probability that rises as the entry's expiry nears,
	// scaled by how long its load took, so a hot key is reloaded before it
	// expires, by one caller, without a stampede. 1 is the paper's optimum;
	// 0, the default, turns it off.
	EarlyRefresh float64
	// MaxStale turns on fail-safe: a value is kept this long past its TTL,
	// and when its loader then fails (or passes SoftTimeout), it is served
	// in the loader's stead, counted as stale. An invalidated entry is gone
	// and never served. Default 0: off.
	MaxStale time.Duration
	// FailSafeThrottle is how long a value fail-safe served is then served
	// as fresh before the loader is tried again. Default 5s.
	FailSafeThrottle time.Duration
	// SoftTimeout, with a stale value at hand (fail-safe), is how long a read
	// waits for the loader before it is served the stale value; the load
	// goes on and fills the key. Default 0: wait as long as the load takes
	// (up to LoadTimeout, the hard timeout).
	SoftTimeout time.Duration
	// MaxPendingInvalidations bounds the invalidations kept while the store
	// cannot be reached (see ErrDeferred). Past it, a namespace's pending
	// keys give way to clearing the whole namespace when the store answers.
	// Default 10,000.
	MaxPendingInvalidations int
	// Now is the clock of entries' logical times (freshness, stale periods,
	// refreshes), for tests that move time on. Physical expiry stays the
	// store's: an entry with no soft TTL, no stale period and no early
	// refresh has no logical time but its physical expiry, so only the
	// store's clock expires it. Default time.Now.
	Now func() time.Time
	// Codec encodes values for stores outside the process. Default JSON.
	Codec Codec
	// DecodeMemoBytes bounds the decode memo of a Cache on a remote store:
	// for the keys read most, the bytes last read and their decoding, so
	// that a hit on unchanged bytes skips the codec (every read still reads
	// the store). Values served from it are shared by their readers, as an
	// in-process store's are: do not modify what a read returns. An entry
	// is weighed as twice its bytes, an estimate: a value decoded into maps
	// can take more. Default 16 MiB; negative turns it off.
	DecodeMemoBytes int64
	// Logger receives breaker transitions and store errors that a read
	// absorbed (keys, never values). Default: discard.
	Logger *slog.Logger
	// Breaker tunes the circuit breaker around a remote store.
	Breaker BreakerOptions
	// Recovery configures what a Cache on a remote store does when the
	// store's data may have gone back in time (see RecoveryOptions).
	Recovery RecoveryOptions
	// NearCache keeps the entries of a remote store that are read in the
	// process too, decoded, coherent with the store through its own
	// invalidation pushes (see NearCacheOptions). Off by default.
	NearCache NearCacheOptions
}

// NearCacheOptions configures the near cache: entries a remote store (a
// Tracker: redisstore.Store) holds, kept decoded in the process once read,
// served without a round trip while the store's tracking says they are
// current. A value it serves is never older than MaxLag: it is dropped
// when the store says its key changed, and nothing is served unless a
// round trip that followed every push sent before it came back less than
// MaxLag ago. This process's own writes drop their keys before they
// return. Values served from it are shared by their readers: do not
// modify what a read returns.
type NearCacheOptions struct {
	// Enabled turns the near cache on, for every namespace that does not
	// turn it off (NamespaceConfig.NearCache) and every key outside
	// namespaces. The store must be a Tracker.
	Enabled bool
	// MaxBytes bounds what the near cache holds, each entry weighed (its
	// key, its bytes, its decoded value walked through). Default 64 MiB.
	MaxBytes int64
	// MaxLag bounds how stale a value served from memory can be: the
	// store's pushes are confirmed every MaxLag/4, and past MaxLag without
	// a confirmation (the store paused, a connection stuck) reads go to
	// the store. Default 100ms.
	MaxLag time.Duration
}

// RecoveryOptions configures how a Cache makes its invalidations hold
// again when the store's data may have gone back in time: Redis restarted
// (from a snapshot, or empty), another server answers (a failover to a
// replica that had not received the last writes), or the data was flushed.
// The store must be a Lineage (redisstore.Store is) for the Cache to tell.
// It finds out on the store's first call after a new connection (before
// anything that call reads is trusted) and otherwise within half a second,
// and then: drops its near cache, makes again every invalidation it
// remembers (see Window), and keeps reads and fills off the store for the
// Quarantine, so that other processes make theirs again first.
type RecoveryOptions struct {
	// Window is the longest an invalidation is remembered after it was
	// made: a key's, for its namespace's longest entry life (past which an
	// entry it replaced would have expired even where Redis brings it
	// back), at most Window; a key under no namespace's, and a pattern
	// delete's, for Window. A snapshot or a replica older than Window can
	// bring back entries whose invalidation is forgotten. Default 1h: the
	// guide's longest TTL (users), and Redis's default snapshot schedule
	// (save 3600 1).
	Window time.Duration
	// MaxKeys bounds the invalidations remembered (each about 200 bytes).
	// Past it, the least recent is forgotten, and if the store goes back
	// in time while it still mattered, its whole namespace is cleared.
	// Default 100,000.
	MaxKeys int
	// Quarantine is how long, after it found the store's data may have
	// gone back in time, the Cache keeps reads and fills off the store
	// (reads answer from the loader), so that other processes, which find
	// out within half a second, make their invalidations hold again before
	// this one reads. Default 1s; negative: none.
	Quarantine time.Duration
}

// Near is a namespace's choice about the near cache.
type Near uint8

const (
	NearInherit Near = iota // the cache's: on when Options.NearCache.Enabled
	NearOff                 // never kept in the process
	NearOn                  // kept in the process: needs Options.NearCache.Enabled
)

// BreakerOptions tunes the circuit breaker that a Cache keeps around a
// remote store. One breaker serves every call of the Cache.
type BreakerOptions struct {
	// ConsecutiveFailures opens the breaker after this many store calls in
	// a row fail. Default 5.
	ConsecutiveFailures uint32
	// Cooldown is how long the breaker stays open before it probes the
	// store (a read of its own, not a caller's); 100 ms after a probe
	// succeeds, it closes. Default 2s.
	Cooldown time.Duration
}

// Defaults, as documented on Options.
const (
	DefaultKeyPrefix   = "aside:"
	DefaultOpTimeout   = 100 * time.Millisecond
	DefaultLoadTimeout = 5 * time.Second
	DefaultNegativeTTL = 30 * time.Second
	DefaultLeaseTTL    = 10 * time.Second
	// DefaultHolderTimeout: a reader waits about a second on a holder that is gone.
	DefaultHolderTimeout = time.Second
	DefaultThrottle      = 5 * time.Second
	DefaultJitter        = 0.1
	// DefaultDecodeMemoBytes is the decode memo's default bound.
	DefaultDecodeMemoBytes = 16 << 20
	// DefaultNearMaxBytes and DefaultNearMaxLag are the near cache's.
	DefaultNearMaxBytes = 64 << 20
	DefaultNearMaxLag   = 100 * time.Millisecond
	// DefaultRecoveryWindow, DefaultRecoveryMaxKeys and DefaultQuarantine
	// are RecoveryOptions'.
	DefaultRecoveryWindow  = time.Hour
	DefaultRecoveryMaxKeys = 100_000
	DefaultQuarantine      = time.Second
	minHolderTimeout       = 3 * time.Millisecond
	maxOpTimeout           = time.Minute
	maxLeaseTTL            = time.Hour
	defaultFailures        = 5
	defaultCooldown        = 2 * time.Second
)

// withDefaults validates o and fills in the defaults of its zero fields.
func (o Options) withDefaults() (Options, error) {
	switch {
	case math.IsNaN(o.Jitter) || math.IsNaN(o.EarlyRefresh):
		return o, errors.New("aside: Jitter and EarlyRefresh must be numbers, not NaN")
	case o.OpTimeout < 0 || o.OpTimeout > maxOpTimeout:
		return o, fmt.Errorf("aside: OpTimeout %v: want a duration above 0 and at most %v (a store call that long is an outage)", o.OpTimeout, maxOpTimeout)
	case o.LoadTimeout < 0:
		return o, fmt.Errorf("aside: LoadTimeout %v is negative", o.LoadTimeout)
	case o.EarlyRefresh < 0:
		return o, fmt.Errorf("aside: EarlyRefresh %v is negative", o.EarlyRefresh)
	case o.MaxStale < 0 || o.FailSafeThrottle < 0 || o.SoftTimeout < 0:
		return o, fmt.Errorf("aside: MaxStale, FailSafeThrottle and SoftTimeout must not be negative")
	case o.MaxPendingInvalidations < 0:
		return o, fmt.Errorf("aside: MaxPendingInvalidations %d is negative", o.MaxPendingInvalidations)
	case o.LeaseTTL < 0 || o.LeaseTTL > maxLeaseTTL:
		return o, fmt.Errorf("aside: LeaseTTL %v: want a duration above 0 and at most %v", o.LeaseTTL, maxLeaseTTL)
	case o.HolderTimeout < 0:
		return o, fmt.Errorf("aside: HolderTimeout %v is negative", o.HolderTimeout)
	case o.NegativeTTL < 0:
		return o, fmt.Errorf("aside: NegativeTTL %v is negative", o.NegativeTTL)
	case o.Jitter >= 1:
		return o, fmt.Errorf("aside: Jitter %v must be below 1", o.Jitter)
	case o.DecodeMemoBytes > 1<<40:
		return o, fmt.Errorf("aside: DecodeMemoBytes %d is above 1 TiB", o.DecodeMemoBytes)
	case o.Recovery.Window < 0 || o.Recovery.MaxKeys < 0:
		return o, fmt.Errorf("aside: Recovery.Window and Recovery.MaxKeys must not be negative")
	case o.Breaker.Cooldown < 0:
		return o, fmt.Errorf("aside: Breaker.Cooldown %v is negative", o.Breaker.Cooldown)
	case o.NearCache.MaxBytes < 0 || o.NearCache.MaxLag < 0:
		return o, fmt.Errorf("aside: NearCache.MaxBytes and NearCache.MaxLag must not be negative")
	case o.NearCache.MaxLag > 0 && o.NearCache.MaxLag < 4*time.Millisecond:
		return o, fmt.Errorf("aside: NearCache.MaxLag %v is below 4ms", o.NearCache.MaxLag)
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	o.OpTimeout = orDefault(o.OpTimeout, DefaultOpTimeout)
	o.NegativeTTL = orDefault(o.NegativeTTL, DefaultNegativeTTL)
	o.LeaseTTL = orDefault(o.LeaseTTL, DefaultLeaseTTL)
	o.LoadTimeout = orDefault(o.LoadTimeout, min(DefaultLoadTimeout, o.LeaseTTL))
	if o.HolderTimeout == 0 {
		o.HolderTimeout = min(DefaultHolderTimeout, o.LeaseTTL)
	}
	switch {
	case o.LoadTimeout > o.LeaseTTL:
		return o, fmt.Errorf("aside: LoadTimeout %v is above LeaseTTL %v: a load that long would fill nothing (raise LeaseTTL with it)", o.LoadTimeout, o.LeaseTTL)
	case o.HolderTimeout > o.LeaseTTL:
		return o, fmt.Errorf("aside: HolderTimeout %v is above LeaseTTL %v", o.HolderTimeout, o.LeaseTTL)
	case o.HolderTimeout < minHolderTimeout:
		// A holder renews every third of it: a shorter one would renew in
		// a loop, or not at all.
		return o, fmt.Errorf("aside: HolderTimeout %v (LeaseTTL %v) is below %v", o.HolderTimeout, o.LeaseTTL, minHolderTimeout)
	}
	o.FailSafeThrottle = orDefault(o.FailSafeThrottle, DefaultThrottle)
	o.MaxPendingInvalidations = orDefault(o.MaxPendingInvalidations, 10_000)
	o.Jitter = jitterOrDefault(o.Jitter, DefaultJitter)
	o.DecodeMemoBytes = orDefault(o.DecodeMemoBytes, DefaultDecodeMemoBytes)
	if o.Codec == nil {
		o.Codec = JSON{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Breaker.ConsecutiveFailures = orDefault(o.Breaker.ConsecutiveFailures, defaultFailures)
	o.Breaker.Cooldown = orDefault(o.Breaker.Cooldown, defaultCooldown)
	o.Recovery.Window = orDefault(o.Recovery.Window, DefaultRecoveryWindow)
	o.Recovery.MaxKeys = orDefault(o.Recovery.MaxKeys, DefaultRecoveryMaxKeys)
	o.Recovery.Quarantine = max(orDefault(o.Recovery.Quarantine, DefaultQuarantine), 0)
	o.NearCache.MaxBytes = orDefault(o.NearCache.MaxBytes, DefaultNearMaxBytes)
	o.NearCache.MaxLag = orDefault(o.NearCache.MaxLag, DefaultNearMaxLag)
	return o, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// jitterOrDefault reads the Jitter convention: 0 means the default, a
// negative value means none.
func jitterOrDefault(j, def float64) float64 {
	switch {
	case j == 0:
		return def
	case j < 0:
		return 0
	}
	return j
}
