package aside_test

// A lease is given up whatever ends its load: a value the codec refuses, a
// loader that ends its goroutine, a Close; and leases and tombstones live
// their time whatever else the store evicts.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

// A value the codec cannot encode (JSON has no NaN) is returned to its
// caller, counted and not cached, and its lease is given up: a reader in
// another process with a short deadline loads at once rather than wait
// for a fill that will never come.
func TestUnencodableValueReleasesItsLease(t *testing.T) {
	s := newRedisStore(t, sharedAddr(t))
	a, b := twoCaches(t, s, aside.Options{})
	ctx := context.Background()
	v, err := aside.GetOrSet(ctx, a, "nan", time.Hour, func(context.Context) (float64, error) { return math.NaN(), nil })
	if err != nil || !math.IsNaN(v) {
		t.Fatalf("GetOrSet of a NaN = %v, %v; want the NaN, uncached", v, err)
	}
	if st := a.Stats(); st.Errors != 1 || st.Sets != 0 {
		t.Errorf("errors %d, sets %d after a value that does not encode; want 1 and 0", st.Errors, st.Sets)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	loader := &counter[float64]{value: 1}
	if got, err := aside.GetOrSet(short, b, "nan", time.Hour, loader.load); err != nil || got != 1 || loader.calls.Load() != 1 {
		t.Errorf("another process's read with a 300 ms deadline = %v, %v after %d loads; want its own load at once", got, err, loader.calls.Load())
	}
}

// A loader that ends its goroutine (runtime.Goexit, as t.FailNow does)
// ends the load with an error for every caller, and gives the lease up.
func TestLoaderGoexitEndsTheLoad(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		a, b := twoCaches(t, s, aside.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := aside.GetOrSet(ctx, a, "k", time.Hour, func(context.Context) (string, error) {
			runtime.Goexit()
			return "never", nil
		})
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("GetOrSet with a loader that calls Goexit = %v; want an error at once", err)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if v, err := aside.GetOrSet(short, b, "k", time.Hour, (&counter[string]{value: "v"}).load); err != nil || v != "v" {
			t.Errorf("the next read, in another process = %q, %v; want its own load, the lease given up", v, err)
		}
	})
}

// Close while a read waits on another process's lease ends the read with
// ErrClosed; its loader is never called.
func TestCloseEndsAReadWaitingOnALease(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		prefix := uniquePrefix(t)
		holder := newCache(t, s, aside.Options{KeyPrefix: prefix})
		waiter, err := aside.New(s, aside.Options{KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		hold := newGate(func() (string, error) { return "holder's", nil })
		defer close(hold.release)
		go aside.GetOrSet(ctx, holder, "k", time.Hour, hold.load)
		<-hold.called
		loader := &counter[string]{value: "waiter's"}
		got := make(chan error, 1)
		go func() {
			_, err := aside.GetOrSet(ctx, waiter, "k", time.Hour, loader.load)
			got <- err
		}()
		waitFor(t, "the read to wait on the lease", func() bool { return waiter.Stats().LeaseWaits == 1 })
		waiter.Close() // and closes the store both share: the holder's fill then fails
		if err := <-got; !errors.Is(err, aside.ErrClosed) {
			t.Errorf("read waiting on a lease at Close = %v; want ErrClosed", err)
		}
		if n := loader.calls.Load(); n != 0 {
			t.Errorf("the waiting read's loader ran %d times after Close; want 0", n)
		}
	})
}

// On a memstore bounded to a few entries, churn through many more entries
// evicts none of the tombstones and leases: a warm-up that read its rows
// before an invalidation still writes nothing after it, and a lease still
// makes other readers wait for its fill.
func TestTombstonesAndLeasesOutliveValueChurn(t *testing.T) {
	s, err := memstore.New(memstore.Options{MaxEntries: 100})
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
