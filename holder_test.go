package aside_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// Leases across processes with the defaults (LeaseTTL 10 s, HolderTimeout
// 1 s): a holder that is gone stalls readers about a second, a live holder
// with a slow load is waited for however long it takes (up to LeaseTTL).

// A process killed -9 mid-load: a reader in another process loads the key
// about HolderTimeout after the kill, not LeaseTTL (10 s) after it.
func TestAKilledHoldersLeaseStallsReadersAboutASecond(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	holder := child(t, "hang", srv.Addr, prefix, 1, 0) // the default LeaseTTL
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	waitFor(t, "the holder to start loading", func() bool {
		v, _ := redistest.Do(srv.Addr, "EXISTS", prefix+"loading")
		return v == "1"
	})
	time.Sleep(1500 * time.Millisecond) // the holder has renewed its lease by now
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	holder.Wait()
	killed := time.Now()
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, OpTimeout: 5 * time.Second})
	loader := &counter[string]{value: "loaded again"}
	got, err := aside.GetOrSet(context.Background(), c, "cold", time.Hour, loader.load)
	took := time.Since(killed)
	if err != nil || got != "loaded again" || loader.calls.Load() != 1 {
		t.Fatalf("read after the holder died = %q, %v, %d loads; want one load of its own", got, err, loader.calls.Load())
	}
	if st := c.Stats(); st.LeaseWaits != 1 {
		t.Errorf("lease waits %d; want 1: the killed holder's lease was still there", st.LeaseWaits)
	}
	// HolderTimeout (1 s) plus a poll and scheduling; LeaseTTL is 10 s.
	if took > 3*time.Second {
		t.Errorf("the key was loaded again %v after its holder was killed; want about HolderTimeout (1 s)", took)
	}
}

// A live holder whose load takes 3 s (three HolderTimeouts) keeps its
// lease: a reader in another process waits for its value and loads
// nothing.
func TestALiveSlowHolderIsWaitedFor(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	// 300 ms for a store call, not 100: a renewal or a poll that times out
	// on a loaded CI machine is the store's failure (b would load without
	// the lease, availability first), not what this test is about; three
	// renewals a hold life still fit.
	opts := aside.Options{KeyPrefix: prefix, OpTimeout: 300 * time.Millisecond}
	a := newCache(t, newRedisStore(t, srv.Addr), opts)
	b := newCache(t, newRedisStore(t, srv.Addr), opts)
	ctx := context.Background()
	loading := make(chan struct{})
	go aside.GetOrSet(ctx, a, "k", time.Hour, func(context.Context) (string, error) {
		close(loading)
		time.Sleep(3 * time.Second)
		return "from a", nil
	})
	<-loading
	bLoader := &counter[string]{value: "from b"}
	got, err := aside.GetOrSet(ctx, b, "k", time.Hour, bLoader.load)
	if err != nil || got != "from a" || bLoader.calls.Load() != 0 {
		t.Errorf("b while a loaded for 3 s = %q, %v after %d loads of its own; want a's value and none", got, err, bLoader.calls.Load())
	}
	if st := b.Stats(); st.LeaseWaits != 1 {
		t.Errorf("b's lease waits = %d; want 1", st.LeaseWaits)
	}
}

// A lease no one holds: Redis stalls past OpTimeout while readers of fresh
// keys take their leases; the client gives up on its SET NX (the reads
// load without a lease), and Redis applies it when it resumes. A reader
// in another process then waits on such a key no longer than about
// HolderTimeout, not LeaseTTL.
func TestALeaseAbandonedByATimedOutCallStallsReadersAboutASecond(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	// Every reader has found its key empty when Redis stops: their SET NX
	// are sent to a paused server.
	const keys = 16
	f := &faulty{Store: newRedisStore(t, srv.Addr)}
	var arrived sync.WaitGroup
	arrived.Add(keys)
	var paused sync.Once
	f.addOrGet = func() {
		arrived.Done()
		arrived.Wait()
		paused.Do(func() {
			if err := srv.Pause(); err != nil {
				t.Error(err)
			}
		})
	}
	a := newCache(t, f, aside.Options{KeyPrefix: prefix, OpTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			aside.GetOrSet(ctx, a, fmt.Sprint("fresh:", i), time.Hour, mustLoad("a's"))
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	resumed := time.Now()
	leases := 0
	for i := range keys {
		if v, _ := redistest.Do(srv.Addr, "GET", fmt.Sprint(prefix, "fresh:", i)); v != "" {
			leases++ // what the timed-out calls left: a's reads filled nothing
		}
	}
	if leases == 0 {
		t.Skip("no timed-out SET NX reached Redis this time: nothing to test")
	}
	b := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, OpTimeout: 5 * time.Second})
	var mu sync.Mutex
	var slowest time.Duration
	for i := range keys {
		wg.Go(func() {
			start := time.Now()
			v, err := aside.GetOrSet(ctx, b, fmt.Sprint("fresh:", i), time.Hour, mustLoad("b's"))
			if err != nil || v == "" {
				t.Errorf("b's read of fresh:%d = %q, %v", i, v, err)
			}
			mu.Lock()
			slowest = max(slowest, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("%d of %d keys held a lease no one held; b's slowest read took %v", leases, keys, slowest)
	if took := time.Since(resumed); took > 3*time.Second {
		t.Errorf("b's reads of %d keys with abandoned leases took %v after Redis resumed (slowest %v); want about HolderTimeout (1 s), not LeaseTTL (10 s)",
			leases, took, slowest)
	}
}
