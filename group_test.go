package aside_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// listsConfig is a namespace of lists, "user:page", each in the group of
// its user: "lists-of:user".
var listsConfig = aside.NamespaceConfig{Name: "lists", TTL: time.Hour, Groups: func(id string) []string {
	user, _, _ := strings.Cut(id, ":")
	return []string{"lists-of:" + user}
}}

// versioned is a loader of a row whose value is its version, counting
// its calls.
type versioned struct {
	v     atomic.Int64
	calls atomic.Int64
}

func (d *versioned) load(id string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		d.calls.Add(1)
		return fmt.Sprintf("%s v%d", id, d.v.Load()), nil
	}
}

// Invalidating a group makes every entry of it old, and nothing else.
func TestAGroupsInvalidationReachesEveryEntryOfIt(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		lists := newNamespace[string](t, c, listsConfig)
		ctx := context.Background()
		var db versioned
		pages := []string{"42:1", "42:2", "42:3", "7:1"}
		for _, id := range pages {
			lists.Get(ctx, id, db.load(id))
		}
		db.v.Add(1)
		if err := c.Invalidate(ctx, aside.Groups("lists-of:42")); err != nil {
			t.Fatal(err)
		}
		for _, id := range pages {
			got, err := lists.Get(ctx, id, db.load(id))
			want := id + " v1"
			if id == "7:1" {
				want = id + " v0" // another group: still cached
			}
			if err != nil || got != want {
				t.Errorf("Get(%s) after the group's invalidation = %q, %v; want %q", id, got, err, want)
			}
		}
		if n := db.calls.Load(); n != 7 {
			t.Errorf("%d loads; want 4 + the group's 3", n)
		}
	})
}

// A load that read the database before a write fills nothing a read
// after the write's group invalidation serves: not in the process (a read
// after it does not join the load), not afterwards.
func TestAGroupsInvalidationFencesLoadsInFlight(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		lists := newNamespace[string](t, c, listsConfig)
		ctx := context.Background()
		db := newRow("v1")
		g := newGate(func() (string, error) { return db.get(), nil })
		old := make(chan string)
		go func() { v, _ := lists.Get(ctx, "42:1", g.load); old <- v }()
		<-g.called // the load read v1
		db.set("v2")
		if err := c.Invalidate(ctx, aside.Groups("lists-of:42")); err != nil {
			t.Fatal(err)
		}
		if v, err := lists.Get(ctx, "42:1", readRow(db)); err != nil || v != "v2" {
			t.Errorf("a read begun after the group's invalidation = %q, %v; want v2, not the load in flight's", v, err)
		}
		close(g.release)
		if v := <-old; v != "v1" {
			t.Errorf("the load in flight answered %q; want its v1", v)
		}
		if v, err := lists.Get(ctx, "42:1", readRow(db)); err != nil || v != "v2" {
			t.Errorf("a read after the old load filled = %q, %v; want v2", v, err)
		}
	})
}

// Across processes: once another process's group invalidation returned,
// no read gets an entry of the group from before it.
func TestAGroupsInvalidationReachesOtherProcesses(t *testing.T) {
	srv := redistest.Start(t)
	a, b := twoCaches(t, newRedisStore(t, srv.Addr), aside.Options{})
	la, lb := newNamespace[string](t, a, listsConfig), newNamespace[string](t, b, listsConfig)
	ctx := context.Background()
	db := newRow("v1")
	if v, _ := la.Get(ctx, "42:1", readRow(db)); v != "v1" {
		t.Fatal("no fill")
	}
	db.set("v2")
	if err := b.Invalidate(ctx, aside.Groups("lists-of:42")); err != nil {
		t.Fatal(err)
	}
	if v, err := la.Get(ctx, "42:1", readRow(db)); err != nil || v != "v2" {
		t.Errorf("a's read after b's group invalidation = %q, %v; want v2", v, err)
	}
	if v, err := lb.Get(ctx, "42:1", readRow(db)); err != nil || v != "v2" {
		t.Errorf("b's read = %q, %v; want v2", v, err)
	}
}

// With near caches, the invalidating process reads its own write at once,
// and the other within MaxLag.
func TestAGroupsInvalidationWithNearCaches(t *testing.T) {
	srv := redistest.Start(t)
	cs := nearCaches(t, srv, 2, aside.Options{})
	la, lb := newNamespace[string](t, cs[0], listsConfig), newNamespace[string](t, cs[1], listsConfig)
	ctx := context.Background()
	db := newRow("v1")
	for range 3 { // into both memories
		la.Get(ctx, "42:1", readRow(db))
		lb.Get(ctx, "42:1", readRow(db))
	}
	db.set("v2")
	if err := cs[1].Invalidate(ctx, aside.Groups("lists-of:42")); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	if v, err := lb.Get(ctx, "42:1", readRow(db)); err != nil || v != "v2" {
		t.Errorf("the invalidating process's read = %q, %v; want v2 at once", v, err)
	}
	waitFor(t, "the other process to read v2", func() bool {
		v, _ := la.Get(ctx, "42:1", readRow(db))
		return v == "v2"
	})
	if lag := time.Since(done); lag > 100*time.Millisecond+50*time.Millisecond {
		t.Errorf("the other process read v1 for %v; want within MaxLag (100 ms) and a read", lag)
	}
}

// A hit in a namespace with groups is one store command, the entry and
// its group's token read together; the same with the near cache is none.
func TestAGroupHitIsOneStoreCall(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{})
	lists := newNamespace[string](t, c, listsConfig)
	ctx := context.Background()
	load := mustLoad("list")
	lists.Get(ctx, "42:1", load)
	before := map[string]int{}
	for _, cmd := range []string{"get", "mget", "set", "evalsha"} {
		before[cmd] = commands(t, srv, cmd)
	}
	for range 10 {
		if v, err := lists.Get(ctx, "42:1", load); err != nil || v != "list" {
			t.Fatalf("hit = %q, %v", v, err)
		}
	}
	for cmd, n := range before {
		want := 0
		if cmd == "mget" {
			want = 10
		}
		if got := commands(t, srv, cmd) - n; got != want {
			t.Errorf("10 hits ran %s %d times; want %d", cmd, got, want)
		}
	}
}

// Ids of several namespaces and a group are invalidated in one store call.
func TestInvalidateSeveralNamespacesAndGroupsInOneCall(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		rs := &replaceCounter{Store: s} // memstore wrapped is a store of bytes, as Redis is
		c := newCache(t, rs, aside.Options{})
		products := newNamespace[string](t, c, aside.NamespaceConfig{Name: "products", TTL: time.Hour})
		lists := newNamespace[string](t, c, listsConfig)
		ctx := context.Background()
		var db versioned
		for _, id := range []string{"p1", "p2"} {
			products.Get(ctx, id, db.load(id))
		}
		lists.Get(ctx, "42:1", db.load("42:1"))
		lists.Get(ctx, "7:1", db.load("7:1"))
		db.v.Add(1)
		before := rs.replaces.Load()
		if err := c.Invalidate(ctx, products.IDs("p1", "p2"), aside.Groups("lists-of:42", "lists-of:7")); err != nil {
			t.Fatal(err)
		}
		if rs.replaces.Load()-before != 1 {
			t.Errorf("Invalidate made %d store calls; want 1", rs.replaces.Load()-before)
		}
		for _, id := range []string{"p1", "p2"} {
			if v, _ := products.Get(ctx, id, db.load(id)); v != id+" v1" {
				t.Errorf("product %s = %q after Invalidate; want v1", id, v)
			}
		}
		for _, id := range []string{"42:1", "7:1"} {
			if v, _ := lists.Get(ctx, id, db.load(id)); v != id+" v1" {
				t.Errorf("list %s = %q after Invalidate; want v1", id, v)
			}
		}
		if err := c.Invalidate(ctx, aside.Groups("")); err == nil {
			t.Error("Invalidate of an empty group name: no error")
		}
		other := newCache(t, newMemstore(t), aside.Options{})
		if err := other.Invalidate(ctx, products.IDs("p1")); err == nil {
			t.Error("Invalidate of another cache's namespace: no error")
		}
	})
}

// replaceCounter counts Replace calls: invalidations.
type replaceCounter struct {
	aside.Store
	replaces atomic.Int64
}

func (r *replaceCounter) Replace(ctx context.Context, items []aside.Item) ([][]byte, error) {
	r.replaces.Add(1)
	return r.Store.Replace(ctx, items)
}

// A batch reads its ids' groups with them, and a group's invalidation
// reloads every id of it.
func TestGetManyWithGroups(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		lists := newNamespace[string](t, c, listsConfig)
		db := newTable("42:1", "42:2", "7:1")
		ctx := context.Background()
		all := []string{"42:1", "42:2", "7:1"}
		for range 2 {
			if got, err := lists.GetMany(ctx, all, db.load); err != nil || len(got) != 3 {
				t.Fatalf("GetMany = %v, %v", got, err)
			}
		}
		db.set("42:2", "v2 of 42:2")
		if err := c.Invalidate(ctx, aside.Groups("lists-of:42")); err != nil {
			t.Fatal(err)
		}
		got, err := lists.GetMany(ctx, all, db.load)
		if err != nil || got["42:2"] != "v2 of 42:2" {
			t.Errorf("GetMany after the group's invalidation = %v, %v; want v2 of 42:2", got, err)
		}
		calls := db.callLog()
		if len(calls) != 2 || strings.Join(calls[1], ",") != "42:1,42:2" {
			t.Errorf("loader calls %q; want the group's two ids reloaded together", calls)
		}
	})
}

// A warm-up writes no entry of a group invalidated less than a lease's
// life ago (its rows may predate the invalidation), and writes the others.
func TestWarmKeepsOffARecentlyInvalidatedGroup(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		lists := newNamespace[string](t, c, listsConfig)
		ctx := context.Background()
		if err := c.Invalidate(ctx, aside.Groups("lists-of:42")); err != nil {
			t.Fatal(err)
		}
		items := func(yield func(string, string) bool) {
			_ = yield("42:1", "old 42:1") && yield("7:1", "7:1")
		}
		n, err := lists.Warm(ctx, items)
		if err != nil || n != 1 {
			t.Fatalf("Warm = %d, %v; want 1 (7:1 alone)", n, err)
		}
		if v, err := lists.Get(ctx, "42:1", mustLoad("new 42:1")); err != nil || v != "new 42:1" {
			t.Errorf("Get(42:1) after the warm-up = %q, %v; want the loader's", v, err)
		}
		if v, err := lists.Get(ctx, "7:1", mustLoad("loaded")); err != nil || v != "7:1" {
			t.Errorf("Get(7:1) after the warm-up = %q, %v; want the warmed value", v, err)
		}
	})
}

// Set writes an entry of its groups' tokens: served until the group is
// invalidated.
func TestSetInAGroup(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		lists := newNamespace[string](t, c, listsConfig)
		ctx := context.Background()
		if err := lists.Set(ctx, "42:1", "set"); err != nil {
			t.Fatal(err)
		}
		if v, err := lists.Get(ctx, "42:1", mustLoad("loaded")); err != nil || v != "set" {
			t.Errorf("Get after Set = %q, %v; want set", v, err)
		}
		if v, err := aside.GetOrSet(ctx, c, lists.Key("42:1"), time.Hour, mustLoad("loaded")); err != nil || v != "set" {
			t.Errorf("GetOrSet of the key after Set = %q, %v; want set (the key's door reads its groups too)", v, err)
		}
		c.Invalidate(ctx, aside.Groups("lists-of:42"))
		if v, err := lists.Get(ctx, "42:1", mustLoad("loaded")); err != nil || v != "loaded" {
			t.Errorf("Get after the group's invalidation = %q, %v; want loaded", v, err)
		}
	})
}

// A group's invalidation that Redis could not take is kept and replayed;
// one Redis took and then lost (a restart from a snapshot) is made again.
func TestAGroupsInvalidationSurvivesAnOutageAndARewind(t *testing.T) {
	srv := redistest.Start(t)
	opts := aside.Options{KeyPrefix: uniquePrefix(t)} // two processes: a store each
	a, b := newCache(t, newRedisStore(t, srv.Addr), opts), newCache(t, newRedisStore(t, srv.Addr), opts)
	la, lb := newNamespace[string](t, a, listsConfig), newNamespace[string](t, b, listsConfig)
	ctx := context.Background()
	db := newRow("v1")
	lb.Get(ctx, "42:1", readRow(db))
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	db.set("v2")
	if err := a.Invalidate(ctx, aside.Groups("lists-of:42")); !errors.Is(err, aside.ErrDeferred) {
		srv.Resume()
		t.Fatalf("Invalidate with Redis frozen = %v; want ErrDeferred", err)
	}
	srv.Resume()
	waitFor(t, "the replay", func() bool { return a.Stats().PendingInvalidations == 0 })
	if v, _ := lb.Get(ctx, "42:1", readRow(db)); v != "v2" {
		t.Errorf("b after the replay = %q; want v2", v)
	}
	if err := srv.RestartFromSnapshot(); err != nil { // the snapshot holds v1 and the old token
		t.Fatal(err)
	}
	waitFor(t, "both to find the rewind", func() bool { return a.Stats().Rewinds >= 1 && b.Stats().Rewinds >= 1 })
	t.Logf("rewinds: a %d, b %d", a.Stats().Rewinds, b.Stats().Rewinds)
	time.Sleep(aside.DefaultQuarantine + 100*time.Millisecond)
	for name, l := range map[string]*aside.Namespace[string]{"a": la, "b": lb} {
		if v, _ := l.Get(ctx, "42:1", readRow(db)); v != "v2" {
			t.Errorf("%s after the restart from the snapshot = %q; want v2", name, v)
		}
	}
}

// A cluster keeps a group's token on one node and its entries on others.
func TestGroupsOnACluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	c := newCache(t, newRedisStoreOf(t, redisstore.Options{Addrs: cluster.Addrs()}), aside.Options{OpTimeout: time.Second})
	lists := newNamespace[string](t, c, listsConfig)
	ctx := context.Background()
	var db versioned
	for i := range 30 {
		id := fmt.Sprint("42:", i)
		lists.Get(ctx, id, db.load(id))
	}
	db.v.Add(1)
	if err := c.Invalidate(ctx, aside.Groups("lists-of:42")); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		id := fmt.Sprint("42:", i)
		if v, err := lists.Get(ctx, id, db.load(id)); err != nil || v != id+" v1" {
			t.Errorf("Get(%s) = %q, %v; want v1", id, v, err)
		}
	}
}

// A batch asks the namespace's Groups of the ids it was given, and of no
// other (an empty id, say, which a Groups func may not expect).
func TestGetManyAsksGroupsOfItsIDsAlone(t *testing.T) {
	c := newCache(t, newMemstore(t), aside.Options{})
	var asked []string
	lists := newNamespace[string](t, c, aside.NamespaceConfig{Name: "lists", TTL: time.Hour, Groups: func(id string) []string {
		asked = append(asked, id)
		return []string{"g"}
	}})
	db := newTable("1", "2")
	ctx := context.Background()
	for range 2 {
		if _, err := lists.GetMany(ctx, []string{"1", "2"}, db.load); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range asked {
		if id != "1" && id != "2" {
			t.Errorf("Groups was asked of %q; want the batch's ids alone", id)
		}
	}
}
