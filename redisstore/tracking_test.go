package redisstore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// told collects what a Tracking tells.
type told struct {
	mu    sync.Mutex
	keys  []string
	wipes int // nil: anything may have changed
}

func (c *told) onChange(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if keys == nil {
		c.wipes++
		return
	}
	c.keys = append(c.keys, keys...)
}

func (c *told) snapshot() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.keys), c.wipes
}

func track(t *testing.T, s *redisstore.Store, prefix string) (aside.Tracking, *told) {
	t.Helper()
	c := &told{}
	tr, err := s.Track(prefix, c.onChange)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, c
}

// A change under the prefix, by any client, is told before Confirm
// returns; a change outside it never is; a flush is told as nil.
func TestTrackingTellsChangesBeforeConfirmReturns(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, redisstore.Options{URL: srv.URL()})
	tr, told := track(t, s, "near:")
	ctx := context.Background()
	if _, err := tr.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"near:a", "other:b", "near:c"} {
		if _, err := redistest.Do(srv.Addr, "SET", k, "v"); err != nil { // another client
			t.Fatal(err)
		}
	}
	if _, err := redistest.Do(srv.Addr, "DEL", "near:a"); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := told.snapshot(); !slices.Equal(keys, []string{"near:a", "near:c", "near:a"}) {
		t.Errorf("told %q after Confirm; want near:a, near:c, near:a in order", keys)
	}
	redistest.Do(srv.Addr, "FLUSHALL")
	if _, err := tr.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	if _, wipes := told.snapshot(); wipes != 1 {
		t.Errorf("a FLUSHALL was told as %d nils; want 1", wipes)
	}
}

// A restart of Redis is told as nil, and Confirm fails until the tracking
// connection is back, tracking again. Confirms on one connection name one
// session.
func TestTrackingSurvivesARestart(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, redisstore.Options{URL: srv.URL()})
	tr, told := track(t, s, "near:")
	ctx := context.Background()
	before, err := tr.Confirm(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := tr.Confirm(ctx); err != nil || again != before {
		t.Fatalf("two Confirms on one connection = %q, %q (%v); want the same session", before, again, err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := tr.Confirm(short); err == nil {
		t.Error("Confirm with Redis down = nil; want an error")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := tr.Confirm(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Confirm never succeeded after the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, wipes := told.snapshot(); wipes == 0 {
		t.Error("the restart was not told as nil")
	}
	redistest.Do(srv.Addr, "SET", "near:after", "v")
	if _, err := tr.Confirm(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := told.snapshot(); !slices.Contains(keys, "near:after") {
		t.Errorf("a change after the restart was not told: %q", keys)
	}
}
