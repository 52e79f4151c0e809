package aside_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/redistest"
)

// An id invalidated by another process while this process's batch loads
// it: no read in this process begun after the invalidation returned gets
// the batch's (pre-write) value, whether it joins the batch or not, and the
// batch's fill is refused.
func TestIDInvalidatedByAnotherProcessWhileABatchLoads(t *testing.T) {
	for _, joiner := range []string{"Get", "GetMany", "GetManyEncoded"} {
		t.Run(joiner, func(t *testing.T) {
			srv := redistest.Start(t)
			a, b := twoCaches(t, newRedisStore(t, srv.Addr), aside.Options{OpTimeout: patient})
			ua := newNamespace[string](t, a, plainUsers)
			ub := newNamespace[string](t, b, plainUsers)
			ctx := context.Background()
			db := newRow("v1")
			called, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			old := func(ctx context.Context, ids []string) (map[string]string, error) {
				out := map[string]string{}
				for _, id := range ids {
					out[id] = db.get()
				}
				once.Do(func() { close(called) })
				<-release
				return out, nil
			}
			fresh := func(ctx context.Context, ids []string) (map[string]string, error) {
				out := map[string]string{}
				for _, id := range ids {
					out[id] = db.get()
				}
				return out, nil
			}
			first := make(chan struct{})
			go func() { ua.GetMany(ctx, []string{"1", "2"}, old); close(first) }()
			<-called
			db.set("v2")
			if err := ub.Invalidate(ctx, "1"); err != nil {
				t.Fatal(err)
			}
			later := make(chan string, 1)
			go func() {
				switch joiner {
				case "Get":
					v, _ := ua.Get(ctx, "1", readRow(db))
					later <- v
				case "GetMany":
					m, _ := ua.GetMany(ctx, []string{"2", "1"}, fresh)
					later <- m["1"]
				default:
					m, _ := ua.GetManyEncoded(ctx, []string{"1"}, fresh)
					later <- string(m["1"])
				}
			}()
			time.Sleep(50 * time.Millisecond)
			close(release)
			<-first
			if v := <-later; v != "v2" {
				t.Errorf("a's %s begun after b invalidated 1 = %q; want v2", joiner, v)
			}
			for name, n := range map[string]*aside.Namespace[string]{"a": ua, "b": ub} {
				if v, _ := n.Get(ctx, "1", readRow(db)); v != "v2" {
					t.Errorf("%s's Get afterwards = %q; want v2", name, v)
				}
			}
		})
	}
}

// IDNamespace ids through Cache.Invalidate (negative and large ids), and
// ids of another cache's namespace refused.
func TestIDNamespaceInvalidate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		other := newCache(t, newMemstore(t), aside.Options{})
		ctx := context.Background()
		ns, err := aside.NewIDNamespace[int64, string](c, aside.NamespaceConfig{Name: "n", TTL: time.Hour,
			Groups: func(id string) []string {
				return []string{"sign:" + map[bool]string{true: "neg", false: "pos"}[strings.HasPrefix(id, "-")]}
			}})
		if err != nil {
			t.Fatal(err)
		}
		ver := "v1"
		load := func(ctx context.Context, ids []int64) (map[int64]string, error) {
			out := map[int64]string{}
			for _, id := range ids {
				out[id] = ver
			}
			return out, nil
		}
		ids := []int64{-1, -9223372036854775808, 5}
		ns.GetMany(ctx, ids, load)
		ver = "v2"
		if err := c.Invalidate(ctx, ns.IDs(-1)); err != nil {
			t.Fatal(err)
		}
		got, _ := ns.GetMany(ctx, ids, load)
		if got[-1] != "v2" || got[5] != "v1" || got[-9223372036854775808] != "v1" {
			t.Errorf("after invalidating -1: %v", got)
		}
		ver = "v3"
		if err := c.Invalidate(ctx, aside.Groups("sign:neg")); err != nil {
			t.Fatal(err)
		}
		got, _ = ns.GetMany(ctx, ids, load)
		if got[-1] != "v3" || got[5] != "v1" || got[-9223372036854775808] != "v3" {
			t.Errorf("after invalidating the negatives' group: %v", got)
		}
		if err := other.Invalidate(ctx, ns.IDs(5)); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("another cache's Invalidate of this cache's ids = %v; want ErrInvalid", err)
		}
		err = c.Invalidate(ctx, aside.Groups(""))
		t.Logf("Invalidate(Groups(\"\")) = %v", err)
		err = c.Invalidate(ctx, ns.IDs())
		t.Logf("Invalidate(ns.IDs()) = %v", err)
	})
}

// memstore under value churn: a group's invalidation (its tombstone) must
// still keep a warm-up off the group for LeaseTTL, as a key's tombstone
// does (TestTombstonesAndLeasesOutliveValueChurn).
func TestGroupTombstoneOutlivesMemstoreChurn(t *testing.T) {
	s, err := memstore.New(memstore.Options{MaxBytes: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c := newCache(t, s, aside.Options{})
	lists := newNamespace[string](t, c, listsConfig)
	ctx := context.Background()
	lists.Get(ctx, "42:1", mustLoad("v1"))
	if err := c.Invalidate(ctx, aside.Groups("lists-of:42")); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		lists.Get(ctx, fmt.Sprintf("churn%d:1", i), mustLoad("x"))
		lists.Get(ctx, fmt.Sprintf("churn%d:1", i%50), mustLoad("x"))
	}
	written, err := lists.Warm(ctx, func(yield func(string, string) bool) { yield("42:1", "v1, read before the invalidation") })
	if err != nil || written != 0 {
		t.Errorf("Warm into the group after its invalidation and the churn = %d, %v; want nothing written", written, err)
	}
	if v, _ := lists.Get(ctx, "42:1", mustLoad("v2")); v != "v2" {
		t.Errorf("Get = %q; want v2", v)
	}
}
