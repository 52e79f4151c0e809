package aside_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

var plainUsers = aside.NamespaceConfig{Name: "users", TTL: time.Hour}

// Load may return ids it was not asked for: "they are ignored". So they
// must not be cached, not even in another caller's load of them.
func TestBatchExtraIdsAreNotCached(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[string](t, c, plainUsers)
		ctx := context.Background()
		// Another caller loads "2" (gated), while the batch's loader
		// returns an "evil" value for 2.
		g := newGate(func() (string, error) { return "good 2", nil })
		two := make(chan string, 1)
		go func() { v, _ := users.Get(ctx, "2", g.load); two <- v }()
		<-g.called
		got, err := users.GetMany(ctx, []string{"1"}, func(ctx context.Context, ids []string) (map[string]string, error) {
			return map[string]string{"1": "one", "2": "evil 2", "3": "evil 3"}, nil
		})
		if err != nil || len(got) != 1 || got["1"] != "one" {
			t.Errorf("GetMany = %v, %v; want only 1", got, err)
		}
		close(g.release)
		if v := <-two; v != "good 2" {
			t.Errorf("the other load of 2 answered %q", v)
		}
		for _, id := range []string{"2", "3"} {
			v, err := users.Get(ctx, id, mustLoad("good "+id))
			if err != nil || v != "good "+id {
				t.Errorf("Get(%s) = %q, %v; want good %s (the batch's extra ignored)", id, v, err, id)
			}
		}
	})
}

// A nil map with a nil error: every id not found, cached as such.
func TestBatchNilMapNilError(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		users := newNamespace[string](t, c, plainUsers)
		ctx := context.Background()
		var calls atomic.Int64
		load := func(ctx context.Context, ids []string) (map[string]string, error) {
			calls.Add(1)
			return nil, nil
		}
		for range 2 {
			got, err := users.GetMany(ctx, []string{"1", "2"}, load)
			if err != nil || len(got) != 0 {
				t.Errorf("GetMany = %v, %v; want empty, nil", got, err)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%d loader calls; want 1 (not found cached)", n)
		}
		_, err := users.Get(ctx, "1", mustLoad("x"))
		var le *aside.LoadError
		if !errors.Is(err, aside.ErrNotFound) || !errors.As(err, &le) {
			t.Errorf("Get of an id the batch left out = %v; want *LoadError wrapping ErrNotFound", err)
		}
		enc, err := users.GetManyEncoded(ctx, []string{"1", "2"}, load)
		if err != nil || len(enc) != 0 {
			t.Errorf("GetManyEncoded = %v, %v", enc, err)
		}
	})
}

// A batch loader that panics: an error (a *LoadError, per the table), the
// process lives, nothing cached, the ids load later.
func TestBatchLoaderPanics(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		users := newNamespace[string](t, c, plainUsers)
		ctx := context.Background()
		got, err := users.GetMany(ctx, []string{"1", "2"}, func(ctx context.Context, ids []string) (map[string]string, error) {
			panic("boom")
		})
		var le *aside.LoadError
		if err == nil || !errors.As(err, &le) {
			t.Errorf("GetMany with a panicking loader = %v, %v; want a *LoadError", got, err)
		}
		if len(got) != 0 {
			t.Errorf("GetMany answered %v", got)
		}
		db := newTable("1", "2")
		got, err = users.GetMany(ctx, []string{"1", "2"}, db.load)
		if err != nil || len(got) != 2 {
			t.Errorf("GetMany after the panic = %v, %v", got, err)
		}
		// a panic with an error value
		_, err = users.GetMany(ctx, []string{"3"}, func(ctx context.Context, ids []string) (map[string]string, error) {
			panic(context.Canceled)
		})
		if errors.Is(err, context.Canceled) && !errors.As(err, &le) {
			t.Errorf("a loader's panic(context.Canceled) = %v: looks like the caller's context ended", err)
		}
	})
}

// The error table: the load ran past LoadTimeout → *LoadError wrapping
// ErrLoadTimeout, with a loader that honours its context and one that
// does not; nothing cached.
func TestBatchLoadTimeout(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{LoadTimeout: 50 * time.Millisecond})
		users := newNamespace[string](t, c, plainUsers)
		ctx := context.Background()
		for _, honours := range []bool{true, false} {
			t.Run(fmt.Sprint("honours=", honours), func(t *testing.T) {
				ids := []string{"a" + strconv.FormatBool(honours), "b" + strconv.FormatBool(honours)}
				start := time.Now()
				got, err := users.GetMany(ctx, ids, func(ctx context.Context, ids []string) (map[string]string, error) {
					if honours {
						<-ctx.Done()
						return nil, ctx.Err()
					}
					time.Sleep(300 * time.Millisecond)
					return map[string]string{ids[0]: "late"}, nil
				})
				took := time.Since(start)
				var le *aside.LoadError
				if !errors.Is(err, aside.ErrLoadTimeout) || !errors.As(err, &le) {
					t.Errorf("GetMany past LoadTimeout = %v, %v (took %v); want *LoadError wrapping ErrLoadTimeout", got, err, took)
				}
				if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, aside.ErrLoadTimeout) {
					t.Errorf("looks like the caller's deadline: %v", err)
				}
				if took > 250*time.Millisecond {
					t.Errorf("GetMany took %v; LoadTimeout is 50ms", took)
				}
				time.Sleep(300 * time.Millisecond)
				if v, found, _ := users.GetIfPresent(ctx, ids[0]); found {
					t.Errorf("a late answer past LoadTimeout was cached: %q", v)
				}
			})
		}
	})
}

// The caller's context: ended before the call (cold and cached), and
// during it: its error, never a *LoadError, for GetMany and Get alike.
func TestBatchCallerContext(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		users := newNamespace[string](t, c, plainUsers)
		ctx := context.Background()
		db := newTable("1", "2", "3")
		if _, err := users.GetMany(ctx, []string{"1"}, db.load); err != nil {
			t.Fatal(err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		for _, batch := range [][]string{{"1"}, {"2"}, {"1", "3"}} {
			got, err := users.GetMany(cancelled, batch, db.load)
			_, gerr := users.Get(cancelled, batch[len(batch)-1], mustLoad("x"))
			var le *aside.LoadError
			if errors.As(err, &le) {
				t.Errorf("GetMany(%v) on a cancelled context = %v, %v: a *LoadError", batch, got, err)
			}
			if (err == nil) != (gerr == nil) || (err != nil && !errors.Is(err, context.Canceled)) {
				t.Errorf("GetMany(%v) on a cancelled context = %v, %v; Get = %v: not one shape", batch, got, err, gerr)
			}
		}
		// Cancelled during a failing load.
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer dcancel()
		_, err := users.GetMany(dctx, []string{"9"}, func(ctx context.Context, ids []string) (map[string]string, error) {
			time.Sleep(80 * time.Millisecond)
			return nil, errors.New("db down")
		})
		var le *aside.LoadError
		if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &le) {
			t.Errorf("GetMany whose caller's deadline passed during a failing load = %v; want DeadlineExceeded, no *LoadError", err)
		}
	})
}

// Closed cache: ErrClosed from every batch door.
func TestBatchClosed(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		users := newNamespace[string](t, c, plainUsers)
		byID, err := aside.NewIDNamespace[int64, string](c, aside.NamespaceConfig{Name: "ints", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		ctx := context.Background()
		db := newTable("1")
		if _, err := users.GetMany(ctx, []string{"1"}, db.load); !errors.Is(err, aside.ErrClosed) {
			t.Errorf("GetMany on a closed cache = %v", err)
		}
		if _, err := users.GetManyEncoded(ctx, []string{"1"}, db.load); !errors.Is(err, aside.ErrClosed) {
			t.Errorf("GetManyEncoded on a closed cache = %v", err)
		}
		if _, err := byID.GetMany(ctx, []int64{1}, func(context.Context, []int64) (map[int64]string, error) { return nil, nil }); !errors.Is(err, aside.ErrClosed) {
			t.Errorf("IDNamespace.GetMany on a closed cache = %v", err)
		}
		if err := c.Invalidate(ctx, aside.Groups("g"), users.IDs("1")); !errors.Is(err, aside.ErrClosed) {
			t.Errorf("Invalidate on a closed cache = %v", err)
		}
	})
}

// Bad input: ErrInvalid, nothing read; MaxBatch.
func TestBatchBadInput(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		users := newNamespace[string](t, c, plainUsers)
		byID, _ := aside.NewIDNamespace[int64, string](c, aside.NamespaceConfig{Name: "ints", TTL: time.Hour})
		ctx := context.Background()
		var calls atomic.Int64
		load := func(ctx context.Context, ids []string) (map[string]string, error) {
			calls.Add(1)
			return nil, nil
		}
		over := make([]string, aside.MaxBatch+1)
		for i := range over {
			over[i] = strconv.Itoa(i)
		}
		if _, err := users.GetMany(ctx, over, load); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("GetMany of MaxBatch+1 ids = %v", err)
		}
		overInts := make([]int64, aside.MaxBatch+1)
		for i := range overInts {
			overInts[i] = int64(i)
		}
		if _, err := byID.GetMany(ctx, overInts, func(context.Context, []int64) (map[int64]string, error) { return nil, nil }); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("IDNamespace.GetMany of MaxBatch+1 ids = %v", err)
		}
		if _, err := users.GetMany(ctx, []string{"1", ""}, load); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("GetMany with an empty id = %v", err)
		}
		if _, err := users.GetMany(ctx, []string{"1"}, nil); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("GetMany with a nil loader = %v", err)
		}
		if _, err := byID.GetMany(ctx, []int64{1}, nil); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("IDNamespace.GetMany with a nil loader = %v", err)
		}
		if _, err := users.GetManyEncoded(ctx, []string{""}, load); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("GetManyEncoded with an empty id = %v", err)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("%d loader calls on refused batches", n)
		}
		// A repeat counts: each is a read.
		rep := append(slices.Clone(over[:aside.MaxBatch]), "0")
		if _, err := users.GetMany(ctx, rep, load); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("GetMany of MaxBatch distinct ids + 1 repeat = %v; want ErrInvalid (repeats count)", err)
		}
		// Empty batch.
		got, err := users.GetMany(ctx, nil, load)
		if err != nil || len(got) != 0 {
			t.Errorf("GetMany(nil) = %v, %v", got, err)
		}
		// A long id is hashed (key.go), and the loader gets it as given.
		long := string(make([]byte, 4096))
		got, err = users.GetMany(ctx, []string{long}, func(ctx context.Context, ids []string) (map[string]string, error) {
			return map[string]string{ids[0]: "long"}, nil
		})
		if err != nil || got[long] != "long" {
			t.Errorf("GetMany with a 4 KiB id = %v, %v", len(got), err)
		}
	})
}

// Duplicates: the loader sees each id once; the map holds each once.
func TestBatchDuplicates(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		users := newNamespace[string](t, c, plainUsers)
		ctx := context.Background()
		db := newTable("1", "2")
		got, err := users.GetMany(ctx, []string{"1", "2", "1", "1", "3", "3"}, db.load)
		if err != nil || len(got) != 2 {
			t.Errorf("GetMany = %v, %v", got, err)
		}
		for _, id := range []string{"1", "2", "3"} {
			if n := db.loadsOf(id); n != 1 {
				t.Errorf("id %s loaded %d times; want 1 (calls %q)", id, n, db.callLog())
			}
		}
	})
}

// IDNamespace: negative ids, uint64 above MaxInt64, small types at their
// bounds, and the string Namespace sharing the entries.
func TestIDNamespaceBounds(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{})
		ctx := context.Background()
		cfg := aside.NamespaceConfig{Name: "ids", TTL: time.Hour}
		u64, err := aside.NewIDNamespace[uint64, string](c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		big := []uint64{math.MaxUint64, 1 << 63, math.MaxInt64, 0}
		var asked []uint64
		got, err := u64.GetMany(ctx, big, func(ctx context.Context, ids []uint64) (map[uint64]string, error) {
			asked = ids
			out := map[uint64]string{}
			for _, id := range ids {
				out[id] = strconv.FormatUint(id, 10)
			}
			return out, nil
		})
		if err != nil || len(got) != 4 || !slices.Equal(asked, big) {
			t.Errorf("uint64 GetMany = %v, %v, asked %v", got, err, asked)
		}
		for _, id := range big {
			if got[id] != strconv.FormatUint(id, 10) {
				t.Errorf("uint64 %d = %q", id, got[id])
			}
		}
		if v, ok, _ := u64.Namespace().GetIfPresent(ctx, "18446744073709551615"); !ok || v != "18446744073709551615" {
			t.Errorf("string door of MaxUint64 = %q, %v", v, ok)
		}
		// int64 with negatives, same namespace name in another cache view.
		i64, err := aside.NewIDNamespace[int64, string](c, aside.NamespaceConfig{Name: "neg", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		negs := []int64{math.MinInt64, -1, 1}
		got2, err := i64.GetMany(ctx, negs, func(ctx context.Context, ids []int64) (map[int64]string, error) {
			out := map[int64]string{}
			for _, id := range ids {
				out[id] = strconv.FormatInt(id, 10)
			}
			return out, nil
		})
		if err != nil || len(got2) != 3 || got2[math.MinInt64] != "-9223372036854775808" || got2[-1] != "-1" {
			t.Errorf("int64 GetMany = %v, %v", got2, err)
		}
		// int8: the string door wrote "200" into an int8 namespace's
		// entries; int8 reads are unaffected. A loader of int8 returning
		// an id out of what was asked: ignored.
		i8, err := aside.NewIDNamespace[int8, string](c, aside.NamespaceConfig{Name: "small", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		got3, err := i8.GetMany(ctx, []int8{-128, 127}, func(ctx context.Context, ids []int8) (map[int8]string, error) {
			return map[int8]string{-128: "min", 127: "max", 5: "extra"}, nil
		})
		if err != nil || len(got3) != 2 || got3[-128] != "min" || got3[127] != "max" {
			t.Errorf("int8 GetMany = %v, %v", got3, err)
		}
		if _, ok, _ := i8.GetIfPresent(ctx, 5); ok {
			t.Errorf("an extra id the loader returned was cached")
		}
		// The error names the id.
		_, err = i8.GetMany(ctx, []int8{1, 2}, func(ctx context.Context, ids []int8) (map[int8]string, error) {
			return nil, errors.New("db down")
		})
		var le *aside.LoadError
		if !errors.As(err, &le) {
			t.Errorf("int8 GetMany with a failing loader = %v; want *LoadError", err)
		}
		// uintptr / uint types
		ux, err := aside.NewIDNamespace[uint, string](c, aside.NamespaceConfig{Name: "uint", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := ux.Get(ctx, math.MaxUint, mustLoad("max")); err != nil || v != "max" {
			t.Errorf("uint Get(MaxUint) = %q, %v", v, err)
		}
	})
}

// Two processes' overlapping batches; one process's loader fails. The
// other must not be handed ids the failing process leads while it leads
// them, must answer every id it asked for (the leader's failure is not
// its own), and no id may be loaded concurrently by two loaders.
func TestBatchOverlapWithAFailingProcess(t *testing.T) {
	srv := redistest.Start(t)
	opts := aside.Options{KeyPrefix: uniquePrefix(t), OpTimeout: patient}
	a := newCache(t, newRedisStore(t, srv.Addr), opts)
	b := newCache(t, newRedisStore(t, srv.Addr), opts)
	ua, ub := newNamespace[string](t, a, plainUsers), newNamespace[string](t, b, plainUsers)
	ctx := context.Background()
	var mu sync.Mutex
	inFlight := map[string]string{} // id → which process loads it
	var overlaps []string
	enter := func(who string, ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if o, ok := inFlight[id]; ok {
				overlaps = append(overlaps, fmt.Sprintf("%s asked for %s while %s loads it", who, id, o))
			}
			inFlight[id] = who
		}
	}
	leave := func(ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			delete(inFlight, id)
		}
	}
	aStarted := make(chan struct{})
	var once sync.Once
	failing := func(ctx context.Context, ids []string) (map[string]string, error) {
		enter("a", ids)
		defer leave(ids)
		once.Do(func() { close(aStarted) })
		time.Sleep(80 * time.Millisecond)
		return nil, errors.New("a's db down")
	}
	good := func(ctx context.Context, ids []string) (map[string]string, error) {
		enter("b", ids)
		defer leave(ids)
		time.Sleep(20 * time.Millisecond)
		out := map[string]string{}
		for _, id := range ids {
			out[id] = "v of " + id
		}
		return out, nil
	}
	aDone := make(chan error, 1)
	go func() { _, err := ua.GetMany(ctx, ids(10), failing); aDone <- err }()
	<-aStarted
	got, err := ub.GetMany(ctx, ids(20)[5:], good) // 5..19, of which 5..9 a leads
	if err != nil || len(got) != 15 {
		t.Errorf("b's batch = %d values, %v; want 15, nil (a's failure is a's)", len(got), err)
	}
	if aerr := <-aDone; aerr == nil {
		t.Errorf("a's failing batch returned no error")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, o := range overlaps {
		t.Error(o)
	}
}
