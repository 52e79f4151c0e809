package aside_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// With Redis frozen (SIGSTOP), every read still answers from the loader
// without an error; once the breaker is open, reads skip Redis without
// waiting for a timeout; after SIGCONT the breaker closes by itself within
// 5 s and values are cached again.
func TestBreakerWhenRedisHangs(t *testing.T) {
	srv := redistest.Start(t)
	store := &countingStore{Store: newRedisStore(t, srv.Addr)}
	c, ctx := newCache(t, store, aside.Options{}), context.Background()
	loader := &counter[User]{value: sampleUser(1)}

	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	slowWhileOpen := 0
	for i := range 200 {
		open := c.Stats().Breaker == aside.BreakerOpen
		callsBefore, start := store.calls(), time.Now()
		got, err := aside.GetOrSet(ctx, c, fmt.Sprint("user:", i), time.Hour, loader.load)
		if err != nil || got.ID != 1 {
			t.Fatalf("GetOrSet #%d with Redis frozen = %+v, %v; want the loader's user", i, got, err)
		}
		if open && (store.calls() != callsBefore || time.Since(start) >= aside.DefaultOpTimeout) {
			slowWhileOpen++
		}
	}
	st := c.Stats()
	if st.Breaker != aside.BreakerOpen || st.BreakerTrips != 1 {
		t.Fatalf("after 200 reads with Redis frozen: breaker %s after %d trips; want open after 1", st.Breaker, st.BreakerTrips)
	}
	if slowWhileOpen > 0 {
		t.Errorf("%d reads touched Redis or waited for a timeout while the breaker was open", slowWhileOpen)
	}
	if st.Bypassed < 190 || st.WritesSkipped < 190 || loader.calls.Load() != 200 {
		t.Errorf("bypassed %d, writes skipped %d, loads %d; want nearly all 200 reads to bypass Redis and all to load",
			st.Bypassed, st.WritesSkipped, loader.calls.Load())
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	answered := time.Now()
	for i := 0; c.Stats().Breaker != aside.BreakerClosed; i++ {
		if time.Since(answered) > 5*time.Second {
			t.Fatalf("breaker still %s 5 s after Redis answered again", c.Stats().Breaker)
		}
		aside.GetOrSet(ctx, c, fmt.Sprint("probe:", i), time.Hour, loader.load)
		time.Sleep(20 * time.Millisecond)
	}
	setsBefore := c.Stats().Sets
	if _, err := aside.GetOrSet(ctx, c, "after", time.Hour, loader.load); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := aside.GetIfPresent[User](ctx, c, "after"); !found || c.Stats().Sets != setsBefore+1 {
		t.Error("after the breaker closed, a read's value was not cached")
	}
}

// While the breaker is open, calls that cannot do without the store say
// so with ErrUnavailable; reads never do; invalidations are deferred
// (ErrDeferred, never ErrUnavailable: the write they follow stands).
func TestBreakerOpenRefusesStoreOnlyCalls(t *testing.T) {
	srv := redistest.Start(t)
	c, ctx := newCache(t, newRedisStore(t, srv.Addr), aside.Options{}), context.Background()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	for i := 0; c.Stats().Breaker != aside.BreakerOpen; i++ {
		if i > 100 {
			t.Fatal("breaker never opened with Redis dead")
		}
		if _, _, err := aside.GetIfPresent[int](ctx, c, "k"); err != nil {
			t.Fatalf("Get with Redis dead = %v; want a miss", err)
		}
	}
	if _, err := c.Delete(ctx, "k"); !errors.Is(err, aside.ErrDeferred) || errors.Is(err, aside.ErrUnavailable) {
		t.Errorf("Delete with the breaker open = %v; want ErrDeferred, not ErrUnavailable", err)
	}
	if err := aside.Set(ctx, c, "k", 1, time.Hour); !errors.Is(err, aside.ErrUnavailable) {
		t.Errorf("Set with the breaker open = %v; want ErrUnavailable", err)
	}
	if _, err := c.Exists(ctx, "k"); !errors.Is(err, aside.ErrUnavailable) {
		t.Errorf("Exists with the breaker open = %v; want ErrUnavailable", err)
	}
	if _, err := c.Clear(ctx); !errors.Is(err, aside.ErrDeferred) || errors.Is(err, aside.ErrUnavailable) {
		t.Errorf("Clear with the breaker open = %v; want ErrDeferred, not ErrUnavailable", err)
	}
}

// A caller that gives up is not a Redis failure: callers cancelled while
// a frozen Redis keeps them waiting must not open the breaker, nor count
// as errors.
func TestCallerCancellationIsNotAStoreFailure(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{})
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	for range 2 * 5 { // twice the failures that would open it
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(5*time.Millisecond, cancel)
		if _, found, err := aside.GetIfPresent[int](ctx, c, "k"); found || err != nil {
			t.Fatalf("Get cancelled while Redis is frozen = %v, %v; want a miss", found, err)
		}
	}
	if st := c.Stats(); st.Breaker != aside.BreakerClosed || st.Errors != 0 {
		t.Errorf("after 10 reads cancelled mid-call: breaker %s, errors %d; want closed, 0", st.Breaker, st.Errors)
	}
}

func TestInProcessStoreHasNoBreaker(t *testing.T) {
	c := newCache(t, newMemstore(t), aside.Options{})
	if st := c.Stats().Breaker; st != aside.BreakerNone {
		t.Errorf("breaker state on memstore = %q; want %q", st, aside.BreakerNone)
	}
}

// After an outage, the half-open breaker's probe is a read of its own, not
// the caller's: the caller's read answers from the loader. Then the breaker
// keeps calls out a little longer (two replay intervals), so that what
// other processes deferred during the outage is replayed before this one
// reads an entry again.
func TestBreakerProbesAndHoldsBeforeReadingAgain(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{
		Breaker: aside.BreakerOptions{ConsecutiveFailures: 1, Cooldown: 50 * time.Millisecond}})
	ctx := context.Background()
	cached := func(context.Context) (string, error) { return "cached", nil }
	loaded := func(context.Context) (string, error) { return "loaded", nil }
	if v, _ := aside.GetOrSet(ctx, c, "k", time.Hour, cached); v != "cached" {
		t.Fatal("no fill")
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	aside.GetOrSet(ctx, c, "other", time.Hour, loaded) // times out: the breaker opens
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Breaker != aside.BreakerOpen {
		t.Fatalf("breaker %s after a timeout; want open", st.Breaker)
	}

	// Readers race through the recovery. The probe follows the cooldown,
	// so it succeeds after every moment a reader saw the breaker open; no
	// read may come from Redis until 100 ms after the latest such moment.
	var (
		mu          sync.Mutex
		lastOpen    time.Time
		firstCached time.Time
	)
	deadline := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				seen := time.Now()
				state := c.Stats().Breaker
				v, err := aside.GetOrSet(ctx, c, "k", time.Hour, loaded)
				end := time.Now()
				mu.Lock()
				if state == aside.BreakerOpen && seen.After(lastOpen) {
					lastOpen = seen
				}
				done := !firstCached.IsZero()
				if err == nil && v == "cached" && (firstCached.IsZero() || end.Before(firstCached)) {
					firstCached = end
				}
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if done {
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if firstCached.IsZero() {
		t.Fatal("no read came from Redis within 5 s of Redis answering again")
	}
	if held := firstCached.Sub(lastOpen); held < 100*time.Millisecond {
		t.Errorf("the first read from Redis ended %v after a reader last saw the breaker open; want the breaker to hold at least 100ms after its probe", held)
	}
	if st := c.Stats(); st.Breaker != aside.BreakerClosed {
		t.Errorf("breaker %s once reads come from Redis again; want closed", st.Breaker)
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
