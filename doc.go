// Package aside is a cache-aside layer for Go services: reads go through a
// cache (Redis, or memory in process) and fall back to a loader, usually a
// database query, on a miss.
//
//	store, _ := redisstore.New(redisstore.Options{URL: "redis://127.0.0.1:6379/0"})
//	c, _ := aside.New(store, aside.Options{})      // or memstore.New(memstore.Options{})
//	defer c.Close()
//
//	users, err := aside.NewNamespace[User](c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
//	u, err := users.Get(ctx, "42", func(ctx context.Context) (User, error) {
//		return db.User(ctx, 42) // return aside.ErrNotFound for a missing row
//	})
//	...
//	db.UpdateUser(ctx, u)
//	users.Invalidate(ctx, "42")
//
// # What a read does
//
// A hit returns the cached value and never calls the loader. A miss calls
// the loader once, stores its value for the TTL (spread by ±10% jitter so
// that entries written together do not expire together), and returns it.
// Concurrent misses of one key in one process share a single loader call,
// which runs on a context detached from the callers, bounded by
// Options.LoadTimeout; each caller can stop waiting on its own context.
//
// Fills are fenced. Before it loads, a miss takes a lease on the key (a
// placeholder with a random token, written only if the key is empty; one
// SET NX GET on Redis); the fill replaces the lease only if it still holds
// (a compare-and-set script). Delete, Invalidate and pattern deletes remove
// the lease with the entry, so a load that read the database before a
// write can never store its older value after the write's invalidation.
// They also detach the loads in flight for their keys, so a caller that
// arrives after an invalidation loads afresh instead of joining them.
//
// Across processes, the lease also makes one loader per key: a miss that
// finds another process's lease waits for its fill. An invalidation leaves
// a short-lived tombstone rather than nothing, so that a warm-up that read
// its rows before the invalidation cannot write them after it. The exact
// guarantees, and what they assume, are in docs/CONSISTENCY.md.
//
// A handler that sends the value in the codec's encoding (JSON over HTTP
// with the default codec) can read it with GetOrSetEncoded or
// Namespace.GetEncoded: a fresh hit from Redis then answers with the cached
// bytes as they came, skipping a decode and an encode of the same JSON.
//
// # Batches and groups
//
// Namespace.GetMany reads many ids as Get reads each, in one store call
// (hits from the near cache first, then one MGET, one per hash slot on a
// cluster), and calls its loader once, with the ids it lacks, in the order
// given: each id is leased, fenced, coalesced with other callers and
// processes, and served fail-safe as a Get of it would be.
// GetManyEncoded answers with the cached bytes, for an HTTP handler.
//
// An entry can belong to groups, named from its id
// (NamespaceConfig.Groups): "the pages of category 7". Cache.Invalidate
// with Groups makes every entry of a group old in one write, however many
// there are, in every process; Namespace.IDs names ids of a namespace in
// the same call, so that a write that touches several namespaces and
// groups invalidates them in one store call. A read reads its groups'
// tokens with its entry, in the same store call, and serves the entry only
// if it was filled under those tokens: a load that raced the group's
// invalidation fills an entry no later read serves.
//
// # Serving past the TTL
//
// Entries carry a logical expiry inside a longer physical one. With a soft
// TTL (or XFetch's early refresh) a hit serves the value and refreshes it
// once, in the background, under a claim on the entry. With MaxStale
// (fail-safe), a value past its TTL stands in when the loader fails or
// passes the soft timeout, and the loader is tried again only after a
// throttle period. An invalidated entry is never served stale: not by the
// process that invalidated, nor by any other to a read that begins after
// the invalidation returned.
//
// A loader error is returned (wrapped in *LoadError), never cached and
// never retried behind the caller's back. A loader that returns
// ErrNotFound has that answer cached as a negative entry for the negative
// TTL (30 s by default), so a missing row is not queried on every read.
// Zero values (0, "", an empty struct, a nil slice) are values and hits.
//
// # Types and deploys
//
// Each cached value carries a fingerprint of its shape: the structure of
// the type it was written as, and its namespace's NamespaceConfig.Version.
// A reader of another shape finds nothing to serve, loads, and replaces
// the entry. So a deploy that changes a cached type (a field renamed or
// retyped) never serves what the previous deploy cached, through Get or
// GetEncoded; set Version when the meaning of values changes but their
// type does not. During a rolling deploy, old and new processes read each
// other's entries as misses.
//
// # When the store fails
//
// Redis is an optimisation, never a dependency. Every call to a remote
// store is bounded by Options.OpTimeout (100 ms) and goes through one
// circuit breaker (sony/gobreaker) shared by the whole Cache. After five
// failures in a row the breaker opens: reads skip the store at once and
// answer from the loader, writes are skipped and counted; after a cooldown
// (2 s) the breaker probes the store with a read of its own, and closes
// 100 ms after a probe succeeds, once other processes have replayed the
// invalidations they kept during the outage.
// Entries that do not decode are counted as errors, deleted, and answered
// by the loader. Calls that cannot do without the store (Set, Exists,
// TTL, Warm, Ping) return an error wrapping ErrUnavailable when it fails
// or the breaker is open. An invalidation (Invalidate, Delete, pattern
// deletes, Clear) that cannot reach the store is kept and replayed before
// the store is used again: its error wraps ErrDeferred, never
// ErrUnavailable.
//
// # Errors
//
// Each condition has one shape, whatever the cache's state (the store up
// or down, the key cached or not), tested with errors.Is and errors.As:
//
//	condition                                   reads (Get, GetMany, GetOrSet, GetIfPresent, ...)   invalidations (Invalidate, Delete, DeletePattern, Clear)   Set, Warm, Exists, TTL, Ping
//	the row does not exist                      *LoadError wrapping ErrNotFound (GetMany: absent)    -                                                           -
//	the loader failed                           *LoadError wrapping the loader's error               -                                                           -
//	the load ran past LoadTimeout               *LoadError wrapping ErrLoadTimeout                   -                                                           -
//	the caller's context ended                  its error (context.Canceled, DeadlineExceeded),      ErrDeferred (kept and replayed)                             the context's error
//	                                            never a *LoadError
//	the store failed, or the breaker is open    never: the loader answers                            ErrDeferred, never ErrUnavailable: the write stands         ErrUnavailable
//	a wrong argument (empty id, nil loader,     ErrInvalid                                           ErrInvalid (ErrBadPattern for a pattern)                    ErrInvalid
//	TTL, batch over MaxBatch, value the
//	codec refuses)
//	the Cache is closed                         ErrClosed                                            ErrClosed                                                   ErrClosed
//
// So a handler maps them once (see the example of LoadError): ErrNotFound
// to 404, ErrInvalid to 400, a caller's context to nothing (the client
// left) or 504, ErrLoadTimeout and other load errors to 503 or 500; and an
// invalidation's ErrDeferred after a committed write to success.
//
// # Keys
//
// Every key is put behind Options.KeyPrefix ("aside:" by default), so that
// Clear and DeletePattern only ever reach the cache's own keys, even in a
// Redis database shared with a job queue. Key and Namespace escape ids, so
// that an id like "1:result" cannot pose as another namespace's key.
// DeletePattern takes Redis glob syntax relative to the prefix and walks
// the keyspace with SCAN and UNLINK in batches, on every master of a
// cluster; it never runs KEYS or FLUSHDB.
//
// Two doors lead to the same entries: a Namespace reads and writes by id;
// GetOrSet, GetOrSetEncoded, GetIfPresent, Set and Delete take keys. A key
// under a namespace's prefix is that namespace's entry through either
// door: counted in its figures, filled and served by its policy, with the
// call's own TTL where the call names one.
//
// # Stores
//
// Package redisstore keeps entries in Redis (standalone, Sentinel or
// Cluster, through rueidis). Package memstore keeps them in the process
// (otter), decoded, so that a hit costs no decoding; it is the embedded
// default for a single instance. Values for a remote store are encoded by
// a Codec (JSON by default) inside a small versioned envelope; string and
// []byte values are stored as they are. A Redis hit still reads Redis,
// but one whose bytes are those last read for its key reuses their
// decoding (Options.DecodeMemoBytes). Either way, a value read may be
// shared by its readers: do not modify it.
//
// # Figures
//
// Stats returns hits, misses, sets, deletes (entries removed, never the
// tombstones or leases that go with them),
// errors and the hit rate, in total and per namespace, with loads, load
// errors, coalesced waits, bypassed calls, skipped writes and the breaker's
// state. Counting takes no lock on the hit path.
package aside
