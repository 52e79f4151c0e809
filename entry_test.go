package aside_test

import (
	"context"
	"errors"
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
