package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aside-cache/aside/platform"
)

// CreateJob inserts a queued job for an existing user.
func (s *DB) CreateJob(ctx context.Context, n platform.NewJob, now time.Time) (j platform.Job, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockOwner(ctx, tx, n.UserID); err != nil {
			return err
		}
		if j, err = scanJob(tx.QueryRowContext(ctx, s.q("createJob"), n.UserID, n.Type, string(n.Input), now)); err != nil {
			return fmt.Errorf("sqldb: create job: %w", err)
		}
		return nil
	})
	return j, err
}

// lockOwner locks the row of the user who owns the jobs a transaction
// changes, or reports that there is no such user.
func (s *DB) lockOwner(ctx context.Context, tx *sql.Tx, userID int64) error {
	res, err := tx.ExecContext(ctx, s.q("lockOwner"), userID)
	if err != nil {
		return fmt.Errorf("sqldb: lock user %d: %w", userID, err)
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

// lockJobAndOwner locks the owner's row and then the job's. Every transaction that takes
// both takes the user first, as DeleteUser does before its cascade reaches
// the jobs: in the other order, PostgreSQL would find deadlocks.
func (s *DB) lockJobAndOwner(ctx context.Context, tx *sql.Tx, jobID int64) (platform.Job, error) {
	var owner int64
	if err := tx.QueryRowContext(ctx, s.q("jobOwner"), jobID).Scan(&owner); err != nil {
		return platform.Job{}, notFound(err, "job %d", jobID)
	}
	if err := s.lockOwner(ctx, tx, owner); err != nil {
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

// JobIDsByUser returns the ids of the user's newest jobs, newest first.
func (s *DB) JobIDsByUser(ctx context.Context, userID int64, limit int) ([]int64, error) {
	rows, err := queryAll(ctx, s.db, func(sc scanner) (n sql.NullInt64, err error) { return n, sc.Scan(&n) },
		s.q("jobIDsByUser"), userID, limit)
	switch {
	case err != nil:
		return nil, fmt.Errorf("sqldb: job ids of user %d: %w", userID, err)
	case len(rows) == 0:
		return nil, fmt.Errorf("user %d: %w", userID, platform.ErrNotFound)
	}
	ids := make([]int64, 0, len(rows))
	for _, n := range rows {
		if n.Valid {
			ids = append(ids, n.Int64)
		}
	}
	return ids, nil
}

// maxIn bounds the ids of one IN list.
const maxIn = 500

// JobsByIDs returns the jobs of ids that exist, in no order.
func (s *DB) JobsByIDs(ctx context.Context, ids []int64) ([]platform.Job, error) {
	var jobs []platform.Job
	for len(ids) > 0 {
		n := min(len(ids), maxIn)
		args, marks := make([]any, n), make([]string, n)
		for i, id := range ids[:n] {
			args[i], marks[i] = id, "$"+strconv.Itoa(i+1)
		}
		q := s.dialect.rebind(`SELECT ` + jobCols + ` FROM jobs WHERE id IN (` + strings.Join(marks, ", ") + `)`)
		some, err := queryAll(ctx, s.db, scanJob, q, args...)
		if err != nil {
			return nil, fmt.Errorf("sqldb: %d jobs (%d, ...): %w", n, ids[0], err)
		}
		jobs, ids = append(jobs, some...), ids[n:]
	}
	return jobs, nil
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
