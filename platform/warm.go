package platform

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Warm-up sizes, as in the guide.
const (
	WarmUsers = 100
	WarmJobs  = 200
)

// WarmReport says what a warm-up wrote.
type WarmReport struct {
	Users, UsersByOpenID, Jobs int
	Took                       time.Duration
}

// Warm loads the most recently updated users and the most recent jobs into
// the cache, in pipelined batches that never overwrite a present entry.
// It returns what it wrote, and how long it took, even when the database
// or the cache fails: start-up goes on without it, and logs both.
func (r *Repository) Warm(ctx context.Context) (rep WarmReport, err error) {
	start := time.Now()
	defer func() { rep.Took = time.Since(start) }()
	if r.cache == nil {
		return rep, nil
	}
	users, err := r.db.RecentUsers(ctx, WarmUsers)
	if err != nil {
		return rep, fmt.Errorf("warm: %w", err)
	}
	jobs, err := r.db.RecentJobs(ctx, WarmJobs)
	if err != nil {
		return rep, fmt.Errorf("warm: %w", err)
	}
	var errs []error
	var e error
	rep.Users, e = r.users.Warm(ctx, byID(users, func(u User) string { return id(u.ID) }))
	errs = append(errs, e)
	rep.UsersByOpenID, e = r.byOpenID.Warm(ctx, byID(users, func(u User) string { return u.OpenID }))
	errs = append(errs, e)
	rep.Jobs, e = r.jobs.Warm(ctx, byID(jobs, func(j Job) string { return id(j.ID) }))
	errs = append(errs, e)
	return rep, errors.Join(errs...)
}

func byID[T any](rows []T, key func(T) string) iter.Seq2[string, T] {
	return func(yield func(string, T) bool) {
		for _, row := range rows {
			if !yield(key(row), row) {
				return
			}
		}
	}
}
