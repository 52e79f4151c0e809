package aside_test

// Who may take a flight's answer: each test sets up an interleaving that
// once served an invalidated value or hung a caller (found in review).

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

// A flight that answered stale at the soft timeout must not answer a
// caller that begins after another process's invalidation.
func TestSoftTimeoutAnswerIsNotJoinedAfterAnInvalidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		a, b := twoCaches(t, s, aside.Options{Now: clk.Now, Jitter: -1})
		cfg := aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour, SoftTimeout: 20 * time.Millisecond}
		na, nb := newNamespace[string](t, a, cfg), newNamespace[string](t, b, cfg)
		ctx := context.Background()
		db := newRow("v1")
		na.Get(ctx, "1", readRow(db))
		clk.Advance(2 * time.Minute)
		slow := newGate(func() (string, error) { return db.get(), nil })
		defer close(slow.release)
		if v, _ := na.Get(ctx, "1", slow.load); v != "v1" {
			t.Fatalf("read with a slow loader = %q; want the stale v1 at the soft timeout", v)
		}
		db.set("v2")
		if err := nb.Invalidate(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		if v, err := na.Get(ctx, "1", readRow(db)); err != nil || v != "v2" {
			t.Errorf("read begun after the invalidation = %q, %v; want v2", v, err)
		}
	})
}

// A waiter that saw a claimed stale entry must not serve it once the key
// went through an invalidation.
func TestWaitersStaleEntryDiesWithTheInvalidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		a, b := twoCaches(t, s, aside.Options{Now: clk.Now, Jitter: -1})
		cfg := aside.NamespaceConfig{Name: "u", TTL: time.Minute, MaxStale: time.Hour}
		na, nb := newNamespace[string](t, a, cfg), newNamespace[string](t, b, cfg)
		ctx := context.Background()
		db := newRow("v1")
		na.Get(ctx, "1", readRow(db))
		clk.Advance(2 * time.Minute)
		holder := newGate(func() (string, error) { return db.get(), nil }) // b claims the stale entry
		go nb.Get(ctx, "1", holder.load)
		<-holder.called
		failing := func(context.Context) (string, error) { return "", errDBDown }
		first := make(chan struct{})
		go func() { na.Get(ctx, "1", failing); close(first) }() // waits on b's claim
		waitFor(t, "a to wait on b's claim", func() bool { return a.Stats().LeaseWaits == 1 })
		db.set("v2")
		if err := nb.Invalidate(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		v, err := na.Get(ctx, "1", failing) // begun after the invalidation
		if v == "v1" {
			t.Errorf("read begun after the invalidation = %q, %v; the invalidated v1 must never be served", v, err)
		}
		close(holder.release)
		<-first
	})
}

// A not-found answer from a load begun before a row was inserted (and its
// key invalidated) is not given to a caller that began after.
func TestNotFoundIsNotJoinedAfterAnInsert(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		a, b := twoCaches(t, s, aside.Options{})
		ctx := context.Background()
		var exists atomic.Bool
		read := func() (string, error) {
			if exists.Load() {
				return "row", nil
			}
			return "", aside.ErrNotFound
		}
		slow := newGate(read)
		go aside.GetOrSet(ctx, a, "k", time.Hour, slow.load) // reads "no row", slowly
		<-slow.called
		exists.Store(true)
		if _, err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			v, err := aside.GetOrSet(ctx, a, "k", time.Hour, func(context.Context) (string, error) { return read() })
			if err == nil && v != "row" {
				err = errors.New("got " + v)
			}
			got <- err
		}()
		waitFor(t, "the second read to join", func() bool { return a.Stats().Coalesced == 1 })
		close(slow.release)
		if err := <-got; err != nil {
			t.Errorf("read begun after the insert's invalidation = %v; want the row", err)
		}
	})
}

// A refresh whose loader fails, joined by a caller because the entry
// expired meanwhile, answers that caller.
func TestFailedRefreshAnswersItsJoiners(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		c := newCache(t, s, aside.Options{Now: clk.Now, Jitter: -1})
		ns := newNamespace[string](t, c, aside.NamespaceConfig{Name: "u", TTL: time.Minute, SoftTTL: 30 * time.Second})
		ctx := context.Background()
		ns.Get(ctx, "1", func(context.Context) (string, error) { return "v1", nil })
		clk.Advance(40 * time.Second)
		refresh := newGate(func() (string, error) { return "", errDBDown })
		ns.Get(ctx, "1", refresh.load) // a hit; starts the refresh
		<-refresh.called
		clk.Advance(time.Minute) // the entry expires while the refresh runs
		got := make(chan error, 1)
		go func() {
			wait, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := ns.Get(wait, "1", func(context.Context) (string, error) { return "", errDBDown })
			got <- err
		}()
		waitFor(t, "the reader to join the refresh", func() bool { return c.Stats().Coalesced == 1 })
		close(refresh.release)
		if err := <-got; !errors.Is(err, errDBDown) {
			t.Errorf("reader joined to a failed refresh = %v; want the loader's error, at once", err)
		}
	})
}

// A fill whose reply comes late does not vouch for an answer to a caller
// that began after an invalidation that followed the fill.
func TestLateFillReplyDoesNotVouchForLaterCallers(t *testing.T) {
	f := faultyStore(t)
	a, b := twoCaches(t, f, aside.Options{OpTimeout: time.Second})
	ctx := context.Background()
	db := newRow("v1")
	f.casReply.Store(int64(200 * time.Millisecond))
	first := make(chan struct{})
	go func() { aside.GetOrSet(ctx, a, "k", time.Hour, readRow(db)); close(first) }()
	waitFor(t, "the fill to land", func() bool { v, found, _ := aside.GetIfPresent[string](ctx, b, "k"); return found && v == "v1" })
	db.set("v2")
	if _, err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	f.casReply.Store(0)
	if v, err := aside.GetOrSet(ctx, a, "k", time.Hour, readRow(db)); err != nil || v != "v2" {
		t.Errorf("read begun after the invalidation = %q, %v; want v2", v, err)
	}
	<-first
}

// A refresh that cannot take its key answers its joiners with nothing to
// trust; they read for themselves, never T's zero value.
func TestRefreshWithNothingToGiveSendsJoinersBack(t *testing.T) {
	f := faultyStore(t)
	clk := newClock()
	c := newCache(t, f, aside.Options{Now: clk.Now, Jitter: -1, OpTimeout: time.Second})
	ns := newNamespace[string](t, c, aside.NamespaceConfig{Name: "u", TTL: time.Minute, SoftTTL: 30 * time.Second})
	ctx := context.Background()
	ns.Get(ctx, "1", func(context.Context) (string, error) { return "v1", nil })
	clk.Advance(40 * time.Second)
	stalled, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.addOrGet = func() { once.Do(func() { close(stalled); <-release }) }
	ns.Get(ctx, "1", func(context.Context) (string, error) { return "v1", nil }) // a hit; starts the refresh
	<-stalled
	f.getErr.Store(true) // the next read fails fast and joins the refresh
	got := make(chan string, 1)
	go func() {
		v, _ := ns.Get(ctx, "1", func(context.Context) (string, error) { return "own", nil })
		got <- v
	}()
	waitFor(t, "the reader to join the refresh", func() bool { return c.Stats().Coalesced == 1 })
	f.getErr.Store(false)
	close(release)
	if v := <-got; v != "own" && v != "v1" {
		t.Errorf("reader joined to a refresh with nothing to give = %q; want a value, never the zero string", v)
	}
}
