package aside_test

import (
	"context"
	"errors"
	"iter"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// Section 9: on a rewind each process makes its journal hold again (up to
// Recovery.MaxKeys, 100,000 by default), and keeps the others off the
// store until it has (the rewind's hold), however long that takes: a
// journal replayed a round trip per 500 keys, begun up to 500 ms after
// Redis is back, outlasted the 1 s quarantine alone.
func TestAFullJournalKeepsTheOthersOffUntilItIsMadeAgain(t *testing.T) {
	n := 50_000 // half the default MaxKeys: its replay takes a second or more under -race
	if s := os.Getenv("ASIDE_TEST_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	ctx := context.Background()
	a := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	b := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	cfg := aside.NamespaceConfig{Name: "rows", TTL: time.Hour}
	na, nb := newNamespace[int](t, a, cfg), newNamespace[int](t, b, cfg)
	// The entries are written by a setup cache that waits out a busy
	// machine (it takes no part after).
	setup := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, OpTimeout: 10 * time.Second})
	version := 1
	rows := func(yield func(string, int) bool) {
		for i := range n {
			if !yield(strconv.Itoa(i), version) {
				return
			}
		}
	}
	start := time.Now()
	if w, err := newNamespace[int](t, setup, cfg).Warm(ctx, iter.Seq2[string, int](rows)); err != nil || w != n {
		t.Fatalf("warm: %d, %v", w, err)
	}
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	version = 2
	ids := make([]string, 0, 1000)
	for i := range n {
		ids = append(ids, strconv.Itoa(i))
		if len(ids) == cap(ids) {
			if err := na.Invalidate(ctx, ids...); err != nil && !errors.Is(err, aside.ErrDeferred) {
				t.Fatal(err)
			}
			ids = ids[:0]
		}
	}
	waitFor(t, "a's deferred invalidations to be replayed", func() bool { return a.Stats().PendingInvalidations == 0 })
	time.Sleep(600 * time.Millisecond) // b has read the epoch
	t.Logf("set up in %v; a remembers %d invalidations", time.Since(start), a.Stats().RememberedInvalidations)
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	load := func(context.Context) (int, error) { return 2, nil }
	// b reads at once (it finds the rewind on its first call), then reads
	// random rows until 2 s after Redis was back.
	var reads, stale int
	var last time.Duration
	for time.Since(back) < 2*time.Second {
		id := strconv.Itoa(rand.IntN(n))
		began := time.Since(back)
		v, err := nb.Get(ctx, id, load)
		reads++
		if err == nil && v < 2 && began > time.Second {
			stale++
			last = began
		}
	}
	t.Logf("b: %d reads, %d stale begun more than 1 s after Redis was back (the last %v); rewinds a=%d b=%d, a replayed %d",
		reads, stale, last, a.Stats().Rewinds, b.Stats().Rewinds, a.Stats().Namespaces["rows"].InvalidationsReplayed)
	if stale > 0 {
		t.Errorf("%d of %d reads begun more than 1 s after a restart from a snapshot were stale (the last begun %v after); want none", stale, reads, last)
	}
}

// The same with a pattern delete: remembered as a pattern, it is made
// again by walking the keyspace (SCAN), which takes about a second per
// 100,000 keys (PERFORMANCE.md), longer than the quarantine alone.
func TestAPatternDeleteKeepsTheOthersOffUntilItIsWalkedAgain(t *testing.T) {
	n := 100_000 // a walk of about a second, more under -race
	if s := os.Getenv("ASIDE_TEST_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	ctx := context.Background()
	a := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	b := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	cfg := aside.NamespaceConfig{Name: "rows", TTL: time.Hour}
	na, nb := newNamespace[int](t, a, cfg), newNamespace[int](t, b, cfg)
	rows := func(yield func(string, int) bool) {
		for i := range n {
			if !yield(strconv.Itoa(i), 1) {
				return
			}
		}
	}
	setup := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, OpTimeout: 10 * time.Second})
	if w, err := newNamespace[int](t, setup, cfg).Warm(ctx, iter.Seq2[string, int](rows)); err != nil || w != n {
		t.Fatalf("warm: %d, %v", w, err)
	}
	_ = na
	b.Stats() // b has read the epoch by now (its loop runs every 500 ms)
	time.Sleep(600 * time.Millisecond)
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeletePattern(ctx, "rows:*"); err != nil && !errors.Is(err, aside.ErrDeferred) {
		t.Fatal(err)
	}
	waitFor(t, "a's pattern delete to be done", func() bool { return a.Stats().PendingInvalidations == 0 })
	if v, _ := redistest.Do(srv.Addr, "EXISTS", prefix+"rows:0"); v != "0" {
		t.Fatal("rows:0 is left after the pattern delete")
	}
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	load := func(context.Context) (int, error) { return 2, nil }
	var reads, stale int
	var last time.Duration
	for time.Since(back) < 2500*time.Millisecond {
		began := time.Since(back)
		v, err := nb.Get(ctx, strconv.Itoa(rand.IntN(n)), load)
		reads++
		if err == nil && v < 2 && began > time.Second {
			stale++
			last = began
		}
	}
	t.Logf("b: %d reads, %d stale begun more than 1 s after Redis was back (the last %v); rewinds a=%d b=%d",
		reads, stale, last, a.Stats().Rewinds, b.Stats().Rewinds)
	if stale > 0 {
		t.Errorf("%d of %d reads begun more than 1 s after a restart from a snapshot were stale (the last begun %v after); want none", stale, reads, last)
	}
}
