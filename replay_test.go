package aside_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// An invalidation that cannot reach Redis is kept and replayed before the
// store is used again: after Redis comes back, the row written during the
// outage is read, never the entry cached before it.
func TestInvalidationDuringOutageIsReplayed(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	writer := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	reader := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	users := newNamespace[string](t, writer, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	readerUsers := newNamespace[string](t, reader, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	ctx := context.Background()
	db := newRow("v1")
	if v, _ := users.Get(ctx, "1", readRow(db)); v != "v1" {
		t.Fatal("no fill")
	}

	if err := srv.Pause(); err != nil { // Redis freezes, with v1 in it
		t.Fatal(err)
	}
	db.set("v2")
	err := users.Invalidate(ctx, "1")
	if !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("Invalidate with Redis frozen = %v; want ErrDeferred", err)
	}
	if v, err := users.Get(ctx, "1", readRow(db)); err != nil || v != "v2" {
		t.Errorf("read during the outage = %q, %v; want v2 from the database", v, err)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	// The writer's background replay removes the entry soon after Redis
	// answers, before the reader (which never saw the outage) reads.
	waitFor(t, "the replay", func() bool { return writer.Stats().InvalidationsReplayed == 1 })
	if v, err := readerUsers.Get(ctx, "1", readRow(db)); err != nil || v != "v2" {
		t.Errorf("another process's read after Redis came back = %q, %v; want v2, not the v1 cached before the outage", v, err)
	}
	if v, err := users.Get(ctx, "1", readRow(db)); err != nil || v != "v2" {
		t.Errorf("the writer's read after Redis came back = %q, %v; want v2", v, err)
	}
}

// The replay happens before the invalidating cache uses the store again,
// even before its background retry: a read must not find the entry first.
func TestReplayComesBeforeTheNextRead(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{})
	ctx := context.Background()
	db := newRow("v1")
	aside.GetOrSet(ctx, c, "k", time.Hour, readRow(db))
	srv.Pause()
	db.set("v2")
	if _, err := c.Delete(ctx, "k"); !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("Delete with Redis frozen = %v; want ErrDeferred", err)
	}
	srv.Resume()
	if v, err := aside.GetOrSet(ctx, c, "k", time.Hour, readRow(db)); err != nil || v != "v2" {
		t.Errorf("first read after Redis came back = %q, %v; want v2", v, err)
	}
}

// Past its bound, the pending keys of a namespace give way to clearing the
// namespace when Redis answers: nothing it held is served, and other
// namespaces keep their entries.
func TestPendingOverflowClearsTheNamespace(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{MaxPendingInvalidations: 3})
	ctx := context.Background()
	users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	jobs := newNamespace[string](t, c, aside.NamespaceConfig{Name: "jobs", Prefix: "job:", TTL: time.Hour})
	for i := range 10 {
		users.Get(ctx, fmt.Sprint(i), func(context.Context) (string, error) { return "old", nil })
	}
	jobs.Get(ctx, "1", func(context.Context) (string, error) { return "job", nil })
	srv.Pause()
	for i := range 5 {
		if err := users.Invalidate(ctx, fmt.Sprint(i)); !errors.Is(err, aside.ErrDeferred) {
			t.Fatalf("Invalidate with Redis frozen = %v", err)
		}
	}
	srv.Resume()
	// Until the namespace's walk is done, reads answer from their loaders;
	// a replay of keys sent before the overflow may land first.
	waitFor(t, "the replay", func() bool {
		st := c.Stats()
		return st.Namespaces["users"].InvalidationsReplayed > 0 && st.PendingInvalidations == 0
	})
	waitFor(t, "the breaker to close", func() bool { // the failed invalidations opened it
		aside.GetIfPresent[string](ctx, c, "probe")
		return c.Stats().Breaker == aside.BreakerClosed
	})
	for i := range 10 {
		if v, _ := users.Get(ctx, fmt.Sprint(i), func(context.Context) (string, error) { return "new", nil }); v != "new" {
			t.Errorf("user %d after the overflow's replay = %q; want new (the namespace was cleared)", i, v)
		}
	}
	if v, _ := jobs.Get(ctx, "1", func(context.Context) (string, error) { return "reloaded", nil }); v != "job" {
		t.Errorf("job 1 = %q; want its entry kept: the overflow was the users namespace's", v)
	}
}

// A pattern delete (and so Clear) that Redis does not take is kept whole
// and run again before the store is used again: no entry it was meant to
// remove is served after Redis comes back.
func TestDeferredPatternDeleteIsReplayed(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	ctx := context.Background()
	db := newRow("v1")
	for i := range 5 {
		aside.GetOrSet(ctx, c, fmt.Sprint("user:", i), time.Hour, readRow(db))
	}
	aside.GetOrSet(ctx, c, "job:1", time.Hour, readRow(newRow("job")))
	srv.Pause()
	db.set("v2")
	if _, err := c.DeletePattern(ctx, "user:*"); !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("DeletePattern with Redis frozen = %v; want ErrDeferred", err)
	}
	srv.Resume()
	waitFor(t, "the replay", func() bool { return c.Stats().InvalidationsReplayed == 1 })
	if n, _ := redistest.Do(srv.Addr, "EXISTS", prefix+"user:0", prefix+"user:4"); n != "0" {
		t.Errorf("%s of the pattern's keys still in Redis after the replay; want 0", n)
	}
	if n, _ := redistest.Do(srv.Addr, "EXISTS", prefix+"job:1"); n != "1" {
		t.Error("job:1, outside the pattern, was removed by its replay")
	}
	waitFor(t, "the breaker to close", func() bool {
		aside.GetIfPresent[string](ctx, c, "probe")
		return c.Stats().Breaker == aside.BreakerClosed
	})
	for i := range 5 {
		if v, err := aside.GetOrSet(ctx, c, fmt.Sprint("user:", i), time.Hour, readRow(db)); err != nil || v != "v2" {
			t.Errorf("user:%d after the replay = %q, %v; want v2", i, v, err)
		}
	}
}

// Store calls that find a replay running wait for it no longer than their
// own OpTimeout: a frozen Redis never queues readers behind one another.
func TestReadsWaitForAReplayNoLongerThanOpTimeout(t *testing.T) {
	srv := redistest.Start(t)
	const opTimeout = 100 * time.Millisecond
	// A breaker that never opens, so every read meets the replay.
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{OpTimeout: opTimeout,
		Breaker: aside.BreakerOptions{ConsecutiveFailures: 1 << 30}})
	ctx := context.Background()
	srv.Pause()
	defer srv.Resume()
	if _, err := c.Delete(ctx, "k"); !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("Delete with Redis frozen = %v; want ErrDeferred", err)
	}
	const readers = 20
	took := make(chan time.Duration, readers)
	for range readers {
		go func() {
			start := time.Now()
			v, err := aside.GetOrSet(ctx, c, "other", time.Hour, func(context.Context) (string, error) { return "db", nil })
			if err != nil || v != "db" {
				t.Errorf("read with Redis frozen = %q, %v; want the loader's value", v, err)
			}
			took <- time.Since(start)
		}()
	}
	var slowest time.Duration
	for range readers {
		slowest = max(slowest, <-took)
	}
	// Each read makes a few store calls (the read, a lease, a fill), each
	// waiting at most opTimeout for the replay or for Redis. Queued behind
	// one another, 20 readers would take over 20 x opTimeout.
	if limit := readers / 2 * opTimeout; slowest > limit {
		t.Errorf("slowest of %d reads behind a stuck replay took %v; want under %v", readers, slowest, limit)
	}
}

// With Redis frozen and writes invalidating as reads go on, the breaker
// still opens (waits for a replay stuck on the store count as failures),
// and once it is open, reads stop waiting for timeouts.
func TestBreakerOpensWithInvalidationsPending(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{})
	ctx := context.Background()
	users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	load := func(context.Context) (string, error) { return "db", nil }
	slowAfterOpen := 0
	for i := range 60 {
		if err := users.Invalidate(ctx, fmt.Sprint(i)); !errors.Is(err, aside.ErrDeferred) {
			t.Fatalf("Invalidate with Redis frozen = %v; want ErrDeferred", err)
		}
		open := c.Stats().Breaker == aside.BreakerOpen
		start := time.Now()
		if v, err := users.Get(ctx, fmt.Sprint("r", i), load); err != nil || v != "db" {
			t.Fatalf("read with Redis frozen = %q, %v; want the loader's", v, err)
		}
		if open && time.Since(start) >= aside.DefaultOpTimeout {
			slowAfterOpen++
		}
	}
	st := c.Stats()
	if st.BreakerTrips == 0 || st.Breaker != aside.BreakerOpen {
		t.Errorf("breaker %s after %d trips; want it open", st.Breaker, st.BreakerTrips)
	}
	if slowAfterOpen > 0 {
		t.Errorf("%d reads waited a timeout with the breaker open", slowAfterOpen)
	}
}

// An invalidation deferred again while a replay of its key is in flight
// is replayed too, not forgotten with the first. (With the breaker open, a
// Delete tries the store once itself, and defers without waiting for the
// replay under way.)
func TestDeferralDuringReplayIsKept(t *testing.T) {
	f := faultyStore(t)
	c := newCache(t, f, aside.Options{})
	ctx := context.Background()
	inReplay, release := make(chan struct{}), make(chan struct{})
	// 0: fail; 1: hold the next call (the replay); 2: fail the others (the
	// Delete's own try, while the replay is held); 3: pass.
	var phase atomic.Int32
	f.replaceHook = func(call int64) error {
		switch phase.Load() {
		case 0, 2:
			return errors.New("faulty: replace fails") // the invalidations: the breaker opens
		case 1:
			if phase.CompareAndSwap(1, 2) {
				close(inReplay) // the first replay: held while k is deferred again
				<-release
				phase.Store(3)
			}
		}
		return nil
	}
	for range 5 {
		if _, err := c.Delete(ctx, "k"); !errors.Is(err, aside.ErrDeferred) {
			t.Fatalf("Delete = %v; want ErrDeferred", err)
		}
	}
	if c.Stats().Breaker != aside.BreakerOpen {
		t.Fatal("the breaker did not open")
	}
	phase.Store(1)
	<-inReplay
	if _, err := c.Delete(ctx, "k"); !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("Delete during the replay = %v; want ErrDeferred", err)
	}
	close(release)
	waitFor(t, "both invalidations replayed", func() bool { return c.Stats().InvalidationsReplayed == 2 })
}

// An invalidation kept away from a store that answers, by this process's
// own caution (here an open breaker whose store has recovered), is sent
// all the same: a tombstone is always safe, and one deferred would leave
// other processes reading the entry until the replay.
func TestAnInvalidationReachesAStoreThatAnswersWhateverTheBreaker(t *testing.T) {
	f := faultyStore(t)
	c := newCache(t, f, aside.Options{})
	ctx := context.Background()
	f.getErr.Store(true)
	load := func(context.Context) (string, error) { return "db", nil }
	for i := 0; c.Stats().Breaker != aside.BreakerOpen; i++ {
		if i == 20 {
			t.Fatal("the breaker did not open")
		}
		aside.GetOrSet(ctx, c, "r", time.Hour, load)
	}
	f.getErr.Store(false) // the store answers again; the breaker is still open
	if _, err := c.Delete(ctx, "k"); err != nil {
		t.Errorf("Delete with the breaker open on a store that answers = %v; want nil", err)
	}
	if st := c.Stats(); st.PendingInvalidations != 0 || st.Breaker != aside.BreakerOpen {
		t.Errorf("%d invalidations pending, breaker %s; want 0 pending, the breaker still open", st.PendingInvalidations, st.Breaker)
	}
}

// With the breaker open on a store that fails, an invalidation tries the
// store itself only until a try fails: later ones are deferred without
// waiting on a store that is down.
func TestAnInvalidationDoesNotWaitOnAStoreThatIsDown(t *testing.T) {
	f := faultyStore(t)
	c := newCache(t, f, aside.Options{})
	ctx := context.Background()
	var ownTries atomic.Int64 // Replace calls of "k" alone: a Delete's own, not a replay's
	fail := func(items []aside.Item) error {
		if len(items) == 1 && strings.HasSuffix(items[0].Key, "k") {
			ownTries.Add(1)
		}
		return errors.New("faulty: replace fails")
	}
	f.replaceItems = fail
	for i := range 10 {
		if _, err := c.Delete(ctx, fmt.Sprint("d", i)); !errors.Is(err, aside.ErrDeferred) {
			t.Fatalf("Delete with the store failing = %v; want ErrDeferred", err)
		}
	}
	if c.Stats().Breaker != aside.BreakerOpen {
		t.Fatal("the breaker did not open")
	}
	for range 5 {
		if _, err := c.Delete(ctx, "k"); !errors.Is(err, aside.ErrDeferred) {
			t.Fatalf("Delete with the store down = %v; want ErrDeferred", err)
		}
	}
	if n := ownTries.Load(); n != 0 {
		t.Errorf("the store was tried %d times by Deletes after it failed the last try; want 0", n)
	}
}
