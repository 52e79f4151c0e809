package aside_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// CONSISTENCY.md section 9 ("When Redis goes back in time"): servers that
// change roles behind the clients' address.

// waitLinked waits until the server at addr is a replica whose link to its
// master is up (a full sync done: it holds its master's data).
func waitLinked(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, addr+" to sync with its master", func() bool {
		v, _ := redistest.Do(addr, "INFO", "replication")
		return strings.Contains(v, "role:slave") && strings.Contains(v, "master_link_status:up") &&
			!strings.Contains(v, "master_sync_in_progress:1")
	})
}

// The master both processes are connected to is demoted (REPLICAOF) to a
// replica of a server that missed a's invalidations, as a failover does to
// an old master when it comes back (a Sentinel, a managed Redis whose
// address stays the client's): the old master drops its data and loads the
// new master's, older one, behind the clients' connections. The epoch
// check every 500 ms finds it (the node's role and replication id), and no
// read begun more than 1 s after is stale. (While a replica's epoch was
// "", nothing was found: every read was stale until the entries' TTL.)
func TestADemotedMasterResurrectsNothing(t *testing.T) {
	master := redistest.Start(t, "--repl-diskless-sync-delay", "0")
	link := redistest.NewProxy(t, master.Addr)
	other := redistest.StartReplica(t, link.Addr, "--repl-diskless-sync-delay", "0")
	r := newRewindRig(t, master.Addr, 20, aside.Options{})
	r.fill(t)
	if _, err := redistest.Do(master.Addr, "WAIT", "1", "5000"); err != nil {
		t.Fatal(err)
	}
	link.Cut() // other misses what follows
	r.write(t)
	// The failover: other is promoted, and the old master follows it.
	if err := other.Promote(); err != nil {
		t.Fatal(err)
	}
	demoted := time.Now()
	if _, err := redistest.Do(master.Addr, "REPLICAOF", "127.0.0.1", strings.Split(other.Addr, ":")[1]); err != nil {
		t.Fatal(err)
	}
	waitLinked(t, master.Addr)
	back := time.Now()
	reads, stale, first, last := r.readFor(3 * time.Second)
	t.Logf("%d of %d reads stale after the demotion (%v after REPLICAOF), the last begun %v in; rewinds a=%d b=%d",
		stale, reads, back.Sub(demoted), last, r.a.Stats().Rewinds, r.b.Stats().Rewinds)
	if stale > 0 && last > time.Second {
		t.Errorf("%d of %d reads after the old master loaded the new master's data were stale, the last begun %v after it; want none begun after 1 s; first: %s",
			stale, reads, last, first)
	}
}

// As above, with the clients moved: a managed endpoint pointed at a
// replica (its link to the master cut, so it missed a's invalidations)
// 2 s before that replica is promoted. The check on reconnection finds
// another server (its run id), before anything read there is trusted.
func TestAnEndpointMovedToAnOlderReplicaIsNotTrusted(t *testing.T) {
	master := redistest.Start(t, "--repl-diskless-sync-delay", "0")
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
	endpoint.Point(replica.Addr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(2 * time.Second)
		replica.Promote()
	}()
	reads, stale, first, last := r.readFor(2500 * time.Millisecond)
	<-done
	t.Logf("%d of %d reads stale, the last begun %v after the endpoint moved; rewinds a=%d b=%d", stale, reads, last, r.a.Stats().Rewinds, r.b.Stats().Rewinds)
	if stale > 0 && last > time.Second {
		t.Errorf("%d of %d reads after the endpoint moved to an older server were stale, the last begun %v after it; want none begun after 1 s; first: %s",
			stale, reads, last, first)
	}
}

// A namespace whose entries never expire (TTL math.MaxInt64, "forever"):
// its invalidations are remembered (the journal's retention saturates; it
// overflowed to a negative duration, and a restart from a snapshot brought
// back every entry it invalidated, for good).
func TestAnEntryThatNeverExpiresIsRemembered(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	opts := aside.Options{KeyPrefix: uniquePrefix(t)}
	a := newCache(t, newRedisStore(t, srv.Addr), opts)
	b := newCache(t, newRedisStore(t, srv.Addr), opts)
	cfg := aside.NamespaceConfig{Name: "forever", TTL: math.MaxInt64}
	na, nb := newNamespace[int](t, a, cfg), newNamespace[int](t, b, cfg)
	db := &versions{v: map[string]int{"1": 1}}
	for _, ns := range []*aside.Namespace[int]{na, nb} {
		if v, err := ns.Get(ctx, "1", db.load("1")); v != 1 || err != nil {
			t.Fatal(v, err)
		}
	}
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	db.bump("1")
	if err := na.Invalidate(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	remembered := a.Stats().RememberedInvalidations
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	stale, reads := 0, 0
	for deadline := time.Now().Add(2500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		v, err := nb.Get(ctx, "1", db.load("1"))
		if reads++; err == nil && v < 2 && time.Until(deadline) < 1500*time.Millisecond {
			stale++ // begun more than 1 s after the restart
		}
	}
	if stale > 0 {
		t.Errorf("a remembered %d invalidations; %d of %d reads begun more than 1 s after a restart from a snapshot were stale (version 1 after version 2 was written)",
			remembered, stale, reads)
	}
}
