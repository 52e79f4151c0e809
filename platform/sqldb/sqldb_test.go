package sqldb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside/platform"
	"github.com/aside-cache/aside/platform/sqldb"
	"github.com/aside-cache/aside/platform/sqldb/sqldbtest"
)

// forEachDB runs fn on a fresh SQLite file and a fresh PostgreSQL database.
func forEachDB(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, open(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, open(t, sqldbtest.NewDatabase(t)))
	})
}

func open(t *testing.T, url string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%s): %v", sqldb.Describe(url), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// now is a time as the databases keep it: UTC, to the microsecond.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func mustUser(t *testing.T, db *sqldb.DB, openID string) platform.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), platform.NewUser{OpenID: openID, Name: "N", Email: "n@example.com", Role: platform.RoleUser}, now())
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", openID, err)
	}
	return u
}

func mustJob(t *testing.T, db *sqldb.DB, userID int64) platform.Job {
	t.Helper()
	j, err := db.CreateJob(context.Background(), platform.NewJob{UserID: userID, Type: "export", Input: json.RawMessage(`{"rows": 3}`)}, now())
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	return j
}

func TestUsers(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		at := now()
		u, err := db.CreateUser(ctx, platform.NewUser{OpenID: "oid-1", Name: "Ada", Email: "ada@example.com", Role: platform.RoleAdmin}, at)
		if err != nil {
			t.Fatal(err)
		}
		if u.ID <= 0 || u.OpenID != "oid-1" || u.Role != platform.RoleAdmin || !u.CreatedAt.Equal(at) || u.LastSignedIn != nil {
			t.Errorf("CreateUser = %+v", u)
		}
		if _, err := db.CreateUser(ctx, platform.NewUser{OpenID: "oid-1", Role: platform.RoleUser}, at); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("CreateUser with a taken open id = %v; want ErrConflict", err)
		}
		for name, get := range map[string]func() (platform.User, error){
			"byID":     func() (platform.User, error) { return db.UserByID(ctx, u.ID) },
			"byOpenID": func() (platform.User, error) { return db.UserByOpenID(ctx, "oid-1") },
		} {
			got, err := get()
			if err != nil || got != u {
				t.Errorf("%s = %+v, %v; want %+v", name, got, err, u)
			}
		}
		if _, err := db.UserByID(ctx, 999); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("UserByID(999) = %v; want ErrNotFound", err)
		}
		if _, err := db.UserByOpenID(ctx, "nobody"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("UserByOpenID(nobody) = %v; want ErrNotFound", err)
		}

		name, openID, later := "Ada Lovelace", "oid-2", at.Add(time.Second)
		up, err := db.UpdateUser(ctx, u.ID, platform.UserPatch{Name: &name, OpenID: &openID}, later)
		if before, after := up.Before, up.After; err != nil || before != u || after.Name != name || after.OpenID != openID || after.Email != u.Email || !after.UpdatedAt.Equal(later) {
			t.Errorf("UpdateUser = %+v, %v", up, err)
		}
		mustUser(t, db, "oid-3")
		taken := "oid-3"
		if _, err := db.UpdateUser(ctx, u.ID, platform.UserPatch{OpenID: &taken}, later); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("UpdateUser to a taken open id = %v; want ErrConflict", err)
		}
		if _, err := db.UpdateUser(ctx, 999, platform.UserPatch{Name: &name}, later); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("UpdateUser(999) = %v; want ErrNotFound", err)
		}
		recent, err := db.RecentUsers(ctx, 1)
		if err != nil || len(recent) != 1 || recent[0].ID != u.ID {
			t.Errorf("RecentUsers(1) = %+v, %v; want the user updated last", recent, err)
		}
	})
}

func TestJobs(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		u := mustUser(t, db, "owner")
		if ids, err := db.JobIDsByUser(ctx, u.ID, 10); err != nil || len(ids) != 0 {
			t.Errorf("JobIDsByUser of a user without jobs = %v, %v; want none", ids, err)
		}
		j := mustJob(t, db, u.ID)
		if j.Status != platform.StatusQueued || j.Progress != 0 || j.UserID != u.ID || j.CompletedAt != nil || j.Error != nil {
			t.Errorf("CreateJob = %+v", j)
		}
		var input map[string]int
		if err := json.Unmarshal(j.Input, &input); err != nil || input["rows"] != 3 {
			t.Errorf("job input = %s; want {\"rows\": 3}", j.Input)
		}
		if _, err := db.CreateJob(ctx, platform.NewJob{UserID: 999, Type: "x", Input: json.RawMessage(`{}`)}, now()); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("CreateJob for a missing user = %v; want ErrNotFound", err)
		}

		running, progress := platform.StatusRunning, 40
		j, err := db.UpdateJob(ctx, j.ID, platform.JobPatch{Status: &running, Progress: &progress}, now())
		if err != nil || j.Status != running || j.Progress != 40 {
			t.Errorf("UpdateJob to running 40%% = %+v, %v", j, err)
		}
		failed, msg := platform.StatusFailed, "boom"
		j, err = db.UpdateJob(ctx, j.ID, platform.JobPatch{Status: &failed, Error: &msg}, now())
		if err != nil || j.Status != failed || j.Error == nil || *j.Error != "boom" || j.CompletedAt == nil {
			t.Errorf("UpdateJob to failed = %+v, %v", j, err)
		}
		if _, err := db.UpdateJob(ctx, j.ID, platform.JobPatch{Status: &running}, now()); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("UpdateJob of a failed job = %v; want ErrConflict", err)
		}
		if _, err := db.UpdateJob(ctx, 999, platform.JobPatch{Status: &running}, now()); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("UpdateJob(999) = %v; want ErrNotFound", err)
		}

		var ids []int64
		for range 5 {
			ids = append(ids, mustJob(t, db, u.ID).ID)
		}
		list, err := db.JobsByUser(ctx, u.ID, 3)
		if err != nil || len(list) != 3 || list[0].ID != ids[4] || list[2].ID != ids[2] {
			t.Errorf("JobsByUser(limit 3) = %d jobs, %v; want the 3 newest, newest first", len(list), err)
		}
		if recent, _ := db.RecentJobs(ctx, 2); len(recent) != 2 || recent[0].ID != ids[4] {
			t.Errorf("RecentJobs(2) = %+v; want the 2 newest", recent)
		}
		if got, err := db.JobIDsByUser(ctx, u.ID, 3); err != nil || !slices.Equal(got, []int64{ids[4], ids[3], ids[2]}) {
			t.Errorf("JobIDsByUser(limit 3) = %v, %v; want the 3 newest ids, newest first", got, err)
		}
		if _, err := db.JobIDsByUser(ctx, 999, 3); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("JobIDsByUser(999) = %v; want ErrNotFound", err)
		}
		byID, err := db.JobsByIDs(ctx, []int64{ids[1], 999, ids[3]})
		if err != nil || len(byID) != 2 || byID[0].ID+byID[1].ID != ids[1]+ids[3] {
			t.Errorf("JobsByIDs(%d, 999, %d) = %+v, %v; want those two", ids[1], ids[3], byID, err)
		}
		if none, err := db.JobsByIDs(ctx, nil); err != nil || len(none) != 0 {
			t.Errorf("JobsByIDs(nil) = %v, %v; want nothing", none, err)
		}
	})
}

func TestResults(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		u := mustUser(t, db, "owner")
		j := mustJob(t, db, u.ID)
		if _, err := db.ResultByJob(ctx, j.ID); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("ResultByJob before the result = %v; want ErrNotFound", err)
		}
		at := now()
		r, done, err := db.PutResult(ctx, j.ID, json.RawMessage(`{"ok": true}`), at)
		if err != nil || r.JobID != j.ID || done.Status != platform.StatusCompleted || done.Progress != 100 || done.CompletedAt == nil {
			t.Fatalf("PutResult = %+v, %+v, %v", r, done, err)
		}
		got, err := db.ResultByJob(ctx, j.ID)
		if err != nil || !got.CreatedAt.Equal(at) || !jsonEqual(got.Result, `{"ok":true}`) {
			t.Errorf("ResultByJob = %+v (%s), %v", got, got.Result, err)
		}
		if _, _, err := db.PutResult(ctx, j.ID, json.RawMessage(`{}`), at); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("a second PutResult = %v; want ErrConflict", err)
		}
		// Behind the data access's back too: the database refuses to
		// change a result.
		if _, err := db.Exec(ctx, `UPDATE job_results SET result = '{"forged": true}' WHERE job_id = $1`, j.ID); err == nil ||
			!strings.Contains(err.Error(), "immutable") {
			t.Errorf("UPDATE of a result = %v; want the database's refusal", err)
		}
		if got, _ := db.ResultByJob(ctx, j.ID); !jsonEqual(got.Result, `{"ok":true}`) {
			t.Errorf("after a refused UPDATE the result is %s; want it unchanged", got.Result)
		}
		f := mustJob(t, db, u.ID)
		failed := platform.StatusFailed
		db.UpdateJob(ctx, f.ID, platform.JobPatch{Status: &failed}, at)
		if _, _, err := db.PutResult(ctx, f.ID, json.RawMessage(`{}`), at); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("PutResult of a failed job = %v; want ErrConflict", err)
		}
		if _, _, err := db.PutResult(ctx, 999, json.RawMessage(`{}`), at); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("PutResult(999) = %v; want ErrNotFound", err)
		}
	})
}

func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && jsonString(x) == jsonString(y)
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestSessionsAndDelete(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		u := mustUser(t, db, "signer")
		at := now()
		sess := platform.Session{TokenHash: "h1", CreatedAt: at, ExpiresAt: at.Add(platform.SessionTTL)}
		signed, _, err := db.SignIn(ctx, credential(t, db, u), sess, platform.MaxSessions)
		if err != nil || signed.ID != u.ID || signed.LastSignedIn == nil || !signed.LastSignedIn.Equal(at) {
			t.Fatalf("SignIn = %+v, %v", signed, err)
		}
		if _, _, err := db.SignIn(ctx, platform.Credential{User: platform.User{ID: 999}}, platform.Session{TokenHash: "h2", CreatedAt: at, ExpiresAt: at}, platform.MaxSessions); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("SignIn of an unknown user = %v; want ErrNotFound", err)
		}
		got, err := db.SessionByHash(ctx, "h1")
		if err != nil || got.UserID != u.ID || !got.ExpiresAt.Equal(sess.ExpiresAt) {
			t.Errorf("SessionByHash = %+v, %v", got, err)
		}
		j := mustJob(t, db, u.ID)
		db.SignIn(ctx, credential(t, db, u), platform.Session{TokenHash: "h3", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, platform.MaxSessions)
		if _, err := db.DeleteSession(ctx, "h3"); err != nil {
			t.Errorf("DeleteSession(h3): %v", err)
		}
		if _, err := db.DeleteSession(ctx, "h3"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("DeleteSession(h3) again = %v; want ErrNotFound", err)
		}

		removed, err := db.DeleteUser(ctx, u.ID)
		if err != nil || removed.User.ID != u.ID || !slices.Equal(removed.JobIDs, []int64{j.ID}) || !slices.Equal(removed.SessionHashes, []string{"h1"}) {
			t.Errorf("DeleteUser = %+v, %v; want the user, its job and its session", removed, err)
		}
		if _, err := db.JobByID(ctx, j.ID); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("the deleted user's job: %v; want ErrNotFound (cascade)", err)
		}
		if _, err := db.SessionByHash(ctx, "h1"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("the deleted user's session: %v; want ErrNotFound (cascade)", err)
		}
		if _, err := db.DeleteUser(ctx, u.ID); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("DeleteUser again = %v; want ErrNotFound", err)
		}
	})
}

func TestSeed(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		demo := platform.NewDemo(120, 700, 1, time.Now())
		var wg sync.WaitGroup
		seeded := make([]bool, 2)
		errs := make([]error, 2)
		for i := range 2 { // two processes starting together seed once
			wg.Go(func() { seeded[i], errs[i] = db.Seed(ctx, demo) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || seeded[0] == seeded[1] {
			t.Fatalf("two concurrent Seeds = %v, %v; want exactly one to seed", seeded, errs)
		}
		if again, err := db.Seed(ctx, demo); err != nil || again {
			t.Errorf("Seed of a seeded database = %v, %v; want false", again, err)
		}
		recent, err := db.RecentJobs(ctx, 1000)
		if err != nil || len(recent) != 700 {
			t.Errorf("jobs after seeding = %d, %v; want 700", len(recent), err)
		}
		if r, err := db.ResultByJob(ctx, demo.Results[0].JobID); err != nil || !jsonEqual(r.Result, string(demo.Results[0].Result)) {
			t.Errorf("a seeded result = %+v, %v", r, err)
		}
		if u := mustUser(t, db, "after-seed"); u.ID != 121 {
			t.Errorf("first user after the seed got id %d; want 121", u.ID)
		}
		if j := mustJob(t, db, 1); j.ID != 701 {
			t.Errorf("first job after the seed got id %d; want 701", j.ID)
		}
	})
}

func TestOpenRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"mysql://x", "sqlite:", "redis://127.0.0.1"} {
		if db, err := sqldb.Open(context.Background(), u); err == nil {
			db.Close()
			t.Errorf("Open(%q): no error", u)
		}
	}
	// Describe is what the server logs: never a password, wherever it is.
	for url, want := range map[string]string{
		"postgres://u:secret@h:5432/db":                              "postgres h:5432/db",
		"postgres://h:5432/db?sslmode=disable":                       "postgres h:5432/db?sslmode=disable",
		"postgres://u@h:5432/db?password=secret&sslmode=disable":     "postgres h:5432/db?password=xxxxx&sslmode=disable",
		"postgresql://u:secret@h/db?Password=secret&sslmode=require": "postgres h/db?Password=xxxxx&sslmode=require",
		"sqlite:data/a.db":                                           "sqlite data/a.db",
	} {
		if got := sqldb.Describe(url); got != want {
			t.Errorf("Describe(%q) = %q; want %q", url, got, want)
		}
	}
	for _, u := range []string{"mysql://u:secret@h/db?password=secret", "sqlite:/tmp/a.db?password=secret", "file:/tmp/a.db?password=secret"} {
		if _, err := sqldb.Open(context.Background(), u); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) = %v; want an error without the password", u, err)
		}
	}
}

// Writers of one user's jobs run beside the user's deletion without
// deadlocks: every transaction locks the user before its jobs.
func TestConcurrentWritesAndDelete(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		for round := range 10 {
			u := mustUser(t, db, fmt.Sprint("owner-", round))
			var jobs []platform.Job
			for range 8 {
				jobs = append(jobs, mustJob(t, db, u.ID))
			}
			var wg sync.WaitGroup
			errs := make(chan error, 32)
			for i, j := range jobs {
				wg.Go(func() {
					var err error
					if i%2 == 0 {
						_, _, err = db.PutResult(ctx, j.ID, json.RawMessage(`{}`), now())
					} else {
						running := platform.StatusRunning
						_, err = db.UpdateJob(ctx, j.ID, platform.JobPatch{Status: &running}, now())
					}
					errs <- err
				})
			}
			wg.Go(func() { _, err := db.DeleteUser(ctx, u.ID); errs <- err })
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil && !errors.Is(err, platform.ErrNotFound) {
					t.Errorf("round %d: %v; want success, or not found once the user is gone", round, err)
				}
			}
		}
	})
}

// Processes starting together on an empty PostgreSQL database migrate it once.
func TestConcurrentMigrations(t *testing.T) {
	url := sqldbtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			db, err := sqldb.Open(context.Background(), url)
			if err == nil {
				db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open of an empty database: %v", err)
		}
	}
}

func TestPruneSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		u := mustUser(t, db, "p")
		at := now()
		db.SignIn(ctx, credential(t, db, u), platform.Session{TokenHash: "old", CreatedAt: at.Add(-2 * time.Hour), ExpiresAt: at.Add(-time.Hour)}, platform.MaxSessions)
		db.SignIn(ctx, credential(t, db, u), platform.Session{TokenHash: "new", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, platform.MaxSessions)
		if n, err := db.PruneSessions(ctx, at); err != nil || n != 1 {
			t.Errorf("PruneSessions = %d, %v; want 1", n, err)
		}
		if _, err := db.SessionByHash(ctx, "new"); err != nil {
			t.Errorf("the live session was pruned: %v", err)
		}
	})
}

// A sign-in past the cap ends the oldest live sessions; a new password or
// open id, and sign-out everywhere, end them all; credentials come with
// the hash, which no other read returns.
func TestSessionsCappedAndEnded(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		u, err := db.CreateUser(ctx, platform.NewUser{OpenID: "capped", Role: platform.RoleUser, PasswordHash: "$argon2id$hash"}, now())
		if err != nil {
			t.Fatal(err)
		}
		at := now()
		var ended []string
		for i := range 5 {
			sess := platform.Session{TokenHash: fmt.Sprint("s", i), CreatedAt: at.Add(time.Duration(i) * time.Second), ExpiresAt: at.Add(time.Hour)}
			_, e, err := db.SignIn(ctx, credential(t, db, u), sess, 3)
			if err != nil {
				t.Fatal(err)
			}
			ended = append(ended, e...)
		}
		if !slices.Equal(ended, []string{"s0", "s1"}) {
			t.Errorf("sessions ended by 5 sign-ins with a cap of 3 = %q; want s0, s1", ended)
		}
		if c, err := db.Credentials(ctx, "capped"); err != nil || c.PasswordHash != "$argon2id$hash" || c.User.ID != u.ID {
			t.Errorf("Credentials = %+v, %v", c, err)
		}
		pw := "$argon2id$other"
		up, err := db.UpdateUser(ctx, u.ID, platform.UserPatch{PasswordHash: &pw}, now())
		slices.Sort(up.EndedSessions)
		if err != nil || !slices.Equal(up.EndedSessions, []string{"s2", "s3", "s4"}) {
			t.Errorf("a new password ended %q, %v; want s2-s4", up.EndedSessions, err)
		}
		db.SignIn(ctx, credential(t, db, u), platform.Session{TokenHash: "s5", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, 3)
		if ended, err := db.EndSessions(ctx, u.ID); err != nil || !slices.Equal(ended, []string{"s5"}) {
			t.Errorf("EndSessions = %q, %v; want s5", ended, err)
		}
	})
}

// credential reads u's credentials, as a sign-in checks them.
func credential(t *testing.T, db *sqldb.DB, u platform.User) platform.Credential {
	t.Helper()
	c, err := db.Credentials(context.Background(), u.OpenID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A sign-in makes a session only with the credentials it checked: once
// the password or the open id changed, or the user was deleted, a sign-in
// checked before is refused and makes no session. A sign-in's check and
// its session are apart by a password's hashing (tens of ms, more when
// sign-ins queue for the hashing slots): without this, a sign-in with the
// old password that was in flight kept a session past the change that
// ends them all.
func TestASignInNeedsTheCredentialsItChecked(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB) {
		ctx, at := context.Background(), now()
		sess := func(hash string) platform.Session {
			return platform.Session{TokenHash: hash, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		}
		changes := map[string]func(platform.User) error{
			"password": func(u platform.User) error {
				pw := "$argon2id$new"
				_, err := db.UpdateUser(ctx, u.ID, platform.UserPatch{PasswordHash: &pw}, now())
				return err
			},
			"open id": func(u platform.User) error {
				id := u.OpenID + "-renamed"
				_, err := db.UpdateUser(ctx, u.ID, platform.UserPatch{OpenID: &id}, now())
				return err
			},
			"deletion": func(u platform.User) error {
				_, err := db.DeleteUser(ctx, u.ID)
				return err
			},
		}
		for name, change := range changes {
			u, err := db.CreateUser(ctx, platform.NewUser{OpenID: "checked-" + name, Role: platform.RoleUser, PasswordHash: "$argon2id$old"}, now())
			if err != nil {
				t.Fatal(err)
			}
			checked := credential(t, db, u)
			if err := change(u); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.SignIn(ctx, checked, sess("after-"+name), platform.MaxSessions); !errors.Is(err, platform.ErrNotFound) {
				t.Errorf("a sign-in checked before a change of its user's %s = %v; want ErrNotFound", name, err)
			}
			if s, err := db.SessionByHash(ctx, "after-"+name); err == nil {
				t.Errorf("a sign-in checked before a change of its user's %s made session %+v", name, s)
			}
		}
	})
}
