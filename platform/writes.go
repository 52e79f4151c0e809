package platform

import (
	"context"
	"encoding/json"
)

// Every write goes to the database first and then removes every cached key
// it affected, including negative entries: a user created with id 7 must not
// stay "not found" because someone asked for 7 before it existed.

// CreateUser creates a user.
func (r *Repository) CreateUser(ctx context.Context, n NewUser) (User, error) {
	if err := n.Validate(); err != nil {
		return User{}, err
	}
	u, err := r.db.CreateUser(ctx, n, r.now())
	if err != nil {
		return u, err
	}
	// Asked for before it existed, the user's id, open id and job list
	// may all hold negative entries.
	r.invalidate(ctx, "create user", keyOf(r.users, id(u.ID)), keyOf(r.byOpenID, u.OpenID), genKey(u.ID))
	return u, nil
}

// UpdateUser changes a user. A new open id clears the old one's key and
// the new one's (which may hold a negative entry).
func (r *Repository) UpdateUser(ctx context.Context, userID int64, p UserPatch) (User, error) {
	if err := p.Validate(); err != nil {
		return User{}, err
	}
	before, after, err := r.db.UpdateUser(ctx, userID, p, r.now())
	if err != nil {
		return after, err
	}
	r.invalidate(ctx, "update user", keyOf(r.users, id(userID)),
		keyOf(r.byOpenID, before.OpenID), keyOf(r.byOpenID, after.OpenID))
	return after, nil
}

// DeleteUser deletes a user with its jobs, results and sessions, and clears
// all of them from the cache.
func (r *Repository) DeleteUser(ctx context.Context, userID int64) error {
	rm, err := r.db.DeleteUser(ctx, userID)
	if err != nil {
		return err
	}
	keys := []string{keyOf(r.users, id(userID)), keyOf(r.byOpenID, rm.User.OpenID), genKey(userID)}
	for _, j := range rm.JobIDs {
		keys = append(keys, keyOf(r.jobs, id(j)), keyOf(r.results, id(j)))
	}
	for _, h := range rm.SessionHashes {
		keys = append(keys, keyOf(r.sessions, h))
	}
	r.invalidate(ctx, "delete user", keys...)
	return nil
}

// CreateJob submits a job for an existing user.
func (r *Repository) CreateJob(ctx context.Context, n NewJob) (Job, error) {
	if err := n.Validate(); err != nil {
		return Job{}, err
	}
	j, err := r.db.CreateJob(ctx, n, r.now())
	if err != nil {
		return j, err
	}
	r.invalidate(ctx, "create job", keyOf(r.jobs, id(j.ID)), keyOf(r.results, id(j.ID)), genKey(j.UserID))
	return j, nil
}

// UpdateJob changes a job's status, progress or error.
func (r *Repository) UpdateJob(ctx context.Context, jobID int64, p JobPatch) (Job, error) {
	if err := p.Validate(); err != nil {
		return Job{}, err
	}
	j, err := r.db.UpdateJob(ctx, jobID, p, r.now())
	if err != nil {
		return j, err
	}
	// Completing a job makes its result readable: a negative entry for the
	// result must go too.
	r.invalidate(ctx, "update job", keyOf(r.jobs, id(jobID)), keyOf(r.results, id(jobID)), genKey(j.UserID))
	return j, nil
}

// PutJobResult stores a job's result and completes the job.
func (r *Repository) PutJobResult(ctx context.Context, jobID int64, result json.RawMessage) (JobResult, error) {
	if err := CheckResult(result); err != nil {
		return JobResult{}, err
	}
	res, j, err := r.db.PutResult(ctx, jobID, result, r.now())
	if err != nil {
		return res, err
	}
	r.invalidate(ctx, "put result", keyOf(r.jobs, id(jobID)), keyOf(r.results, id(jobID)), genKey(j.UserID))
	return res, nil
}
