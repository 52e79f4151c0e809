package aside_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/glob"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

func TestDeletePattern(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		for i := range 25 {
			aside.Set(ctx, c, fmt.Sprint("user:", i), i, time.Hour)
			aside.Set(ctx, c, fmt.Sprint("job:", i), i, time.Hour)
		}
		removed, err := c.DeletePattern(ctx, "user:*")
		if err != nil || removed != 25 {
			t.Fatalf("DeletePattern(user:*) = %d, %v; want 25", removed, err)
		}
		if _, found, _ := aside.GetIfPresent[int](ctx, c, "user:3"); found {
			t.Error("user:3 survived DeletePattern(user:*)")
		}
		if _, found, _ := aside.GetIfPresent[int](ctx, c, "job:3"); !found {
			t.Error("job:3 was removed by DeletePattern(user:*)")
		}
		removed, err = c.Clear(ctx)
		if err != nil || removed != 25 {
			t.Errorf("Clear = %d, %v; want the 25 job keys", removed, err)
		}
		if st := c.Stats(); st.Deletes != 50 {
			t.Errorf("Deletes = %d; want 50", st.Deletes)
		}
	})
}

// Delete, DeletePattern and Clear report, and Deletes counts, the entries
// they removed: never the tombstones invalidations leave, nor the leases
// of loads in flight.
func TestCountsAreOfEntries(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		users := newNamespace[int](t, c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
		written, err := users.Warm(ctx, func(yield func(string, int) bool) {
			for i := range 1000 {
				if !yield(fmt.Sprint(i), i) {
					return
				}
			}
		})
		if err != nil || written != 1000 {
			t.Fatalf("Warm = %d, %v", written, err)
		}
		slow := newGate(func() (string, error) { return "", nil })
		defer close(slow.release)
		go aside.GetOrSet(ctx, c, "user:leased", time.Hour, slow.load) // a lease under user:
		<-slow.called
		if n, err := c.Delete(ctx, "user:1", "user:2", "user:absent"); err != nil || n != 2 {
			t.Errorf("Delete(user:1, user:2, user:absent) = %d, %v; want 2", n, err)
		}
		if err := users.Invalidate(ctx, "3"); err != nil {
			t.Fatal(err)
		}
		if n, err := c.DeletePattern(ctx, "user:*"); err != nil || n != 997 {
			t.Errorf("DeletePattern(user:*) over 997 entries, 3 tombstones and a lease = %d, %v; want 997", n, err)
		}
		if st := c.Stats().Namespaces["users"]; st.Deletes != 1000 {
			t.Errorf("users' Deletes = %d; want 1000, one per entry", st.Deletes)
		}
	})
}

// What DeletePattern, Clear and Delete send Redis: SCAN and UNLINK, never
// KEYS, DEL, FLUSHDB or FLUSHALL (read from the server's own command
// statistics).
func TestDeletesSendScanAndUnlinkOnly(t *testing.T) {
	srv := redistest.Start(t)
	c, ctx := newCache(t, newRedisStore(t, srv.Addr), aside.Options{}), context.Background()
	for i := range 2500 {
		aside.Set(ctx, c, fmt.Sprint("user:", i), i, time.Hour)
	}
	if n, err := c.DeletePattern(ctx, "user:1*"); err != nil || n != 1111 {
		t.Fatalf("DeletePattern(user:1*) = %d, %v; want 1111", n, err)
	}
	if _, err := c.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	stats, err := redistest.Do(srv.Addr, "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"scan", "unlink"} {
		if !strings.Contains(stats, "cmdstat_"+cmd+":") {
			t.Errorf("no %s in Redis's command statistics after pattern deletes:\n%s", strings.ToUpper(cmd), stats)
		}
	}
	for _, cmd := range []string{"keys", "del", "flushdb", "flushall"} {
		if strings.Contains(stats, "cmdstat_"+cmd+":") {
			t.Errorf("%s was sent to Redis:\n%s", strings.ToUpper(cmd), stats)
		}
	}
}

func TestDeletePatternRefusesBadPatterns(t *testing.T) {
	c := newCache(t, newMemstore(t), aside.Options{})
	for _, p := range []string{"", "user:[abc", "user:\\", strings.Repeat("x", glob.MaxLen+1)} {
		if _, err := c.DeletePattern(context.Background(), p); !errors.Is(err, aside.ErrBadPattern) {
			t.Errorf("DeletePattern(%.20q) = %v; want ErrBadPattern", p, err)
		}
	}
}

// A key outside the prefix (another application's, in the same Redis
// database) survives Clear and DeletePattern("*"), even when the prefix
// holds glob syntax.
func TestClearNeverLeavesThePrefix(t *testing.T) {
	srv := redistest.Shared(t)
	for _, prefix := range []string{"app:", "app[1]*:"} {
		t.Run(prefix, func(t *testing.T) {
			c, ctx := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix}), context.Background()
			// "app1:k" would match if the prefix's [1]* were read as glob.
			outside := []string{"queue:job:1", "ratelimit:1.2.3.4", "appx:1", "app1:k"}
			for _, k := range outside {
				if _, err := redistest.Do(srv.Addr, "SET", k, "theirs"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { redistest.Do(srv.Addr, "DEL", k) })
			}
			aside.Set(ctx, c, "mine", 1, time.Hour)
			if removed, err := c.DeletePattern(ctx, "*"); err != nil || removed != 1 {
				t.Errorf("DeletePattern(*) = %d, %v; want 1", removed, err)
			}
			aside.Set(ctx, c, "mine", 1, time.Hour)
			if removed, err := c.Clear(ctx); err != nil || removed != 1 {
				t.Errorf("Clear = %d, %v; want 1", removed, err)
			}
			for _, k := range outside {
				if v, err := redistest.Do(srv.Addr, "GET", k); err != nil || v != "theirs" {
					t.Errorf("%s after Clear = %q, %v; want it untouched", k, v, err)
				}
			}
		})
	}
}

// Bytes that are not an aside envelope are a miss: deleted, counted, and
// answered by the loader, never a panic.
func TestCorruptBytesInRedis(t *testing.T) {
	srv := redistest.Shared(t)
	c, ctx := newCache(t, newRedisStore(t, srv.Addr), aside.Options{}), context.Background()
	corrupt := map[string]string{
		"garbage":   "not json at all",
		"truncated": "\xa5\x01\x01{\"id\":1,\"na",
		"version":   "\xa5\x09\x01{}",
		"kind":      "\xa5\x01\x07{}",
		"empty":     "",
		"header":    "\xa5",
		"wrongtype": "\xa5\x01\x01[1,2,3]",
	}
	for name, bytes := range corrupt {
		if _, err := redistest.Do(srv.Addr, "SET", c.KeyPrefix()+"user:"+name, bytes); err != nil {
			t.Fatal(err)
		}
	}
	for name := range corrupt {
		loader := &counter[User]{value: sampleUser(1)}
		got, err := aside.GetOrSet(ctx, c, "user:"+name, time.Hour, loader.load)
		if err != nil || got.ID != 1 || loader.calls.Load() != 1 {
			t.Errorf("%s: GetOrSet = %+v, %v after %d loads; want the loader's user", name, got, err, loader.calls.Load())
		}
		if got, found, err := aside.GetIfPresent[User](ctx, c, "user:"+name); err != nil || !found || got.ID != 1 {
			t.Errorf("%s: after the refill Get = %v, %v; want the loader's user cached", name, found, err)
		}
	}
	if st := c.Stats(); st.Errors != uint64(len(corrupt)) {
		t.Errorf("Errors = %d; want %d, one per corrupt entry", st.Errors, len(corrupt))
	}
}

func TestDeletePatternOver100kKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 keys")
	}
	srv := redistest.Start(t)
	store := &countingStore{Store: newRedisStore(t, srv.Addr)}
	c, ctx := newCache(t, store, aside.Options{OpTimeout: time.Second}), context.Background()
	ns := newNamespace[int](t, c, aside.NamespaceConfig{Name: "bulk", TTL: time.Hour})
	const n = 100_000
	written, err := ns.Warm(ctx, func(yield func(string, int) bool) {
		for i := range n {
			if !yield(fmt.Sprint(i), i) {
				return
			}
		}
	})
	if err != nil || written != n {
		t.Fatalf("Warm(%d) = %d, %v", n, written, err)
	}
	aside.Set(ctx, c, "other:1", 1, time.Hour)

	removed, err := c.DeletePattern(ctx, "bulk:*")
	if err != nil || removed != n {
		t.Fatalf("DeletePattern(bulk:*) = %d, %v; want %d", removed, err, n)
	}
	if size, _ := redistest.Do(srv.Addr, "DBSIZE"); size != "1" {
		t.Errorf("DBSIZE after the delete = %s; want 1 (other:1)", size)
	}
	if scans := store.scans.Load(); scans < n/2000 {
		t.Errorf("%d SCAN batches for %d keys; want batches of about 1,000", scans, n)
	}
	if st := c.Stats().Namespaces["bulk"]; st.Deletes != n {
		t.Errorf("bulk namespace Deletes = %d; want %d", st.Deletes, n)
	}
}

func TestDeletePatternOnCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	s, err := redisstore.New(redisstore.Options{Addrs: cl.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	c, ctx := newCache(t, s, aside.Options{OpTimeout: time.Second}), context.Background()
	waitFor(t, "the cluster client", func() bool { return s.Ping(ctx) == nil })
	for i := range 300 {
		if err := aside.Set(ctx, c, fmt.Sprint("user:", i), i, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	aside.Set(ctx, c, "job:1", 1, time.Hour)
	perNode := 0
	for _, n := range cl.Nodes {
		if size, _ := redistest.Do(n.Addr, "DBSIZE"); size != "0" {
			perNode++
		}
	}
	if perNode < 3 {
		t.Fatalf("keys landed on %d of 3 masters; the test needs all", perNode)
	}
	removed, err := c.DeletePattern(ctx, "user:*")
	if err != nil || removed != 300 {
		t.Fatalf("DeletePattern(user:*) on a cluster = %d, %v; want 300", removed, err)
	}
	if removed, err := c.Clear(ctx); err != nil || removed != 1 {
		t.Errorf("Clear on a cluster = %d, %v; want 1", removed, err)
	}
}

// Deletes count in the namespace of each key, whichever call removed it.
func TestDeletesCountPerNamespace(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		newNamespace[int](t, c, guideNamespaces[0]) // user:
		newNamespace[int](t, c, guideNamespaces[1]) // job:
		for _, k := range []string{"user:1", "user:2", "job:1", "job:2", "other"} {
			aside.Set(ctx, c, k, 1, time.Hour)
		}
		if n, err := c.Delete(ctx, "user:1", "job:1"); err != nil || n != 2 {
			t.Fatalf("Delete across namespaces = %d, %v", n, err)
		}
		if n, err := c.DeletePattern(ctx, "*2"); err != nil || n != 2 {
			t.Fatalf("DeletePattern(*2) = %d, %v", n, err)
		}
		st := c.Stats()
		if st.Namespaces["users"].Deletes != 2 || st.Namespaces["jobs"].Deletes != 2 || st.Deletes != 4 {
			t.Errorf("deletes: users %d, jobs %d, total %d; want 2, 2, 4",
				st.Namespaces["users"].Deletes, st.Namespaces["jobs"].Deletes, st.Deletes)
		}
		// Clear removes every key under the prefix, "other" and the
		// tombstones Delete left on user:1 and job:1, and counts entries.
		if n, err := c.Clear(ctx); err != nil || n != 1 {
			t.Errorf("Clear = %d, %v; want 1 entry (the tombstones are not entries)", n, err)
		}
		if st := c.Stats(); st.Deletes != 5 {
			t.Errorf("deletes after Clear = %d; want 5", st.Deletes)
		}
	})
}
