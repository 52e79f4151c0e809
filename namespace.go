package aside

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

// NamespaceConfig describes one kind of cached data. It is data, not code:
// users for an hour, jobs for five minutes, sessions for a day are each
// one of these.
type NamespaceConfig struct {
	// Name identifies the namespace in Stats. Required unless Prefix is set.
	Name string
	// Prefix begins every key of the namespace, after the cache's
	// KeyPrefix. Default Name + ":".
	Prefix string
	// TTL is how long a loaded value is kept. Required.
	TTL time.Duration
	// NegativeTTL is how long a loader's ErrNotFound is kept. Default: the
	// cache's NegativeTTL (30 s unless set).
	NegativeTTL time.Duration
	// Jitter spreads TTLs over ±Jitter of them. 0 means the cache's Jitter
	// (±10% unless set); a negative value turns jitter off.
	Jitter float64

	// SoftTTL turns on stale-while-revalidate: a hit on a value older than
	// SoftTTL (and younger than TTL) serves it and refreshes it once, in the
	// background, under the key's claim. 0: off. It must be below TTL.
	SoftTTL time.Duration
	// EarlyRefresh is XFetch's β for this namespace (see Options).
	// 0 means the cache's; negative turns it off.
	EarlyRefresh float64
	// MaxStale is how long a value may stand in for a failing or slow
	// loader past its TTL (see Options). 0 means the cache's; negative off.
	MaxStale time.Duration
	// FailSafeThrottle: see Options. 0 means the cache's.
	FailSafeThrottle time.Duration
	// SoftTimeout: see Options. 0 means the cache's; negative off.
	SoftTimeout time.Duration
	// LoadTimeout is the hard bound of this namespace's loader calls (see
	// Options). 0 means the cache's (30 s unless set).
	LoadTimeout time.Duration
	// Version names the meaning of the namespace's values. An entry is
	// served only to readers of the Version and the shape of T it was
	// written with (see Namespace): change Version when a deploy changes
	// what values mean without changing their type, and entries written
	// before are read as misses and replaced. Default "".
	Version string
	// NearCache keeps the namespace's entries in the process too, or not
	// (see Options.NearCache). Default: the cache's.
	NearCache Near
	// Groups names the groups the entry of an id belongs to, from the id
	// alone: "lists:user:42" for every list of user 42's jobs. Invalidating
	// a group (Cache.Invalidate with Groups) makes every entry of it old at
	// once, in one write whatever its size, in every process. A read reads
	// the tokens of its id's groups with the entry, in the same store call
	// (from memory with the near cache), so a hit costs no round trip more;
	// the first miss after a group's invalidation writes the group's new
	// token before it loads. Groups must name the same groups for an id every
	// time, in every process. Default nil: no groups.
	Groups func(id string) []string
}

// Namespace is a typed view of the cache for one kind of data, keyed by id.
// It is safe for concurrent use.
type Namespace[T any] struct {
	c      *Cache
	name   string
	prefix string
	policy fillPolicy
	st     *counters
}

// NewNamespace returns the namespace cfg describes, or the error in cfg.
// Namespaces of one cache must not share a name, a prefix or keys: a
// prefix that begins with another's must continue it with a ':' (as
// "user:openid:" continues "user:"), for an id could spell anything else.
// A prefix is at most MaxKeyLen-MaxIDLen bytes, so that every key of the
// namespace is one the key-based functions take.
// The same configuration and type made again is the same namespace.
func NewNamespace[T any](c *Cache, cfg NamespaceConfig) (*Namespace[T], error) {
	if err := cfg.validate(c); err != nil {
		return nil, err
	}
	n := &Namespace[T]{c: c, name: cfg.Name, prefix: cfg.Prefix}
	if n.prefix == "" {
		n.prefix = n.name + ":"
	}
	if n.name == "" {
		n.name = strings.TrimSuffix(n.prefix, ":")
	}
	if len(n.prefix) > MaxKeyLen-MaxIDLen {
		// Its keys could be longer than the key door takes: entries no
		// GetIfPresent, Delete or DeletePattern of Key(id) could reach.
		return nil, fmt.Errorf("aside: namespace %q: prefix of %d bytes is longer than MaxKeyLen-MaxIDLen (%d)", n.name, len(n.prefix), MaxKeyLen-MaxIDLen)
	}
	typ := reflect.TypeFor[T]()
	n.policy = fillPolicy{
		ttl:         cfg.TTL,
		negativeTTL: orDefault(cfg.NegativeTTL, c.opts.NegativeTTL),
		jitter:      jitterOrDefault(cfg.Jitter, c.opts.Jitter),
		softTTL:     cfg.SoftTTL,
		earlyBeta:   max(jitterOrDefault(cfg.EarlyRefresh, c.opts.EarlyRefresh), 0),
		maxStale:    max(orDefault(cfg.MaxStale, c.opts.MaxStale), 0),
		throttle:    orDefault(cfg.FailSafeThrottle, c.opts.FailSafeThrottle),
		softTimeout: max(orDefault(cfg.SoftTimeout, c.opts.SoftTimeout), 0),
		loadTimeout: orDefault(cfg.LoadTimeout, c.opts.LoadTimeout),
		shape:       c.shapes.of(typ, cfg.Version),
		near:        cfg.NearCache == NearOn || (cfg.NearCache == NearInherit && c.opts.NearCache.Enabled),
	}
	if cfg.Groups != nil {
		n.policy.groups = &grouping{of: cfg.Groups}
		n.policy.groupLife = n.policy.entryLife(c.opts.LeaseTTL)
	}
	var err error
	n.st, err = c.stats.register(scope{name: n.name, prefix: n.prefix, version: cfg.Version, policy: &n.policy, typ: typeID(typ)})
	if err != nil {
		return nil, err
	}
	return n, nil
}

func (cfg NamespaceConfig) validate(c *Cache) error {
	switch {
	case c == nil:
		return errors.New("aside: namespace on a nil *Cache")
	case cfg.Name == "" && cfg.Prefix == "":
		return errors.New("aside: namespace needs a Name or a Prefix")
	case cfg.TTL <= 0:
		return fmt.Errorf("aside: namespace %q: TTL %v is not positive", cfg.Name, cfg.TTL)
	case cfg.NegativeTTL < 0:
		return fmt.Errorf("aside: namespace %q: NegativeTTL %v is negative", cfg.Name, cfg.NegativeTTL)
	case cfg.Jitter >= 1 || math.IsNaN(cfg.Jitter) || math.IsNaN(cfg.EarlyRefresh):
		return fmt.Errorf("aside: namespace %q: Jitter %v must be below 1, and Jitter and EarlyRefresh numbers", cfg.Name, cfg.Jitter)
	case cfg.SoftTTL < 0 || (cfg.SoftTTL > 0 && cfg.SoftTTL >= cfg.TTL):
		return fmt.Errorf("aside: namespace %q: SoftTTL %v must be between 0 and TTL %v", cfg.Name, cfg.SoftTTL, cfg.TTL)
	case cfg.FailSafeThrottle < 0:
		return fmt.Errorf("aside: namespace %q: FailSafeThrottle %v is negative", cfg.Name, cfg.FailSafeThrottle)
	case cfg.LoadTimeout < 0 || cfg.LoadTimeout > c.opts.LeaseTTL:
		return fmt.Errorf("aside: namespace %q: LoadTimeout %v: want at most the cache's LeaseTTL %v (a longer load would fill nothing)", cfg.Name, cfg.LoadTimeout, c.opts.LeaseTTL)
	case cfg.NearCache > NearOn:
		return fmt.Errorf("aside: namespace %q: NearCache %d is no Near", cfg.Name, cfg.NearCache)
	case cfg.NearCache == NearOn && !c.opts.NearCache.Enabled:
		return fmt.Errorf("aside: namespace %q: NearCache is on, but the cache's is not (Options.NearCache.Enabled)", cfg.Name)
	}
	return nil
}

// Name returns the namespace's name.
func (n *Namespace[T]) Name() string { return n.name }

// TTL returns the TTL of the namespace's values.
func (n *Namespace[T]) TTL() time.Duration { return n.policy.ttl }

// Key returns the key of id, relative to the cache's prefix: the
// namespace's prefix and the id, escaped as Key escapes it.
func (n *Namespace[T]) Key(id string) string { return n.prefix + escapeID(id) }

// Get returns the value cached for id, or loads, caches and returns it, as
// GetOrSet does, with the namespace's TTLs, jitter and serving policy.
func (n *Namespace[T]) Get(ctx context.Context, id string, load func(context.Context) (T, error)) (T, error) {
	if err := n.check(id, load == nil); err != nil {
		var zero T
		return zero, err
	}
	r := n.read(id, load)
	return r.get(ctx)
}

// GetEncoded is Get answering with the value's encoding by the cache's
// Codec, as GetOrSetEncoded does.
func (n *Namespace[T]) GetEncoded(ctx context.Context, id string, load func(context.Context) (T, error)) ([]byte, error) {
	if err := n.check(id, load == nil); err != nil {
		return nil, err
	}
	r := n.read(id, load)
	return r.getEncoded(ctx)
}

// GetIfPresent returns the value cached for id without loading anything,
// as the package's GetIfPresent does.
func (n *Namespace[T]) GetIfPresent(ctx context.Context, id string) (v T, found bool, err error) {
	if err := n.check(id, false); err != nil {
		return v, false, err
	}
	r := n.read(id, nil)
	return r.getIfPresent(ctx)
}

// Set caches v for id with the namespace's TTL, jitter and stale period,
// replacing what was there; a load of the key in flight in this process
// no longer fills it. It returns an error wrapping ErrUnavailable when the
// store fails it or the breaker is open. Set is for a value the caller knows to be current:
// it takes no part in fencing (see docs/CONSISTENCY.md).
func (n *Namespace[T]) Set(ctx context.Context, id string, v T) error {
	if err := n.check(id, false); err != nil {
		return err
	}
	r := n.read(id, nil)
	if err := r.stampForWrite(ctx); err != nil {
		return err
	}
	now := n.c.now()
	m := r.meta(kindValue, now, 0)
	return r.set(ctx, v, m, untilMs(m.staleUntil, unixMs(now)))
}

func (n *Namespace[T]) read(id string, load func(context.Context) (T, error)) read[T] {
	return n.readKey(id, n.fullKey(id), load)
}

// fullKey is the key of id with the cache's prefix: one allocation.
func (n *Namespace[T]) fullKey(id string) string {
	return n.c.opts.KeyPrefix + n.prefix + escapeID(id)
}

// readKey is the read of id, whose full key is full.
func (n *Namespace[T]) readKey(id, full string, load func(context.Context) (T, error)) read[T] {
	return read[T]{c: n.c, st: n.st, key: full[len(n.c.opts.KeyPrefix):], id: id, full: full,
		p: &n.policy, ttl: n.policy.ttl, shape: n.policy.shape, load: load, groups: n.c.groupKeys(&n.policy, id)}
}

// Invalidate removes the entries of ids, in one round trip. Call it after
// every write of the rows behind them: loads in flight can no longer fill
// these keys, and later reads load afresh. When the store cannot be
// reached, it returns an error wrapping ErrDeferred: the invalidation is
// kept and replayed before the store is used again.
func (n *Namespace[T]) Invalidate(ctx context.Context, ids ...string) error {
	if n.c.closed.Load() {
		return ErrClosed
	}
	if len(ids) == 0 {
		return nil
	}
	full := make([]string, len(ids))
	for i, id := range ids {
		if id == "" {
			return invalid("empty %s id", n.name)
		}
		full[i] = n.c.opts.KeyPrefix + n.Key(id)
	}
	_, err := n.c.invalidate(ctx, []scopedKeys{{sc: n.scope(), keys: full}})
	return err
}

// scope is the namespace's entry in the cache's registry.
func (n *Namespace[T]) scope() scope {
	return scope{name: n.name, prefix: n.prefix, c: n.st, policy: &n.policy}
}

func (n *Namespace[T]) check(id string, nilLoader bool) error {
	switch {
	case n.c.closed.Load():
		return ErrClosed
	case id == "":
		return invalid("empty %s id", n.name)
	case nilLoader:
		return invalid("nil loader for %s %q", n.name, id)
	}
	return nil
}
