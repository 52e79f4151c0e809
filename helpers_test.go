package aside_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/redistest"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/redisstore"
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
	s, err := redisstore.New(redisstore.Options{Addrs: []string{addr}})
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
