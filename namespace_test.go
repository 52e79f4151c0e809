package aside_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// The guide's four kinds of data, as the platform configures them.
var guideNamespaces = []aside.NamespaceConfig{
	{Name: "users", Prefix: "user:", TTL: time.Hour},
	{Name: "jobs", Prefix: "job:", TTL: 5 * time.Minute},
	{Name: "job_results", Prefix: "job:result:", TTL: 10 * time.Minute},
	{Name: "sessions", Prefix: "session:", TTL: 24 * time.Hour},
}

func TestNamespaceGetAndInvalidate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{Jitter: -1}), context.Background()
		users := newNamespace[User](t, c, guideNamespaces[0])
		loader := &counter[User]{value: sampleUser(5)}
		for range 2 {
			if got, err := users.Get(ctx, "5", loader.load); err != nil || got.ID != 5 {
				t.Fatalf("users.Get(5) = %+v, %v", got, err)
			}
		}
		if ttl, _ := c.TTL(ctx, "user:5"); ttl <= 59*time.Minute {
			t.Errorf("TTL(user:5) = %v; want the namespace's hour", ttl)
		}
		if err := users.Invalidate(ctx, "5"); err != nil {
			t.Fatalf("Invalidate: %v", err)
		}
		users.Get(ctx, "5", loader.load)
		if n := loader.calls.Load(); n != 2 {
			t.Errorf("loader calls = %d; want 2 (one before and one after the invalidation)", n)
		}
		st := c.Stats().Namespaces["users"]
		if st.Hits != 1 || st.Misses != 2 || st.Deletes != 1 || st.Sets != 2 {
			t.Errorf("users stats = %+v; want 1 hit, 2 misses, 1 delete, 2 sets", st)
		}
	})
}

// Each key counts in the namespace whose prefix is the longest to begin it:
// job:result:1 is a job result, not a job.
func TestStatsPerNamespace(t *testing.T) {
	c, ctx := newCache(t, newMemstore(t), aside.Options{}), context.Background()
	for _, cfg := range guideNamespaces {
		if cfg.Name != "job_results" {
			newNamespace[int](t, c, cfg)
		}
	}
	results := newNamespace[string](t, c, guideNamespaces[2])
	results.Get(ctx, "1", (&counter[string]{value: "r"}).load)                   // job_results miss
	aside.GetOrSet(ctx, c, "job:result:1", time.Hour, (&counter[string]{}).load) // job_results hit
	aside.GetOrSet(ctx, c, "job:1", time.Hour, (&counter[int]{}).load)           // jobs miss
	aside.GetOrSet(ctx, c, "misc", time.Hour, (&counter[int]{}).load)            // no namespace
	st := c.Stats()
	want := map[string]aside.Counters{
		"users":       {},
		"jobs":        {Misses: 1, Loads: 1, Sets: 1},
		"job_results": {Hits: 1, Misses: 1, Loads: 1, Sets: 1, HitRate: 50},
		"sessions":    {},
	}
	for name, c := range st.Namespaces {
		c.LoadTime = aside.Histogram{} // checked in TestLoadTimeHistogram
		st.Namespaces[name] = c
	}
	if !maps.Equal(st.Namespaces, want) {
		t.Errorf("per-namespace stats = %+v; want %+v", st.Namespaces, want)
	}
	if st.Misses != 3 || st.Hits != 1 || st.HitRate != 25 {
		t.Errorf("totals: hits %d misses %d rate %v; want 1, 3, 25 (the unscoped key counts too)", st.Hits, st.Misses, st.HitRate)
	}
}

func TestNamespaceIDsCannotForgeKeys(t *testing.T) {
	c, ctx := newCache(t, newMemstore(t), aside.Options{}), context.Background()
	jobs := newNamespace[string](t, c, guideNamespaces[1])
	results := newNamespace[string](t, c, guideNamespaces[2])
	results.Get(ctx, "1", (&counter[string]{value: "the result"}).load)
	// A job id that tries to name the result of job 1.
	got, err := jobs.Get(ctx, "result:1", (&counter[string]{value: "a job"}).load)
	if err != nil || got != "a job" {
		t.Errorf(`jobs.Get("result:1") = %q, %v; want its own entry, not job 1's result`, got, err)
	}
	if jobs.Key("result:1") == results.Key("1") {
		t.Errorf("job id result:1 and result id 1 share the key %q", jobs.Key("result:1"))
	}
}

func TestNamespaceConfigErrors(t *testing.T) {
	c, ctx := newCache(t, newMemstore(t), aside.Options{}), context.Background()
	for _, cfg := range []aside.NamespaceConfig{
		{TTL: time.Hour},
		{Name: "x"},
		{Name: "x", TTL: -time.Second},
		{Name: "x", TTL: time.Hour, NegativeTTL: -1},
		{Name: "x", TTL: time.Hour, Jitter: 1.5},
	} {
		if ns, err := aside.NewNamespace[int](c, cfg); err == nil || ns != nil {
			t.Errorf("NewNamespace(%+v) = %v, %v; want no namespace and an error", cfg, ns, err)
		}
	}
	if _, err := aside.NewNamespace[int](nil, guideNamespaces[0]); err == nil {
		t.Error("NewNamespace on a nil cache: no error")
	}
	ns := newNamespace[int](t, c, aside.NamespaceConfig{Name: "ok", TTL: time.Hour})
	if _, err := ns.Get(ctx, "", (&counter[int]{}).load); err == nil {
		t.Error("Get with an empty id: no error")
	}
}

func TestNamespaceNegativeTTLDefaultsToTheCaches(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{NegativeTTL: 7 * time.Second, Jitter: -1}), context.Background()
		ns := newNamespace[int](t, c, aside.NamespaceConfig{Name: "n", TTL: time.Hour})
		ns.Get(ctx, "1", (&counter[int]{err: aside.ErrNotFound}).load)
		if ttl, err := c.TTL(ctx, ns.Key("1")); err != nil || ttl <= 6*time.Second || ttl > 7*time.Second {
			t.Errorf("negative entry TTL = %v, %v; want the cache's 7s", ttl, err)
		}
	})
}

// Two namespaces of one cache never share a name, a prefix, or keys: a
// second namespace that would (its prefix the first's followed by text an
// id can spell) is refused when it is made. A prefix that continues
// another's with a separator no id can hold is its own key space.
func TestNamespacesMustNotOverlap(t *testing.T) {
	c := newCache(t, newMemstore(t), aside.Options{})
	newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	newNamespace[string](t, c, aside.NamespaceConfig{Name: "by_open_id", Prefix: "user:openid:", TTL: time.Hour})
	newNamespace[string](t, c, aside.NamespaceConfig{Name: "u", Prefix: "u", TTL: time.Hour})
	for _, cfg := range []aside.NamespaceConfig{
		{Name: "users", Prefix: "account:", TTL: time.Hour}, // the name again
		{Name: "accounts", Prefix: "user:", TTL: time.Hour}, // the prefix again
		{Name: "us", Prefix: "us", TTL: time.Hour},          // "u" + id "s1" is "us1"
		{Name: "user", Prefix: "user:o", TTL: time.Hour},    // "user:" + id "o1"
	} {
		if _, err := aside.NewNamespace[string](c, cfg); err == nil {
			t.Errorf("NewNamespace(%+v) beside users (user:), by_open_id (user:openid:) and u (u) = nil error; want it refused", cfg)
		}
	}
	if _, err := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}); err != nil {
		t.Errorf("the same namespace made twice: %v; want it allowed", err)
	}
	if _, err := aside.NewNamespace[int](c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}); err == nil {
		t.Error("the same namespace made again with another type: no error; want it refused")
	}
	for _, cfg := range []aside.NamespaceConfig{
		{Name: "users", Prefix: "user:", TTL: time.Second},
		{Name: "users", Prefix: "user:", TTL: time.Hour, MaxStale: time.Hour},
		{Name: "users", Prefix: "user:", TTL: time.Hour, NegativeTTL: time.Millisecond},
		{Name: "users", Prefix: "user:", TTL: time.Hour, Version: "2"},
	} {
		if _, err := aside.NewNamespace[string](c, cfg); err == nil {
			t.Errorf("the same name and prefix with another policy (%+v): no error; want it refused", cfg)
		}
	}
}

// During an outage, one namespace overflowing MaxPendingInvalidations
// never drops another's pending invalidations: after the outage the other
// process reads the new row.
func TestPendingOverflowKeepsOtherNamespaces(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	opts := aside.Options{KeyPrefix: prefix, MaxPendingInvalidations: 10, Breaker: aside.BreakerOptions{Cooldown: 50 * time.Millisecond}}
	writer := newCache(t, newRedisStore(t, srv.Addr), opts)
	reader := newCache(t, newRedisStore(t, srv.Addr), opts)
	ctx := context.Background()
	cfgA := aside.NamespaceConfig{Name: "a", Prefix: "a:", TTL: time.Hour}
	cfgB := aside.NamespaceConfig{Name: "b", Prefix: "b:", TTL: time.Hour}
	wa, wb := newNamespace[string](t, writer, cfgA), newNamespace[string](t, writer, cfgB)
	rb := newNamespace[string](t, reader, cfgB)
	db := newRow("v1")
	if v, _ := rb.Get(ctx, "1", readRow(db)); v != "v1" {
		t.Fatalf("first read = %q", v)
	}
	srv.Pause()
	db.set("v2")
	if err := wb.Invalidate(ctx, "1"); !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("Invalidate with Redis paused = %v; want ErrDeferred", err)
	}
	for i := range 20 { // a overflows its bound
		wa.Invalidate(ctx, fmt.Sprint(i))
	}
	srv.Resume()
	waitFor(t, "the writer's replay", func() bool { return writer.Stats().PendingInvalidations == 0 })
	if v, err := rb.Get(ctx, "1", readRow(db)); err != nil || v != "v2" {
		t.Errorf("read of b:1 after the outage = %q, %v; want v2: b's invalidation must survive a's overflow", v, err)
	}
}

// A key under a namespace's prefix is the namespace's entry whichever door
// it comes through: the key-based functions count it in the namespace's
// figures and fill and serve it by the namespace's policy (its negative
// TTL, its fail-safe), with the call's own TTL; each door reads what the
// other wrote.
func TestBothDoorsShareTheNamespacesEntry(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		c, ctx := newCache(t, s, aside.Options{Now: clk.Now, Jitter: -1}), context.Background()
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour,
			NegativeTTL: 7 * time.Second, MaxStale: time.Hour})

		aside.GetOrSet(ctx, c, "user:absent", time.Minute, (&counter[string]{err: aside.ErrNotFound}).load)
		if ttl, err := c.TTL(ctx, "user:absent"); err != nil || ttl > 7*time.Second || ttl < 6*time.Second {
			t.Errorf("TTL of a negative entry filled through GetOrSet = %v, %v; want the namespace's 7s", ttl, err)
		}

		if err := users.Set(ctx, "1", "set by the namespace"); err != nil {
			t.Fatal(err)
		}
		if v, err := aside.GetOrSet(ctx, c, users.Key("1"), time.Minute, (&counter[string]{value: "loaded"}).load); err != nil || v != "set by the namespace" {
			t.Errorf("GetOrSet of the namespace's key = %q, %v; want the namespace's entry", v, err)
		}
		if err := aside.Set(ctx, c, "user:2", "set by key", time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, found, err := users.GetIfPresent(ctx, "2"); err != nil || !found || v != "set by key" {
			t.Errorf("users.GetIfPresent(2) = %q, %v, %v; want the entry Set wrote", v, found, err)
		}

		aside.GetOrSet(ctx, c, "user:3", time.Minute, (&counter[string]{value: "v1"}).load)
		clk.Advance(2 * time.Minute) // past the call's TTL, within the namespace's MaxStale
		if v, err := aside.GetOrSet(ctx, c, "user:3", time.Minute, (&counter[string]{err: errDBDown}).load); err != nil || v != "v1" {
			t.Errorf("GetOrSet past its TTL with the database down = %q, %v; want the namespace's fail-safe to serve v1", v, err)
		}
		st := c.Stats()
		if ns := st.Namespaces["users"]; ns.Hits+ns.Misses != st.Hits+st.Misses || ns.StaleServed != 1 {
			t.Errorf("users counted %d reads and %d stale served of the cache's %d; want every read, and 1", ns.Hits+ns.Misses, ns.StaleServed, st.Hits+st.Misses)
		}
	})
}

// Every key a namespace makes is one the key door takes: a prefix of
// MaxKeyLen-MaxIDLen bytes with the longest escaped id, and with a hashed
// one, is read and deleted through GetIfPresent and Delete of Key(id); a
// longer prefix is refused, where it made entries of 1,081-byte keys that
// no key-based function could reach.
func TestNamespaceKeysFitTheKeyDoor(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		longest := strings.Repeat("p", aside.MaxKeyLen-aside.MaxIDLen-1) + ":"
		if ns, err := aside.NewNamespace[string](c, aside.NamespaceConfig{Prefix: "q" + longest, TTL: time.Hour}); err == nil || ns != nil {
			t.Errorf("a prefix of %d bytes: error %v; want one", len(longest)+1, err)
		}
		ns := newNamespace[string](t, c, aside.NamespaceConfig{Name: "long", Prefix: longest, TTL: time.Hour})
		for _, id := range []string{strings.Repeat("i", aside.MaxIDLen), strings.Repeat("i", 5*aside.MaxIDLen)} {
			if _, err := ns.Get(ctx, id, (&counter[string]{value: "x"}).load); err != nil {
				t.Fatalf("Get of an id of %d bytes: %v", len(id), err)
			}
			k := ns.Key(id)
			if _, found, err := aside.GetIfPresent[string](ctx, c, k); !found || err != nil {
				t.Errorf("GetIfPresent of its %d-byte key = %v, %v; want the entry", len(k), found, err)
			}
			if n, err := c.Delete(ctx, k); n != 1 || err != nil {
				t.Errorf("Delete of its %d-byte key = %d, %v; want 1", len(k), n, err)
			}
		}
	})
}
