package platform

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aside-cache/aside"
)

// The JSON reads answer as the reads above do, with the JSON that the HTTP
// API sends (encoding/json of the same types) instead of the values. When
// the cache encodes with aside.JSON, the cached bytes are that JSON
// already, so a fresh hit from Redis is served as it came: no decode of
// the row, no encoding of it again, which is most of the CPU a cached read
// costs beyond the Redis round trip (see docs/PERFORMANCE.md). Other
// reads, and every read without a cache or with another codec, encode the
// value.

// GetUserJSON is GetUser, as JSON.
func (r *Repository) GetUserJSON(ctx context.Context, userID int64) ([]byte, error) {
	return readJSON(ctx, r, r.users, id(userID), "user "+id(userID), func(ctx context.Context) (User, error) {
		return r.db.UserByID(ctx, userID)
	})
}

// GetUserByOpenIDJSON is GetUserByOpenID, as JSON.
func (r *Repository) GetUserByOpenIDJSON(ctx context.Context, openID string) ([]byte, error) {
	if err := checkText("openId", openID, maxOpenID, true); err != nil {
		return nil, err
	}
	return readJSON(ctx, r, r.byOpenID, openID, fmt.Sprintf("user with open id %q", openID), func(ctx context.Context) (User, error) {
		return r.db.UserByOpenID(ctx, openID)
	})
}

// GetJobJSON is GetJob, as JSON.
func (r *Repository) GetJobJSON(ctx context.Context, jobID int64) ([]byte, error) {
	return readJSON(ctx, r, r.jobs, id(jobID), "job "+id(jobID), func(ctx context.Context) (Job, error) {
		return r.db.JobByID(ctx, jobID)
	})
}

// GetJobResultJSON is GetJobResult, as JSON.
func (r *Repository) GetJobResultJSON(ctx context.Context, jobID int64) ([]byte, error) {
	return readJSON(ctx, r, r.results, id(jobID), "result of job "+id(jobID), func(ctx context.Context) (JobResult, error) {
		return r.db.ResultByJob(ctx, jobID)
	})
}

// ListJobsByUserJSON returns the user's newest jobs, newest first, limit
// between 1 and MaxJobsLimit, as JSON: an empty list is []. Every limit is
// served from one cached list of ids per user, and the jobs' own cached
// entries, read together (see jobsJSON).
func (r *Repository) ListJobsByUserJSON(ctx context.Context, userID int64, limit int) ([]byte, error) {
	if limit < 1 || limit > MaxJobsLimit {
		return nil, invalid("limit %d is outside 1-%d", limit, MaxJobsLimit)
	}
	ids, err := r.jobIDsOf(ctx, userID)
	if err != nil {
		return nil, err
	}
	return r.jobsJSON(ctx, ids[:min(limit, len(ids))])
}

func readJSON[T any](ctx context.Context, r *Repository, ns *aside.Namespace[T], id, what string, load func(context.Context) (T, error)) ([]byte, error) {
	if !r.passThrough {
		v, err := read(ctx, r, ns, id, what, load)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	b, err := ns.GetEncoded(ctx, id, cacheable(load))
	return b, uncache(err, what)
}
