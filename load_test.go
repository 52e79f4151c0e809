package aside_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

func TestLoaderErrorIsReturnedNotCachedNotRetried(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		dbDown := errors.New("database down")
		loader := &counter[User]{err: dbDown}
		_, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, loader.load)
		var le *aside.LoadError
		if !errors.Is(err, dbDown) || !errors.As(err, &le) || le.Key != "user:1" {
			t.Fatalf("GetOrSet with a failing loader = %v; want a *LoadError for user:1 wrapping the loader's error", err)
		}
		if n := loader.calls.Load(); n != 1 {
			t.Errorf("loader called %d times for one GetOrSet; want 1 (never retried behind the caller)", n)
		}
		if ok, _ := c.Exists(ctx, "user:1"); ok {
			t.Error("a loader error was cached")
		}
		loader.err, loader.value = nil, sampleUser(1)
		if got, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, loader.load); err != nil || got.ID != 1 {
			t.Errorf("GetOrSet after the loader recovered = %+v, %v; want the user", got, err)
		}
		if st := c.Stats(); st.LoadErrors != 1 || st.Loads != 2 || st.Errors != 0 {
			t.Errorf("loads %d, load errors %d, errors %d; want 2, 1, 0", st.Loads, st.LoadErrors, st.Errors)
		}
	})
}

func TestCoalescedWaitersShareTheLoaderError(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		release := make(chan struct{})
		var calls sync.WaitGroup
		calls.Add(1)
		var n int
		load := func(context.Context) (int, error) {
			n++
			calls.Done()
			<-release
			return 0, errors.New("boom")
		}
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Go(func() { _, errs[i] = aside.GetOrSet(context.Background(), c, "k", time.Hour, load) })
		}
		calls.Wait()
		waitFor(t, "every caller to join the load", func() bool { return c.Stats().Coalesced == 19 })
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "boom") {
				t.Errorf("caller %d got %v; want the loader's error", i, err)
			}
		}
		if n != 1 {
			t.Errorf("loader ran %d times; want 1", n)
		}
	})
}

func TestNotFoundIsCachedAsNegativeEntry(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{NegativeTTL: 20 * time.Second, Jitter: -1}), context.Background()
		loader := &counter[User]{err: fmt.Errorf("user 9: %w", aside.ErrNotFound)}
		for i := range 3 {
			_, err := aside.GetOrSet(ctx, c, "user:9", time.Hour, loader.load)
			if !errors.Is(err, aside.ErrNotFound) {
				t.Fatalf("GetOrSet #%d = %v; want ErrNotFound", i, err)
			}
		}
		if n := loader.calls.Load(); n != 1 {
			t.Errorf("loader called %d times; want 1 (the negative entry answers)", n)
		}
		if ttl, err := c.TTL(ctx, "user:9"); err != nil || ttl <= 19*time.Second || ttl > 20*time.Second {
			t.Errorf("TTL of the negative entry = %v, %v; want NegativeTTL (20s)", ttl, err)
		}
		if _, found, err := aside.GetIfPresent[User](ctx, c, "user:9"); found || !errors.Is(err, aside.ErrNotFound) {
			t.Errorf("Get of a negative entry = found %v, err %v; want false, ErrNotFound", found, err)
		}
		if st := c.Stats(); st.Hits != 3 || st.Misses != 1 || st.LoadErrors != 0 {
			t.Errorf("hits %d misses %d load errors %d; want 3, 1, 0", st.Hits, st.Misses, st.LoadErrors)
		}
	})
}

func TestZeroValuesAreHits(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		check := func(name string, reads func() (int64, error)) {
			t.Helper()
			for range 2 {
				if _, err := reads(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			if n, _ := reads(); n != 1 {
				t.Errorf("%s: loader called %d times for 3 reads; want 1", name, n)
			}
		}
		zeroInt, emptyString := &counter[int]{}, &counter[string]{}
		emptyStruct, nilSlice := &counter[struct{}]{}, &counter[[]int]{}
		check("0", func() (int64, error) {
			_, err := aside.GetOrSet(ctx, c, "int", time.Hour, zeroInt.load)
			return zeroInt.calls.Load(), err
		})
		check(`""`, func() (int64, error) {
			_, err := aside.GetOrSet(ctx, c, "string", time.Hour, emptyString.load)
			return emptyString.calls.Load(), err
		})
		check("struct{}{}", func() (int64, error) {
			_, err := aside.GetOrSet(ctx, c, "struct", time.Hour, emptyStruct.load)
			return emptyStruct.calls.Load(), err
		})
		check("nil slice", func() (int64, error) {
			_, err := aside.GetOrSet(ctx, c, "slice", time.Hour, nilSlice.load)
			return nilSlice.calls.Load(), err
		})
	})
}

func TestTimeRoundTripsExactly(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		at := time.Date(2026, 2, 3, 4, 5, 6, 987654321, time.FixedZone("X", 5*3600+1800))
		type row struct{ At time.Time }
		if err := aside.Set(ctx, c, "t", row{at}, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, _, err := aside.GetIfPresent[row](ctx, c, "t")
		if err != nil || !got.At.Equal(at) || got.At.Nanosecond() != 987654321 {
			t.Errorf("time round trip = %v, %v; want %v to the nanosecond", got.At, err, at)
		}
	})
}

func TestFirstCallerLeavingDoesNotCancelTheSharedLoad(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		started, release := make(chan struct{}), make(chan struct{})
		var loadErr error
		load := func(ctx context.Context) (string, error) {
			close(started)
			<-release
			loadErr = ctx.Err() // the first caller is gone by now
			return "v", ctx.Err()
		}
		first, cancelFirst := context.WithCancel(context.Background())
		firstDone := make(chan error, 1)
		go func() {
			_, err := aside.GetOrSet(first, c, "k", time.Hour, load)
			firstDone <- err
		}()
		<-started
		secondDone := make(chan string, 1)
		go func() {
			v, _ := aside.GetOrSet(context.Background(), c, "k", time.Hour, load)
			secondDone <- v
		}()
		waitFor(t, "the second caller to join", func() bool { return c.Stats().Coalesced == 1 })

		cancelFirst()
		if err := <-firstDone; !errors.Is(err, context.Canceled) {
			t.Errorf("first caller after cancelling = %v; want context.Canceled, at once", err)
		}
		close(release)
		if v := <-secondDone; v != "v" {
			t.Errorf("second caller got %q; want the shared load's value", v)
		}
		if loadErr != nil {
			t.Errorf("the load's context ended with the first caller: %v", loadErr)
		}
		if v, found, _ := aside.GetIfPresent[string](context.Background(), c, "k"); !found || v != "v" {
			t.Errorf("after the load: cached %q, %v; want v", v, found)
		}
	})
}

func TestWaiterLeavesOnItsOwnContext(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		release := make(chan struct{})
		defer close(release)
		load := func(context.Context) (int, error) { <-release; return 1, nil }
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := aside.GetOrSet(ctx, c, "slow", time.Hour, load)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("GetOrSet past its deadline = %v; want DeadlineExceeded", err)
		}
	})
}

func TestLoaderPanicIsAnError(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		_, err := aside.GetOrSet(context.Background(), c, "k", time.Hour, func(context.Context) (int, error) {
			panic("loader bug")
		})
		if err == nil || !strings.Contains(err.Error(), "loader bug") {
			t.Errorf("GetOrSet with a panicking loader = %v; want an error naming the panic", err)
		}
	})
}

func TestLoadTimeoutStopsAHungLoader(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{LoadTimeout: 20 * time.Millisecond})
		_, err := aside.GetOrSet(context.Background(), c, "k", time.Hour, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("GetOrSet with a hung loader = %v; want DeadlineExceeded from LoadTimeout", err)
		}
	})
}

// A namespace's LoadTimeout bounds its loads, whatever the cache's; a
// negative one is a configuration error.
func TestNamespaceLoadTimeout(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{}) // the cache's: 30 s
		ns := newNamespace[int](t, c, aside.NamespaceConfig{Name: "slow", TTL: time.Hour, LoadTimeout: 20 * time.Millisecond})
		var deadline time.Duration
		_, err := ns.Get(context.Background(), "1", func(ctx context.Context) (int, error) {
			d, _ := ctx.Deadline()
			deadline = time.Until(d)
			<-ctx.Done()
			return 0, ctx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) || deadline > 20*time.Millisecond {
			t.Errorf("Get with a hung loader = %v, the loader's deadline %v away; want DeadlineExceeded within 20ms", err, deadline)
		}
		if _, err := aside.NewNamespace[int](c, aside.NamespaceConfig{Name: "bad", TTL: time.Hour, LoadTimeout: -1}); err == nil || !strings.Contains(err.Error(), "LoadTimeout") {
			t.Errorf("a namespace with a negative LoadTimeout = %v; want an error naming LoadTimeout", err)
		}
	})
}

func TestJitterSpreadsTTLs(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		const ttl = 100 * time.Second
		seen := map[time.Duration]bool{}
		for i := range 50 {
			key := fmt.Sprint("k", i)
			if _, err := aside.GetOrSet(ctx, c, key, ttl, (&counter[int]{value: i}).load); err != nil {
				t.Fatal(err)
			}
			got, err := c.TTL(ctx, key)
			if err != nil || got < 89*time.Second || got > 110*time.Second {
				t.Fatalf("TTL of a fill with ttl 100s and ±10%% jitter = %v, %v; want within [90s, 110s]", got, err)
			}
			seen[got.Truncate(time.Second)] = true
		}
		if len(seen) < 5 {
			t.Errorf("50 fills got %d distinct TTLs (to the second); jitter does not spread them", len(seen))
		}
	})
}

func TestTypeMismatchIsAMissNotAPanic(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		if err := aside.Set(ctx, c, "k", sampleUser(1), time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := aside.GetOrSet(ctx, c, "k", time.Hour, (&counter[int]{value: 5}).load)
		if err != nil || got != 5 {
			t.Errorf("GetOrSet[int] over a cached User = %v, %v; want the loader's 5", got, err)
		}
		if st := c.Stats(); st.Errors != 0 || st.Sets != 2 {
			t.Errorf("errors %d, sets %d; want 0 and 2: an entry of another type is no error, and the load replaces it", st.Errors, st.Sets)
		}
		if v, found, _ := aside.GetIfPresent[int](ctx, c, "k"); !found || v != 5 {
			t.Errorf("Get[int] after the load = %v, %v; want the 5 that replaced the User", v, found)
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

// panicJSON is a value whose encoding panics.
type panicJSON struct{ X int }

func (panicJSON) MarshalJSON() ([]byte, error) { panic("marshal panics") }

// A codec that panics on a value (a MarshalJSON of its own) is an error,
// as one that fails is: the process lives, the value is returned but not
// cached, and the lease is given up.
func TestPanickingEncodingIsAnError(t *testing.T) {
	s := newRedisStore(t, sharedAddr(t))
	a, b := twoCaches(t, s, aside.Options{})
	ctx := context.Background()
	if v, err := aside.GetOrSet(ctx, a, "k", time.Hour, (&counter[panicJSON]{value: panicJSON{1}}).load); err != nil || v.X != 1 {
		t.Errorf("GetOrSet of a value whose MarshalJSON panics = %+v, %v; want it returned", v, err)
	}
	if st := a.Stats(); st.Errors != 1 {
		t.Errorf("errors = %d; want 1", st.Errors)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	loader := &counter[panicJSON]{value: panicJSON{2}}
	if v, err := aside.GetOrSet(short, b, "k", time.Hour, loader.load); err != nil || v.X != 2 {
		t.Errorf("another process's read = %+v, %v; want its own load at once", v, err)
	}
}
