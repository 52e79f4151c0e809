package aside_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/redistest"
)

// An invalidation that cannot reach Redis is kept and replayed before the
// store is used again: after Redis comes back, the row written during the
// outage is read, never the entry cached before it.
func TestInvalidationDuringOutageIsReplayed(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	writer := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	reader := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	users := aside.NewNamespace[string](writer, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	readerUsers := aside.NewNamespace[string](reader, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
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
	users := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	jobs := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "jobs", Prefix: "job:", TTL: time.Hour})
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
	waitFor(t, "the replay", func() bool { return c.Stats().Namespaces["users"].InvalidationsReplayed > 0 })
	waitFor(t, "the breaker to close", func() bool { // the failed invalidations opened it
		aside.Get[string](ctx, c, "probe")
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
