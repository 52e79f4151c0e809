package aside_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/redistest"
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
	if _, found, _ := aside.Get[User](ctx, c, "after"); !found || c.Stats().Sets != setsBefore+1 {
		t.Error("after the breaker closed, a read's value was not cached")
	}
}

// While the breaker is open, calls that cannot do without the store say
// so with ErrUnavailable; reads never do.
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
		if _, _, err := aside.Get[int](ctx, c, "k"); err != nil {
			t.Fatalf("Get with Redis dead = %v; want a miss", err)
		}
	}
	if _, err := c.Delete(ctx, "k"); !errors.Is(err, aside.ErrUnavailable) {
		t.Errorf("Delete with the breaker open = %v; want ErrUnavailable", err)
	}
	if err := aside.Set(ctx, c, "k", 1, time.Hour); !errors.Is(err, aside.ErrUnavailable) {
		t.Errorf("Set with the breaker open = %v; want ErrUnavailable", err)
	}
	if _, err := c.Exists(ctx, "k"); !errors.Is(err, aside.ErrUnavailable) {
		t.Errorf("Exists with the breaker open = %v; want ErrUnavailable", err)
	}
	if _, err := c.Clear(ctx); !errors.Is(err, aside.ErrUnavailable) {
		t.Errorf("Clear with the breaker open = %v; want ErrUnavailable", err)
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
		if _, found, err := aside.Get[int](ctx, c, "k"); found || err != nil {
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

	// The probe is made by the last read that began with the breaker open,
	// or by the first that began with it half-open: either way, not before
	// the last read that began with it open.
	var lastOpen time.Time
	for deadline := time.Now().Add(5 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("no read came from Redis within 5 s of Redis answering again")
		}
		state, start := c.Stats().Breaker, time.Now()
		v, err := aside.GetOrSet(ctx, c, "k", time.Hour, loaded)
		if err != nil {
			t.Fatal(err)
		}
		if state == aside.BreakerOpen {
			lastOpen = start
		}
		if v == "cached" {
			if held := time.Since(lastOpen); held < 100*time.Millisecond {
				t.Errorf("the first read from Redis came %v after the probe at the latest; want the breaker to hold at least 100ms", held)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
	if st := c.Stats(); st.Breaker != aside.BreakerClosed {
		t.Errorf("breaker %s once reads come from Redis again; want closed", st.Breaker)
	}
}
