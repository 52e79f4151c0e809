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
