package aside_test

import (
	"context"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// The races the peers' near caches lose, each on two processes with near
// caches over one Redis: a load (or a background refresh) reads the row
// before a write and is held until the write's invalidation returned.
// Afterwards neither process, in memory or from Redis, serves the row as
// it was before the write: the load's fill is refused (its lease was
// voided), so Redis never holds it, and memory keeps only what Redis held.
func TestNearLosesNoInvalidationRacingALoad(t *testing.T) {
	invalidations := map[string]func(ctx context.Context, c *aside.Cache, ns *aside.Namespace[string]) error{
		"Invalidate": func(ctx context.Context, _ *aside.Cache, ns *aside.Namespace[string]) error {
			return ns.Invalidate(ctx, "k")
		},
		"Delete": func(ctx context.Context, c *aside.Cache, ns *aside.Namespace[string]) error {
			_, err := c.Delete(ctx, ns.Key("k"))
			return err
		},
		"DeletePattern": func(ctx context.Context, c *aside.Cache, _ *aside.Namespace[string]) error {
			_, err := c.DeletePattern(ctx, "n:*")
			return err
		},
	}
	races := []struct {
		name      string
		refresh   bool // the load is a soft TTL's background refresh (FusionCache #628)
		sameCache bool // the invalidation comes from the loading process (FusionCache #625)
	}{
		{name: "a load in another process (FusionCache #535, HybridCache #7771)"},
		{name: "a load in the same process (FusionCache #625)", sameCache: true},
		{name: "a background refresh (FusionCache #628)", refresh: true},
	}
	srv := redistest.Start(t)
	for _, race := range races {
		for how, invalidate := range invalidations {
			t.Run(race.name+"/"+how, func(t *testing.T) {
				cs := nearCaches(t, srv, 2, aside.Options{})
				cfg := aside.NamespaceConfig{Name: "n", TTL: time.Hour}
				if race.refresh {
					cfg.SoftTTL = time.Millisecond
				}
				a, b := cs[0], cs[1]
				na, nb := newNamespace[string](t, a, cfg), newNamespace[string](t, b, cfg)
				writer, nw := b, nb
				if race.sameCache {
					writer, nw = a, na
				}
				ctx := context.Background()
				db := newRow("old")
				if race.refresh {
					na.Get(ctx, "k", readRow(db))
					time.Sleep(5 * time.Millisecond) // past the soft TTL: the next hit refreshes
				}
				slow := newGate(func() (string, error) { return db.get(), nil })
				go na.Get(ctx, "k", slow.load)
				<-slow.called // the load read old
				db.set("new")
				if err := invalidate(ctx, writer, nw); err != nil {
					t.Fatal(err)
				}
				close(slow.release)
				loads := uint64(1)
				if race.refresh {
					loads = 2 // the first fill, then the refresh
				}
				waitFor(t, "the load to end", func() bool { return a.Stats().Loads >= loads })
				for name, ns := range map[string]*aside.Namespace[string]{"A": na, "B": nb} {
					for range 3 { // from Redis, then from memory
						if v, err := ns.Get(ctx, "k", readRow(db)); err != nil || v != "new" {
							t.Fatalf("%s reads %q, %v after the invalidation returned and the load ended; want new", name, v, err)
						}
					}
				}
			})
		}
	}
}
