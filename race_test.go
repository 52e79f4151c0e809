package aside_test

// Regressions of races found in review: each test sets up the interleaving
// that once served an invalidated value, hung a caller, or lost a deferred
// invalidation.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

// twoCaches returns two caches over one store, as two processes over one
// Redis: their loads in flight are their own.
func twoCaches(t *testing.T, s aside.Store, opts aside.Options) (a, b *aside.Cache) {
	t.Helper()
	opts.KeyPrefix = uniquePrefix(t)
	return newCache(t, s, opts), newCache(t, s, opts)
}

// gate is a loader that reports its call and waits to be released.
type gate struct {
	called  chan struct{}
	release chan struct{}
	once    sync.Once
	value   func() (string, error)
}

func newGate(value func() (string, error)) *gate {
	return &gate{called: make(chan struct{}), release: make(chan struct{}), value: value}
}

func (g *gate) load(context.Context) (string, error) {
	v, err := g.value()
	g.once.Do(func() { close(g.called) })
	<-g.release
	return v, err
}

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

// faulty is a store, without its in-process face, whose calls a test can
// slow down or fail.
type faulty struct {
	aside.Store
	getErr      atomic.Bool
	addOrGet    func()                 // runs before AddOrGet answers
	casReply    atomic.Int64           // delay of CompareAndSet's reply, after it ran (ns)
	replaceHook func(call int64) error // decides each Replace call
	replaces    atomic.Int64
}

func (f *faulty) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.getErr.Load() {
		return nil, false, errors.New("faulty: get fails")
	}
	return f.Store.Get(ctx, key)
}

func (f *faulty) AddOrGet(ctx context.Context, key string, v []byte, ttl time.Duration) ([]byte, bool, error) {
	if f.addOrGet != nil {
		f.addOrGet()
	}
	return f.Store.AddOrGet(ctx, key, v, ttl)
}

func (f *faulty) CompareAndSet(ctx context.Context, key string, old, v []byte, ttl time.Duration) (bool, error) {
	ok, err := f.Store.CompareAndSet(ctx, key, old, v, ttl)
	time.Sleep(time.Duration(f.casReply.Load()))
	return ok, err
}

func (f *faulty) Replace(ctx context.Context, items []aside.Item) ([][]byte, error) {
	if f.replaceHook != nil {
		if err := f.replaceHook(f.replaces.Add(1)); err != nil {
			return nil, err
		}
	}
	return f.Store.Replace(ctx, items)
}

func faultyStore(t *testing.T) *faulty {
	m, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &faulty{Store: m} // bytes only: the Cache treats it as remote
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

// An invalidation deferred again while a replay of its key is in flight
// is replayed too, not forgotten with the first. (With the breaker open, a
// Delete defers without waiting for the replay under way.)
func TestDeferralDuringReplayIsKept(t *testing.T) {
	f := faultyStore(t)
	c := newCache(t, f, aside.Options{})
	ctx := context.Background()
	inReplay, release := make(chan struct{}), make(chan struct{})
	var phase atomic.Int32 // 0: fail; 1: hold the next call; 2: pass
	f.replaceHook = func(call int64) error {
		switch phase.Load() {
		case 0:
			return errors.New("faulty: replace fails") // the invalidations: the breaker opens
		case 1:
			if phase.CompareAndSwap(1, 2) {
				close(inReplay) // the first replay: held while k is deferred again
				<-release
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
