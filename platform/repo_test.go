package platform_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/platform"
	"github.com/aside-cache/aside/platform/sqldb"
)

func newRepo(t *testing.T, cached bool) (*platform.Repository, *sqldb.DB) {
	t.Helper()
	if !cached {
		return newRepoOn(t, nil, aside.Options{})
	}
	s, _ := memstore.New(memstore.Options{})
	return newRepoOn(t, s, aside.Options{})
}

// newRepoOn returns a repository over a fresh SQLite database, caching in
// a Cache over store (nil: no cache).
func newRepoOn(t *testing.T, store aside.Store, opts aside.Options) (*platform.Repository, *sqldb.DB) {
	t.Helper()
	db, err := sqldb.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var c *aside.Cache
	if store != nil {
		if c, err = aside.New(store, opts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	r, err := platform.NewRepository(db, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r, db
}

// An expired session is never served, though the cache still holds it.
func TestExpiredSessionIsNeverServed(t *testing.T) {
	r, _ := newRepo(t, true)
	ctx := context.Background()
	now := time.Now().UTC()
	platform.SetClock(r, func() time.Time { return now })
	if _, err := r.CreateUser(ctx, platform.NewUser{OpenID: "s"}); err != nil {
		t.Fatal(err)
	}
	token, _, err := r.NewSession(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SessionUser(ctx, token); err != nil {
		t.Fatalf("SessionUser of a fresh session: %v", err)
	}
	now = now.Add(platform.SessionTTL) // the cached entry lives on; the session does not
	if _, err := r.SessionUser(ctx, token); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("SessionUser at expiry = %v; want ErrUnauthorized", err)
	}
	if st := r.Cache().Stats().Namespaces["sessions"]; st.Hits != 1 {
		t.Errorf("session lookups hit the cache %d times; want 1 (the expired session was served by the cache and refused)", st.Hits)
	}
}

// With the cache off, the same reads and writes go to the database.
func TestUncachedRepository(t *testing.T) {
	r, _ := newRepo(t, false)
	ctx := context.Background()
	u, err := r.CreateUser(ctx, platform.NewUser{OpenID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	if _, err := r.UpdateUser(ctx, u.ID, platform.UserPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetUser(ctx, u.ID)
	if err != nil || got.Name != name || r.Cache() != nil {
		t.Errorf("uncached GetUser = %+v, %v", got, err)
	}
	if _, err := r.ListJobsByUser(ctx, 999, 10); !errors.Is(err, platform.ErrNotFound) {
		t.Errorf("uncached jobs of a missing user = %v; want ErrNotFound", err)
	}
	if rep, err := r.Warm(ctx); err != nil || rep.Users != 0 {
		t.Errorf("Warm without a cache = %+v, %v; want nothing done", rep, err)
	}
}

// hookDB runs hook after a read of recent users: another instance writes
// between a warm-up's read and its write.
type hookDB struct {
	*sqldb.DB
	hook func()
}

func (h hookDB) RecentUsers(ctx context.Context, n int) ([]platform.User, error) {
	u, err := h.DB.RecentUsers(ctx, n)
	h.hook()
	return u, err
}

// A warm-up that read a user before another instance's update cannot
// write the old row over the update's invalidation.
func TestWarmRacingAnUpdate(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, _ := memstore.New(memstore.Options{}) // shared, as one Redis would be
	shared, err := aside.New(store, aside.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	serving, _ := platform.NewRepository(db, shared, nil)
	u, err := serving.CreateUser(ctx, platform.NewUser{OpenID: "w", Name: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	name := "v2"
	starting, _ := platform.NewRepository(hookDB{db, func() {
		if _, err := serving.UpdateUser(ctx, u.ID, platform.UserPatch{Name: &name}); err != nil {
			t.Fatal(err)
		}
	}}, shared, nil)
	if _, err := starting.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := serving.GetUser(ctx, u.ID); got.Name != "v2" {
		t.Errorf("after the update returned, GetUser = %q; want v2, not the warm-up's v1", got.Name)
	}
}
