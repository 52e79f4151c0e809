package aside_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// Redis going back in time: restarted from a snapshot that predates
// invalidations, or replaced by a replica that missed them. Two caches
// (two processes) over one Redis; only a, the writer, made the
// invalidations, so b must not serve what a's journal has to make again.

// versions is a table of versioned rows: a read loads the current version.
type versions struct {
	mu sync.Mutex
	v  map[string]int
}

func (d *versions) load(id string) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.v[id], nil
	}
}

func (d *versions) bump(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.v[id]++
}

// rewindRig is the two caches, their namespace, the rows behind them.
type rewindRig struct {
	a, b   *aside.Cache
	na, nb *aside.Namespace[int]
	db     *versions
	ids    []string
	prefix string
}

func newRewindRig(t *testing.T, addr string, keys int, opts aside.Options) *rewindRig {
	t.Helper()
	return newRewindRigOf(t, redisstore.Options{Addrs: []string{addr}}, keys, opts)
}

func newRewindRigOf(t *testing.T, ro redisstore.Options, keys int, opts aside.Options) *rewindRig {
	t.Helper()
	opts.KeyPrefix = uniquePrefix(t)
	r := &rewindRig{db: &versions{v: map[string]int{}}, prefix: opts.KeyPrefix}
	r.a = newCache(t, newRedisStoreOf(t, ro), opts)
	r.b = newCache(t, newRedisStoreOf(t, ro), opts)
	cfg := aside.NamespaceConfig{Name: "rows", TTL: time.Hour}
	r.na, r.nb = newNamespace[int](t, r.a, cfg), newNamespace[int](t, r.b, cfg)
	for i := range keys {
		id := strconv.Itoa(i)
		r.ids = append(r.ids, id)
		r.db.v[id] = 1
	}
	return r
}

// fill reads every row through both caches: version 1 cached.
func (r *rewindRig) fill(t *testing.T) {
	ctx := context.Background()
	for _, id := range r.ids {
		for _, ns := range []*aside.Namespace[int]{r.na, r.nb} {
			if v, err := ns.Get(ctx, id, r.db.load(id)); err != nil || v != 1 {
				t.Fatalf("first read of %s = %d, %v", id, v, err)
			}
		}
	}
}

// write bumps every row and invalidates it through a: version 2.
func (r *rewindRig) write(t *testing.T) {
	for _, id := range r.ids {
		r.db.bump(id)
	}
	if err := r.na.Invalidate(context.Background(), r.ids...); err != nil {
		t.Fatalf("a's invalidation: %v", err)
	}
}

// readFor reads every row through both caches, again and again, for d,
// and reports the reads that returned a version older than the rows',
// and when the last of them began (since the call).
func (r *rewindRig) readFor(d time.Duration) (reads, stale int, first string, last time.Duration) {
	ctx := context.Background()
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		for _, id := range r.ids {
			for name, ns := range map[string]*aside.Namespace[int]{"a": r.na, "b": r.nb} {
				began := time.Now()
				v, err := ns.Get(ctx, id, r.db.load(id))
				reads++
				r.db.mu.Lock()
				want := r.db.v[id]
				r.db.mu.Unlock()
				if err == nil && v < want {
					stale++
					last = began.Sub(start)
					if first == "" {
						first = fmt.Sprintf("%s read row %s at version %d, after version %d was written, %v in", name, id, v, want, last)
					}
				}
			}
		}
	}
	return reads, stale, first, last
}

// A restart from a snapshot taken before a's invalidations brings their
// entries back; neither cache serves them.
func TestASnapshotRestartResurrectsNothing(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 20, aside.Options{})
	r.fill(t)
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	r.write(t)
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	if v, _ := redistest.Do(srv.Addr, "DBSIZE"); v == "0" {
		t.Fatal("the restarted Redis holds nothing: the snapshot proves nothing")
	}
	reads, stale, first, _ := r.readFor(2 * time.Second)
	if stale > 0 {
		t.Errorf("%d of %d reads after the restart from a snapshot were stale; first: %s", stale, reads, first)
	}
	for name, c := range map[string]*aside.Cache{"a": r.a, "b": r.b} {
		if st := c.Stats(); st.Rewinds != 1 {
			t.Errorf("%s's rewinds = %d; want 1", name, st.Rewinds)
		}
	}
	if st := r.a.Stats(); st.Namespaces["rows"].InvalidationsReplayed < uint64(len(r.ids)) {
		t.Errorf("a replayed %d invalidations; want its %d", st.Namespaces["rows"].InvalidationsReplayed, len(r.ids))
	}
}

// A failover to a replica that missed a's invalidations (its link to the
// master was cut while they were made), behind an endpoint that moves to
// it: neither cache serves what the replica brought back.
func TestAFailoverToAReplicaThatMissedWritesResurrectsNothing(t *testing.T) {
	master := redistest.Start(t)
	link := redistest.NewProxy(t, master.Addr)
	replica := redistest.StartReplica(t, link.Addr)
	endpoint := redistest.NewProxy(t, master.Addr)
	r := newRewindRig(t, endpoint.Addr, 20, aside.Options{})
	r.fill(t)
	if _, err := redistest.Do(master.Addr, "WAIT", "1", "5000"); err != nil {
		t.Fatal(err)
	}
	link.Cut()
	r.write(t)
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := replica.Promote(); err != nil {
		t.Fatal(err)
	}
	endpoint.Point(replica.Addr)
	reads, stale, first, _ := r.readFor(2 * time.Second)
	if stale > 0 {
		t.Errorf("%d of %d reads after the failover were stale; first: %s", stale, reads, first)
	}
	if st := r.b.Stats(); st.Rewinds != 1 {
		t.Errorf("b's rewinds = %d; want 1", st.Rewinds)
	}
}

// A journal past its bound forgets the least recent invalidations, and
// clears their namespace on a rewind instead: 20 invalidations, 5
// remembered, and none of the 20 served from the snapshot.
func TestAJournalPastItsBoundClearsTheNamespace(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 20, aside.Options{Recovery: aside.RecoveryOptions{MaxKeys: 5}})
	r.fill(t)
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	r.write(t)
	if n := r.a.Stats().RememberedInvalidations; n != 5 {
		t.Errorf("a remembers %d invalidations; want its bound, 5", n)
	}
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	reads, stale, first, _ := r.readFor(2 * time.Second)
	if stale > 0 {
		t.Errorf("%d of %d reads after the restart were stale; first: %s", stale, reads, first)
	}
}

// A FLUSHALL takes the tombstones too; it is found within the epoch check's
// period, and a's invalidations are made again: the tombstone of a key a
// invalidated is back.
func TestAFlushIsFoundAndTheTombstonesComeBack(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 1, aside.Options{})
	r.fill(t)
	r.write(t)
	if _, err := redistest.Do(srv.Addr, "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	waitFor(t, "a to find the flush", func() bool { return r.a.Stats().Rewinds == 1 })
	if took := time.Since(flushed); took > 1500*time.Millisecond {
		t.Errorf("a found the flush %v after it; want within the check's 500 ms and a round trip", took)
	}
	full := r.na.Key(r.ids[0])
	waitFor(t, "the tombstone to be back", func() bool {
		v, _ := redistest.Do(srv.Addr, "EXISTS", r.prefix+full)
		return v == "1"
	})
}

// An empty restart fails no read, and serves nothing stale.
func TestAnEmptyRestartFailsNoRead(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 20, aside.Options{})
	r.fill(t)
	r.write(t)
	if err := srv.RestartEmpty(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range r.ids {
		for _, ns := range []*aside.Namespace[int]{r.na, r.nb} {
			if v, err := ns.Get(ctx, id, r.db.load(id)); err != nil || v != 2 {
				t.Errorf("read of %s after an empty restart = %d, %v; want 2", id, v, err)
			}
		}
	}
}

// A Sentinel failover to a replica whose link was cut before a's
// invalidations, with near caches in both processes: the store and the
// tracking client follow the new master, memory is dropped, and neither
// cache serves what the replica brought back.
func TestASentinelFailoverResurrectsNothingWithNearCaches(t *testing.T) {
	// The replica authenticates as a user of its own, whom the master
	// then refuses: a link cut that a Sentinel cannot mend.
	master := redistest.Start(t)
	if _, err := redistest.Do(master.Addr, "ACL", "SETUSER", "repl", "on", ">repl-password", "allcommands", "allkeys"); err != nil {
		t.Fatal(err)
	}
	replica := redistest.StartReplica(t, master.Addr, "--masteruser", "repl", "--masterauth", "repl-password")
	sentinel := redistest.StartSentinel(t, "aside-master", master)
	r := newRewindRigOf(t, redisstore.Options{Addrs: []string{sentinel.Addr}, MasterSet: "aside-master"}, 20,
		aside.Options{NearCache: aside.NearCacheOptions{Enabled: true}})
	waitServing(t, r.a)
	waitServing(t, r.b)
	r.fill(t)
	r.fill(t) // the second reads come from memory
	if _, err := redistest.Do(master.Addr, "WAIT", "1", "5000"); err != nil {
		t.Fatal(err)
	}
	redistest.Do(master.Addr, "ACL", "SETUSER", "repl", "off")
	redistest.Do(master.Addr, "CLIENT", "KILL", "USER", "repl")
	r.write(t)
	flushes := r.b.Stats().Near.Flushes
	redistest.Failover(t, sentinel, "aside-master", master)
	// The Sentinel demotes the old master, which then loads the new one's
	// data, before it tells clients of the switch: reads that reach the old
	// master in between find the older data on a connection that stayed
	// up, until the epoch check (500 ms) finds it.
	reads, stale, first, last := r.readFor(3 * time.Second)
	t.Logf("%d of %d reads after the failover were stale, the last begun %v after it", stale, reads, last)
	if stale > 0 && last > time.Second {
		t.Errorf("%d of %d reads after the failover were stale, the last begun %v after it; want none begun after 1 s; first: %s", stale, reads, last, first)
	}
	st := r.b.Stats()
	if st.Rewinds != 1 || st.Near.Flushes <= flushes || !st.Near.Serving {
		t.Errorf("b after the failover: rewinds %d, near %+v; want 1 rewind, memory dropped and serving again", st.Rewinds, *st.Near)
	}
	if v, _ := redistest.Do(replica.Addr, "INFO", "replication"); !strings.Contains(v, "role:master") {
		t.Errorf("the replica is not the master after the failover: %q", v)
	}
}
