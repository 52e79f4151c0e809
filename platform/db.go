package platform

import (
	"context"
	"encoding/json"
	"time"
)

// DB is the platform's storage: the tables of users, jobs, job results and
// sessions. Package sqldb implements it on SQLite and PostgreSQL. Only the
// Repository calls it, so that every read can go through the cache and
// every write can invalidate what it changed.
//
// Missing rows are ErrNotFound; a duplicate open id, a second result for a
// job or a change to a finished job is ErrConflict.
type DB interface {
	CreateUser(ctx context.Context, u NewUser, now time.Time) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	UserByOpenID(ctx context.Context, openID string) (User, error)
	// Credentials reads a user by open id, with its password hash (which
	// no other read returns, so that it is never cached).
	Credentials(ctx context.Context, openID string) (Credential, error)
	// UpdateUser applies p; a new open id or password ends the user's
	// sessions in the same transaction.
	UpdateUser(ctx context.Context, id int64, p UserPatch, now time.Time) (UserUpdate, error)
	// SignIn records a sign-in with c and creates a session, and ends the
	// user's oldest live sessions past the newest keep, in one
	// transaction, only while the user still has c's open id and password
	// hash: a sign-in checked against credentials changed since (or a
	// user deleted since) is ErrNotFound, and a change that commits after
	// it ends the session it made.
	SignIn(ctx context.Context, c Credential, s Session, keep int) (u User, ended []string, err error)
	// EndSessions removes every session of the user.
	EndSessions(ctx context.Context, userID int64) (ended []string, err error)
	// DeleteUser removes the user with its jobs, results and sessions, and
	// returns what it removed, so that the cache can forget all of it.
	DeleteUser(ctx context.Context, id int64) (Removed, error)
	RecentUsers(ctx context.Context, n int) ([]User, error)

	CreateJob(ctx context.Context, j NewJob, now time.Time) (Job, error)
	JobByID(ctx context.Context, id int64) (Job, error)
	// JobsByIDs returns the jobs of ids that exist, in no order.
	JobsByIDs(ctx context.Context, ids []int64) ([]Job, error)
	UpdateJob(ctx context.Context, id int64, p JobPatch, now time.Time) (Job, error)
	// JobsByUser returns the user's newest jobs, newest first.
	JobsByUser(ctx context.Context, userID int64, limit int) ([]Job, error)
	// JobIDsByUser returns the ids of the user's newest jobs, newest
	// first: what a cached list of the user's jobs holds.
	JobIDsByUser(ctx context.Context, userID int64, limit int) ([]int64, error)
	RecentJobs(ctx context.Context, n int) ([]Job, error)

	// PutResult stores a job's result and completes the job.
	PutResult(ctx context.Context, jobID int64, result json.RawMessage, now time.Time) (JobResult, Job, error)
	// ResultByJob returns the result of a completed job.
	ResultByJob(ctx context.Context, jobID int64) (JobResult, error)

	SessionByHash(ctx context.Context, hash string) (Session, error)
	DeleteSession(ctx context.Context, hash string) (Session, error)
	// PruneSessions deletes the sessions expired before now.
	PruneSessions(ctx context.Context, now time.Time) (int, error)

	// Seed fills an empty database with demo data and reports whether it did.
	Seed(ctx context.Context, d Demo) (bool, error)
	Ping(ctx context.Context) error
	Close() error
}

// Removed is what deleting a user took with it.
type Removed struct {
	User          User
	JobIDs        []int64
	SessionHashes []string
}
