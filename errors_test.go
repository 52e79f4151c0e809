package aside_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// The errors by method of the package doc, pinned: each condition has one
// shape whatever the cache's state.

// errShape is what a test wants of an error.
type errShape struct {
	is        []error // errors.Is must hold for each
	isNot     []error // and must not for these
	loadError bool    // errors.As(err, **aside.LoadError)
}

func checkShape(t *testing.T, what string, err error, want errShape) {
	t.Helper()
	if err == nil {
		t.Errorf("%s = nil; want an error", what)
		return
	}
	for _, target := range want.is {
		if !errors.Is(err, target) {
			t.Errorf("%s = %v; want it to wrap %v", what, err, target)
		}
	}
	for _, target := range want.isNot {
		if errors.Is(err, target) {
			t.Errorf("%s = %v; want it not to wrap %v", what, err, target)
		}
	}
	var le *aside.LoadError
	if errors.As(err, &le) != want.loadError {
		t.Errorf("%s = %v (%T); *LoadError: %v, want %v", what, err, err, !want.loadError, want.loadError)
	}
}

var (
	notFound    = errShape{is: []error{aside.ErrNotFound}, loadError: true}
	callerGone  = errShape{is: []error{context.DeadlineExceeded}}
	invalidArg  = errShape{is: []error{aside.ErrInvalid}}
	deferred    = errShape{is: []error{aside.ErrDeferred}, isNot: []error{aside.ErrUnavailable}}
	unavailable = errShape{is: []error{aside.ErrUnavailable}}
)

func TestReadErrorsHaveOneShape(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour, LoadTimeout: 50 * time.Millisecond})
		ctx := context.Background()
		missing := func(context.Context) (string, error) { return "", aside.ErrNotFound }
		_, err := users.Get(ctx, "1", missing)
		checkShape(t, "Get of a missing row", err, notFound)
		_, err = users.Get(ctx, "1", func(context.Context) (string, error) { t.Error("loader called"); return "", nil })
		checkShape(t, "Get of a missing row, from its negative entry", err, notFound)
		_, _, err = users.GetIfPresent(ctx, "1")
		checkShape(t, "GetIfPresent of a negative entry", err, notFound)
		_, err = users.GetEncoded(ctx, "1", missing)
		checkShape(t, "GetEncoded of a negative entry", err, notFound)

		boom := errors.New("database down")
		_, err = users.Get(ctx, "2", func(context.Context) (string, error) { return "", boom })
		checkShape(t, "Get whose loader fails", err, errShape{is: []error{boom}, isNot: []error{aside.ErrNotFound}, loadError: true})

		hang := func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() }
		_, err = users.Get(ctx, "3", hang)
		checkShape(t, "Get whose load passes its LoadTimeout", err,
			errShape{is: []error{aside.ErrLoadTimeout, context.DeadlineExceeded}, loadError: true})

		slow := func(ctx context.Context) (string, error) { time.Sleep(200 * time.Millisecond); return "v", nil }
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		other := newNamespace[string](t, c, aside.NamespaceConfig{Name: "others", TTL: time.Hour})
		_, err = other.Get(short, "4", slow)
		checkShape(t, "Get whose caller's deadline passes while it loads", err, callerGone)
		_, err = other.Get(short, "5", slow)
		checkShape(t, "Get after its caller's deadline passed", err, callerGone)
		_, err = other.GetMany(short, []string{"6"}, func(context.Context, []string) (map[string]string, error) { return nil, nil })
		checkShape(t, "GetMany after its caller's deadline passed", err, callerGone)

		_, err = users.Get(ctx, "", missing)
		checkShape(t, "Get of an empty id", err, invalidArg)
		_, err = users.GetMany(ctx, []string{""}, func(context.Context, []string) (map[string]string, error) { return nil, nil })
		checkShape(t, "GetMany of an empty id", err, invalidArg)
		_, err = aside.GetOrSet(ctx, c, "k", 0, missing)
		checkShape(t, "GetOrSet with a TTL of 0", err, invalidArg)
		err = aside.Set(ctx, c, "k", func() {}, time.Hour)
		if _, local := s.(interface{ Len() int }); !local { // memstore keeps values as they are
			checkShape(t, "Set of a value the codec cannot encode", err, invalidArg)
		}
		_, err = c.DeletePattern(ctx, "[")
		checkShape(t, "DeletePattern of a malformed pattern", err, errShape{is: []error{aside.ErrBadPattern}})

		c.Close()
		_, err = users.Get(ctx, "1", missing)
		checkShape(t, "Get after Close", err, errShape{is: []error{aside.ErrClosed}})
	})
}

// With the store away, reads answer from the loader; invalidations are
// deferred (the write stands); the calls that need the store say it is
// unavailable.
func TestStoreErrorsHaveOneShape(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{})
	users := newNamespace[string](t, c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	ctx := context.Background()
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	for range 2 { // a store call that times out, then the breaker's refusals
		if v, err := users.Get(ctx, "1", mustLoad("db")); err != nil || v != "db" {
			t.Errorf("Get with Redis frozen = %q, %v; want the loader's value", v, err)
		}
		checkShape(t, "Invalidate with Redis frozen", users.Invalidate(ctx, "1"), deferred)
		_, err := c.Delete(ctx, "k")
		checkShape(t, "Delete with Redis frozen", err, deferred)
		checkShape(t, "Cache.Invalidate with Redis frozen", c.Invalidate(ctx, users.IDs("1"), aside.Groups("g")), deferred)
		checkShape(t, "Set with Redis frozen", users.Set(ctx, "1", "v"), unavailable)
		_, err = c.Exists(ctx, "k")
		checkShape(t, "Exists with Redis frozen", err, unavailable)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		checkShape(t, "Invalidate with a cancelled context", users.Invalidate(cancelled, "2"), deferred)
	}
	for i := 0; c.Stats().Breaker != aside.BreakerOpen; i++ {
		if i == 20 {
			t.Fatal("the breaker never opened")
		}
		users.Get(ctx, "x", mustLoad("db"))
	}
	checkShape(t, "Invalidate with the breaker open", users.Invalidate(ctx, "1"), deferred)
	checkShape(t, "Set with the breaker open", users.Set(ctx, "1", "v"), unavailable)
}
