package aside_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

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

func seq(n int) func(yield func(string, User) bool) {
	return func(yield func(string, User) bool) {
		for i := range n {
			if !yield(fmt.Sprint(i), sampleUser(int64(i))) {
				return
			}
		}
	}
}

func TestWarm(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		users := newNamespace[User](t, c, guideNamespaces[0])
		fresher := sampleUser(3)
		fresher.Name = "renamed after the warm-up's source was read"
		users.Get(ctx, "3", (&counter[User]{value: fresher}).load)

		written, err := users.Warm(ctx, seq(1200))
		if err != nil || written != 1199 {
			t.Fatalf("Warm(1200 users, 1 present) = %d, %v; want 1199", written, err)
		}
		loader := &counter[User]{}
		got, _ := users.Get(ctx, "3", loader.load)
		if got.Name != fresher.Name {
			t.Errorf("Warm overwrote a present entry: %q", got.Name)
		}
		if got, _ := users.Get(ctx, "1100", loader.load); got.ID != 1100 || loader.calls.Load() != 0 {
			t.Errorf("users.Get(1100) after Warm = %+v with %d loads; want a hit", got, loader.calls.Load())
		}
		if ttl, _ := c.TTL(ctx, "user:7"); ttl < 54*time.Minute || ttl > 66*time.Minute {
			t.Errorf("TTL of a warmed entry = %v; want the namespace's hour ±10%%", ttl)
		}
		if st := c.Stats().Namespaces["users"]; st.Sets != 1200 {
			t.Errorf("users Sets = %d; want 1200 (1 fill, 1199 warmed)", st.Sets)
		}
	})
}

// A warm-up goes in batches: never one round trip per item.
func TestWarmIsPipelined(t *testing.T) {
	store := &countingStore{Store: newRedisStore(t, sharedAddr(t))}
	c, ctx := newCache(t, store, aside.Options{}), context.Background()
	users := newNamespace[User](t, c, guideNamespaces[0])
	if written, err := users.Warm(ctx, seq(2500)); err != nil || written != 2500 {
		t.Fatalf("Warm(2500) = %d, %v", written, err)
	}
	if calls := store.calls(); calls != 5 {
		t.Errorf("Warm of 2,500 entries made %d store calls; want 5 batches of 500", calls)
	}
}

func TestWarmSkipsWhatCannotBeEncoded(t *testing.T) {
	c, ctx := newCache(t, newRedisStore(t, sharedAddr(t)), aside.Options{}), context.Background()
	ns := newNamespace[any](t, c, aside.NamespaceConfig{Name: "any", TTL: time.Hour})
	written, err := ns.Warm(ctx, func(yield func(string, any) bool) {
		_ = yield("1", "fine") && yield("2", make(chan int)) && yield("", 1) && yield("3", 3)
	})
	if written != 2 || err == nil {
		t.Errorf("Warm with an unencodable value and an empty id = %d, %v; want 2 written and an error naming both", written, err)
	}
}

// A warm-up of rows read before an invalidation writes nothing for a
// lease's life after it, whatever happened to the key meanwhile: a load
// that leased the tombstone and then failed (an error, a value that does
// not encode, a loader that ended its goroutine) puts the tombstone back;
// a fill that replaced it keeps the key that long even when its own TTL is
// shorter; and on memstore, churn that evicts the fill does not let it in.
func TestWarmAfterInvalidationWritesNothingWhateverCameBetween(t *testing.T) {
	type between struct {
		name  string
		store func(t *testing.T) aside.Store
		ttl   time.Duration
		after func(ctx context.Context, ns *aside.Namespace[float64], c *aside.Cache)
	}
	fail := func(load func(context.Context) (float64, error)) func(context.Context, *aside.Namespace[float64], *aside.Cache) {
		return func(ctx context.Context, ns *aside.Namespace[float64], _ *aside.Cache) { ns.Get(ctx, "1", load) }
	}
	redis := func(t *testing.T) aside.Store { return newRedisStore(t, sharedAddr(t)) }
	small := func(t *testing.T) aside.Store {
		s, err := memstore.New(memstore.Options{MaxBytes: 32 << 10})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, b := range []between{
		{"a failed load, memstore", func(t *testing.T) aside.Store { return newMemstore(t) }, time.Hour,
			fail(func(context.Context) (float64, error) { return 0, errDBDown })},
		{"a failed load, redis", redis, time.Hour, fail(func(context.Context) (float64, error) { return 0, errDBDown })},
		{"a value that does not encode", redis, time.Hour, fail(func(context.Context) (float64, error) { return math.NaN(), nil })},
		{"a loader that ends its goroutine", redis, time.Hour,
			fail(func(context.Context) (float64, error) { runtime.Goexit(); return 0, nil })},
		{"a fill that expired", redis, 200 * time.Millisecond,
			func(ctx context.Context, ns *aside.Namespace[float64], _ *aside.Cache) {
				ns.Get(ctx, "1", (&counter[float64]{value: 2}).load)
				time.Sleep(400 * time.Millisecond)
			}},
		{"a fill evicted by churn", small, time.Hour,
			func(ctx context.Context, ns *aside.Namespace[float64], c *aside.Cache) {
				ns.Get(ctx, "1", (&counter[float64]{value: 2}).load)
				for i := range 2000 {
					aside.GetOrSet(ctx, c, fmt.Sprint("churn:", i), time.Hour, (&counter[string]{value: "x"}).load)
				}
			}},
	} {
		t.Run(b.name, func(t *testing.T) {
			a, other := twoCaches(t, b.store(t), aside.Options{Jitter: -1})
			ctx := context.Background()
			cfg := aside.NamespaceConfig{Name: "f", TTL: b.ttl}
			na, nb := newNamespace[float64](t, a, cfg), newNamespace[float64](t, other, cfg)
			na.Get(ctx, "1", (&counter[float64]{value: 1}).load) // the warm-up reads 1 ...
			if err := nb.Invalidate(ctx, "1"); err != nil {      // ... a write commits 2 and invalidates ...
				t.Fatal(err)
			}
			b.after(ctx, nb, other)
			written, err := na.Warm(ctx, func(yield func(string, float64) bool) { yield("1", 1) }) // ... the warm-up writes
			if written != 0 {
				t.Errorf("Warm of a row read before the invalidation wrote %d (%v)", written, err)
			}
			if v, _ := nb.Get(ctx, "1", (&counter[float64]{value: 2}).load); v != 2 {
				t.Errorf("read after the warm-up = %v; want 2", v)
			}
		})
	}
}
