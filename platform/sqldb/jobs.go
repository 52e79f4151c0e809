package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aside-cache/aside/platform"
)

// CreateJob inserts a queued job for an existing user.
func (s *DB) CreateJob(ctx context.Context, n platform.NewJob, now time.Time) (j platform.Job, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.bumpJobsGen(ctx, tx, n.UserID); err != nil {
			return err
		}
		if j, err = scanJob(tx.QueryRowContext(ctx, s.q("createJob"), n.UserID, n.Type, string(n.Input), now)); err != nil {
			return fmt.Errorf("sqldb: create job: %w", err)
		}
		return nil
	})
	return j, err
}

// bumpJobsGen changes the user's jobs generation, or reports that there is
// no such user.
func (s *DB) bumpJobsGen(ctx context.Context, tx *sql.Tx, userID int64) error {
	res, err := tx.ExecContext(ctx, s.q("bumpJobsGen"), userID)
	if err != nil {
		return fmt.Errorf("sqldb: bump jobs generation of user %d: %w", userID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("user %d: %w", userID, platform.ErrNotFound)
	}
	return nil
}

// JobByID reads a job.
func (s *DB) JobByID(ctx context.Context, id int64) (platform.Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, s.q("jobByID"), id))
	if err != nil {
		return j, notFound(err, "job %d", id)
	}
	return j, nil
}

// UpdateJob applies p. A finished job (completed or failed) can change no
// more: platform.ErrConflict. Moving to a final status sets completedAt;
// completing sets progress to 100.
func (s *DB) UpdateJob(ctx context.Context, id int64, p platform.JobPatch, now time.Time) (j platform.Job, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.lockJobAndOwner(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status.Final() {
			return fmt.Errorf("job %d is %s and can change no more: %w", id, cur.Status, platform.ErrConflict)
		}
		next := applyJobPatch(cur, p, now)
		j, err = scanJob(tx.QueryRowContext(ctx, s.q("updateJob"), id, next.Status, next.Progress, next.Error, now, next.CompletedAt))
		if err != nil {
			return fmt.Errorf("sqldb: update job %d: %w", id, err)
		}
		return nil
	})
	return j, err
}

// lockJobAndOwner changes the owner's jobs generation (which locks the
// user's row) and then locks the job's row. Every transaction that takes
// both takes the user first, as DeleteUser does before its cascade reaches
// the jobs: in the other order, PostgreSQL would find deadlocks.
func (s *DB) lockJobAndOwner(ctx context.Context, tx *sql.Tx, jobID int64) (platform.Job, error) {
	var owner int64
	if err := tx.QueryRowContext(ctx, s.q("jobOwner"), jobID).Scan(&owner); err != nil {
		return platform.Job{}, notFound(err, "job %d", jobID)
	}
	if err := s.bumpJobsGen(ctx, tx, owner); err != nil {
		return platform.Job{}, fmt.Errorf("job %d: %w", jobID, err) // the owner went meanwhile
	}
	cur, err := scanJob(tx.QueryRowContext(ctx, s.q("lockJob"), jobID))
	if err != nil {
		return cur, notFound(err, "job %d", jobID)
	}
	return cur, nil
}

func applyJobPatch(j platform.Job, p platform.JobPatch, now time.Time) platform.Job {
	if p.Status != nil {
		j.Status = *p.Status
	}
	if p.Progress != nil {
		j.Progress = *p.Progress
	}
	if p.Error != nil {
		j.Error = p.Error
	}
	if j.Status == platform.StatusCompleted {
		j.Progress = 100
	}
	if j.Status.Final() && j.CompletedAt == nil {
		j.CompletedAt = &now
	}
	return j
}

// JobsByUser returns the user's newest jobs, newest first.
func (s *DB) JobsByUser(ctx context.Context, userID int64, limit int) ([]platform.Job, error) {
	jobs, err := queryAll(ctx, s.db, scanJob, s.q("jobsByUser"), userID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqldb: jobs of user %d: %w", userID, err)
	}
	return jobs, nil
}

// JobsGeneration returns the user's jobs generation.
func (s *DB) JobsGeneration(ctx context.Context, userID int64) (int64, error) {
	var gen int64
	if err := s.db.QueryRowContext(ctx, s.q("jobsGen"), userID).Scan(&gen); err != nil {
		return 0, notFound(err, "user %d", userID)
	}
	return gen, nil
}

// RecentJobs returns the n newest jobs.
func (s *DB) RecentJobs(ctx context.Context, n int) ([]platform.Job, error) {
	jobs, err := queryAll(ctx, s.db, scanJob, s.q("recentJobs"), n)
	if err != nil {
		return nil, fmt.Errorf("sqldb: recent jobs: %w", err)
	}
	return jobs, nil
}

// PutResult stores the job's result and completes the job. A result is
// written once: a second is platform.ErrConflict, as is a result for a
// failed job.
func (s *DB) PutResult(ctx context.Context, jobID int64, result json.RawMessage, now time.Time) (r platform.JobResult, j platform.Job, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.lockJobAndOwner(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if cur.Status == platform.StatusFailed {
			return fmt.Errorf("job %d failed and takes no result: %w", jobID, platform.ErrConflict)
		}
		res, err := tx.ExecContext(ctx, s.q("insertResult"), jobID, string(result), now)
		if err != nil {
			return fmt.Errorf("sqldb: store result of job %d: %w", jobID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("job %d already has a result: %w", jobID, platform.ErrConflict)
		}
		done := platform.StatusCompleted
		next := applyJobPatch(cur, platform.JobPatch{Status: &done}, now)
		j, err = scanJob(tx.QueryRowContext(ctx, s.q("updateJob"), jobID, next.Status, next.Progress, next.Error, now, next.CompletedAt))
		if err != nil {
			return fmt.Errorf("sqldb: complete job %d: %w", jobID, err)
		}
		r = platform.JobResult{JobID: jobID, Result: result, CreatedAt: now}
		return nil
	})
	return r, j, err
}

// ResultByJob reads the result of a completed job.
func (s *DB) ResultByJob(ctx context.Context, jobID int64) (platform.JobResult, error) {
	var r platform.JobResult
	var result []byte
	err := s.db.QueryRowContext(ctx, s.q("resultByJob"), jobID).Scan(&r.JobID, &result, &r.CreatedAt)
	if err != nil {
		return r, notFound(err, "result of job %d", jobID)
	}
	r.Result, r.CreatedAt = result, utc(r.CreatedAt)
	return r, nil
}
