package aside_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/redistest"
)

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

// On a memstore bounded to a few entries, churn through many more entries
// evicts none of the tombstones and leases: a warm-up that read its rows
// before an invalidation still writes nothing after it, and a lease still
// makes other readers wait for its fill.
func TestTombstonesAndLeasesOutliveValueChurn(t *testing.T) {
	s, err := memstore.New(memstore.Options{MaxBytes: 32 << 10}) // about 200 entries
	if err != nil {
		t.Fatal(err)
	}
	a, b := twoCaches(t, s, aside.Options{})
	ctx := context.Background()
	users := newNamespace[string](t, a, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	others := newNamespace[string](t, b, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})

	hold := newGate(func() (string, error) { return "holder's", nil })
	go users.Get(ctx, "leased", hold.load)
	<-hold.called
	if err := users.Invalidate(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 { // 20 times the bound
		users.Get(ctx, fmt.Sprint("churn", i), readRow(newRow("x")))
		users.Get(ctx, fmt.Sprint("churn", i%50), readRow(newRow("x"))) // some are hot
	}
	written, err := users.Warm(ctx, func(yield func(string, string) bool) { yield("1", "v1, read before the invalidation") })
	if err != nil || written != 0 {
		t.Errorf("Warm after the invalidation and the churn = %d, %v; want nothing written: the tombstone stands", written, err)
	}
	loader := &counter[string]{value: "b's"}
	got := make(chan string, 1)
	go func() { v, _ := others.Get(ctx, "leased", loader.load); got <- v }()
	waitFor(t, "b to wait on a's lease", func() bool { return b.Stats().LeaseWaits == 1 })
	close(hold.release)
	if v := <-got; v != "holder's" || loader.calls.Load() != 0 {
		t.Errorf("b on a's lease after the churn = %q after %d loads; want a's fill and none of its own", v, loader.calls.Load())
	}
}

// On a memstore bounded to a few entries, churn while a process reloads a
// stale entry under its claim does not evict the claim: another process
// waits for the reload instead of loading the key a second time.
func TestClaimOutlivesValueChurn(t *testing.T) {
	s, err := memstore.New(memstore.Options{MaxBytes: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	a, b := twoCaches(t, s, aside.Options{Now: clk.Now, Jitter: -1})
	cfg := aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour}
	na, nb := newNamespace[string](t, a, cfg), newNamespace[string](t, b, cfg)
	ctx := context.Background()
	na.Get(ctx, "1", readRow(newRow("v1")))
	clk.Advance(2 * time.Minute)
	hold := newGate(func() (string, error) { return "a's", nil })
	aDone := make(chan string, 1)
	go func() { v, _ := na.Get(ctx, "1", hold.load); aDone <- v }()
	<-hold.called
	for i := range 2000 {
		nb.Get(ctx, fmt.Sprint("churn", i), readRow(newRow("x")))
	}
	loader := &counter[string]{value: "b's"}
	bDone := make(chan string, 1)
	go func() { v, _ := nb.Get(ctx, "1", loader.load); bDone <- v }()
	waitFor(t, "b to wait on a's claim", func() bool { return b.Stats().LeaseWaits == 1 })
	close(hold.release)
	if va, vb := <-aDone, <-bDone; loader.calls.Load() != 0 || va != "a's" || vb != "a's" {
		t.Errorf("a got %q, b got %q after %d loads of b's own; want a's reload for both, and none", va, vb, loader.calls.Load())
	}
}
