package platform_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/platform"
	"github.com/aside-cache/aside/platform/sqldb"
)

func newRepo(t testing.TB, cached bool) (*platform.Repository, *sqldb.DB) {
	t.Helper()
	if !cached {
		return newRepoOn(t, nil, aside.Options{})
	}
	s, _ := memstore.New(memstore.Options{})
	return newRepoOn(t, s, aside.Options{})
}

// newRepoOn returns a repository over a fresh SQLite database, caching in
// a Cache over store (nil: no cache).
func newRepoOn(t testing.TB, store aside.Store, opts aside.Options) (*platform.Repository, *sqldb.DB) {
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
	if _, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "s", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	token, _, err := r.NewSession(ctx, "s", testPassword)
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
	u, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "u", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	if _, err := r.UpdateUser(ctx, platform.System, u.ID, platform.UserPatch{Name: &name}); err != nil {
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
	u, err := serving.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "w", Name: "v1", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	name := "v2"
	starting, _ := platform.NewRepository(hookDB{db, func() {
		if _, err := serving.UpdateUser(ctx, platform.System, u.ID, platform.UserPatch{Name: &name}); err != nil {
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

// A session whose row went away behind the cache's back (signed out by
// another instance whose invalidation did not reach this cache) is
// refused at sign-out, and its cached entry is gone with the refusal.
func TestEndSessionForgetsASessionAlreadyGone(t *testing.T) {
	r, db := newRepo(t, true)
	ctx := context.Background()
	if _, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "gone", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	token, s, err := r.NewSession(ctx, "gone", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SessionUser(ctx, token); err != nil { // cached now
		t.Fatalf("SessionUser of a fresh session: %v", err)
	}
	if _, err := db.DeleteSession(ctx, s.TokenHash); err != nil {
		t.Fatal(err)
	}
	if err := r.EndSession(ctx, token); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("EndSession of a session already gone = %v; want ErrUnauthorized", err)
	}
	if u, err := r.SessionUser(ctx, token); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("SessionUser after the refused sign-out = %+v, %v; want ErrUnauthorized, not the cached session", u, err)
	}
}

// Reading a cached job list is one hit of job_lists and one hit of jobs
// per job it shows.
func TestJobListReadIsOneHit(t *testing.T) {
	r, _ := newRepo(t, true)
	ctx := context.Background()
	u, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "lists", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateJob(ctx, platform.System, platform.NewJob{UserID: u.ID, Type: "export"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if jobs, err := r.ListJobsByUser(ctx, u.ID, 10); err != nil || len(jobs) != 1 {
			t.Fatalf("ListJobsByUser = %d jobs, %v; want 1", len(jobs), err)
		}
	}
	st := r.Cache().Stats()
	if got := st.Namespaces["job_lists"]; got.Hits != 4 || got.Misses != 1 {
		t.Errorf("5 reads of one list: job_lists hits %d, misses %d; want 4 and 1", got.Hits, got.Misses)
	}
	if got := st.Namespaces["jobs"]; got.Hits != 4 || got.Misses != 1 {
		t.Errorf("5 reads of a list of one job: jobs hits %d, misses %d; want 4 and 1", got.Hits, got.Misses)
	}
}

// A change of a job invalidates its entry alone: the lists that show it
// hold its id, and read it again. A new job invalidates its owner's
// lists, through the group of the user's jobs; another user's stay.
func TestAJobsChangeInvalidatesItAloneAndANewJobTheLists(t *testing.T) {
	r, _ := newRepo(t, true)
	ctx := context.Background()
	var users []platform.User
	var first platform.Job
	for i := range 2 {
		u, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: fmt.Sprint("owner", i), Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
		if first, err = r.CreateJob(ctx, platform.System, platform.NewJob{UserID: u.ID, Type: "export"}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(u platform.User) []platform.Job {
		jobs, err := r.ListJobsByUser(ctx, u.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	for _, u := range users {
		list(u)
	}
	ns := func() (lists, jobs aside.Counters) {
		st := r.Cache().Stats()
		return st.Namespaces["job_lists"], st.Namespaces["jobs"]
	}
	running := platform.StatusRunning
	if _, err := r.UpdateJob(ctx, platform.System, first.ID, platform.JobPatch{Status: &running}); err != nil {
		t.Fatal(err)
	}
	lists0, jobs0 := ns()
	if jobs := list(users[1]); len(jobs) != 1 || jobs[0].Status != running {
		t.Errorf("the list after the job's change = %+v; want it running", jobs)
	}
	lists1, jobs1 := ns()
	if lists1.Misses != lists0.Misses || jobs1.Misses != jobs0.Misses+1 {
		t.Errorf("the list read after a job's change: %d list misses and %d job misses; want 0 and 1",
			lists1.Misses-lists0.Misses, jobs1.Misses-jobs0.Misses)
	}
	if _, err := r.CreateJob(ctx, platform.System, platform.NewJob{UserID: users[1].ID, Type: "import"}); err != nil {
		t.Fatal(err)
	}
	if jobs := list(users[1]); len(jobs) != 2 || jobs[0].Type != "import" {
		t.Errorf("the list after a new job = %+v; want the new job first", jobs)
	}
	list(users[0])
	lists2, _ := ns()
	if lists2.Misses != lists1.Misses+1 {
		t.Errorf("%d list misses after a new job of one of two users; want 1", lists2.Misses-lists1.Misses)
	}
}

// failingDB fails the read of recent jobs.
type failingDB struct{ *sqldb.DB }

func (failingDB) RecentJobs(context.Context, int) ([]platform.Job, error) {
	return nil, errors.New("the database went away")
}

// A warm-up the database breaks off still says how long it took.
func TestWarmReportsItsDurationWhenTheDatabaseFails(t *testing.T) {
	_, db := newRepo(t, false)
	store, _ := memstore.New(memstore.Options{})
	c, err := aside.New(store, aside.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := platform.NewRepository(failingDB{db}, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := r.Warm(context.Background()); err == nil || rep.Took <= 0 {
		t.Errorf("Warm with a failing database = %+v, %v; want an error and the time it took", rep, err)
	}
}

// testPassword is the password of the tests' users.
const testPassword = "correct horse battery staple"
