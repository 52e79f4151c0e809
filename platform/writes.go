package platform

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aside-cache/aside"
)

// Every write goes to the database first and then removes every cached key
// it affected, including negative entries: a user created with id 7 must not
// stay "not found" because someone asked for 7 before it existed.

// Every change is made by an actor, who may change only what they own
// (their user, their jobs and results) unless they are an admin.

// CreateUser creates a user with a password. Only an admin creates users,
// and sets their role.
func (r *Repository) CreateUser(ctx context.Context, by Actor, n NewUser) (User, error) {
	if !by.IsAdmin() {
		return User{}, fmt.Errorf("%w: only an admin creates users", ErrForbidden)
	}
	if err := n.Validate(); err != nil {
		return User{}, err
	}
	hash, err := r.passwords.hash(ctx, n.Password)
	if err != nil {
		return User{}, err
	}
	n.Password, n.PasswordHash = "", hash
	u, err := r.db.CreateUser(ctx, n, r.now())
	if err != nil {
		return u, err
	}
	// Asked for before it existed, the user's id, open id and job list
	// may all hold negative entries.
	r.invalidate(ctx, "create user", of(r.users, id(u.ID)), of(r.byOpenID, u.OpenID), aside.Groups(jobsGroup(id(u.ID))))
	return u, nil
}

// UpdateUser changes a user: the user themself or an admin; the role, an
// admin only. A new open id or password ends the user's sessions. A new
// open id clears the old one's key and the new one's (which may hold a
// negative entry).
func (r *Repository) UpdateUser(ctx context.Context, by Actor, userID int64, p UserPatch) (User, error) {
	if err := by.owns(userID, fmt.Sprintf("user %d", userID)); err != nil {
		return User{}, err
	}
	if p.Role != nil && !by.IsAdmin() {
		return User{}, fmt.Errorf("%w: only an admin sets a role", ErrForbidden)
	}
	if err := p.Validate(); err != nil {
		return User{}, err
	}
	if p.Password != nil {
		hash, err := r.passwords.hash(ctx, *p.Password)
		if err != nil {
			return User{}, err
		}
		p.Password, p.PasswordHash = nil, &hash
	}
	up, err := r.db.UpdateUser(ctx, userID, p, r.now())
	if err != nil {
		return up.After, err
	}
	r.invalidate(ctx, "update user", of(r.users, id(userID)), of(r.byOpenID, up.Before.OpenID, up.After.OpenID),
		of(r.sessions, up.EndedSessions...))
	return up.After, nil
}

// DeleteUser deletes a user with its jobs, results and sessions, and clears
// all of them from the cache: the user themself or an admin.
func (r *Repository) DeleteUser(ctx context.Context, by Actor, userID int64) error {
	if err := by.owns(userID, fmt.Sprintf("user %d", userID)); err != nil {
		return err
	}
	rm, err := r.db.DeleteUser(ctx, userID)
	if err != nil {
		return err
	}
	jobs := make([]string, len(rm.JobIDs))
	for i, j := range rm.JobIDs {
		jobs[i] = id(j)
	}
	r.invalidate(ctx, "delete user", of(r.users, id(userID)), of(r.byOpenID, rm.User.OpenID), of(r.jobs, jobs...),
		of(r.results, jobs...), of(r.sessions, rm.SessionHashes...), aside.Groups(jobsGroup(id(userID))))
	return nil
}

// CreateJob submits a job for its owner: the actor themself (the default,
// userId 0) or, by an admin, any user.
func (r *Repository) CreateJob(ctx context.Context, by Actor, n NewJob) (Job, error) {
	if n.UserID == 0 && !by.system {
		n.UserID = by.User.ID
	}
	if err := n.Validate(); err != nil {
		return Job{}, err
	}
	if err := by.owns(n.UserID, fmt.Sprintf("user %d", n.UserID)); err != nil {
		return Job{}, err
	}
	j, err := r.db.CreateJob(ctx, n, r.now())
	if err != nil {
		return j, err
	}
	// The job's id may hold negative entries (asked for before it
	// existed); the owner's lists gain it.
	r.invalidate(ctx, "create job", of(r.jobs, id(j.ID)), of(r.results, id(j.ID)), aside.Groups(jobsGroup(id(j.UserID))))
	return j, nil
}

// ownsJob refuses a change of a job by anyone else than its owner or an
// admin. The owner is read through the cache: a job never changes hands.
func (r *Repository) ownsJob(ctx context.Context, by Actor, jobID int64) error {
	if by.IsAdmin() {
		return nil
	}
	j, err := r.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	return by.owns(j.UserID, "job "+id(jobID))
}

// UpdateJob changes a job's status, progress or error: its owner or an
// admin.
func (r *Repository) UpdateJob(ctx context.Context, by Actor, jobID int64, p JobPatch) (Job, error) {
	if err := p.Validate(); err != nil {
		return Job{}, err
	}
	if err := r.ownsJob(ctx, by, jobID); err != nil {
		return Job{}, err
	}
	j, err := r.db.UpdateJob(ctx, jobID, p, r.now())
	if err != nil {
		return j, err
	}
	// Completing a job makes its result readable: a negative entry for the
	// result must go too. The lists that show the job hold its id only.
	r.invalidate(ctx, "update job", of(r.jobs, id(jobID)), of(r.results, id(jobID)))
	return j, nil
}

// PutJobResult stores a job's result and completes the job: its owner or
// an admin.
func (r *Repository) PutJobResult(ctx context.Context, by Actor, jobID int64, result json.RawMessage) (JobResult, error) {
	if err := CheckResult(result); err != nil {
		return JobResult{}, err
	}
	if err := r.ownsJob(ctx, by, jobID); err != nil {
		return JobResult{}, err
	}
	res, _, err := r.db.PutResult(ctx, jobID, result, r.now())
	if err != nil {
		return res, err
	}
	r.invalidate(ctx, "put result", of(r.jobs, id(jobID)), of(r.results, id(jobID)))
	return res, nil
}
