package aside_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

// Negative entries last NegativeTTL, values their TTL; then the loader
// runs again. Time is synctest's: nothing sleeps for real.
func TestEntriesExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := aside.New(s, aside.Options{NegativeTTL: 30 * time.Second, Jitter: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		missing := &counter[int]{err: aside.ErrNotFound}
		present := &counter[int]{value: 1}
		read := func() {
			if _, err := aside.GetOrSet(ctx, c, "gone", time.Hour, missing.load); !errors.Is(err, aside.ErrNotFound) {
				t.Fatalf("GetOrSet(gone) = %v; want ErrNotFound", err)
			}
			if _, err := aside.GetOrSet(ctx, c, "here", time.Minute, present.load); err != nil {
				t.Fatal(err)
			}
		}
		read()
		time.Sleep(29 * time.Second)
		read()
		if missing.calls.Load() != 1 || present.calls.Load() != 1 {
			t.Fatalf("within the TTLs: %d and %d loads; want 1 and 1", missing.calls.Load(), present.calls.Load())
		}
		time.Sleep(2 * time.Second) // 31 s: the negative entry is gone
		read()
		if missing.calls.Load() != 2 || present.calls.Load() != 1 {
			t.Errorf("at 31 s: %d and %d loads; want 2 (negative entry expired) and 1", missing.calls.Load(), present.calls.Load())
		}
		time.Sleep(30 * time.Second) // 61 s: the value is gone too
		read()
		if present.calls.Load() != 2 {
			t.Errorf("at 61 s: value loaded %d times; want 2 (1 min TTL expired)", present.calls.Load())
		}
	})
}

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
