package aside_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// table is what the batch loaders read: id → value, and a log of the
// loader's calls.
type table struct {
	mu     sync.Mutex
	values map[string]string
	calls  [][]string // the ids of each call, sorted
	perID  map[string]int
	fail   error
	gate   chan struct{} // when set, a call waits for it after reading
	read   chan []string // when set, told the ids of each call once it read them
}

func newTable(ids ...string) *table {
	r := &table{values: map[string]string{}, perID: map[string]int{}}
	for _, id := range ids {
		r.values[id] = "v1 of " + id
	}
	return r
}

func (r *table) set(id, v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[id] = v
}

// load is the batch loader: it reads the ids it is asked for (those that
// exist), then waits at the gate, if there is one.
func (r *table) load(ctx context.Context, ids []string) (map[string]string, error) {
	r.mu.Lock()
	sorted := slices.Sorted(slices.Values(ids))
	r.calls = append(r.calls, sorted)
	for _, id := range ids {
		r.perID[id]++
	}
	out := map[string]string{}
	for _, id := range ids {
		if v, ok := r.values[id]; ok {
			out[id] = v
		}
	}
	fail, gate, read := r.fail, r.gate, r.read
	r.mu.Unlock()
	if read != nil {
		read <- sorted
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	return out, nil
}

func (r *table) callLog() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *table) loadsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perID[id]
}

// patient is the OpTimeout of the batch tests: a store call that times
// out sends its read to the loader without a lease (availability first),
// and a loaded CI machine can take 100 ms; these tests are of the leases
// and the batching.
const patient = 5 * time.Second

func ids(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

// A cold batch is one loader call with every id; a warm one, none; an
// id the loader leaves out is absent, and cached as not found.
func TestGetManyLoadsWhatItLacksInOneCall(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		db := newTable("1", "2", "3", "4")
		ctx := context.Background()
		want := map[string]string{"1": "v1 of 1", "2": "v1 of 2", "3": "v1 of 3", "4": "v1 of 4"}

		got, err := users.GetMany(ctx, []string{"1", "2", "3", "4", "5", "2"}, db.load)
		if err != nil || !sameMap(got, want) {
			t.Fatalf("cold GetMany = %v, %v; want %v", got, err, want)
		}
		if calls := db.callLog(); len(calls) != 1 || !slices.Equal(calls[0], []string{"1", "2", "3", "4", "5"}) {
			t.Errorf("loader calls %q; want one, of the five distinct ids", calls)
		}
		got, err = users.GetMany(ctx, []string{"5", "4", "3", "2", "1"}, db.load)
		if err != nil || !sameMap(got, want) {
			t.Fatalf("warm GetMany = %v, %v; want %v", got, err, want)
		}
		if calls := db.callLog(); len(calls) != 1 {
			t.Errorf("loader calls %q after a warm batch; want still one (5 cached as not found)", calls)
		}
		if _, err := users.Get(ctx, "5", func(context.Context) (string, error) { return "", errors.New("not called") }); !errors.Is(err, aside.ErrNotFound) {
			t.Errorf("Get(5) after the batch left it out = %v; want ErrNotFound from the negative entry", err)
		}
		st := c.Stats().Namespaces["users"]
		if st.Hits != 6 || st.Misses != 6 || st.Loads != 5 {
			t.Errorf("stats: %d hits, %d misses, %d loads; want reads counted: 6 hits (5 + Get), 6 misses (2 twice), 5 loads", st.Hits, st.Misses, st.Loads)
		}
	})
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A batch with some ids cached asks the loader only for the others.
func TestGetManyAsksOnlyForTheMissing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		db := newTable(ids(10)...)
		ctx := context.Background()
		if _, err := users.GetMany(ctx, []string{"1", "3", "5"}, db.load); err != nil {
			t.Fatal(err)
		}
		got, err := users.GetMany(ctx, ids(10), db.load)
		if err != nil || len(got) != 10 {
			t.Fatalf("GetMany = %d values, %v; want 10", len(got), err)
		}
		calls := db.callLog()
		if want := []string{"0", "2", "4", "6", "7", "8", "9"}; len(calls) != 2 || !slices.Equal(calls[1], want) {
			t.Errorf("loader calls %q; want the second for %q only", calls, want)
		}
	})
}

// Bad input is refused before anything is read.
func TestGetManyRefusesBadInput(t *testing.T) {
	c := newCache(t, newMemstore(t), aside.Options{})
	users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	db := newTable()
	ctx := context.Background()
	if _, err := users.GetMany(ctx, []string{"1", ""}, db.load); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("GetMany with an empty id = %v; want an error saying so", err)
	}
	if _, err := users.GetMany(ctx, []string{"1"}, nil); err == nil {
		t.Error("GetMany with a nil loader: no error")
	}
	if _, err := users.GetMany(ctx, ids(aside.MaxBatch+1), db.load); err == nil || !strings.Contains(err.Error(), "MaxBatch") {
		t.Errorf("GetMany of MaxBatch+1 ids = %v; want an error naming MaxBatch", err)
	}
	if got, err := users.GetMany(ctx, nil, db.load); err != nil || len(got) != 0 {
		t.Errorf("GetMany of no ids = %v, %v; want an empty map", got, err)
	}
	if len(db.callLog()) != 0 {
		t.Errorf("the loader was called: %q", db.callLog())
	}
}

// A loader error is returned, wrapped, and nothing is cached for the ids
// it should have answered: the next batch asks for them again.
func TestGetManyLoaderErrorCachesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		db := newTable(ids(4)...)
		ctx := context.Background()
		if _, err := users.GetMany(ctx, []string{"0"}, db.load); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("database down")
		db.fail = boom
		got, err := users.GetMany(ctx, ids(4), db.load)
		var le *aside.LoadError
		if !errors.Is(err, boom) || !errors.As(err, &le) {
			t.Fatalf("GetMany with the loader failing = %v; want an error wrapping the loader's, as a *LoadError", err)
		}
		if !sameMap(got, map[string]string{"0": "v1 of 0"}) {
			t.Errorf("GetMany with the loader failing answered %v; want the cached id alone", got)
		}
		db.fail = nil
		if _, err := users.GetMany(ctx, ids(4), db.load); err != nil {
			t.Fatal(err)
		}
		if calls := db.callLog(); !slices.Equal(calls[len(calls)-1], []string{"1", "2", "3"}) {
			t.Errorf("loader calls %q; want the failed ids asked again", calls)
		}
	})
}

// An id invalidated while its batch loads is not filled with what the
// batch read before the write.
func TestGetManyFillsAreFenced(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		db := newTable(ids(3)...)
		db.gate, db.read = make(chan struct{}), make(chan []string, 1)
		ctx := context.Background()
		done := make(chan error)
		go func() {
			_, err := users.GetMany(ctx, ids(3), db.load)
			done <- err
		}()
		<-db.read // the batch read v1 of every row
		db.set("1", "v2 of 1")
		if err := users.Invalidate(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		close(db.gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		db.gate, db.read = nil, nil
		got, err := users.GetMany(ctx, ids(3), db.load)
		if err != nil || got["1"] != "v2 of 1" || got["0"] != "v1 of 0" {
			t.Errorf("GetMany after the invalidation = %v, %v; want v2 of 1 (the fill of v1 refused), the others cached", got, err)
		}
		if n := c.Stats().Namespaces["users"].FillsRejected; n != 1 {
			t.Errorf("fills rejected = %d; want 1", n)
		}
	})
}

// Overlapping batches in two processes load each id once.
func TestGetManyAcrossProcessesLoadsEachIDOnce(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	// A generous OpTimeout: a lease that cannot be read in time is not
	// waited for (availability first); this test is of the leases.
	opts := aside.Options{KeyPrefix: prefix, OpTimeout: 5 * time.Second}
	var caches []*aside.Cache
	for range 2 {
		caches = append(caches, newCache(t, newRedisStore(t, srv.Addr), opts))
	}
	db := newTable(ids(40)...)
	slow := func(ctx context.Context, ids []string) (map[string]string, error) {
		time.Sleep(20 * time.Millisecond)
		return db.load(ctx, ids)
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for p, c := range caches {
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		for g := range 8 {
			wg.Go(func() {
				// Each goroutine reads 20 of the 40 ids, from its own offset.
				batch := ids(40)[(p*7+g*5)%20:][:20]
				got, err := users.GetMany(context.Background(), batch, slow)
				if err != nil || len(got) != 20 {
					failed.Add(1)
					t.Errorf("GetMany = %d values, %v", len(got), err)
				}
			})
		}
	}
	wg.Wait()
	for _, id := range ids(40) {
		if n := db.loadsOf(id); n > 1 {
			t.Errorf("id %s was loaded %d times; want at most once", id, n)
		}
	}
	t.Logf("%d loader calls for %d ids", len(db.callLog()), 40)
}

// An id another process is loading is waited for, not loaded: the batch
// asks for the others, and answers that id with the other's value.
func TestGetManyWaitsForAnotherProcesssLoad(t *testing.T) {
	srv := redistest.Start(t)
	a, b := twoCaches(t, newRedisStore(t, srv.Addr), aside.Options{OpTimeout: 5 * time.Second})
	cfg := aside.NamespaceConfig{Name: "users", TTL: time.Hour}
	ua, ub := newNamespace[string](t, a, cfg), newNamespace[string](t, b, cfg)
	ctx := context.Background()
	g := newGate(func() (string, error) { return "b's 2", nil })
	go ub.Get(ctx, "2", g.load)
	<-g.called // b holds 2's lease
	db := newTable("1", "2", "3")
	done := make(chan map[string]string)
	go func() {
		got, err := ua.GetMany(ctx, []string{"1", "2", "3"}, db.load)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	// a's batch goes on without 2: its loader is called for 1 and 3 while
	// b still loads 2.
	waitFor(t, "a's batch call", func() bool { return len(db.callLog()) == 1 })
	close(g.release)
	got := <-done
	if want := map[string]string{"1": "v1 of 1", "2": "b's 2", "3": "v1 of 3"}; !sameMap(got, want) {
		t.Errorf("GetMany = %v; want %v", got, want)
	}
	if calls := db.callLog(); len(calls) != 1 || !slices.Equal(calls[0], []string{"1", "3"}) {
		t.Errorf("loader calls %q; want one, for 1 and 3", calls)
	}
}

// With fail-safe, an id whose batch fails is served its stale value.
func TestGetManyServesStaleWhenTheLoaderFails(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clock := newClock()
		c := newCache(t, s, aside.Options{Now: clock.Now, OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Minute, MaxStale: time.Hour})
		db := newTable(ids(3)...)
		ctx := context.Background()
		if _, err := users.GetMany(ctx, ids(2), db.load); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Minute) // 0 and 1 are past their TTL
		db.fail = errors.New("database down")
		got, err := users.GetMany(ctx, ids(3), db.load)
		if !sameMap(got, map[string]string{"0": "v1 of 0", "1": "v1 of 1"}) {
			t.Errorf("GetMany with the loader failing = %v; want the stale 0 and 1", got)
		}
		if err == nil || !strings.Contains(err.Error(), "1 of 3") {
			t.Errorf("GetMany's error = %v; want it to name the one id (2) that had no stale value", err)
		}
		if n := c.Stats().Namespaces["users"].StaleServed; n != 2 {
			t.Errorf("stale served = %d; want 2", n)
		}
	})
}

// With a soft TTL, a hit past it is served and refreshed in the
// background, with its id alone.
func TestGetManyRefreshesPastTheSoftTTL(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clock := newClock()
		c := newCache(t, s, aside.Options{Now: clock.Now, OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour, SoftTTL: time.Minute})
		db := newTable(ids(2)...)
		ctx := context.Background()
		if _, err := users.GetMany(ctx, ids(2), db.load); err != nil {
			t.Fatal(err)
		}
		db.set("0", "v2 of 0")
		clock.Advance(2 * time.Minute)
		got, err := users.GetMany(ctx, []string{"0"}, db.load)
		if err != nil || got["0"] != "v1 of 0" {
			t.Fatalf("GetMany past the soft TTL = %v, %v; want the value it had, at once", got, err)
		}
		waitFor(t, "the background refresh", func() bool {
			got, _ := users.GetMany(ctx, []string{"0"}, db.load)
			return got["0"] == "v2 of 0"
		})
		if calls := db.callLog(); !slices.Equal(calls[1], []string{"0"}) {
			t.Errorf("loader calls %q; want the refresh to ask for 0 alone", calls)
		}
	})
}

// With the near cache, a warm batch is answered from memory.
func TestGetManyFromTheNearCache(t *testing.T) {
	srv := redistest.Start(t)
	c := nearCaches(t, srv, 1, aside.Options{})[0]
	users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	db := newTable(ids(20)...)
	ctx := context.Background()
	if _, err := users.GetMany(ctx, ids(20), db.load); err != nil { // fills Redis
		t.Fatal(err)
	}
	// Reads keep what they find in memory, unless the push of the fill
	// comes after it (a process's own fills drop what it kept): read until
	// a batch is answered from memory whole, without an MGET.
	waitFor(t, "a warm batch answered from memory", func() bool {
		before := c.Stats().Namespaces["users"].NearHits
		mgets := commands(t, srv, "mget")
		got, err := users.GetMany(ctx, ids(20), db.load)
		if err != nil || len(got) != 20 {
			t.Fatalf("GetMany = %d values, %v", len(got), err)
		}
		return c.Stats().Namespaces["users"].NearHits-before == 20 && commands(t, srv, "mget") == mgets
	})
	if n := len(db.callLog()); n != 1 {
		t.Errorf("%d loader calls; want 1", n)
	}
}

// A batch over a cluster reads keys of many slots.
func TestGetManyOnACluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	store := newRedisStoreOf(t, redisstore.Options{Addrs: cluster.Addrs()})
	c := newCache(t, store, aside.Options{OpTimeout: time.Second})
	users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	db := newTable(ids(50)...)
	ctx := context.Background()
	for round := range 2 {
		got, err := users.GetMany(ctx, ids(50), db.load)
		if err != nil || len(got) != 50 {
			t.Fatalf("round %d: GetMany = %d values, %v", round, len(got), err)
		}
	}
	if calls := db.callLog(); len(calls) != 1 {
		t.Errorf("%d loader calls; want 1 (the second batch all hits)", len(calls))
	}
}

// With Redis frozen, a batch answers from its loader, and fails nothing.
func TestGetManyAnswersWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{})
	users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	db := newTable(ids(5)...)
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	got, err := users.GetMany(context.Background(), ids(5), db.load)
	if err != nil || len(got) != 5 {
		t.Errorf("GetMany with Redis frozen = %v, %v; want the 5 values from the loader", got, err)
	}
}

// A caller that leaves returns at once; the batch goes on, and fills.
func TestGetManyCallerLeavesTheLoadGoesOn(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		db := newTable(ids(3)...)
		db.gate, db.read = make(chan struct{}), make(chan []string, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := users.GetMany(ctx, ids(3), db.load)
			done <- err
		}()
		<-db.read
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("GetMany after its caller left = %v; want context.Canceled", err)
		}
		close(db.gate)
		db.gate, db.read = nil, nil
		waitFor(t, "the batch's fills", func() bool {
			v, found, _ := users.GetIfPresent(context.Background(), "2")
			return found && v == "v1 of 2"
		})
		if n := len(db.callLog()); n != 1 {
			t.Errorf("%d loader calls; want 1", n)
		}
	})
}

// GetManyEncoded answers each id with its value's encoding.
func TestGetManyEncoded(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[User](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		load := func(_ context.Context, ids []string) (map[string]User, error) {
			out := map[string]User{}
			for _, id := range ids {
				if id != "404" {
					out[id] = sampleUser(int64(len(id)))
				}
			}
			return out, nil
		}
		ctx := context.Background()
		for round := range 2 {
			got, err := users.GetManyEncoded(ctx, []string{"1", "22", "404"}, load)
			if err != nil || len(got) != 2 {
				t.Fatalf("round %d: GetManyEncoded = %d values, %v; want 2", round, len(got), err)
			}
			for id, b := range got {
				want, _ := c.Codec().Marshal(sampleUser(int64(len(id))))
				if string(b) != string(want) {
					t.Errorf("round %d: %s encoded as %s; want %s", round, id, b, want)
				}
			}
		}
	})
}

// An id another caller in the process is loading is waited for, and the
// batch goes on without it: two batches that overlap each lead their own
// ids (crosswise, they would otherwise wait on each other).
func TestGetManyJoinsALoadInFlightAndGoesOn(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		db := newTable("a", "b")
		first := make(chan struct{})
		db.gate = first // the first call, for a, waits
		ctx := context.Background()
		done1, done2 := make(chan map[string]string, 1), make(chan map[string]string, 1)
		go func() { got, _ := users.GetMany(ctx, []string{"a"}, db.load); done1 <- got }()
		waitFor(t, "the load of a", func() bool { return len(db.callLog()) == 1 })
		db.mu.Lock()
		db.gate = nil
		db.mu.Unlock()
		go func() { got, _ := users.GetMany(ctx, []string{"a", "b"}, db.load); done2 <- got }()
		waitFor(t, "the second batch's call, for b alone, while a still loads", func() bool { return len(db.callLog()) == 2 })
		close(first)
		<-done1
		if got := <-done2; !sameMap(got, map[string]string{"a": "v1 of a", "b": "v1 of b"}) {
			t.Errorf("the second batch = %v", got)
		}
		if calls := db.callLog(); !slices.Equal(calls[1], []string{"b"}) || db.loadsOf("a") != 1 {
			t.Errorf("loader calls %q; want a once, then b alone", calls)
		}
	})
}
