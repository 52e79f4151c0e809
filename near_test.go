package aside_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// nearCaches returns n caches with a near cache, each over a store of its
// own (as n processes) on srv, under one prefix, each serving from memory.
func nearCaches(t *testing.T, srv *redistest.Server, n int, opts aside.Options) []*aside.Cache {
	t.Helper()
	opts.KeyPrefix = uniquePrefix(t)
	opts.NearCache.Enabled = true
	var cs []*aside.Cache
	for range n {
		c := newCache(t, newRedisStore(t, srv.Addr), opts)
		waitServing(t, c)
		cs = append(cs, c)
	}
	return cs
}

// waitServing waits until c's near cache serves from memory.
func waitServing(t *testing.T, c *aside.Cache) {
	t.Helper()
	waitFor(t, "the near cache to serve", func() bool { return c.Stats().Near.Serving })
}

// commands returns how many times srv ran cmd (INFO commandstats).
func commands(t *testing.T, srv *redistest.Server, cmd string) int {
	t.Helper()
	info, err := redistest.Do(srv.Addr, "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_` + cmd + `:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// A near hit is answered from memory: after a read kept it, 1,000 reads
// send Redis no GET, and count as near hits.
func TestNearHitsAskRedisNothing(t *testing.T) {
	srv := redistest.Start(t)
	c := nearCaches(t, srv, 1, aside.Options{})[0]
	ctx := context.Background()
	users := newNamespace[User](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	load := &counter[User]{value: sampleUser(1)}
	users.Get(ctx, "1", load.load) // a miss: loads and fills
	// Read from Redis and kept, unless the push about the fill (this
	// process's own write) comes after and drops it: then read again.
	waitFor(t, "a near hit", func() bool {
		users.Get(ctx, "1", load.load)
		return c.Stats().NearHits > 0
	})
	c.ResetStats()
	before := commands(t, srv, "get")
	for range 1000 {
		if u, err := users.Get(ctx, "1", load.load); err != nil || u != sampleUser(1) {
			t.Fatalf("Get = %+v, %v", u, err)
		}
	}
	if gets := commands(t, srv, "get") - before; gets != 0 {
		t.Errorf("1,000 hits sent Redis %d GETs; want 0", gets)
	}
	st := c.Stats()
	if ns := st.Namespaces["users"]; ns.NearHits != 1000 || ns.Hits != 1000 || ns.NearMisses != 0 || load.calls.Load() != 1 {
		t.Errorf("near hits %d of %d hits, near misses %d, loads %d; want 1000 of 1000, 0, 1", ns.NearHits, ns.Hits, ns.NearMisses, load.calls.Load())
	}
	if st.Near.Entries != 1 || st.Near.Bytes <= 0 {
		t.Errorf("near cache holds %d entries, %d bytes; want 1 and its weight", st.Near.Entries, st.Near.Bytes)
	}
}

// Read-your-writes in a process: once Delete, Set, Invalidate or a
// pattern delete returns, no read of that process gets the old value
// from memory, though Redis's push about the write has not come yet.
func TestNearReadsSeeTheirOwnProcesssWrites(t *testing.T) {
	srv := redistest.Start(t)
	c := nearCaches(t, srv, 1, aside.Options{})[0]
	ctx := context.Background()
	ns := newNamespace[string](t, c, aside.NamespaceConfig{Name: "n", TTL: time.Hour})
	writes := map[string]func(id, v string) error{
		"Invalidate":    func(id, _ string) error { return ns.Invalidate(ctx, id) },
		"Delete":        func(id, _ string) error { _, err := c.Delete(ctx, ns.Key(id)); return err },
		"DeletePattern": func(id, _ string) error { _, err := c.DeletePattern(ctx, ns.Key(id)); return err },
		"Namespace.Set": func(id, v string) error { return ns.Set(ctx, id, v) },
		"Set":           func(id, v string) error { return aside.Set(ctx, c, ns.Key(id), v, time.Hour) },
	}
	for name, write := range writes {
		stale := 0
		for i := range 100 {
			id, db := fmt.Sprint(name, i), newRow("old")
			ns.Get(ctx, id, readRow(db))
			ns.Get(ctx, id, readRow(db)) // kept in memory
			db.set("new")
			if err := write(id, "new"); err != nil {
				t.Fatal(err)
			}
			if v, _ := ns.Get(ctx, id, readRow(db)); v != "new" {
				stale++
			}
		}
		if stale > 0 {
			t.Errorf("%s: %d of 100 reads right after it returned got the old value", name, stale)
		}
	}
}

// Across processes, a value is served from memory no later than MaxLag
// after another process's write returned: B reads until it sees A's
// write, and every read begun MaxLag after the write returned sees it.
func TestNearStalenessAcrossProcessesIsBoundedByMaxLag(t *testing.T) {
	srv := redistest.Start(t)
	const maxLag = 100 * time.Millisecond
	cs := nearCaches(t, srv, 2, aside.Options{NearCache: aside.NearCacheOptions{MaxLag: maxLag}})
	a, b := cs[0], cs[1]
	ctx := context.Background()
	na := newNamespace[string](t, a, aside.NamespaceConfig{Name: "n", TTL: time.Hour})
	nb := newNamespace[string](t, b, aside.NamespaceConfig{Name: "n", TTL: time.Hour})
	var worst time.Duration
	for i := range 50 {
		id, db := fmt.Sprint(i), newRow("old")
		nb.Get(ctx, id, readRow(db))
		nb.Get(ctx, id, readRow(db)) // kept in B's memory
		db.set("new")
		if err := na.Invalidate(ctx, id); err != nil {
			t.Fatal(err)
		}
		returned := time.Now()
		for {
			began := time.Now()
			v, err := nb.Get(ctx, id, readRow(db))
			if err == nil && v == "new" {
				worst = max(worst, began.Sub(returned))
				break
			}
			if began.Sub(returned) > maxLag {
				t.Fatalf("B read the old value %v after A's invalidation returned; want at most MaxLag (%v)", began.Sub(returned), maxLag)
			}
		}
	}
	t.Logf("the longest B served the old value after A's invalidation returned: %v", worst)
	if st := b.Stats().Near; st.Received == 0 {
		t.Errorf("B was told of no change: %+v", st)
	}
}

// A FLUSHALL drops everything kept in memory: the next read loads.
func TestNearFlushallDropsEverything(t *testing.T) {
	srv := redistest.Start(t)
	c := nearCaches(t, srv, 1, aside.Options{})[0]
	ctx := context.Background()
	load := &counter[string]{value: "v"}
	aside.GetOrSet(ctx, c, "k", time.Hour, load.load)
	aside.GetOrSet(ctx, c, "k", time.Hour, load.load) // kept
	flushes := c.Stats().Near.Flushes
	if _, err := redistest.Do(srv.Addr, "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the flush to be told", func() bool { return c.Stats().Near.Flushes > flushes })
	aside.GetOrSet(ctx, c, "k", time.Hour, load.load)
	if load.calls.Load() != 2 {
		t.Errorf("%d loads after a FLUSHALL; want 2: the entry kept in memory must go with Redis's", load.calls.Load())
	}
}

// trackingClients returns the ids of srv's connections in tracking mode.
func trackingClients(t *testing.T, srv *redistest.Server) []string {
	t.Helper()
	list, err := redistest.Do(srv.Addr, "CLIENT", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for line := range strings.Lines(list) {
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		if strings.Contains(fields["flags"], "t") {
			ids = append(ids, fields["id"])
		}
	}
	return ids
}

// A tracking connection lost and made again may have missed pushes: what
// was kept while it was down is dropped before memory serves again. B
// keeps the old value while its tracking connection is gone, A writes
// then (B is told nothing), and once B's connection is back, B reads the
// new value.
func TestNearDropsWhatItKeptWhileItsTrackingWasDown(t *testing.T) {
	srv := redistest.Start(t)
	cs := nearCaches(t, srv, 2, aside.Options{NearCache: aside.NearCacheOptions{MaxLag: time.Second}})
	a, b := cs[0], cs[1]
	ctx := context.Background()
	db := newRow("old")
	aside.GetOrSet(ctx, b, "k", time.Hour, readRow(db))
	flushes := b.Stats().Near.Flushes
	for _, id := range trackingClients(t, srv) {
		redistest.Do(srv.Addr, "CLIENT", "KILL", "ID", id)
	}
	waitFor(t, "the lost connection to be told", func() bool { return b.Stats().Near.Flushes > flushes })
	aside.GetOrSet(ctx, b, "k", time.Hour, readRow(db)) // read from Redis and kept, untracked
	db.set("new")
	if _, err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tracking connections to be back", func() bool { return len(trackingClients(t, srv)) == 2 })
	deadline := time.Now().Add(2 * time.Second) // two MaxLags: B has confirmed on its new connection by then
	for {
		v, _ := aside.GetOrSet(ctx, b, "k", time.Hour, readRow(db))
		if v == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still reads %q 2 s after its tracking came back; want new: it kept the old value while told nothing", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := b.Stats().Near; !st.Serving || st.Flushes < flushes+2 {
		t.Errorf("B's near cache after its tracking came back: %+v; want it serving, after a flush for the lost connection and one before serving again", st)
	}
}

// trackedFaulty is a Redis store whose calls a test can fail or hold
// back, and whose tracking is Redis's own.
type trackedFaulty struct {
	*faulty
	redis aside.Tracker
}

func (f trackedFaulty) Track(prefix string, onChange func([]string)) (aside.Tracking, error) {
	return f.redis.Track(prefix, onChange)
}

func newTrackedFaulty(t *testing.T, srv *redistest.Server) trackedFaulty {
	r := newRedisStore(t, srv.Addr)
	return trackedFaulty{faulty: &faulty{Store: r}, redis: r}
}

// With the circuit breaker open, memory is no hit path: the loader
// answers, though the near cache holds the key and its tracking is sound.
func TestNearServesNothingWhileTheBreakerIsOpen(t *testing.T) {
	srv := redistest.Start(t)
	s := newTrackedFaulty(t, srv)
	c := newCache(t, s, aside.Options{NearCache: aside.NearCacheOptions{Enabled: true},
		Breaker: aside.BreakerOptions{ConsecutiveFailures: 1, Cooldown: time.Hour}})
	waitServing(t, c)
	ctx := context.Background()
	load := &counter[string]{value: "v"}
	aside.GetOrSet(ctx, c, "k", time.Hour, load.load)
	waitFor(t, "k kept in memory", func() bool {
		aside.GetOrSet(ctx, c, "k", time.Hour, load.load)
		return c.Stats().NearHits > 0
	})
	s.getErr.Store(true)
	aside.GetOrSet(ctx, c, "other", time.Hour, (&counter[string]{}).load) // fails: the breaker opens
	if st := c.Stats(); st.Breaker != aside.BreakerOpen || !st.Near.Serving {
		t.Fatalf("breaker %s, near cache serving %v; want open and serving", st.Breaker, st.Near.Serving)
	}
	before := load.calls.Load()
	if v, err := aside.GetOrSet(ctx, c, "k", time.Hour, load.load); err != nil || v != "v" || load.calls.Load() != before+1 {
		t.Errorf("a read with the breaker open = %q, %v after %d loads; want the loader's answer", v, err, load.calls.Load()-before)
	}
}

// An entry is kept in memory only as Redis held it when no change came
// after the read was sent (FusionCache #613, Lettuce #3481, valkey-glide
// #6807): A reads the old value from Redis, B deletes the key before A's
// reply is handled, and A, told of the delete before it keeps the reply,
// keeps nothing, and reads the new value next.
func TestNearKeepsNoReplyOvertakenByAChange(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	opts := aside.Options{KeyPrefix: prefix, NearCache: aside.NearCacheOptions{Enabled: true}}
	s := newTrackedFaulty(t, srv)
	a := newCache(t, s, opts)
	b := newCache(t, newRedisStore(t, srv.Addr), opts)
	waitServing(t, a)
	ctx := context.Background()
	db := newRow("old")
	aside.GetOrSet(ctx, b, "k", time.Hour, readRow(db)) // Redis holds old

	replied, release := make(chan struct{}), make(chan struct{})
	s.getReply = func(key string) {
		if key == prefix+"k" {
			close(replied)
			<-release
		}
	}
	done := make(chan string)
	go func() { v, _ := aside.GetOrSet(ctx, a, "k", time.Hour, readRow(db)); done <- v }()
	<-replied // A holds Redis's reply: old
	s.getReply = nil
	received := a.Stats().Near.Received
	db.set("new")
	if _, err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A to be told of the delete", func() bool { return a.Stats().Near.Received > received })
	close(release)
	if v := <-done; v != "old" {
		t.Fatalf("A's read begun before the delete = %q; want old", v)
	}
	if v, _ := aside.GetOrSet(ctx, a, "k", time.Hour, readRow(db)); v != "new" {
		t.Errorf("A's read after the delete was told = %q; want new: it kept a reply the delete overtook", v)
	}
}

// Negative entries are kept in memory too, and a write elsewhere ends them
// as it ends a value.
func TestNearKeepsNegativeEntries(t *testing.T) {
	srv := redistest.Start(t)
	cs := nearCaches(t, srv, 2, aside.Options{})
	a, b := cs[0], cs[1]
	ctx := context.Background()
	na := newNamespace[string](t, a, aside.NamespaceConfig{Name: "n", TTL: time.Hour})
	nb := newNamespace[string](t, b, aside.NamespaceConfig{Name: "n", TTL: time.Hour, NegativeTTL: time.Hour})
	missing := &counter[string]{err: aside.ErrNotFound}
	nb.Get(ctx, "k", missing.load)
	waitFor(t, "the negative entry kept in memory", func() bool {
		_, err := nb.Get(ctx, "k", missing.load)
		return errors.Is(err, aside.ErrNotFound) && b.Stats().NearHits > 0
	})
	if missing.calls.Load() != 1 {
		t.Errorf("%d loads of a missing row; want 1", missing.calls.Load())
	}
	if err := na.Set(ctx, "k", "created"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to see the row A created", func() bool {
		v, err := nb.Get(ctx, "k", missing.load)
		return err == nil && v == "created"
	})
}

// On a cluster, every master's changes reach the near cache: keys on all
// three masters, kept in B's memory, are read anew once A invalidates
// them.
func TestNearOnACluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	prefix := uniquePrefix(t)
	var cs []*aside.Cache
	for range 2 {
		s, err := redisstore.New(redisstore.Options{Addrs: cl.Addrs()})
		if err != nil {
			t.Fatal(err)
		}
		c := newCache(t, s, aside.Options{KeyPrefix: prefix, OpTimeout: time.Second, NearCache: aside.NearCacheOptions{Enabled: true}})
		waitFor(t, "the cluster client", func() bool { return s.Ping(context.Background()) == nil })
		waitServing(t, c)
		cs = append(cs, c)
	}
	a, b := cs[0], cs[1]
	ctx := context.Background()
	na := newNamespace[string](t, a, aside.NamespaceConfig{Name: "n", TTL: time.Hour})
	nb := newNamespace[string](t, b, aside.NamespaceConfig{Name: "n", TTL: time.Hour})
	db := newRow("old")
	const keys = 60
	for i := range keys {
		nb.Get(ctx, fmt.Sprint(i), readRow(db))
	}
	waitFor(t, "B to keep every key", func() bool {
		for i := range keys {
			nb.Get(ctx, fmt.Sprint(i), readRow(db))
		}
		return b.Stats().Near.Entries == keys
	})
	perNode := 0
	for _, n := range cl.Nodes {
		if size, _ := redistest.Do(n.Addr, "DBSIZE"); size != "0" {
			perNode++
		}
	}
	if perNode < 3 {
		t.Fatalf("keys landed on %d of 3 masters; the test needs all", perNode)
	}
	db.set("new")
	for i := range keys {
		if err := na.Invalidate(ctx, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(aside.DefaultNearMaxLag)
	for i := range keys {
		if v, _ := nb.Get(ctx, fmt.Sprint(i), readRow(db)); v != "new" {
			t.Errorf("B reads key %d as %q MaxLag after A invalidated it; want new", i, v)
		}
	}
}

// A cache with a near cache starts while Redis is down, and serves from
// memory once Redis answers.
func TestNearStartsWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	s, err := redisstore.New(redisstore.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	c := newCache(t, s, aside.Options{NearCache: aside.NearCacheOptions{Enabled: true}})
	if c.Stats().Near.Serving {
		t.Error("the near cache serves with Redis down")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitServing(t, c)
}

// The near cache holds no more than MaxBytes, every entry weighed, under
// a key space ten times what fits: 5,000 users of about 200 bytes of
// JSON each (about 600 bytes an entry) read twice through a 256 KiB near
// cache. The log says what an entry weighs.
func TestNearIsBoundedByBytes(t *testing.T) {
	srv := redistest.Start(t)
	const bound = 256 << 10
	c := nearCaches(t, srv, 1, aside.Options{NearCache: aside.NearCacheOptions{MaxBytes: bound}})[0]
	users := newNamespace[User](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	ctx := context.Background()
	const n = 5_000
	for range 2 {
		for i := range n {
			users.Get(ctx, fmt.Sprint(i), mustLoad(sampleUser(int64(i))))
		}
	}
	waitFor(t, "the near cache to evict down to its bound", func() bool { return c.Stats().Near.Bytes <= bound })
	st := c.Stats().Near
	if st.Entries == 0 || st.Entries >= n/2 {
		t.Errorf("%d entries kept of %d read through a %d-byte near cache; want some, and far fewer than all", st.Entries, n, bound)
	}
	t.Logf("near cache: %d entries in %d bytes, %d bytes an entry (a ~200-byte user: its key, its bytes, its decoding)", st.Entries, st.Bytes, st.Bytes/int64(max(st.Entries, 1)))
}

// lateTracker is a Redis store whose tracking pushes a test can hold back
// (rueidis #534: a push may come after the reply of the write it is for),
// while its confirmations still come back.
type lateTracker struct {
	*redisstore.Store
	late atomic.Bool
}

func (l *lateTracker) Track(prefix string, onChange func([]string)) (aside.Tracking, error) {
	return l.Store.Track(prefix, func(keys []string) {
		if keys != nil && l.late.Load() {
			return // lost, for the test: what a late push is until it comes
		}
		onChange(keys)
	})
}

// A pattern delete in a process drops from memory every key it matches,
// not only those its walk found in Redis: B holds user:1, another process
// removes it from Redis (a DEL, or its own pattern delete) while B's push
// is late; once B's own DeletePattern or Clear returns, B reads nothing
// from memory.
func TestNearPatternDeletesDropWhatTheyMatchFromMemory(t *testing.T) {
	for name, mine := range map[string]func(ctx context.Context, c *aside.Cache) error{
		"DeletePattern": func(ctx context.Context, c *aside.Cache) error { _, err := c.DeletePattern(ctx, "user:*"); return err },
		"Clear":         func(ctx context.Context, c *aside.Cache) error { _, err := c.Clear(ctx); return err },
	} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			prefix := uniquePrefix(t)
			store := &lateTracker{Store: newRedisStore(t, srv.Addr)}
			b := newCache(t, store, aside.Options{KeyPrefix: prefix, NearCache: aside.NearCacheOptions{Enabled: true}})
			waitServing(t, b)
			ctx := context.Background()
			waitFor(t, "user:1 to be served from memory", func() bool {
				aside.GetOrSet(ctx, b, "user:1", time.Hour, mustLoad("old"))
				return b.Stats().NearHits > 0
			})
			store.late.Store(true)
			if _, err := redistest.Do(srv.Addr, "DEL", prefix+"user:1"); err != nil {
				t.Fatal(err)
			}
			if err := mine(ctx, b); err != nil {
				t.Fatal(err)
			}
			if v, found, err := aside.GetIfPresent[string](ctx, b, "user:1"); found || err != nil {
				t.Errorf("B's read after its own %s returned = %q, %v, %v; want nothing: Redis holds nothing", name, v, found, err)
			}
		})
	}
}

// Redis tells tracking clients nothing of a SWAPDB: the epoch check finds
// it (within its 500 ms), and memory is dropped as on any rewind.
func TestNearASwapdbIsFoundByTheEpochCheck(t *testing.T) {
	srv := redistest.Start(t)
	b := nearCaches(t, srv, 1, aside.Options{})[0]
	ctx := context.Background()
	waitFor(t, "k to be served from memory", func() bool {
		aside.GetOrSet(ctx, b, "k", time.Hour, mustLoad("old"))
		return b.Stats().NearHits > 0
	})
	b.Delete(ctx, "other") // a call that checks the epoch, before the swap
	if _, err := redistest.Do(srv.Addr, "SWAPDB", "0", "1"); err != nil {
		t.Fatal(err)
	}
	swapped := time.Now()
	waitFor(t, "the swap to be found", func() bool {
		v, _ := aside.GetOrSet(ctx, b, "k", time.Hour, mustLoad("loaded after the swap"))
		return v == "loaded after the swap"
	})
	if took := time.Since(swapped); took > 1500*time.Millisecond {
		t.Errorf("memory served the swapped-out value for %v; want at most the epoch check's 500 ms and a round trip", took)
	}
	if st := b.Stats(); st.Rewinds != 1 {
		t.Errorf("rewinds = %d; want 1", st.Rewinds)
	}
}
