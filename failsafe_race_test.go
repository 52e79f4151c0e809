package aside_test

// Fail-safe answers across processes: a value served in a failing or slow
// loader's stead is good only for reads that began before anything could
// have invalidated it. Two caches over one store stand for two processes:
// b serves the stale value, a invalidates, and a read in b that begins
// after the invalidation returned must never get the invalidated value.

import (
	"context"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

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

// newNamespace makes a namespace and fails the test on a configuration error.
func newNamespace[T any](t testing.TB, c *aside.Cache, cfg aside.NamespaceConfig) *aside.Namespace[T] {
	t.Helper()
	ns, err := aside.NewNamespace[T](c, cfg)
	if err != nil {
		t.Fatalf("NewNamespace(%+v): %v", cfg, err)
	}
	return ns
}
