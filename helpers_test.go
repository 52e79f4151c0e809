package aside_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(stampedeChild()) // this binary, started by a test as another process
	}
	os.Exit(redistest.Main(m))
}

// storeKind makes one kind of store for a test.
type storeKind struct {
	name string
	new  func(t *testing.T) aside.Store
}

// stores are the stores every behaviour test runs on: the in-process one
// and a real Redis shared by the package's tests (each test under a prefix
// of its own).
var stores = []storeKind{
	{"memstore", func(t *testing.T) aside.Store { return newMemstore(t) }},
	{"redis", func(t *testing.T) aside.Store { return newRedisStore(t, redistest.Shared(t).Addr) }},
}

func newMemstore(t testing.TB) *memstore.Store {
	t.Helper()
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatalf("memstore.New: %v", err)
	}
	return s
}

func newRedisStore(t testing.TB, addr string) *redisstore.Store {
	t.Helper()
	return newRedisStoreOf(t, redisstore.Options{Addrs: []string{addr}})
}

// newRedisStoreOf is newRedisStore for any options: a Sentinel's, a
// cluster's.
func newRedisStoreOf(t testing.TB, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	addr := opts.Addrs
	s, err := redisstore.New(opts)
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s.Ping(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatalf("Redis at %s never answered", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// forEachStore runs fn as a subtest on each kind of store.
func forEachStore(t *testing.T, fn func(t *testing.T, s aside.Store)) {
	for _, k := range stores {
		t.Run(k.name, func(t *testing.T) { fn(t, k.new(t)) })
	}
}

// newCache returns a Cache over s under a prefix of the test's own, closed
// when the test ends.
func newCache(t testing.TB, s aside.Store, opts aside.Options) *aside.Cache {
	t.Helper()
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = uniquePrefix(t)
	}
	c, err := aside.New(s, opts)
	if err != nil {
		t.Fatalf("aside.New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func uniquePrefix(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b[:]) + ":"
}

// counter is a loader that counts its calls.
type counter[T any] struct {
	calls atomic.Int64
	value T
	err   error
}

func (c *counter[T]) load(context.Context) (T, error) {
	c.calls.Add(1)
	return c.value, c.err
}

// countingStore is a real store that counts the calls the Cache makes.
type countingStore struct {
	aside.Store
	gets, sets, adds, deletes, scans atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, key)
}

func (s *countingStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	s.sets.Add(1)
	return s.Store.Set(ctx, key, v, ttl)
}

func (s *countingStore) AddMany(ctx context.Context, items []aside.Item) (int, error) {
	s.adds.Add(1)
	return s.Store.AddMany(ctx, items)
}

func (s *countingStore) Delete(ctx context.Context, head int, keys ...string) ([][]byte, error) {
	s.deletes.Add(1)
	return s.Store.Delete(ctx, head, keys...)
}

func (s *countingStore) Scan(ctx context.Context, cursor, pattern string, count int) ([]string, string, error) {
	s.scans.Add(1)
	return s.Store.Scan(ctx, cursor, pattern, count)
}

func (s *countingStore) calls() int64 {
	return s.gets.Load() + s.sets.Load() + s.adds.Load() + s.deletes.Load() + s.scans.Load()
}

// User is the row type of most tests: about 200 bytes of JSON, with a time.
type User struct {
	ID        int64     `json:"id"`
	OpenID    string    `json:"openId"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func sampleUser(id int64) User {
	at := time.Date(2026, 11, 26, 10, 30, 15, 123456789, time.UTC)
	return User{ID: id, OpenID: "oid-" + hex.EncodeToString([]byte{byte(id)}), Name: "Ada Lovelace",
		Email: "ada@example.com", Role: "user", CreatedAt: at, UpdatedAt: at.Add(time.Hour)}
}

func sharedAddr(t testing.TB) string { return redistest.Shared(t).Addr }

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

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

// faulty is a store, without its in-process face, whose calls a test can
// slow down or fail.
type faulty struct {
	aside.Store
	getErr       atomic.Bool
	getReply     func(key string)               // runs after Get's reply came, before it is returned
	addOrGet     func()                         // runs before AddOrGet answers
	casReply     atomic.Int64                   // delay of CompareAndSet's reply, after it ran (ns)
	replaceHook  func(call int64) error         // decides each Replace call
	replaceItems func(items []aside.Item) error // decides each Replace call, by its items
	replaces     atomic.Int64
}

func (f *faulty) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.getErr.Load() {
		return nil, false, errors.New("faulty: get fails")
	}
	v, found, err := f.Store.Get(ctx, key)
	if f.getReply != nil {
		f.getReply(key)
	}
	return v, found, err
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
	if f.replaceItems != nil {
		if err := f.replaceItems(items); err != nil {
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

// row is a database row the tests change under the cache.
type row struct {
	mu sync.Mutex
	v  string
}

func (r *row) get() string { r.mu.Lock(); defer r.mu.Unlock(); return r.v }

func (r *row) set(v string) { r.mu.Lock(); defer r.mu.Unlock(); r.v = v }

func newRow(v string) *row { return &row{v: v} }

func readRow(r *row) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return r.get(), nil }
}

// newNamespace makes a namespace and fails the test on a configuration error.
func newNamespace[T any](t testing.TB, c *aside.Cache, cfg aside.NamespaceConfig) *aside.Namespace[T] {
	t.Helper()
	ns, err := aside.NewNamespace[T](c, cfg)
	if err != nil {
		t.Fatalf("NewNamespace(%+v): %v", cfg, err)
	}
	return ns
}

// clock is a clock a test moves by hand: the logical times of entries
// follow it, the stores' physical expiry does not (it is real time, and
// longer than any test).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// flaky is a database row whose reads can be made to fail or to block.
type flaky struct {
	mu      sync.Mutex
	value   string
	fail    error
	block   chan struct{} // non-nil: reads wait for it to close
	calls   int
	advance func() // called at each read: a load that takes fake time
}

func (f *flaky) set(value string, fail error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value, f.fail = value, fail
}

func (f *flaky) load(context.Context) (string, error) {
	f.mu.Lock()
	f.calls++
	block, value, fail, advance := f.block, f.value, f.fail, f.advance
	f.mu.Unlock()
	if advance != nil {
		advance()
	}
	if block != nil {
		<-block
	}
	return value, fail
}

func (f *flaky) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

var errDBDown = errors.New("database down")
