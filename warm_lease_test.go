package aside_test

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// Warm is safe against an invalidation made up to LeaseTTL (10 s) before
// its write, whatever the key went through meanwhile (CONSISTENCY.md
// section 6). A holder killed -9 after it leased the invalidation's
// tombstone puts no tombstone back: its lease keeps the tombstone's life
// in Redis (only its deadline says its holder is gone), so the key is never
// empty for a warm-up of rows read before the invalidation. (With leases
// that lived a hold life, 1 s, in Redis, the key was empty 1 s later and
// the warm-up wrote its old rows.)
func TestAKilledHolderOfATombstoneKeepsAWarmUpOff(t *testing.T) {
	cfg := aside.NamespaceConfig{Name: "rows", TTL: time.Hour}
	if os.Getenv(testChildEnv) == "tombstone" {
		addr, prefix := os.Getenv(childRedis), os.Getenv(childPrefix)
		c, err := aside.New(newRedisStore(t, addr), aside.Options{KeyPrefix: prefix, OpTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ns := newNamespace[int](t, c, cfg)
		ns.Get(context.Background(), "0", func(context.Context) (int, error) {
			redistest.Do(addr, "SET", prefix+"loading", "1")
			select {} // killed here
		})
		return
	}
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 1, aside.Options{})
	r.fill(t)
	old := maps.Clone(r.db.v) // the warm-up reads its rows
	r.write(t)                // a's invalidation: a tombstone for LeaseTTL (10 s)
	invalidated := time.Now()
	holder := exec.Command(os.Args[0], "-test.run=^TestAKilledHolderOfATombstoneKeepsAWarmUpOff$")
	holder.Env = append(os.Environ(), testChildEnv+"=tombstone", childRedis+"="+srv.Addr, childPrefix+"="+r.prefix)
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	waitFor(t, "the holder to lease the tombstone and load", func() bool {
		v, _ := redistest.Do(srv.Addr, "EXISTS", r.prefix+"loading")
		return v == "1"
	})
	holder.Process.Signal(syscall.SIGKILL)
	holder.Wait()
	time.Sleep(1500 * time.Millisecond)
	written, err := r.nb.Warm(context.Background(), maps.All(old))
	if err != nil {
		t.Fatal(err)
	}
	reads, stale, first, _ := r.readFor(300 * time.Millisecond)
	t.Logf("b's warm-up %v after a's invalidation wrote %d rows read before it; %d of %d reads stale", time.Since(invalidated), written, stale, reads)
	if written > 0 || stale > 0 {
		t.Errorf("a warm-up %v after an invalidation (LeaseTTL is 10 s) wrote %d rows read before it, and %d of %d reads then were stale; first: %s",
			time.Since(invalidated), written, stale, reads, first)
	}
}

// pausingStore pauses Redis once, just before the first compare-and-set
// over a tombstone (a lease taken over it), and resumes it later: the
// client gives up on the call (OpTimeout), Redis applies it when it
// resumes.
type pausingStore struct {
	aside.Store
	srv  *redistest.Server
	once chan struct{}
}

// tombstoneKind is the kind byte of a tombstone's envelope (entry.go).
const tombstoneKind = 4

func (p *pausingStore) CompareAndSet(ctx context.Context, key string, old, v []byte, ttl time.Duration) (bool, error) {
	if len(old) > 2 && old[2] == tombstoneKind {
		select {
		case <-p.once:
		default:
			close(p.once)
			p.srv.Pause()
			go func() { time.Sleep(300 * time.Millisecond); p.srv.Resume() }()
		}
	}
	return p.Store.CompareAndSet(ctx, key, old, v, ttl)
}

// The same without a death: b's lease over the tombstone is taken by a
// call b gave up on (Redis stalled past OpTimeout, section 3's second
// case). b lives, loads without a lease, and puts no tombstone back; the
// lease keeps the tombstone's life, and a warm-up writes nothing.
func TestALeaseOverATombstoneAbandonedByATimedOutCallKeepsAWarmUpOff(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	ctx := context.Background()
	cfg := aside.NamespaceConfig{Name: "rows", TTL: time.Hour}
	a := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	ps := &pausingStore{Store: newRedisStore(t, srv.Addr), srv: srv, once: make(chan struct{})}
	b := newCache(t, ps, aside.Options{KeyPrefix: prefix, OpTimeout: 50 * time.Millisecond})
	w := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	na, nb, nw := newNamespace[int](t, a, cfg), newNamespace[int](t, b, cfg), newNamespace[int](t, w, cfg)
	db := &versions{v: map[string]int{"0": 1}}
	if v, err := na.Get(ctx, "0", db.load("0")); v != 1 || err != nil {
		t.Fatal(v, err)
	}
	old := maps.Clone(db.v) // the warm-up reads its rows
	db.bump("0")
	if err := na.Invalidate(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	invalidated := time.Now()
	if v, err := nb.Get(ctx, "0", db.load("0")); v != 2 || err != nil {
		t.Fatalf("b's read = %d, %v", v, err)
	}
	waitFor(t, "Redis to resume", func() bool { _, err := redistest.Do(srv.Addr, "PING"); return err == nil })
	held, _ := redistest.Do(srv.Addr, "PTTL", prefix+na.Key("0"))
	time.Sleep(1200 * time.Millisecond)
	written, err := nw.Warm(ctx, maps.All(old))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := na.Get(ctx, "0", db.load("0"))
	t.Logf("the key held a lease no one held (PTTL %s ms after Redis resumed); the warm-up %v after the invalidation wrote %d; a then read version %d",
		held, time.Since(invalidated), written, v)
	if written > 0 || v != 2 {
		t.Errorf("a warm-up %v after an invalidation (LeaseTTL is 10 s) wrote %d rows read before it; a read after it got version %d, want 2",
			time.Since(invalidated), written, v)
	}
}
