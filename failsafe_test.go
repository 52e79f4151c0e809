package aside_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

func failSafeNamespace(t *testing.T, s aside.Store, clk *clock, cfg aside.NamespaceConfig) (*aside.Cache, *aside.Namespace[string]) {
	t.Helper()
	c := newCache(t, s, aside.Options{Now: clk.Now, Jitter: -1, FailSafeThrottle: 5 * time.Second})
	return c, newNamespace[string](t, c, cfg)
}

// With the database down and a stale entry present, reads answer with the
// stale value, without errors, for MaxStale past the TTL, trying the
// loader once per throttle period; past MaxStale they fail with the
// loader's error.
func TestFailSafeServesStaleWithinMaxStale(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		c, ns := failSafeNamespace(t, s, clk, aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: 5 * time.Minute})
		ctx := context.Background()
		db := &flaky{value: "v1"}
		if v, err := ns.Get(ctx, "1", db.load); err != nil || v != "v1" {
			t.Fatalf("first read = %q, %v", v, err)
		}
		db.set("", errDBDown)
		clk.Advance(2 * time.Minute) // past the TTL, within MaxStale
		for i := range 3 {
			if v, err := ns.Get(ctx, "1", db.load); err != nil || v != "v1" {
				t.Fatalf("read %d with the database down = %q, %v; want the stale v1, no error", i, v, err)
			}
		}
		if db.count() != 2 {
			t.Errorf("loader calls = %d; want 2 (the fill, one try; then the throttle holds it off)", db.count())
		}
		clk.Advance(6 * time.Second) // past the throttle: one more try
		if v, err := ns.Get(ctx, "1", db.load); err != nil || v != "v1" || db.count() != 3 {
			t.Errorf("after the throttle = %q, %v, %d loads; want v1 again after one more try", v, err, db.count())
		}
		st := c.Stats().Namespaces["u"]
		if st.StaleServed != 2 || st.LoadErrors != 2 {
			t.Errorf("stale served %d, load errors %d; want 2 and 2", st.StaleServed, st.LoadErrors)
		}
		clk.Advance(4 * time.Minute) // past TTL + MaxStale
		if _, err := ns.Get(ctx, "1", db.load); !errors.Is(err, errDBDown) {
			t.Errorf("read past MaxStale = %v; want the loader's error", err)
		}
		db.set("v2", nil)
		if v, err := ns.Get(ctx, "1", db.load); err != nil || v != "v2" {
			t.Errorf("read once the database is back = %q, %v; want v2", v, err)
		}
	})
}

// An invalidation always wins: an invalidated entry is never served stale.
func TestInvalidatedEntryIsNeverServedStale(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		_, ns := failSafeNamespace(t, s, clk, aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour})
		ctx := context.Background()
		db := &flaky{value: "v1"}
		ns.Get(ctx, "1", db.load)
		clk.Advance(2 * time.Minute)
		if err := ns.Invalidate(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		db.set("", errDBDown)
		if v, err := ns.Get(ctx, "1", db.load); !errors.Is(err, errDBDown) {
			t.Errorf("read of an invalidated key with the database down = %q, %v; want the loader's error, never the stale v1", v, err)
		}
	})
}

// Past SoftTTL a hit serves the value it has and refreshes it once, in the
// background, however many hits there are.
func TestStaleWhileRevalidate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		c, ns := failSafeNamespace(t, s, clk, aside.NamespaceConfig{Name: "u", TTL: time.Minute, SoftTTL: 30 * time.Second})
		ctx := context.Background()
		db := &flaky{value: "v1"}
		ns.Get(ctx, "1", db.load)
		db.mu.Lock()
		db.value, db.block = "v2", make(chan struct{})
		db.mu.Unlock()
		clk.Advance(40 * time.Second)
		for range 20 {
			if v, err := ns.Get(ctx, "1", db.load); err != nil || v != "v1" {
				t.Fatalf("hit past SoftTTL = %q, %v; want v1 at once", v, err)
			}
		}
		st := c.Stats().Namespaces["u"]
		waitFor(t, "the background refresh to start", func() bool { return db.count() == 2 })
		close(db.block)
		waitFor(t, "the refresh to fill", func() bool {
			v, found, _ := aside.GetIfPresent[string](ctx, c, ns.Key("1"))
			return found && v == "v2"
		})
		if n := db.count(); n != 2 {
			t.Errorf("loader calls = %d; want 2 (the fill and one refresh for 20 hits)", n)
		}
		if st.Hits != 20 || st.Misses != 1 {
			t.Errorf("hits %d, misses %d; want 20 and 1", st.Hits, st.Misses)
		}
	})
}

// With a stale value at hand and a slow loader, a read waits SoftTimeout
// and is served the stale value; the load goes on and fills.
func TestSoftTimeoutServesStale(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		c, ns := failSafeNamespace(t, s, clk, aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour, SoftTimeout: 20 * time.Millisecond})
		ctx := context.Background()
		db := &flaky{value: "v1"}
		ns.Get(ctx, "1", db.load)
		db.mu.Lock()
		db.value, db.block = "v2", make(chan struct{})
		db.mu.Unlock()
		clk.Advance(2 * time.Minute)
		if v, err := ns.Get(ctx, "1", db.load); err != nil || v != "v1" {
			t.Fatalf("read with a slow loader and a stale value = %q, %v; want v1 after the soft timeout", v, err)
		}
		close(db.block)
		waitFor(t, "the slow load to fill", func() bool {
			v, found, _ := aside.GetIfPresent[string](ctx, c, ns.Key("1"))
			return found && v == "v2"
		})
		if st := c.Stats().Namespaces["u"]; st.StaleServed != 1 {
			t.Errorf("stale served = %d; want 1", st.StaleServed)
		}
	})
}

// XFetch: an entry whose load took long, read close to its expiry, is
// refreshed early, before it expires.
func TestEarlyRefresh(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		c, ns := failSafeNamespace(t, s, clk, aside.NamespaceConfig{Name: "u", TTL: time.Minute, EarlyRefresh: 1})
		ctx := context.Background()
		db := &flaky{value: "v1", advance: func() { clk.Advance(2 * time.Second) }} // a 2 s query
		ns.Get(ctx, "1", db.load)
		db.set("v2", nil)
		clk.Advance(55 * time.Second) // 5 s before expiry: with Δ = 2 s, P(refresh) = e^-2.5 per read
		for range 200 {
			if v, err := ns.Get(ctx, "1", db.load); err != nil {
				t.Fatal(err)
			} else if v == "v2" {
				break
			}
		}
		waitFor(t, "an early refresh", func() bool {
			v, found, _ := aside.GetIfPresent[string](ctx, c, ns.Key("1"))
			return found && v == "v2"
		})
		if st := c.Stats().Namespaces["u"]; st.Misses != 1 {
			t.Errorf("misses = %d; want 1: the entry was refreshed before it expired", st.Misses)
		}
	})
}

// A reader in another process finds a stale entry that a slow loader has
// claimed: it does not load; after its soft timeout it serves the stale value.
func TestClaimedStaleEntryIsServedNotReloaded(t *testing.T) {
	clk := newClock()
	addr := sharedAddr(t)
	prefix := uniquePrefix(t)
	cfg := aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour, SoftTimeout: 30 * time.Millisecond}
	newNS := func() *aside.Namespace[string] {
		c := newCache(t, newRedisStore(t, addr), aside.Options{KeyPrefix: prefix, Now: clk.Now, Jitter: -1})
		return newNamespace[string](t, c, cfg)
	}
	a, b := newNS(), newNS()
	ctx := context.Background()
	db := &flaky{value: "v1"}
	a.Get(ctx, "1", db.load)
	clk.Advance(2 * time.Minute)
	db.mu.Lock()
	db.value, db.block = "v2", make(chan struct{})
	db.mu.Unlock()
	go a.Get(ctx, "1", db.load) // claims the stale entry and loads slowly
	waitFor(t, "a's claim and load", func() bool { return db.count() == 2 })
	bLoader := &counter[string]{value: "b's"}
	if v, err := b.Get(ctx, "1", bLoader.load); err != nil || v != "v1" || bLoader.calls.Load() != 0 {
		t.Errorf("b on a claimed stale entry = %q, %v after %d loads; want the stale v1 and no load", v, err, bLoader.calls.Load())
	}
	close(db.block)
}

// Fail-safe answers across processes: a value served in a failing or slow
// loader's stead is good only for reads that began before anything could
// have invalidated it. Two caches over one store stand for two processes:
// b serves the stale value, a invalidates, and a read in b that begins
// after the invalidation returned must never get the invalidated value.

// staleRace is one way b comes to answer with a stale value while a
// invalidates the key.
type staleRace struct {
	name string
	cfg  aside.NamespaceConfig
	// age moves the clock so that the next read of b finds the entry as
	// the race needs it (stale, or due for a refresh).
	age time.Duration
	// fails makes the slow loader fail rather than answer.
	fails bool
	// pattern invalidates through DeletePattern instead of Invalidate.
	pattern bool
	// encoded reads through GetEncoded.
	encoded bool
}

var staleRaces = []staleRace{
	{name: "failing loader", fails: true, age: 2 * time.Minute,
		cfg: aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour}},
	{name: "soft timeout", age: 2 * time.Minute,
		cfg: aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour, SoftTimeout: 300 * time.Millisecond}},
	{name: "failing refresh", fails: true, age: 40 * time.Second,
		cfg: aside.NamespaceConfig{Name: "u", TTL: time.Minute, SoftTTL: 30 * time.Second}},
	{name: "pattern delete, encoded", fails: true, pattern: true, encoded: true, age: 2 * time.Minute,
		cfg: aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour}},
}

// get reads id through ns by the race's door, answering as a string.
func (r staleRace) get(ctx context.Context, ns *aside.Namespace[string], id string, load func(context.Context) (string, error)) (string, error) {
	if !r.encoded {
		return ns.Get(ctx, id, load)
	}
	b, err := ns.GetEncoded(ctx, id, load)
	return string(b), err
}

func (r staleRace) invalidate(ctx context.Context, c *aside.Cache, ns *aside.Namespace[string], id string) error {
	if r.pattern {
		_, err := c.DeletePattern(ctx, r.cfg.Name+":*")
		return err
	}
	return ns.Invalidate(ctx, id)
}

func TestStaleAnswerIsNotGivenToReadsBegunAfterAnotherProcessInvalidates(t *testing.T) {
	for _, race := range staleRaces {
		t.Run(race.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, s aside.Store) { race.run(t, s) })
		})
	}
}

func (r staleRace) run(t *testing.T, s aside.Store) {
	clk := newClock()
	a, b := twoCaches(t, s, aside.Options{Now: clk.Now, Jitter: -1})
	na, nb := newNamespace[string](t, a, r.cfg), newNamespace[string](t, b, r.cfg)
	ctx := context.Background()
	db := newRow("v1")
	if _, err := r.get(ctx, nb, "1", readRow(db)); err != nil {
		t.Fatal(err)
	}
	old, _ := r.get(ctx, nb, "1", readRow(db)) // v1, as this door writes it
	clk.Advance(r.age)

	slow := newGate(func() (string, error) {
		if r.fails {
			return "", errDBDown
		}
		return db.get(), nil
	})
	defer func() {
		select {
		case <-slow.release:
		default:
			close(slow.release)
		}
	}()
	first := make(chan struct{})
	go func() { r.get(ctx, nb, "1", slow.load); close(first) }() // b claims the entry, loads slowly
	<-slow.called

	db.set("v2")
	if err := r.invalidate(ctx, a, na, "1"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		v   string
		err error
	}
	later := make(chan result, 1)
	go func() { // begun after the invalidation returned
		v, err := r.get(ctx, nb, "1", readRow(db))
		later <- result{v, err}
	}()
	var got result
	joined := false
	waitFor(t, "the later read to join b's load or return", func() bool {
		select {
		case got = <-later:
			return true
		default:
			joined = b.Stats().Coalesced > 0
			return joined
		}
	})
	if joined {
		if r.fails {
			close(slow.release) // the load fails now; with a soft timeout, it answers first
		}
		got = <-later
	}
	if got.v == old {
		t.Errorf("read begun after the invalidation = %q, %v; the invalidated value must never be served", got.v, got.err)
	}
	if want, _ := r.get(ctx, na, "1", readRow(db)); got.err != nil || got.v != want {
		t.Errorf("read begun after the invalidation = %q, %v; want %q from the loader", got.v, got.err, want)
	}
	<-first
}
