package aside_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/redistest"
)

// row is a database row the tests change under the cache.
type row struct {
	mu sync.Mutex
	v  string
}

func (r *row) get() string  { r.mu.Lock(); defer r.mu.Unlock(); return r.v }
func (r *row) set(v string) { r.mu.Lock(); defer r.mu.Unlock(); r.v = v }
func newRow(v string) *row  { return &row{v: v} }
func readRow(r *row) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return r.get(), nil }
}

// The race the original lost: a reader loads v1, a writer commits v2 and
// invalidates, the reader's fill arrives. The fill must not land.
func TestStaleFillAfterInvalidationIsRejected(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		db := newRow("v1")
		loaded, release := make(chan struct{}), make(chan struct{})
		slowRead := func(context.Context) (string, error) {
			v := db.get() // reads v1 ...
			close(loaded)
			<-release // ... and is slow to come back
			return v, nil
		}
		first := make(chan string, 1)
		go func() {
			v, _ := aside.GetOrSet(ctx, c, "k", time.Hour, slowRead)
			first <- v
		}()
		<-loaded
		db.set("v2") // the write commits ...
		if _, err := c.Delete(ctx, "k"); err != nil {
			t.Fatal(err) // ... and its invalidation returns
		}
		close(release)
		<-first

		if got, err := aside.GetOrSet(ctx, c, "k", time.Hour, readRow(db)); err != nil || got != "v2" {
			t.Errorf("read after the write's invalidation = %q, %v; want v2 (the stale fill must not land)", got, err)
		}
		if st := c.Stats(); st.FillsRejected != 1 {
			t.Errorf("FillsRejected = %d; want 1", st.FillsRejected)
		}
	})
}

// The same race across two processes: two caches with their own Redis
// clients; one fills, the other invalidates.
func TestStaleFillAcrossCachesIsRejected(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	reader := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	writer := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	ctx := context.Background()
	db := newRow("v1")
	loaded, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		aside.GetOrSet(ctx, reader, "k", time.Hour, func(context.Context) (string, error) {
			v := db.get()
			close(loaded)
			<-release
			return v, nil
		})
	}()
	<-loaded
	db.set("v2")
	writer.Delete(ctx, "k")
	close(release)
	<-done
	for name, c := range map[string]*aside.Cache{"reader": reader, "writer": writer} {
		if got, _ := aside.GetOrSet(ctx, c, "k", time.Hour, readRow(db)); got != "v2" {
			t.Errorf("%s reads %q after the invalidation; want v2", name, got)
		}
	}
}

// A caller that arrives after an invalidation does not join a load that
// started before it: it loads afresh.
func TestInvalidationDetachesLoadsInFlight(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		db := newRow("v1")
		loaded, release := make(chan struct{}), make(chan struct{})
		go aside.GetOrSet(ctx, c, "k", time.Hour, func(context.Context) (string, error) {
			v := db.get()
			close(loaded)
			<-release
			return v, nil
		})
		<-loaded
		db.set("v2")
		c.Delete(ctx, "k")
		got, err := aside.GetOrSet(ctx, c, "k", time.Hour, readRow(db))
		close(release)
		if err != nil || got != "v2" {
			t.Errorf("read begun after the invalidation = %q, %v; want v2, not the older load's v1", got, err)
		}
	})
}

// While one cache (another process) holds a key's lease, a second waits
// for its fill instead of loading: one loader per key across processes.
func TestLeaseHolderLoadsOthersWait(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	a := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	b := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	ctx := context.Background()
	loaded, release := make(chan struct{}), make(chan struct{})
	go aside.GetOrSet(ctx, a, "k", time.Hour, func(context.Context) (string, error) {
		close(loaded)
		<-release
		return "from a", nil
	})
	<-loaded
	if ok, _ := b.Exists(ctx, "k"); ok {
		t.Error("Exists is true for a key that holds only a lease")
	}
	bLoader := &counter[string]{value: "from b"}
	got := make(chan string, 1)
	go func() {
		v, _ := aside.GetOrSet(ctx, b, "k", time.Hour, bLoader.load)
		got <- v
	}()
	waitFor(t, "b to wait on a's lease", func() bool { return b.Stats().LeaseWaits == 1 })
	close(release)
	if v := <-got; v != "from a" || bLoader.calls.Load() != 0 {
		t.Errorf("b while a held the lease = %q after %d loads of its own; want a's value and none", v, bLoader.calls.Load())
	}
}

// A holder that never fills frees the key when its lease expires: the
// waiter then takes the lease and loads.
func TestDeadHolderFreesTheKeyAtLeaseExpiry(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	opts := aside.Options{KeyPrefix: prefix, LeaseTTL: 300 * time.Millisecond}
	holder := newCache(t, newRedisStore(t, srv.Addr), opts)
	waiter := newCache(t, newRedisStore(t, srv.Addr), opts)
	ctx := context.Background()
	stuck := make(chan struct{})
	defer close(stuck)
	loaded := make(chan struct{})
	go aside.GetOrSet(ctx, holder, "k", time.Hour, func(context.Context) (string, error) {
		close(loaded)
		<-stuck // a holder that never comes back
		return "never", nil
	})
	<-loaded
	start := time.Now()
	got, err := aside.GetOrSet(ctx, waiter, "k", time.Hour, func(context.Context) (string, error) { return "waiter's", nil })
	if err != nil || got != "waiter's" {
		t.Fatalf("waiter = %q, %v; want its own load once the lease expired", got, err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("the waiter loaded after %v; it should have waited for the lease (300 ms) first", took)
	}
	if v, found, _ := aside.GetIfPresent[string](ctx, waiter, "k"); !found || v != "waiter's" {
		t.Errorf("after the takeover the key holds %q, %v; want the waiter's fill", v, found)
	}
}

// A waiter whose wait runs out while the holder's lease still stands (the
// holder's LeaseTTL is longer than the waiter's) loads for itself, and does
// not fill: the key is the holder's, whose fill then lands.
func TestWaiterThatTimesOutLoadsWithoutFilling(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	holder := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, LeaseTTL: time.Minute})
	waiter := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, LeaseTTL: 200 * time.Millisecond})
	ctx := context.Background()
	loaded, release, filled := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(filled)
		aside.GetOrSet(ctx, holder, "k", time.Hour, func(context.Context) (string, error) {
			close(loaded)
			<-release
			return "holder's", nil
		})
	}()
	<-loaded
	got, err := aside.GetOrSet(ctx, waiter, "k", time.Hour, func(context.Context) (string, error) { return "waiter's", nil })
	if err != nil || got != "waiter's" {
		t.Fatalf("waiter = %q, %v; want its own load once its wait ran out", got, err)
	}
	if st := waiter.Stats(); st.LeaseWaits != 1 || st.Loads != 1 || st.Sets != 0 || st.WritesSkipped != 1 {
		t.Errorf("waiter: lease waits %d, loads %d, sets %d, writes skipped %d; want 1, 1, 0, 1",
			st.LeaseWaits, st.Loads, st.Sets, st.WritesSkipped)
	}
	if ok, _ := waiter.Exists(ctx, "k"); ok {
		t.Error("the waiter's load filled the key under the holder's lease")
	}
	close(release)
	<-filled
	if v, found, _ := aside.GetIfPresent[string](ctx, waiter, "k"); !found || v != "holder's" {
		t.Errorf("after the holder's load the key holds %q, %v; want the holder's fill", v, found)
	}
}

// A loader that fails gives its lease up at once: the next reader, in any
// process, fills the key without waiting for the lease to expire.
func TestFailedLoadReleasesTheLease(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		aside.GetOrSet(ctx, c, "k", time.Hour, (&counter[int]{err: errors.New("db down")}).load)
		if _, err := aside.GetOrSet(ctx, c, "k", time.Hour, (&counter[int]{value: 7}).load); err != nil {
			t.Fatal(err)
		}
		if v, found, _ := aside.GetIfPresent[int](ctx, c, "k"); !found || v != 7 {
			t.Errorf("after a failed load and a good one: %v, %v; want 7 cached", v, found)
		}
	})
}

func TestNilInterfaceValueIsAValue(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		got, err := aside.GetOrSet(context.Background(), c, "a", time.Hour, func(context.Context) (any, error) { return nil, nil })
		if err != nil || got != nil {
			t.Errorf("GetOrSet[any] of a nil value = %v, %v; want nil, nil", got, err)
		}
	})
}

// Callers of one key with different types do not share a load.
func TestDifferentTypesLoadApart(t *testing.T) {
	c := newCache(t, newMemstore(t), aside.Options{})
	release := make(chan struct{})
	var wg sync.WaitGroup
	var s string
	var n int
	var errS, errN error
	wg.Go(func() {
		s, errS = aside.GetOrSet(context.Background(), c, "k", time.Hour, func(context.Context) (string, error) { <-release; return "s", nil })
	})
	wg.Go(func() {
		n, errN = aside.GetOrSet(context.Background(), c, "k", time.Hour, func(context.Context) (int, error) { <-release; return 5, nil })
	})
	waitFor(t, "both misses", func() bool { return c.Stats().Misses == 2 })
	close(release)
	wg.Wait()
	// The int caller may find the string entry and read it through the
	// codec, as it would from Redis, or the other way round: "5" is a fine
	// string. What must not happen is an error or a wrong int.
	if errS != nil || errN != nil || (s != "s" && s != "5") || n != 5 {
		t.Errorf("string and int callers of one key = %q, %v and %d, %v", s, errS, n, errN)
	}
}

// A store that does not answer costs a read one timeout: the flight takes
// no lease and fills nothing after a failed first read.
func TestUnansweredReadMakesNoMoreStoreCalls(t *testing.T) {
	srv := redistest.Start(t)
	store := &countingStore{Store: newRedisStore(t, srv.Addr)}
	c := newCache(t, store, aside.Options{})
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	got, err := aside.GetOrSet(context.Background(), c, "k", time.Hour, (&counter[int]{value: 1}).load)
	if err != nil || got != 1 {
		t.Fatalf("GetOrSet with Redis frozen = %v, %v", got, err)
	}
	if n := store.calls(); n != 1 {
		t.Errorf("%d store calls for one read with Redis frozen; want 1 (the read that timed out)", n)
	}
	if st := c.Stats(); st.Errors != 1 || st.WritesSkipped != 1 {
		t.Errorf("errors %d, writes skipped %d; want 1 and 1", st.Errors, st.WritesSkipped)
	}
}

// Callers whose own deadline has passed, or passes, do not open the
// breaker on a healthy Redis; a cancelled context stops a pattern delete,
// which is then the caller's to run again, not kept (a store failure's
// would be).
func TestCallerContextsDoNotTripTheBreaker(t *testing.T) {
	c := newCache(t, newRedisStore(t, sharedAddr(t)), aside.Options{})
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	for range 20 {
		aside.GetIfPresent[int](expired, c, "k")
		c.Exists(expired, "k")
		aside.GetOrSet(expired, c, "k", time.Hour, (&counter[int]{}).load)
	}
	if st := c.Stats(); st.Breaker != aside.BreakerClosed || st.Errors != 0 {
		t.Errorf("after 60 calls past their deadline: breaker %s, errors %d; want closed, 0", st.Breaker, st.Errors)
	}
	ctx := context.Background()
	aside.Set(ctx, c, "user:1", 1, time.Hour)
	cancelled, stop := context.WithCancel(ctx)
	stop()
	if n, err := c.DeletePattern(cancelled, "user:*"); !errors.Is(err, context.Canceled) || errors.Is(err, aside.ErrDeferred) || n != 0 {
		t.Errorf("DeletePattern with a cancelled context = %d, %v; want 0, context.Canceled, not deferred", n, err)
	}
	if _, found, _ := aside.GetIfPresent[int](ctx, c, "user:1"); !found {
		t.Error("a cancelled DeletePattern deleted user:1")
	}
	if st := c.Stats(); st.Breaker != aside.BreakerClosed || st.Errors != 0 || st.PendingInvalidations != 0 {
		t.Errorf("after a cancelled pattern delete: breaker %s, errors %d, pending %d; want closed, 0, 0",
			st.Breaker, st.Errors, st.PendingInvalidations)
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

func TestKeyOfANilStringer(t *testing.T) {
	if got := aside.Key("t:", (*time.Time)(nil)); got != "t:<nil>" {
		t.Errorf("Key of a nil *time.Time = %q; want t:<nil>, and no panic", got)
	}
}

// A warm-up that read its rows before an invalidation cannot write them
// after it: the invalidation leaves a tombstone that Warm's add-if-absent
// finds present, while a reader's load still fills the key.
func TestWarmAfterInvalidationWritesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
		read := map[string]string{"1": "v1"} // the warm-up's read ...
		if err := users.Invalidate(ctx, "1"); err != nil {
			t.Fatal(err) // ... a write commits v2 and invalidates ...
		}
		written, err := users.Warm(ctx, func(yield func(string, string) bool) { // ... then the warm-up writes
			for k, v := range read {
				yield(k, v)
			}
		})
		if err != nil || written != 0 {
			t.Errorf("Warm of a key invalidated after its read = %d, %v; want nothing written", written, err)
		}
		if got, err := users.Get(ctx, "1", func(context.Context) (string, error) { return "v2", nil }); err != nil || got != "v2" {
			t.Errorf("read after the invalidation = %q, %v; want v2 from the loader", got, err)
		}
		if v, found, _ := aside.GetIfPresent[string](ctx, c, users.Key("1")); !found || v != "v2" {
			t.Errorf("the loader's fill over the tombstone: %q, %v; want v2 cached", v, found)
		}
		if ok, _ := c.Exists(ctx, users.Key("2")); ok {
			t.Error("Exists of a never-set key")
		}
		users.Invalidate(ctx, "3")
		if ok, _ := c.Exists(ctx, users.Key("3")); ok {
			t.Error("Exists is true for a tombstone")
		}
	})
}
