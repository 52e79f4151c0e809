package aside_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// The ACL docs/SERVICES.md gives a service works: a cache with the near
// cache, under its own prefix, reads, batches, invalidates, clears and
// checks its epoch without a refusal, and cannot reach another prefix.
func TestAServiceConfinedToItsPrefixByTheDocumentedACL(t *testing.T) {
	srv := redistest.Start(t)
	acl := strings.Fields(`ACL SETUSER products on >a-long-random-password ~products:* &* +@read +@write +@scripting +@connection +info +client +scan +unlink +ping`)
	if _, err := redistest.Do(srv.Addr, acl...); err != nil {
		t.Fatal(err)
	}
	if _, err := redistest.Do(srv.Addr, "SET", "orders:1", "theirs"); err != nil {
		t.Fatal(err)
	}
	store := newRedisStoreOf(t, redisstore.Options{Addrs: []string{srv.Addr}, Username: "products", Password: "a-long-random-password"})
	c := newCache(t, store, aside.Options{KeyPrefix: "products:", NearCache: aside.NearCacheOptions{Enabled: true}})
	waitServing(t, c)
	ns := newNamespace[string](t, c, aside.NamespaceConfig{Name: "products", Prefix: "p:", TTL: time.Hour, Groups: func(string) []string { return []string{"all"} }})
	ctx := context.Background()
	for range 2 {
		if v, err := ns.Get(ctx, "1", mustLoad("chair")); err != nil || v != "chair" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if _, err := ns.GetMany(ctx, []string{"2", "3"}, func(context.Context, []string) (map[string]string, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Invalidate(ctx, ns.IDs("1"), aside.Groups("all")); err != nil {
		t.Errorf("Invalidate: %v", err)
	}
	if _, err := c.Clear(ctx); err != nil {
		t.Errorf("Clear: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	time.Sleep(600 * time.Millisecond) // an epoch check of the loop
	if st := c.Stats(); st.Errors != 0 || st.Breaker != aside.BreakerClosed {
		t.Errorf("a service under the documented ACL: %d store errors, breaker %s; want none, closed", st.Errors, st.Breaker)
	}
	if _, err := redistest.Do(srv.Addr, "FLUSHALL"); err != nil { // the epoch check works under the ACL
		t.Fatal(err)
	}
	waitFor(t, "the flush to be found", func() bool { return c.Stats().Rewinds == 1 })
	redistest.Do(srv.Addr, "SET", "orders:1", "theirs")
	if v, _ := redistest.Do(srv.Addr, "GET", "orders:1"); v != "theirs" {
		t.Errorf("another service's key after Clear = %q", v)
	}
	if _, err := store.Client().Do(ctx, store.Client().B().Get().Key("orders:1").Build()).ToString(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("the service's read of another prefix = %v; want NOPERM", err)
	}
}
