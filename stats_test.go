package aside_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

// Each load's duration lands in its namespace's histogram. synctest's
// clock makes the loader take exactly 3 ms.
func TestLoadTimeHistogram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := aside.New(s, aside.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ns := newNamespace[int](t, c, aside.NamespaceConfig{Name: "slow", TTL: time.Hour})
		for id := range 4 {
			ns.Get(context.Background(), fmt.Sprint(id), func(context.Context) (int, error) {
				time.Sleep(3 * time.Millisecond)
				return 1, nil
			})
		}
		h := c.Stats().Namespaces["slow"].LoadTime
		// Bounds: ... 0.0025 (index 4), 0.005 (index 5) ...
		if h.Count != 4 || h.Sum != 0.012 || h.Buckets[4] != 0 || h.Buckets[5] != 4 || h.Buckets[15] != 4 {
			t.Errorf("load time histogram = %+v; want 4 loads of 3 ms in the 5 ms bucket", h)
		}
		if total := c.Stats().LoadTime; total != h {
			t.Errorf("total histogram = %+v; want the namespace's %+v", total, h)
		}
	})
}

// Invalidations are counted per namespace, key by key, through either
// door (Namespace.Invalidate, Cache.Delete), whether or not an entry was
// there: an operator reads them beside the hit rate, which they lower.
func TestInvalidationsCountedPerNamespace(t *testing.T) {
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := aside.New(s, aside.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	newNamespace[string](t, c, aside.NamespaceConfig{Name: "jobs", Prefix: "job:", TTL: time.Hour})
	users.Get(ctx, "1", func(context.Context) (string, error) { return "ada", nil })
	if err := users.Invalidate(ctx, "1", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "user:3", "other"); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if got := st.Namespaces["users"].Invalidations; got != 3 {
		t.Errorf("users invalidations = %d; want 3", got)
	}
	if got := st.Namespaces["jobs"].Invalidations; got != 0 {
		t.Errorf("jobs invalidations = %d; want 0", got)
	}
	if st.Invalidations != 4 {
		t.Errorf("total invalidations = %d; want 4 (the key under no namespace included)", st.Invalidations)
	}
	c.ResetStats()
	if got := c.Stats().Invalidations; got != 0 {
		t.Errorf("invalidations after ResetStats = %d; want 0", got)
	}
}
