package aside_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// Section 9: what was written before a rewind, and rewinds at awkward
// moments. A stale read counts when it began more than
// 1 s after Redis was back (the stated bound).

func (r *rewindRig) mustHoldAfterASecond(t *testing.T, what string, d time.Duration) {
	t.Helper()
	reads, stale, first, last := r.readFor(d)
	t.Logf("%s: %d of %d reads stale, the last begun %v in; rewinds a=%d b=%d", what, stale, reads, last, r.a.Stats().Rewinds, r.b.Stats().Rewinds)
	if stale > 0 && last > time.Second {
		t.Errorf("%s: %d of %d reads were stale, the last begun %v after Redis was back; want none begun after 1 s; first: %s", what, stale, reads, last, first)
	}
}

func TestARewindAfterSetDeletePatternAndClearResurrectsNothing(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, r *rewindRig)
	}{
		{"Set", func(t *testing.T, r *rewindRig) {
			for _, id := range r.ids {
				r.db.bump(id)
				if err := r.na.Set(ctx, id, r.db.v[id]); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"DeletePattern", func(t *testing.T, r *rewindRig) {
			for _, id := range r.ids {
				r.db.bump(id)
			}
			if _, err := r.a.DeletePattern(ctx, "rows:*"); err != nil {
				t.Fatal(err)
			}
		}},
		{"Clear", func(t *testing.T, r *rewindRig) {
			for _, id := range r.ids {
				r.db.bump(id)
			}
			if _, err := r.a.Clear(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{"Warm", func(t *testing.T, r *rewindRig) {
			r.write(t)
			time.Sleep(20 * time.Millisecond)
			if _, err := r.na.Warm(ctx, maps.All(r.db.v)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			r := newRewindRig(t, srv.Addr, 20, aside.Options{})
			r.fill(t)
			if err := srv.Snapshot(); err != nil {
				t.Fatal(err)
			}
			tc.write(t, r)
			if err := srv.RestartFromSnapshot(); err != nil {
				t.Fatal(err)
			}
			r.mustHoldAfterASecond(t, "after a restart from a snapshot", 2*time.Second)
		})
	}
}

// Invalidations deferred while Redis is down, and Redis comes back from a
// snapshot older than the fill: both the pending and the journal's.
func TestPendingInvalidationsAcrossASnapshotRestart(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 20, aside.Options{})
	r.fill(t)
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// Half the rows invalidated while Redis answers, half while it is down.
	ctx := context.Background()
	for _, id := range r.ids {
		r.db.bump(id)
	}
	if err := r.na.Invalidate(ctx, r.ids[:10]...); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := r.na.Invalidate(ctx, r.ids[10:]...); !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("invalidation while Redis is down: %v; want ErrDeferred", err)
	}
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	r.mustHoldAfterASecond(t, "after a restart from a snapshot with invalidations pending", 2*time.Second)
}

// Two restarts from the same snapshot, 300 ms apart (a crash loop).
func TestTwoRewindsInARow(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 20, aside.Options{})
	r.fill(t)
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	r.write(t)
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	r.readFor(300 * time.Millisecond)
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	r.mustHoldAfterASecond(t, "after the second restart", 2*time.Second)
}

// During a's quarantine (after a FLUSHALL), a's invalidation holds from
// its return for a process that reads the store (b has no quarantine).
func TestAnInvalidationDuringAQuarantineHoldsAtItsReturn(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	a := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	b := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, Recovery: aside.RecoveryOptions{Quarantine: -1}})
	cfg := aside.NamespaceConfig{Name: "rows", TTL: time.Hour}
	na, nb := newNamespace[int](t, a, cfg), newNamespace[int](t, b, cfg)
	db := &versions{v: map[string]int{"1": 1}}
	ctx := context.Background()
	for _, ns := range []*aside.Namespace[int]{na, nb} {
		ns.Get(ctx, "1", db.load("1"))
	}
	if _, err := redistest.Do(srv.Addr, "FLUSHALL"); err != nil { // a rewind: a's quarantine begins
		t.Fatal(err)
	}
	waitFor(t, "a to find the rewind", func() bool { return a.Stats().Rewinds == 1 })
	db.bump("1")
	if err := na.Invalidate(ctx, "1"); err != nil {
		t.Fatalf("a's invalidation during its quarantine: %v", err)
	}
	if v, err := nb.Get(ctx, "1", db.load("1")); v != 2 {
		t.Errorf("b's read after a's invalidation returned during a's quarantine = %d, %v; want 2", v, err)
	}
}

// Redis paused (SIGSTOP) while a invalidates, then killed and restarted
// from a snapshot older than the invalidations: a rewind behind a pause.
func TestARewindDuringAPause(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 20, aside.Options{})
	r.fill(t)
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range r.ids {
		r.db.bump(id)
	}
	if err := r.na.Invalidate(ctx, r.ids[:10]...); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := r.na.Invalidate(ctx, r.ids[10:]...); !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("invalidation while Redis is paused: %v; want ErrDeferred", err)
	}
	r.readFor(300 * time.Millisecond) // both caches time out, breakers open
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	r.mustHoldAfterASecond(t, "after a pause ended by a restart from a snapshot", 3*time.Second)
}

// Close during a quarantine: it returns promptly, reads then fail with
// ErrClosed, and nothing panics.
func TestCloseDuringAQuarantine(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 5, aside.Options{})
	r.fill(t)
	r.write(t)
	if _, err := redistest.Do(srv.Addr, "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to find the rewind", func() bool { return r.a.Stats().Rewinds == 1 })
	start := time.Now()
	if err := r.a.Close(); err != nil {
		t.Errorf("Close during a quarantine: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close during a quarantine took %v", took)
	}
	if _, err := r.na.Get(context.Background(), r.ids[0], r.db.load(r.ids[0])); !errors.Is(err, aside.ErrClosed) {
		t.Errorf("a read after Close = %v; want ErrClosed", err)
	}
	if v, err := r.nb.Get(context.Background(), r.ids[0], r.db.load(r.ids[0])); v != 2 {
		t.Errorf("b's read after a closed = %d, %v; want 2", v, err)
	}
}
